"""Hostile pillar through the lint CLI: each trick is a finding at its line, never a traceback or a pass."""

import pytest

from tests.lint.conftest import assert_clean, line_of, lint

TOP = "base:\n  '*':\n    - spectrum\n"
HEAD = "spectrum:\n  account_id: crossbow\n  apps:\n"
APP = """    {name}:
      protocol: tcp/22
      dns: {{type: CNAME, name: a.example.com}}
      {origin}
"""


def _app(name, origin='origin_direct: ["tcp://104.16.5.20:22"]', extra=""):
    return APP.format(name=name, origin=origin) + extra


def _lint(minion_config, tmp_path, body):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text(TOP)
    (root / "spectrum.sls").write_text(HEAD + body)
    run = lint(minion_config, root, "--format", "json")
    assert_clean(run)
    return run, root / "spectrum.sls"


def test_a_number_named_app_is_refused_and_its_twin_still_checked(minion_config, tmp_path):
    body = _app("1", 'origin_direct: ["tcp://10.0.0.1:22"]') + _app('"1"')
    run, _ = _lint(minion_config, tmp_path, body)
    assert run.returncode == 1
    findings = run.json()["findings"]
    assert [(f["app"], f["kind"], f["field"]) for f in findings] == [("1 (int)", "shape", "name")]
    assert run.json()["minions"][0]["report"]["apps"]["1"]["allowed"] is True


def test_base60_port_is_an_error_at_its_line(minion_config, tmp_path):
    body = _app("web", "origin_dns: {name: localhost}", "      origin_port: 22:22\n")
    run, sls = _lint(minion_config, tmp_path, body)
    assert run.returncode == 1
    (finding,) = [f for f in run.json()["findings"] if f["field"] == "origin_port"]
    assert finding["kind"] == "shape" and finding["line"] == line_of(sls, "origin_port: 22:22")


@pytest.mark.parametrize("depth", [900, 5000])
def test_deep_nesting_is_a_finding_not_a_crash(minion_config, tmp_path, depth):
    body = _app("web", extra="      extra: " + "[" * depth + "]" * depth + "\n")
    run, _ = _lint(minion_config, tmp_path, body)
    if depth > 1000:  # past libyaml's own bound: a render error naming the file (exit 2)
        assert run.returncode == 2 and "spectrum.sls" in run.stderr
        return
    assert run.returncode == 1
    (finding,) = run.json()["findings"]
    assert (finding["app"], finding["kind"], finding["field"]) == ("web", "shape", "extra")


def test_ipv4_mapped_edge_ip_is_the_same_address(minion_config, tmp_path):
    body = (
        _app("a", extra="      edge_ips: {type: static, ips: ['::ffff:104.16.5.40']}\n")
        + _app("b", 'origin_direct: ["tcp://104.16.5.40:22"]')
        + _app("c", extra="      edge_ips: {type: static, ips: [104.16.5.40]}\n")
    )
    run, _ = _lint(minion_config, tmp_path, body)
    assert run.returncode == 1
    kinds = {(f["app"], f["kind"]) for f in run.json()["findings"]}
    assert ("b", "app_edge_ip") in kinds  # b's origin is a's edge IP: a loop
    assert ("c", "edge_ip_collision") in kinds  # a and c claim one address


@pytest.mark.parametrize("address", ["10.0.0.1", "8.8.8.8", "104.16.9.1"])
def test_static_edge_ips_outside_the_accounts_space_are_errors(minion_config, tmp_path, address):
    run, sls = _lint(minion_config, tmp_path, _app("web", extra=f"      edge_ips: {{type: static, ips: [{address}]}}\n"))
    assert run.returncode == 1
    (finding,) = run.json()["findings"]
    assert (finding["kind"], finding["field"]) == ("edge_ip_space", "edge_ips.ips[0]")
    assert finding["line"] == line_of(sls, address)
