"""``--baseline FILE``: fail only on findings the change under check brings in.

The baseline is the ``--format json`` report of the base branch, made with the
same configuration and from the same directory layout (file paths in messages
are relative to the working directory). Findings are matched by
:func:`~saltext.spectrum_acl.lint.findings.fingerprint`, which leaves out file, line, column and list positions, so
moving an app or adding an origin before another does not make old findings
new. A finding counts as existing when the baseline has it, with the same
fingerprint, on every minion id it applies to; then it is reported as a
warning (``baseline: existing``). Every other finding keeps its severity
(``baseline: new``). Baseline errors that are gone are counted as fixed.

A baseline that cannot be read or is not such a report is exit 2.
"""

import json

from saltext.spectrum_acl.cli.exit_codes import EXIT_OK, EXIT_VIOLATIONS
from saltext.spectrum_acl.lint.blame import LintInfrastructureError
from saltext.spectrum_acl.lint.findings import finding_order, fingerprint


def _pairs(finding):
    return {(fingerprint(finding), minion) for minion in finding.get("minions") or [""]}


def load(path, schema_id):
    """``{"file", "pairs", "errors"}`` of the baseline report at ``path``; exit 2 when it cannot be used."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise LintInfrastructureError(f"cannot read --baseline {path!r}: {exc}") from None
    except ValueError as exc:
        raise LintInfrastructureError(f"--baseline {path!r} is not JSON: {exc}") from None
    findings = document.get("findings") if isinstance(document, dict) else None
    if not isinstance(document, dict) or document.get("schema") != schema_id or not isinstance(findings, list) or not all(
        isinstance(f, dict) and isinstance(f.get("kind"), str) and isinstance(f.get("minions", []), list)
        for f in findings
    ):
        raise LintInfrastructureError(
            f"--baseline {path!r} is not a report of `spectrum-acl lint --format json` (schema {schema_id!r})"
        )
    errors = [f for f in findings if f.get("severity") == "error"]
    return {"file": path, "pairs": set().union(*(_pairs(f) for f in findings)), "errors": errors}


def apply(result, baseline):
    """Mark each finding new or existing, turn existing errors into warnings, and recount the result."""
    seen = set()
    for finding in result["findings"]:
        pairs = _pairs(finding)
        seen |= pairs
        existing = pairs <= baseline["pairs"]
        finding["baseline"] = "existing" if existing else "new"
        if existing and finding["severity"] == "error":
            finding["severity"] = "warning"
    states = {}
    for f in result["findings"]:  # a check's failure carries the message as the engine wrote it, app name first
        states[(f["app"], f["kind"], f["message"])] = states[(f["app"], f["kind"], f"app {f['app']!r}: {f['message']}")] = (
            f["baseline"])
    for check in result["checks"]:
        for failure in check["failures"]:
            failure["baseline"] = states.get((check["app"], failure["kind"], failure["message"]), "new")
    result["findings"].sort(key=finding_order)
    fixed = sum(1 for f in baseline["errors"] if not _pairs(f) & seen)
    errors = [f for f in result["findings"] if f["severity"] == "error"]
    failing = {minion for f in errors for minion in f["minions"]}
    for minion in result["minions"]:
        minion["allowed"] = minion["id"] not in failing
    summary = result["summary"]
    summary["errors"] = len(errors)
    summary["warnings"] = len(result["findings"]) - len(errors)
    summary["baseline"] = {
        "file": baseline["file"],
        "new": sum(1 for f in result["findings"] if f["baseline"] == "new" and f["severity"] == "error"),
        "existing": sum(1 for f in result["findings"] if f["baseline"] == "existing"),
        "fixed": fixed,
    }
    result["allowed"] = not errors
    result["exit_code"] = EXIT_OK if not errors else EXIT_VIOLATIONS
