"""The lint runs pull-request pillar: restricted rendering, no secrets, pillar settings reported."""

import pytest
import yaml

from tests.lint.conftest import assert_clean, line_of, lint

TOKEN = "tok-9f8e7d6c5b4a39281706"

TOP = "base:\n  '*':\n    - spectrum\n"
APP = """spectrum:
  account_id: crossbow
  apps:
    web:
      protocol: tcp/22
      dns: {type: CNAME, name: ssh.crossbow.example.com}
      origin_direct: ["tcp://104.16.5.20:22"]
"""


def _tree(tmp_path, sls):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text(TOP)
    (root / "spectrum.sls").write_text(sls)
    return root


def test_pillar_settings_are_an_error_at_their_line(minion_config, tmp_path):
    sls = APP + "spectrum_acl:\n  backend: api\n  static_hosts: {localhost: [1.1.1.1]}\n"
    root = _tree(tmp_path, sls)
    run = lint(minion_config, root, "--format", "json")
    assert run.returncode == 1, run.stdout + run.stderr
    (finding,) = [f for f in run.json()["findings"] if f["kind"] == "pillar_settings"]
    assert finding["severity"] == "error"
    assert finding["field"] == "spectrum_acl"
    assert finding["file"].endswith("spectrum.sls")
    assert finding["line"] == line_of(root / "spectrum.sls", "spectrum_acl:")
    # the guard itself ignored them: the app was judged with the config's settings, and passed
    assert run.json()["minions"][0]["report"]["allowed"] is True


def test_master_key_settings_are_reported_too(minion_config, tmp_path):
    root = _tree(tmp_path, APP + "master:\n  spectrum_acl:\n    accounts: [provider]\n")
    run = lint(minion_config, root, "--format", "json")
    assert run.returncode == 1
    assert [f["field"] for f in run.json()["findings"] if f["kind"] == "pillar_settings"] == ["master:spectrum_acl"]


@pytest.mark.parametrize(
    "expression",
    [
        "salt['cmd.run']('touch {marker}')",
        "salt['file.touch']('{marker}')",
        "salt['cp.get_file']('salt://x', '{marker}')",
    ],
)
def test_templates_cannot_run_commands_or_write_files(minion_config, tmp_path, expression):
    marker = tmp_path / "ran"
    sls = f"{{% set x = {expression.format(marker=marker)} %}}\n" + APP
    run = lint(minion_config, _tree(tmp_path, sls))
    assert run.returncode == 2
    assert not marker.exists()
    function = expression.split("'")[1]
    assert f"{function} is not available to the lint" in run.stderr
    assert_clean(run)


def test_templates_cannot_read_the_token(minion_config, tmp_path):
    sls = APP.replace("ssh.crossbow.example.com", "{{ salt['environ.get']('SPECTRUM_ACL_API_TOKEN') }}.example.com")
    run = lint(minion_config, _tree(tmp_path, sls), "--format", "github", env={"SPECTRUM_ACL_API_TOKEN": TOKEN})
    assert run.returncode == 2
    assert TOKEN not in run.stdout + run.stderr
    assert "environ.get is not available to the lint" in run.stdout + run.stderr


def test_python_renderers_are_refused(minion_config, tmp_path):
    marker = tmp_path / "ran"
    sls = f"#!py\nimport pathlib\ndef run():\n    pathlib.Path({str(marker)!r}).touch()\n    return {{}}\n"
    run = lint(minion_config, _tree(tmp_path, sls))
    assert run.returncode == 2
    assert not marker.exists()
    assert "the py renderer is not available to the lint" in run.stderr
    assert "spectrum.sls:1:" in run.stderr
    assert_clean(run)


def test_read_only_lookups_still_render(minion_config, tmp_path):
    sls = "{% set team = salt['pillar.get']('team', 'crossbow') %}\n" + APP.replace(
        "account_id: crossbow", "account_id: {{ team }}"
    )
    run = lint(minion_config, _tree(tmp_path, sls), "--format", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.json()["summary"]["apps"] == 1


def test_an_unauthorised_account_is_a_shape_finding(minion_config, tmp_path):
    root = _tree(tmp_path, APP.replace("account_id: crossbow", "account_id: provider"))
    run = lint(minion_config, root, "--format", "json")
    assert run.returncode == 1
    findings = run.json()["findings"]
    assert any(f["kind"] == "shape" and f["app"] == "web" and f["field"] == "account_id" for f in findings), findings
    assert yaml.safe_load((root / "spectrum.sls").read_text())["spectrum"]["account_id"] == "provider"
