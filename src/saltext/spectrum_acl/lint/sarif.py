"""``--format sarif``: the lint result as SARIF 2.1.0, for GitHub code scanning.

One ``run`` whose tool is ``spectrum-acl`` (its version), one rule per finding
kind (:data:`~saltext.spectrum_acl.lint.findings.KINDS`), and one result per
finding, without a cap:

- ``locations``: the file as a URI relative to the working directory
  (``uriBaseId`` ``%SRCROOT%``, the repository root when the lint runs there),
  with ``startLine`` and ``startColumn`` (code points, ``columnKind``
  ``unicodeCodePoints``). A finding the lint cannot place on a line points at
  line 1 of its file; one without a file (a minion whose pillar has no apps)
  at the top file of the first pillar root;
- ``level``: ``error`` or ``warning`` (findings that ``--baseline`` found on the
  base branch are warnings, ``baselineState`` ``unchanged``; the others ``new``);
- ``partialFingerprints``: the finding's fingerprint (no file or line in it),
  so code scanning follows an alert when its lines move;
- ``properties``: app, field, origin, account, reasons and minion ids.
"""

import os
import pathlib
from urllib.parse import quote

from saltext.spectrum_acl import __version__
from saltext.spectrum_acl.lint.findings import KINDS, WARNING_KINDS

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "spectrumAclFinding/v1"
ROOT = "%SRCROOT%"


def _rule_name(kind):
    return "".join(part.capitalize() for part in kind.split("_"))


def _rules():
    rules = []
    for kind, meaning in KINDS.items():
        first = meaning.split(";")[0].split(" (")[0]
        rules.append({
            "id": kind,
            "name": _rule_name(kind),
            "shortDescription": {"text": first[0].upper() + first[1:] + "."},
            "fullDescription": {"text": meaning[0].upper() + meaning[1:] + "."},
            "defaultConfiguration": {"level": "warning" if kind in WARNING_KINDS else "error"},
            "help": {"text": f"spectrum-acl lint finding kind '{kind}': {meaning}."},
            "properties": {"tags": ["security", "spectrum-acl"]},
        })
    return rules


def _artifact(path):
    """``artifactLocation`` of a path as the lint shows it (relative to the working directory, or absolute)."""
    posix = pathlib.PurePath(path)
    if posix.is_absolute():
        return {"uri": pathlib.Path(path).as_uri()}
    return {"uri": quote(posix.as_posix()), "uriBaseId": ROOT}


def _top_file(result):
    for roots in result["pillar_roots"].values():
        for root in roots:
            candidate = os.path.join(root, "top.sls")
            if os.path.isfile(candidate):
                return candidate
    return None


def _message(finding, result):
    text = finding["message"]
    if len(result["minions"]) > 1 and len(finding["minions"]) < len(result["minions"]):
        text += f" [minions: {', '.join(finding['minions'])}]"
    return text


def document(result):
    """The SARIF log (a dict) of a lint result."""
    rules = _rules()
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    fallback = _top_file(result)
    results = []
    for finding in result["findings"]:
        item = {
            "ruleId": finding["kind"],
            "ruleIndex": index[finding["kind"]],
            "level": finding["severity"],
            "message": {"text": _message(finding, result)},
        }
        path = finding["file"] or fallback
        if path:
            region = {"startLine": finding["line"] or 1, "startColumn": finding["column"] or 1}
            item["locations"] = [{"physicalLocation": {"artifactLocation": _artifact(path), "region": region}}]
        item["partialFingerprints"] = {FINGERPRINT_KEY: finding["fingerprint"]}
        if finding.get("baseline"):
            item["baselineState"] = "unchanged" if finding["baseline"] == "existing" else "new"
        item["properties"] = {key: finding[key] for key in ("app", "field", "origin", "account_id", "reasons", "minions")}
        results.append(item)
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {"name": "spectrum-acl", "version": __version__, "semanticVersion": __version__,
                                "rules": rules}},
            "originalUriBaseIds": {ROOT: {"uri": pathlib.Path.cwd().as_uri().rstrip("/") + "/"}},
            "columnKind": "unicodeCodePoints",
            "invocations": [{"executionSuccessful": True, "exitCode": result["exit_code"]}],
            "results": results,
        }],
    }
