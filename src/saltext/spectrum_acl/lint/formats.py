"""Output formats of ``spectrum-acl lint``: text, json, junit, github and sarif.

All of them are written from one result document, the ``json`` format itself,
whose shape is :data:`JSON_SCHEMA` (JSON Schema, draft 2020-12); ``sarif`` is
:mod:`saltext.spectrum_acl.lint.sarif`.
"""

import json
import xml.etree.ElementTree as ET

import msgspec

from saltext.spectrum_acl.lint import sarif
from saltext.spectrum_acl.lint.findings import KINDS, WARNING_KINDS

SCHEMA_ID = "spectrum-acl-lint/1"
FORMATS = ("text", "json", "junit", "github", "sarif")

_NULLABLE_STR = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"], "minimum": 1}

JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": SCHEMA_ID,
    "title": "spectrum-acl lint result",
    "type": "object",
    "required": ["schema", "allowed", "exit_code", "pillar_roots", "minions", "findings", "checks", "summary", "timings"],
    "additionalProperties": False,
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "allowed": {"type": "boolean", "description": "true when no finding has severity error"},
        "exit_code": {"enum": [0, 1]},
        "pillar_roots": {
            "type": "object",
            "description": "saltenv -> pillar root directories, as linted",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "minions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "sls", "allowed", "report"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string"},
                    "sls": {
                        "type": "array",
                        "description": "the SLS files Salt rendered for this minion, in merge order",
                        "items": {
                            "type": "object",
                            "required": ["saltenv", "sls", "file"],
                            "additionalProperties": False,
                            "properties": {"saltenv": {"type": "string"}, "sls": {"type": "string"}, "file": _NULLABLE_STR},
                        },
                    },
                    "allowed": {"type": "boolean", "description": "false when an error finding applies to this minion"},
                    "report": {
                        "type": ["object", "null"],
                        "description": "exactly what `salt-call spectrum_acl.check_apps` returns for this pillar "
                        "(null when the pillar has no apps key)",
                    },
                },
            },
        },
        "findings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "kind", "app", "field", "origin", "account_id", "file", "line", "column",
                             "message", "reasons", "cycle", "minions", "fingerprint", "baseline"],
                "additionalProperties": False,
                "properties": {
                    "severity": {"enum": ["error", "warning"]},
                    "kind": {"enum": list(KINDS)},
                    "app": _NULLABLE_STR,
                    "field": {"type": ["string", "null"], "description": "e.g. origin_direct[1], edge_ips.ips[0], tls"},
                    "origin": _NULLABLE_STR,
                    "account_id": _NULLABLE_STR,
                    "file": {"type": ["string", "null"], "description": "relative to the working directory when below it"},
                    "line": _NULLABLE_INT,
                    "column": _NULLABLE_INT,
                    "message": {"type": "string"},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "cycle": {"type": ["array", "null"], "items": {"type": "string"},
                              "description": "apps of the loop this origin closes, first == last"},
                    "minions": {"type": "array", "items": {"type": "string"}},
                    "fingerprint": {"type": "string", "description": "stable id: kind, app, field, account, origin "
                                    "(else message); no file, line or list position. --baseline matches on it"},
                    "baseline": {"enum": ["new", "existing", None],
                                 "description": "with --baseline: whether the base branch report has it (existing "
                                 "errors become warnings); else null"},
                },
            },
        },
        "checks": {
            "type": "array",
            "description": "one per app ('<app> definition') and one per judged origin ('<app> <origin>')",
            "items": {
                "type": "object",
                "required": ["app", "name", "file", "line", "passed", "failures", "minions"],
                "additionalProperties": False,
                "properties": {
                    "app": _NULLABLE_STR,
                    "name": {"type": "string"},
                    "file": _NULLABLE_STR,
                    "line": _NULLABLE_INT,
                    "passed": {"type": "boolean"},
                    "failures": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["kind", "message", "where"],
                            "additionalProperties": False,
                            "properties": {
                                "kind": {"enum": list(KINDS)},
                                "message": {"type": "string"},
                                "where": {"type": ["string", "null"], "description": "FILE:LINE of the failing field"},
                                "baseline": {"enum": ["new", "existing"], "description": "with --baseline"},
                            },
                        },
                    },
                    "minions": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
        "summary": {
            "type": "object",
            "required": ["minions", "apps", "apps_failed", "origins", "origins_denied", "errors", "warnings", "by_kind"],
            "additionalProperties": False,
            "properties": {
                "minions": {"type": "integer"},
                "apps": {"type": "integer", "description": "distinct app names over all minions"},
                "apps_failed": {"type": "integer"},
                "origins": {"type": "integer", "description": "origin checks (distinct app, origin, file)"},
                "origins_denied": {"type": "integer"},
                "errors": {"type": "integer"},
                "warnings": {"type": "integer"},
                "by_kind": {"type": "object", "additionalProperties": {"type": "integer"}},
                "baseline": {
                    "type": ["object", "null"],
                    "description": "with --baseline: errors new since the base branch, findings already there, "
                    "base branch errors now gone",
                    "required": ["file", "new", "existing", "fixed"],
                    "additionalProperties": False,
                    "properties": {"file": {"type": "string"}, "new": {"type": "integer"},
                                   "existing": {"type": "integer"}, "fixed": {"type": "integer"}},
                },
            },
        },
        "timings": {
            "type": "object",
            "description": "seconds spent: render (Salt pillar compile), check (the guard), report (locating, merging)",
            "required": ["render", "check", "report"],
            "additionalProperties": {"type": "number"},
        },
    },
}


