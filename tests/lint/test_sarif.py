"""``--format sarif``: valid SARIF 2.1.0 (the official schema, vendored), every finding placed, no cap."""

import json

import jsonschema
import pytest

from saltext.spectrum_acl import __version__
from saltext.spectrum_acl.lint.findings import KINDS
from tests.conftest import EXAMPLES, REPO_ROOT
from tests.lint.conftest import bad_apps, lint

SCHEMA = json.loads((REPO_ROOT / "tests" / "lint" / "sarif-schema-2.1.0.json").read_text())


def _sarif(minion_config, pillar, *args, cwd=None):
    run = lint(minion_config, pillar, "--format", "sarif", *args, cwd=cwd)
    assert run.returncode in (0, 1), run.stdout + run.stderr
    document = json.loads(run.stdout)
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).validate(document)
    return run, document


def test_the_vendored_schema_is_the_official_one():
    assert SCHEMA["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
    assert SCHEMA["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")
    source = (REPO_ROOT / "tests" / "lint" / "sarif-schema-2.1.0.SOURCE.md").read_text()
    assert "oasis-tcs/sarif-spec" in source


def test_every_finding_is_a_result_at_its_file_line_and_column(minion_config, bad_json):
    _, document = _sarif(minion_config, EXAMPLES / "pillar-bad")
    (run,) = document["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("spectrum-acl", __version__)
    assert [rule["id"] for rule in driver["rules"]] == list(KINDS)
    assert run["columnKind"] == "unicodeCodePoints"
    results = run["results"]
    assert len(results) == len(bad_json["findings"])
    for result, finding in zip(results, bad_json["findings"]):
        assert result["ruleId"] == finding["kind"] and driver["rules"][result["ruleIndex"]]["id"] == finding["kind"]
        assert result["level"] == finding["severity"] == "error"
        assert result["partialFingerprints"]["spectrumAclFinding/v1"] == finding["fingerprint"]
        (location,) = result["locations"]
        artifact, region = location["physicalLocation"]["artifactLocation"], location["physicalLocation"]["region"]
        assert artifact == {"uri": "examples/pillar-bad/spectrum.sls", "uriBaseId": "%SRCROOT%"}
        assert (region["startLine"], region["startColumn"]) == (finding["line"], finding["column"])
        text = (REPO_ROOT / artifact["uri"]).read_text().splitlines()[region["startLine"] - 1]
        at = text[region["startColumn"] - 1:]
        if finding["origin"] and "origin_dns" not in finding["origin"]:
            assert at.startswith(finding["origin"]), (at, finding)
        elif finding["field"] and finding["field"] in ("tls", "account_id"):
            assert at.startswith(finding["field"] + ":"), (at, finding)
        else:
            assert not at[:1].isspace()


def test_no_cap_on_results(minion_config, tmp_path):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text("base:\n  '*':\n    - many\n")
    (root / "many.sls").write_text("spectrum:\n  apps:\n" + bad_apps(30))
    _, document = _sarif(minion_config, root)
    results = document["runs"][0]["results"]
    assert len(results) == 30 and {r["ruleId"] for r in results} == {"reserved"}
    assert len({r["partialFingerprints"]["spectrumAclFinding/v1"] for r in results}) == 30


def test_findings_without_a_line_or_file_still_have_a_location(minion_config, tmp_path):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text("base:\n  'edge01':\n    - generated\n")
    (root / "generated.sls").write_text(  # the name comes from Jinja: the file is known, the line is not
        "spectrum:\n  apps:\n{% for n in [1] %}\n    gen-{{ n }}:\n      account_id: crossbow\n      protocol: tcp/22\n"
        "      dns: {type: CNAME, name: g.crossbow.example.com}\n      origin_direct: [\"tcp://10.1.2.3:22\"]\n"
        "{% endfor %}\n"
    )
    run, document = _sarif(minion_config, "pillar", "--minion-id", "edge01", "other", cwd=tmp_path)
    results = {r["ruleId"]: r for r in document["runs"][0]["results"]}
    assert set(results) == {"reserved", "no_apps"}
    region = results["reserved"]["locations"][0]["physicalLocation"]["region"]
    assert results["reserved"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pillar/generated.sls"
    assert region == {"startLine": 1, "startColumn": 1}
    no_apps = results["no_apps"]
    assert no_apps["level"] == "warning" and no_apps["properties"]["minions"] == ["other"]
    assert no_apps["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pillar/top.sls"
    assert document["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"


@pytest.mark.parametrize("fmt", ["sarif", "json"])
def test_report_writes_another_format_from_the_same_run(minion_config, tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    run = lint(minion_config, EXAMPLES / "pillar-bad", "--format", "github", "--report", f"{fmt}={path}")
    assert run.returncode == 1
    assert run.stdout.startswith("::error ")
    written = json.loads(path.read_text())
    count = len(written["runs"][0]["results"]) if fmt == "sarif" else len(written["findings"])
    assert count == sum(line.startswith("::error ") for line in run.stdout.splitlines())


def test_report_option_is_checked(minion_config):
    run = lint(minion_config, EXAMPLES / "pillar", "--report", "xml=out.xml")
    assert run.returncode == 2 and "expected FORMAT=FILE" in run.stderr
