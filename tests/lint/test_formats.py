"""Output formats of the real CLI: junit, github, json (against its schema), --output."""

import json
import re
import xml.etree.ElementTree as ET

import pytest

from saltext.spectrum_acl.lint.formats import JSON_SCHEMA, SCHEMA_ID
from tests.conftest import EXAMPLES
from tests.lint.conftest import line_of, lint

TYPES = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool,
         "null": type(None)}


def validate(value, schema, path="$"):
    """The subset of JSON Schema that JSON_SCHEMA uses: type, const, enum, required, properties,
    additionalProperties (false or a schema), items, minimum."""
    if "const" in schema:
        assert value == schema["const"], path
    if "enum" in schema:
        assert value in schema["enum"], (path, value)
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = any(isinstance(value, TYPES[name]) and not (name in ("integer", "number") and isinstance(value, bool))
                 for name in names)
        assert ok, (path, value, names)
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            assert key in value, (path, key)
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in properties:
                validate(item, properties[key], f"{path}.{key}")
            elif extra is False:
                raise AssertionError(f"{path}: unexpected key {key!r}")
            elif isinstance(extra, dict):
                validate(item, extra, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for position, item in enumerate(value):
            validate(item, schema["items"], f"{path}[{position}]")
    if "minimum" in schema and isinstance(value, int):
        assert value >= schema["minimum"], path


def test_json_of_the_bad_pillar_fits_the_schema(bad_json):
    validate(bad_json, JSON_SCHEMA)
    assert bad_json["schema"] == SCHEMA_ID
    assert bad_json["allowed"] is False and bad_json["exit_code"] == 1
    kinds = {finding["kind"] for finding in bad_json["findings"]}
    assert kinds == {"not_delegated", "app_edge_ip", "edge_ip", "reserved", "shape"}
    loop_a = next(f for f in bad_json["findings"] if f["app"] == "loop-a")
    assert loop_a["cycle"] == ["loop-a", "loop-b", "loop-a"]
    assert loop_a["field"] == "origin_direct[0]"
    assert loop_a["file"] == "examples/pillar-bad/spectrum.sls"
    assert loop_a["line"] == line_of(EXAMPLES / "pillar-bad" / "spectrum.sls", "tcp://104.16.5.41:443")
    assert set(bad_json["timings"]) >= {"render", "check", "report"}


def test_json_of_the_good_pillar_fits_the_schema(minion_config):
    run = lint(minion_config, EXAMPLES / "pillar", "--format", "json")
    assert run.returncode == 0
    result = run.json()
    validate(result, JSON_SCHEMA)
    assert result["findings"] == []
    assert all(check["passed"] and check["line"] for check in result["checks"])
    assert result["summary"]["origins"] == 5


def test_schema_rejects_what_it_should():
    with pytest.raises(AssertionError):
        validate({"schema": SCHEMA_ID}, JSON_SCHEMA)


@pytest.fixture(scope="module")
def junit(minion_config):
    run = lint(minion_config, EXAMPLES / "pillar-bad", "--format", "junit")
    assert run.returncode == 1
    return ET.fromstring(run.stdout)


def test_junit_has_one_failing_case_per_failing_origin(junit, bad_json):
    cases = junit.findall(".//testcase")
    failing_origins = [c for c in cases if c.find("failure") is not None and not c.get("name").endswith(" definition")]
    denied = [
        (app, verdict["origin"])
        for minion in bad_json["minions"]
        for app, entry in minion["report"]["apps"].items()
        for verdict in entry["origins"]
        if not verdict["allowed"]
    ]
    assert sorted(c.get("name") for c in failing_origins) == sorted(f"{app} {origin}" for app, origin in denied)
    assert len(denied) == 7
    for case in failing_origins:
        failure = case.find("failure")
        assert failure.get("type") in ("not_delegated", "app_edge_ip", "edge_ip", "reserved")
        assert " denied: " in failure.get("message")
        assert case.get("file") == "examples/pillar-bad/spectrum.sls" and int(case.get("line")) > 0


def test_junit_counts_and_shape_failures(junit):
    assert junit.tag == "testsuites"
    cases = junit.findall(".//testcase")
    assert int(junit.get("tests")) == len(cases) == 17  # 10 definitions + 7 origins
    assert int(junit.get("failures")) == 10
    shape = {c.get("name") for c in cases if c.find("failure") is not None and c.find("failure").get("type") == "shape"}
    assert shape == {"hex-loopback definition", "bad-shape definition", "provider-claim definition"}


_ANNOTATION = re.compile(r"^::(error|warning) file=(?P<file>[^,]+),line=(?P<line>\d+),title=(?P<title>[^:]+)::(?P<message>.+)$")


def test_github_annotations_have_file_and_line(minion_config, bad_json):
    run = lint(minion_config, EXAMPLES / "pillar-bad", "--format", "github")
    assert run.returncode == 1
    lines = run.stdout.splitlines()
    annotations = [line for line in lines if line.startswith("::")]
    assert len(annotations) == len(bad_json["findings"]) == 11  # bad-shape has two shape errors
    sls = EXAMPLES / "pillar-bad" / "spectrum.sls"
    for text in annotations:
        match = _ANNOTATION.match(text)
        assert match, text
        assert match.group("file") == "examples/pillar-bad/spectrum.sls"
        assert 1 <= int(match.group("line")) <= len(sls.read_text().splitlines())
        assert "%0A" not in match.group("message")  # one line each
    loop = next(text for text in annotations if "loop-a" in text.split("::")[1])
    assert f"line={line_of(sls, 'tcp://104.16.5.41:443')}," in loop
    assert lines[-1].startswith("FAIL: ")


def test_github_escapes_workflow_command_characters():
    from saltext.spectrum_acl.lint.formats import github_line

    finding = {"severity": "error", "kind": "shape", "app": "a,b", "file": "p/x:y.sls", "line": 3,
               "message": "100% bad\nsecond line"}
    assert github_line(finding) == "::error file=p/x%3Ay.sls,line=3,title=spectrum-acl shape%3A a%2Cb::100%25 bad%0Asecond line"


def test_output_file_gets_the_report_and_stdout_the_summary(minion_config, tmp_path):
    target = tmp_path / "lint.xml"
    run = lint(minion_config, EXAMPLES / "pillar-bad", "--format", "junit", "--output", target)
    assert run.returncode == 1
    assert run.stdout.startswith("FAIL: 10 apps") and len(run.stdout.splitlines()) == 1
    assert ET.parse(target).getroot().get("failures") == "10"


def test_json_is_one_document_even_with_warnings(minion_config, tmp_path):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text("base:\n  '*':\n    - spectrum\n")
    (root / "spectrum.sls").write_text((EXAMPLES / "pillar" / "spectrum.sls").read_text())
    (root / "unused.sls").write_text("spectrum:\n  apps: {}\n")
    run = lint(minion_config, root, "--format", "json")
    assert run.returncode == 0
    result = json.loads(run.stdout)
    validate(result, JSON_SCHEMA)
    (warning,) = result["findings"]
    assert warning["severity"] == "warning" and warning["kind"] == "not_linted"
    assert warning["file"].endswith("unused.sls")


def test_json_schema_is_printed_by_the_cli():
    from tests.lint.conftest import run_cli

    run = run_cli("lint", "--json-schema")
    assert run.returncode == 0
    assert json.loads(run.stdout) == JSON_SCHEMA