def _where(item):
    if item.get("file") and item.get("line"):
        return f"{item['file']}:{item['line']}"
    return item.get("file") or "(no file)"


def _minions_suffix(item, result):
    if len(result["minions"]) > 1 and len(item["minions"]) < len(result["minions"]):
        return f" [minions: {', '.join(item['minions'])}]"
    return ""


def _n(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary_line(result):
    s = result["summary"]
    verdict = "PASS" if result["allowed"] else "FAIL"
    minions = ", ".join(m["id"] for m in result["minions"])
    kinds = ", ".join(f"{kind} {count}" for kind, count in s["by_kind"].items())
    line = (
        f"{verdict}: {_n(s['apps'], 'app')} ({s['apps_failed']} failing), {_n(s['origins'], 'origin')} "
        f"({s['origins_denied']} denied), {_n(s['errors'], 'error')}, {_n(s['warnings'], 'warning')}; "
        f"minion{'s' if len(result['minions']) != 1 else ''} {minions}"
    )
    line += f" ({kinds})" if kinds else ""
    base = s.get("baseline")
    if base:
        line += f"; baseline: {base['new']} new, {base['existing']} existing, {base['fixed']} fixed"
    return line


def _text_line(finding, result, label):
    app = f"{finding['app']}: " if finding["app"] else ""
    return f"{_where(finding)}: {app}{label}: {finding['message']}{_minions_suffix(finding, result)}\n"


def write_text(result, out, verbose=False):
    existing = [f for f in result["findings"] if f.get("baseline") == "existing"]
    for finding in result["findings"]:
        if finding.get("baseline") != "existing":
            label = finding["kind"] if finding["severity"] == "error" else f"warning: {finding['kind']}"
            out.write(_text_line(finding, result, label))
    if existing:
        out.write(f"already on the base branch (--baseline), not failing: {len(existing)}\n")
        out.writelines(_text_line(finding, result, f"existing: {finding['kind']}") for finding in existing)
    if verbose:
        for check in result["checks"]:
            if check["passed"]:
                out.write(f"{_where(check)}: ok: {check['name']}{_minions_suffix(check, result)}\n")
    out.write(summary_line(result) + "\n")


def write_json(result, out):
    _write_json_document(result, out)


def _write_json_document(document, out):
    """``json.dump(document, out, indent=2)`` and a newline, made by msgspec in C when that gives the same text
    (ASCII); as bytes when ``out`` is a file with a binary buffer."""
    try:
        encoded = msgspec.json.format(msgspec.json.encode(document), indent=2)
    except (TypeError, ValueError, OverflowError):
        encoded = b"\x80"
    if not encoded.isascii():
        out.write(json.dumps(document, indent=2) + "\n")
        return
    buffer = getattr(out, "buffer", None)
    if buffer is None:
        out.write(encoded.decode("ascii") + "\n")
        return
    out.flush()
    buffer.write(encoded + b"\n")
    buffer.flush()


def _escape_data(text):
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text):
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(finding, result=None):
    """A workflow command: ``::error file=F,line=N,title=T::message``."""
    command = "error" if finding["severity"] == "error" else "warning"
    props = []
    if finding.get("file"):
        props.append(f"file={_escape_property(finding['file'])}")
        if finding.get("line"):
            props.append(f"line={finding['line']}")
    title = f"spectrum-acl {finding['kind']}" + (f": {finding['app']}" if finding.get("app") else "")
    props.append(f"title={_escape_property(title)}")
    message = finding["message"] + (_minions_suffix(finding, result) if result else "")
    return f"::{command} {','.join(props)}::{_escape_data(message)}"


