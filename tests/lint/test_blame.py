"""Exit codes that blame the right party: 1 for the change's own findings, 2 for everything around it."""

import json

import jsonschema

from saltext.spectrum_acl.lint.blame import INFRASTRUCTURE_NOTE
from saltext.spectrum_acl.lint.formats import JSON_SCHEMA
from tests.conftest import EXAMPLES
from tests.lint.conftest import assert_clean, lint

GOOD = (EXAMPLES / "pillar" / "spectrum.sls").read_text()
BROKEN = "spectrum:\n  apps:\n    x: {protocol: tcp/22\n    y: 1\n"


def _repo(tmp_path, files, top="base:\n  '*':\n    - spectrum\n"):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text(top)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def _changed(tmp_path, *paths):
    listing = tmp_path / "changed.txt"
    listing.write_text("".join(f"{path}\n" for path in paths))  # as `git diff --name-only` prints them
    return listing


def test_a_file_the_change_broke_is_a_render_finding(minion_config, tmp_path):
    _repo(tmp_path, {"spectrum.sls": GOOD, "broken.sls": BROKEN}, top="base:\n  '*':\n    - spectrum\n    - broken\n")
    changed = _changed(tmp_path, "pillar/broken.sls", "README.md")
    run = lint(minion_config, "pillar", "--changed-files", changed, "--format", "json", cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert_clean(run)
    result = run.json()
    jsonschema.Draft202012Validator(JSON_SCHEMA).validate(result)
    (finding,) = result["findings"]
    assert (finding["kind"], finding["severity"], finding["file"], finding["line"], finding["column"]) == (
        "render", "error", "pillar/broken.sls", 4, 6)  # where YAML noticed it: "at line 4, column 6"
    assert finding["message"].startswith("cannot render SLS 'broken': ")
    assert result["minions"][0]["allowed"] is False


def test_a_broken_file_the_change_did_not_touch_is_exit_2(minion_config, tmp_path):
    _repo(tmp_path, {"spectrum.sls": GOOD, "broken.sls": BROKEN}, top="base:\n  '*':\n    - spectrum\n    - broken\n")
    run = lint(minion_config, "pillar", "--changed", "pillar/spectrum.sls", "--format", "json", cwd=tmp_path)
    assert run.returncode == 2
    assert run.stdout == ""
    error, note = run.stderr.splitlines()
    assert "pillar/broken.sls:4: cannot render SLS 'broken'" in error
    assert error.endswith("(a pillar file the change did not touch)")
    assert note == f"spectrum-acl lint: {INFRASTRUCTURE_NOTE}"


def test_one_untouched_broken_file_makes_it_exit_2_even_with_touched_ones(minion_config, tmp_path):
    _repo(tmp_path, {"spectrum.sls": BROKEN, "broken.sls": BROKEN}, top="base:\n  '*':\n    - spectrum\n    - broken\n")
    run = lint(minion_config, "pillar", "--changed", "pillar/spectrum.sls", cwd=tmp_path)
    assert run.returncode == 2 and "pillar/broken.sls" in run.stderr


def test_a_deleted_sls_that_top_still_names_is_the_change(minion_config, tmp_path):
    _repo(tmp_path, {"spectrum.sls": GOOD}, top="base:\n  '*':\n    - spectrum\n    - gone\n")
    run = lint(minion_config, "pillar", "--changed", "pillar/gone.sls", "--format", "sarif", cwd=tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    (result,) = json.loads(run.stdout)["runs"][0]["results"]
    assert result["ruleId"] == "render" and "names SLS 'gone'" in result["message"]["text"]
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "pillar/top.sls"  # where it is named
    assert location["region"] == {"startLine": 4, "startColumn": 7}


def test_a_top_file_the_change_edited_to_name_a_missing_sls(minion_config, tmp_path):
    _repo(tmp_path, {"spectrum.sls": GOOD}, top="base:\n  '*':\n    - spectrum\n    - typo\n")
    run = lint(minion_config, "pillar", "--changed", "pillar/top.sls", cwd=tmp_path)
    assert run.returncode == 1
    assert "pillar/top.sls:4: render: the pillar names SLS 'typo'" in run.stdout
    run = lint(minion_config, "pillar", "--changed", "pillar/spectrum.sls", cwd=tmp_path)
    assert run.returncode == 2  # the change did not name it, delete it or touch the top file


def test_only_the_minion_whose_pillar_broke_is_blamed(minion_config, tmp_path):
    _repo(tmp_path, {"spectrum.sls": GOOD, "broken.sls": BROKEN},
          top="base:\n  '*':\n    - spectrum\n  'edge02':\n    - broken\n")
    run = lint(minion_config, "pillar", "--minion-id", "edge01", "edge02", "--changed", "pillar/broken.sls",
               "--format", "json", cwd=tmp_path)
    assert run.returncode == 1
    result = run.json()
    assert [(m["id"], m["allowed"], m["report"] is not None) for m in result["minions"]] == [
        ("edge01", True, True), ("edge02", False, False)]
    (finding,) = result["findings"]
    assert finding["kind"] == "render" and finding["minions"] == ["edge02"]
    assert result["summary"]["apps"] == 4  # edge01's apps were still checked


def test_without_changed_files_every_render_error_is_exit_2(minion_config, tmp_path):
    _repo(tmp_path, {"spectrum.sls": BROKEN})
    run = lint(minion_config, "pillar", cwd=tmp_path)
    assert run.returncode == 2 and INFRASTRUCTURE_NOTE in run.stderr


def test_an_unreadable_changed_files_list_is_exit_2(minion_config, tmp_path):
    _repo(tmp_path, {"spectrum.sls": GOOD})
    run = lint(minion_config, "pillar", "--changed-files", tmp_path / "missing.txt", cwd=tmp_path)
    assert run.returncode == 2 and "cannot read --changed-files" in run.stderr


def test_configuration_errors_say_they_are_not_the_change(minion_config, tmp_path):
    _repo(tmp_path, {"spectrum.sls": GOOD})
    run = lint(minion_config, "pillar", "--data", tmp_path / "nope.yaml", cwd=tmp_path)
    assert run.returncode == 2
    error, note = run.stderr.splitlines()
    assert "prefix data file" in error and note == f"spectrum-acl lint: {INFRASTRUCTURE_NOTE}"
    bad_data = tmp_path / "bad.yaml"
    bad_data.write_text("prefixes:\n  - cidr: 10.0.0.0/33\n    account_id: x\n")
    run = lint(minion_config, "pillar", "--data", bad_data, "--format", "github", cwd=tmp_path)
    assert run.returncode == 2
    (annotation,) = run.stdout.splitlines()
    assert annotation.startswith("::error title=spectrum-acl infrastructure::")
