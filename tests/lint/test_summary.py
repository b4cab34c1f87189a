"""The GitHub job summary ($GITHUB_STEP_SUMMARY) and what --format github cannot show as annotations."""

from tests.conftest import EXAMPLES
from tests.lint.conftest import bad_apps, lint


def _many(tmp_path, count):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text("base:\n  '*':\n    - many\n")
    (root / "many.sls").write_text("spectrum:\n  apps:\n" + bad_apps(count))
    return root


def _rows(summary):
    return [line for line in summary.splitlines() if line.startswith("| `")]


def test_summary_has_a_row_per_finding_and_the_counts(minion_config, bad_json, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    run = lint(minion_config, EXAMPLES / "pillar-bad", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.returncode == 1
    text = summary.read_text()
    assert text.startswith("earlier step\n### spectrum-acl lint: FAIL\n")  # appended, never overwritten
    assert "| errors | 11 |" in text and "| origins denied | 7 |" in text
    rows = _rows(text)
    assert len(rows) == len(bad_json["findings"])
    for row, finding in zip(rows, bad_json["findings"]):
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert cells[0] == f"`{finding['file']}:{finding['line']}`"
        assert cells[1] == f"`{finding['app']}`"
        assert cells[4] == finding["kind"] and cells[5] == "error"
        if finding["origin"]:
            assert cells[3] == f"`{finding['origin']}`"


def test_more_findings_than_github_shows_are_counted_on_stderr_and_in_the_summary(minion_config, tmp_path):
    summary = tmp_path / "summary.md"
    run = lint(minion_config, _many(tmp_path, 12), "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.returncode == 1
    assert sum(line.startswith("::error ") for line in run.stdout.splitlines()) == 12  # all printed; GitHub shows 10
    note = "12 findings, 10 shown as annotations, 2 only in the job summary/SARIF"
    assert f"spectrum-acl lint: {note}" in run.stderr
    text = summary.read_text()
    assert f"**Annotations:** {note}" in text
    assert len(_rows(text)) == 12


def test_ten_findings_fit(minion_config, tmp_path):
    run = lint(minion_config, _many(tmp_path, 10), "--format", "github")
    assert run.returncode == 1 and "shown as annotations" not in run.stderr


def test_no_summary_without_the_variable_or_with_no_summary(minion_config, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("")
    run = lint(minion_config, EXAMPLES / "pillar", "--no-summary", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.returncode == 0 and summary.read_text() == ""
    run = lint(minion_config, EXAMPLES / "pillar", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.returncode == 0 and summary.read_text().startswith("### spectrum-acl lint: PASS")


def test_an_unwritable_summary_does_not_change_the_verdict(minion_config, tmp_path):
    run = lint(minion_config, EXAMPLES / "pillar-bad", env={"GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "such.md")})
    assert run.returncode == 1
    assert "warning: cannot write the job summary" in run.stderr