def write_github(result, out):
    for finding in result["findings"]:
        out.write(github_line(finding, result) + "\n")
    out.write(summary_line(result) + "\n")


def _already_there(check):
    return bool(check["failures"]) and all(f.get("baseline") == "existing" for f in check["failures"])


def write_junit(result, out):
    suites = {}
    for check in result["checks"]:
        suites.setdefault(check["file"] or "(no file)", []).append(check)
    root = ET.Element("testsuites", name="spectrum-acl lint")
    total = failures = skipped = 0
    for file, checks in suites.items():
        old = sum(1 for c in checks if _already_there(c))
        failed = sum(1 for c in checks if not c["passed"]) - old
        suite = ET.SubElement(root, "testsuite", name=file, tests=str(len(checks)), failures=str(failed),
                              errors="0", skipped=str(old))
        for check in checks:
            attrs = {"classname": file, "name": check["name"]}
            if check["file"]:
                attrs["file"] = check["file"]
                if check["line"]:
                    attrs["line"] = str(check["line"])
            case = ET.SubElement(suite, "testcase", attrs)
            if _already_there(check):  # --baseline: on the base branch already; shown, not failing
                ET.SubElement(case, "skipped", message="already on the base branch: " + check["failures"][0]["message"])
            elif check["failures"]:
                first = check["failures"][0]
                failure = ET.SubElement(case, "failure", type=first["kind"], message=first["message"])
                lines = [f"{f['where'] or '(no file)'}: {f['kind']}: {f['message']}" for f in check["failures"]]
                if len(result["minions"]) > 1:
                    lines.append(f"minions: {', '.join(check['minions'])}")
                failure.text = "\n".join(lines)
        total += len(checks)
        failures += failed
        skipped += old
    warnings = [f for f in result["findings"] if f["kind"] in WARNING_KINDS]
    if warnings:  # shown as skipped test cases: visible, and they do not fail the run
        suite = ET.SubElement(root, "testsuite", name="spectrum-acl lint warnings", tests=str(len(warnings)),
                              failures="0", errors="0", skipped=str(len(warnings)))
        for finding in warnings:
            case = ET.SubElement(suite, "testcase", classname=finding["file"] or "(no file)",
                                 name=f"warning {finding['kind']}: {finding['file'] or finding['message']}")
            ET.SubElement(case, "skipped", message=finding["message"])
        total += len(warnings)
        skipped += len(warnings)
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    if skipped:
        root.set("skipped", str(skipped))
    ET.indent(root)
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(ET.tostring(root, encoding="unicode"))
    out.write("\n")


def write(result, fmt, out, verbose=False):
    if fmt == "json":
        write_json(result, out)
    elif fmt == "junit":
        write_junit(result, out)
    elif fmt == "github":
        write_github(result, out)
    elif fmt == "sarif":
        _write_json_document(sarif.document(result), out)
    else:
        write_text(result, out, verbose=verbose)
