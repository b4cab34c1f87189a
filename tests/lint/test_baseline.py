"""``--baseline``: only findings new since the base branch fail; existing ones are warnings, fixed ones counted."""

import json
import xml.etree.ElementTree as ET

import jsonschema
import pytest

from saltext.spectrum_acl.lint.findings import fingerprint
from saltext.spectrum_acl.lint.formats import JSON_SCHEMA
from tests.conftest import EXAMPLES
from tests.lint.conftest import lint

BAD = (EXAMPLES / "pillar-bad" / "spectrum.sls").read_text()
NEW_APP = """    fresh-db:
      account_id: crossbow
      protocol: tcp/5432
      dns: {type: CNAME, name: fresh.crossbow.example.com}
      origin_direct: ["tcp://93.184.215.14:5432", "tcp://172.16.0.4:5432"]
"""


def test_fingerprint_ignores_where_but_not_what():
    finding = {"kind": "reserved", "app": "db", "field": "origin_direct[1]", "account_id": "acme",
               "origin": "tcp://10.0.0.1:5432", "message": "m", "file": "a.sls", "line": 3}
    moved = dict(finding, field="origin_direct[0]", file="b.sls", line=30, message="reworded")
    assert fingerprint(moved) == fingerprint(finding)
    for change in ({"account_id": "crossbow"}, {"origin": "tcp://10.0.0.2:5432"}, {"app": "db2"}, {"kind": "edge_ip"}):
        assert fingerprint(dict(finding, **change)) != fingerprint(finding), change
    shape = {"kind": "shape", "app": "x", "field": "tls", "account_id": None, "origin": None, "message": "bad tls"}
    assert fingerprint(dict(shape, message="bad tls again")) != fingerprint(shape)


@pytest.fixture
def base(minion_config, tmp_path):
    """A pillar repo laid out like the base branch, and its --format json report."""
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text((EXAMPLES / "pillar-bad" / "top.sls").read_text())
    (root / "spectrum.sls").write_text(BAD)
    report = tmp_path / "base.json"
    run = lint(minion_config, "pillar", "--format", "json", "--output", report, cwd=tmp_path)
    assert run.returncode == 1
    return tmp_path, report, json.loads(report.read_text())


def test_the_base_branch_itself_passes_against_its_baseline(minion_config, base):
    repo, report, before = base
    # the PR moves every app down four lines: no finding is new
    (repo / "pillar" / "spectrum.sls").write_text("# moved\n\n\n\n" + BAD)
    run = lint(minion_config, "pillar", "--baseline", report, "--format", "json", cwd=repo)
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.json()
    jsonschema.Draft202012Validator(JSON_SCHEMA).validate(result)
    assert result["allowed"] is True
    assert {(f["severity"], f["baseline"]) for f in result["findings"]} == {("warning", "existing")}
    assert [f["line"] for f in result["findings"]] == [f["line"] + 4 for f in before["findings"]]
    assert result["summary"]["baseline"] == {"file": str(report), "new": 0, "existing": len(before["findings"]),
                                             "fixed": 0}
    assert (result["summary"]["errors"], result["summary"]["warnings"]) == (0, len(before["findings"]))


def test_a_new_finding_fails_and_only_it(minion_config, base):
    repo, report, before = base
    (repo / "pillar" / "spectrum.sls").write_text(BAD + NEW_APP)
    run = lint(minion_config, "pillar", "--baseline", report, "--format", "json", cwd=repo)
    assert run.returncode == 1
    result = run.json()
    errors = [f for f in result["findings"] if f["severity"] == "error"]
    assert [(f["app"], f["field"], f["baseline"]) for f in errors] == [("fresh-db", "origin_direct[1]", "new")]
    assert result["findings"][0] is not None and result["findings"][0]["app"] == "fresh-db"  # new ones come first
    assert result["summary"]["baseline"]["new"] == 1


def test_a_fixed_finding_is_counted(minion_config, base):
    repo, report, before = base
    text = BAD.replace('origin_direct: ["tcp://10.20.0.5:3306"]', 'origin_direct: ["tcp://93.184.215.14:3306"]')
    assert text != BAD
    (repo / "pillar" / "spectrum.sls").write_text(text)
    run = lint(minion_config, "pillar", "--baseline", report, "--format", "json", cwd=repo)
    assert run.returncode == 0
    assert run.json()["summary"]["baseline"]["fixed"] == 1


def test_formats_show_existing_findings_apart(minion_config, base):
    repo, report, before = base
    (repo / "pillar" / "spectrum.sls").write_text(BAD + NEW_APP)
    text = lint(minion_config, "pillar", "--baseline", report, cwd=repo).stdout.splitlines()
    header = next(i for i, line in enumerate(text) if line.startswith("already on the base branch"))
    assert [line for line in text[:header] if ": reserved:" in line] == [
        line for line in text[:header] if "fresh-db" in line]
    assert len(text[header + 1:-1]) == len(before["findings"])
    assert all(": existing: " in line for line in text[header + 1:-1])
    assert text[-1].endswith(f"; baseline: 1 new, {len(before['findings'])} existing, 0 fixed")
    sarif = json.loads(lint(minion_config, "pillar", "--baseline", report, "--format", "sarif", cwd=repo).stdout)
    states = [(r["level"], r["baselineState"]) for r in sarif["runs"][0]["results"]]
    assert states.count(("error", "new")) == 1 and states.count(("warning", "unchanged")) == len(before["findings"])
    github = lint(minion_config, "pillar", "--baseline", report, "--format", "github", cwd=repo).stdout.splitlines()
    assert github[0].startswith("::error ") and "fresh-db" in github[0]  # the new one gets an annotation first
    assert sum(line.startswith("::warning ") for line in github) == len(before["findings"])
    junit = ET.fromstring(lint(minion_config, "pillar", "--baseline", report, "--format", "junit", cwd=repo).stdout)
    assert junit.get("failures") == "1"
    assert int(junit.get("skipped")) >= len({f["app"] for f in before["findings"]})


def test_the_same_finding_on_another_minion_is_new(minion_config, base):
    repo, report, before = base
    run = lint(minion_config, "pillar", "--minion-id", "spectrum-acl-lint", "edge02", "--baseline", report,
               "--format", "json", cwd=repo)
    assert run.returncode == 1
    assert {f["baseline"] for f in run.json()["findings"]} == {"new"}


@pytest.mark.parametrize("content, why", [
    (None, "cannot read --baseline"),
    ("not json", "is not JSON"),
    ('{"schema": "something-else/1", "findings": []}', "is not a report of `spectrum-acl lint --format json`"),
    ('{"schema": "spectrum-acl-lint/1", "findings": [1]}', "is not a report"),
])
def test_a_bad_baseline_is_exit_2(minion_config, tmp_path, content, why):
    path = tmp_path / "base.json"
    if content is not None:
        path.write_text(content)
    run = lint(minion_config, EXAMPLES / "pillar", "--baseline", path)
    assert run.returncode == 2
    assert why in run.stderr and "not a finding against the change" in run.stderr
