"""The GitHub Actions job summary (``$GITHUB_STEP_SUMMARY``) and the annotation limit of ``--format github``.

When ``$GITHUB_STEP_SUMMARY`` names a file, the lint appends Markdown to it: the
verdict, the counts (and with ``--baseline`` how many findings are new, existing
and fixed), and a table of every finding (up to :data:`MAX_ROWS`): where, app,
field, value, kind and severity, message. A lint that cannot run (exit 2) says
so there, and that it is not the change's fault. ``--no-summary`` turns it off.

GitHub shows at most :data:`ANNOTATIONS_PER_STEP` error and as many warning
annotations of a step; :func:`annotation_overflow` says how many findings did
not fit, for stderr and the summary.
"""

import re

from saltext.spectrum_acl.lint.blame import INFRASTRUCTURE_NOTE

#: GitHub shows this many error annotations of a step, and this many warnings.
ANNOTATIONS_PER_STEP = 10
#: Findings listed in the summary table at most (the summary of a step is limited to 1 MiB).
MAX_ROWS = 1000
_GOT = re.compile(r"\(got (.+)\)$")


def annotation_overflow(result):
    """``None``, or a sentence on the findings ``--format github`` prints that GitHub will not show."""
    errors = sum(1 for f in result["findings"] if f["severity"] == "error")
    warnings = len(result["findings"]) - errors
    shown = min(errors, ANNOTATIONS_PER_STEP) + min(warnings, ANNOTATIONS_PER_STEP)
    hidden = len(result["findings"]) - shown
    if not hidden:
        return None
    return (f"{len(result['findings'])} findings, {shown} shown as annotations, {hidden} only in the job "
            f"summary/SARIF (GitHub shows {ANNOTATIONS_PER_STEP} error and {ANNOTATIONS_PER_STEP} warning "
            "annotations per step)")


def _cell(value, code=True):
    text = "" if value is None else str(value)
    text = " ".join(text.split()).replace("|", "\\|")
    if code and text and "`" not in text:
        return f"`{text}`"
    return text.replace("<", "&lt;").replace("*", "\\*").replace("_", "\\_")


def _value(finding):
    if finding["origin"]:
        return finding["origin"]
    got = _GOT.search(finding["message"])
    return got.group(1) if got else None


def _where(finding):
    if not finding["file"]:
        return None
    return f"{finding['file']}:{finding['line']}" if finding["line"] else finding["file"]


def markdown(result, summary_line, overflow=None):
    """The job summary of a lint that ran."""
    verdict = "PASS" if result["allowed"] else "FAIL"
    s = result["summary"]
    lines = [f"### spectrum-acl lint: {verdict}", "", summary_line, ""]
    counts = [("apps", s["apps"]), ("apps failing", s["apps_failed"]), ("origins", s["origins"]),
              ("origins denied", s["origins_denied"]), ("errors", s["errors"]), ("warnings", s["warnings"])]
    if s.get("baseline"):
        base = s["baseline"]
        counts += [("new findings (fail the run)", base["new"]), ("existing on the base branch (warnings)",
                                                                 base["existing"]), ("fixed", base["fixed"])]
    lines += ["| | count |", "| --- | ---: |"] + [f"| {name} | {count} |" for name, count in counts] + [""]
    if overflow:
        lines += [f"**Annotations:** {overflow}.", ""]
    if result["findings"]:
        lines += ["| where | app | field | value | kind | severity | message |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for finding in result["findings"][:MAX_ROWS]:
            severity = finding["severity"] + (f" ({finding['baseline']})" if finding.get("baseline") else "")
            lines.append("| " + " | ".join((
                _cell(_where(finding)), _cell(finding["app"]), _cell(finding["field"]), _cell(_value(finding)),
                finding["kind"], severity, _cell(finding["message"], code=False),
            )) + " |")
        if len(result["findings"]) > MAX_ROWS:
            lines += ["", f"{len(result['findings']) - MAX_ROWS} more findings are in the SARIF and JSON reports."]
    return "\n".join(lines) + "\n\n"


def infrastructure_markdown(message):
    """The job summary of a lint that could not run (exit 2)."""
    return (f"### spectrum-acl lint: could not run (exit 2)\n\n{_cell(message, code=False)}\n\n"
            f"This is not a finding against the change under check: {INFRASTRUCTURE_NOTE.split(': ', 1)[1]}.\n\n")


def append(path, text):
    """Append ``text`` to the summary file; ``None``, or why it could not (the lint's verdict stands)."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        return f"cannot write the job summary to {path!r}: {exc.strerror or exc}"
    return None
