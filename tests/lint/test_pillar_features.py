"""Pillar the way Salt compiles it: top.sls targeting, grains, include, Jinja, merges."""

import pytest
import yaml

from tests.lint.conftest import ACCOUNTS, assert_clean, line_of, lint

TOP = """base:
  '*':
    - common
  'edge*':
    - teams.*
  'os:Debian':
    - match: grain
    - debian
"""

COMMON = "spectrum:\n  account_id: crossbow\n"

ALPHA = """include:
  - teams.shared
spectrum:
  apps:
    alpha-ssh:
      protocol: tcp/22
      dns: {type: CNAME, name: a.crossbow.example.com}
      edge_ips: {type: static, ips: [104.16.5.50]}
      origin_direct:
        - tcp://104.16.5.20:22
        - tcp://104.16.5.51:22
"""

BETA = """{% set generated = {'beta-web': '104.16.5.60', 'beta-api': '104.16.5.61'} %}
spectrum:
  apps:
{% for name, ip in generated.items() %}
    {{ name }}:
      protocol: tcp/443
      dns: {type: CNAME, name: {{ name }}.crossbow.example.com}
      origin_direct: ["tcp://{{ ip }}:443"]
{% endfor %}
    beta-static:
      protocol: tcp/443
      dns: {type: CNAME, name: bs.crossbow.example.com}
      edge_ips: {type: static, ips: [104.16.5.51]}
      origin_direct: ["tcp://104.16.5.23:443"]
    beta-generated-bad:
      protocol: tcp/443
      dns: {type: CNAME, name: g.crossbow.example.com}
      origin_direct: ["tcp://{{ '10.9.9.9' }}:443"]
"""

SHARED = """spectrum:
  apps:
    shared-one:
      protocol: tcp/22
      dns: {type: CNAME, name: s.crossbow.example.com}
      edge_ips: {type: static, ips: [104.16.5.50]}
      origin_direct: ["tcp://104.16.5.22:22"]
"""

DEBIAN = """spectrum:
  apps:
    alpha-ssh:
      protocol: tcp/22
      tls: full
      dns: {type: CNAME, name: a.crossbow.example.com}
      origin_direct: ["tcp://104.16.5.21:22"]
"""

ORPHAN = "spectrum:\n  apps:\n    orphan: {protocol: tcp/22}\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("features") / "pillar"
    files = {"top.sls": TOP, "common.sls": COMMON, "teams/alpha.sls": ALPHA, "teams/beta.sls": BETA,
             "teams/shared.sls": SHARED, "debian.sls": DEBIAN, "orphan.sls": ORPHAN}
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    grains = root.parent / "grains.yaml"
    grains.write_text(yaml.safe_dump({"os": "Debian"}))
    return root


def _findings(run):
    return run.json()["findings"]


def test_default_minion_id_that_top_targets_nothing_is_a_clear_error(minion_config, tree):
    run = lint(minion_config, tree)
    assert run.returncode == 2
    assert_clean(run)
    assert "no apps to lint: the pillar of 'spectrum-acl-lint' has no 'spectrum:apps'; pass --minion-id" in run.stderr


@pytest.fixture(scope="module")
def edge(minion_config, tree):
    run = lint(minion_config, tree, "--minion-id", "edge01", "--format", "json")
    assert run.returncode == 1, run.stdout + run.stderr
    return run.json()


def test_top_matching_and_include_pick_the_files(edge):
    (minion,) = edge["minions"]
    assert minion["id"] == "edge01"
    # merge order: include before the including file, then top order
    assert [entry["sls"] for entry in minion["sls"]] == ["common", "teams.shared", "teams.alpha", "teams.beta"]
    assert set(minion["report"]["apps"]) == {"alpha-ssh", "shared-one", "beta-web", "beta-api", "beta-static",
                                             "beta-generated-bad"}


def test_edge_ip_collision_points_at_the_ip_line(edge, tree):
    (collision,) = [f for f in edge["findings"] if f["kind"] == "edge_ip_collision"]
    assert collision["app"] == "shared-one" and collision["field"] == "edge_ips.ips[0]"
    assert collision["file"].endswith("teams/shared.sls")
    assert collision["line"] == line_of(tree / "teams" / "shared.sls", "edge_ips")
    assert "104.16.5.50 is also a static edge IP of app 'alpha-ssh'" in collision["message"]


def test_origin_at_another_apps_edge_ip_across_files(edge, tree):
    (denial,) = [f for f in edge["findings"] if f["kind"] == "app_edge_ip"]
    assert denial["app"] == "alpha-ssh" and denial["field"] == "origin_direct[1]"
    assert denial["line"] == line_of(tree / "teams" / "alpha.sls", "tcp://104.16.5.51:22")
    assert "static edge IP of app 'beta-static'" in denial["message"]
    assert denial["cycle"] is None  # beta-static does not point back


def test_templated_file_lines_by_name_and_none_for_generated_apps(edge, tree):
    (denial,) = [f for f in edge["findings"] if f["app"] == "beta-generated-bad"]
    assert denial["kind"] == "reserved"
    beta = tree / "teams" / "beta.sls"
    assert denial["file"].endswith("teams/beta.sls")
    assert denial["line"] == line_of(beta, "origin_direct", start=line_of(beta, "beta-generated-bad:"))
    checks = {c["name"]: c for c in edge["checks"]}
    assert checks["beta-web definition"]["file"].endswith("teams/beta.sls")
    assert checks["beta-web definition"]["line"] is None  # the name comes from a Jinja loop
    assert checks["beta-static definition"]["line"] == line_of(beta, "beta-static:")


def test_sls_in_no_linted_pillar_is_a_warning(edge):
    warnings = [f for f in edge["findings"] if f["severity"] == "warning"]
    assert {(w["kind"], w["file"].rsplit("/", 1)[-1]) for w in warnings} == {("not_linted", "orphan.sls"),
                                                                            ("not_linted", "debian.sls")}


@pytest.fixture(scope="module")
def several(minion_config, tree):
    grains = tree.parent / "grains.yaml"
    run = lint(minion_config, tree, "--minion-id", "edge01", "--minion-id", "web01", "--minion-id", "edge02",
               "--grains", grains, "--format", "json")
    assert run.returncode == 1, run.stdout + run.stderr
    return run.json()


def test_duplicate_app_across_sls_files_is_reported_in_both(several, tree):
    duplicates = [f for f in several["findings"] if f["kind"] == "duplicate_app"]
    assert {d["file"].rsplit("/", 1)[-1] for d in duplicates} == {"alpha.sls", "debian.sls"}
    for finding in duplicates:
        assert finding["app"] == "alpha-ssh"
        assert sorted(finding["minions"]) == ["edge01", "edge02"]
        assert "the last one wins" in finding["message"]
    lines = {d["file"].rsplit("/", 1)[-1]: d["line"] for d in duplicates}
    assert lines == {"alpha.sls": line_of(tree / "teams" / "alpha.sls", "alpha-ssh:"),
                     "debian.sls": line_of(tree / "debian.sls", "alpha-ssh:")}


def test_merged_app_is_judged_as_salt_merged_it(several):
    # debian.sls comes last and replaces the origin list: the loop origin is gone.
    report = several["minions"][0]["report"]
    assert [o["origin"] for o in report["apps"]["alpha-ssh"]["origins"]] == ["tcp://104.16.5.21:22"]
    assert not [f for f in several["findings"] if f["kind"] == "app_edge_ip"]


def test_minions_with_grains_and_without_apps(several):
    by_id = {m["id"]: m for m in several["minions"]}
    assert by_id["web01"]["report"]["apps"].keys() == {"alpha-ssh"}  # only debian.sls, via the grain
    assert by_id["edge01"]["report"] == by_id["edge02"]["report"]
    findings = several["findings"]
    assert all(sorted(f["minions"]) == ["edge01", "edge02"] for f in findings if f["app"] == "beta-generated-bad")
    assert [f["file"].rsplit("/", 1)[-1] for f in findings if f["kind"] == "not_linted"] == ["orphan.sls"]


def test_text_output_marks_findings_of_some_minions(minion_config, tree):
    grains = tree.parent / "grains.yaml"
    run = lint(minion_config, tree, "--minion-id", "edge01", "--minion-id", "web01", "--grains", grains)
    assert run.returncode == 1
    line = next(text for text in run.stdout.splitlines() if "beta-generated-bad" in text)
    assert line.endswith("[minions: edge01]")
    assert run.stdout.splitlines()[-1].endswith("minions edge01, web01 (edge_ip_collision 1, duplicate_app 2, "
                                                 "reserved 1, not_linted 1)")


def test_include_with_key_is_found_by_name(minion_config, tmp_path):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text("base:\n  '*':\n    - main\n")
    (root / "main.sls").write_text("include:\n  - extra:\n      key: spectrum:apps\nspectrum:\n  account_id: crossbow\n")
    (root / "extra.sls").write_text(
        "keyed:\n  protocol: tcp/22\n  dns: {type: CNAME, name: k.crossbow.example.com}\n"
        '  origin_direct: ["tcp://10.1.1.1:22"]\n'
    )
    run = lint(minion_config, root, "--format", "json")
    assert run.returncode == 1
    (finding,) = _findings(run)
    assert finding["app"] == "keyed" and finding["kind"] == "reserved"
    assert finding["file"].endswith("extra.sls") and finding["line"] == 4


def test_apps_key_of_the_wrong_type(minion_config, tmp_path):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text("base:\n  '*':\n    - main\n")
    (root / "main.sls").write_text("spectrum:\n  apps:\n    - a\n")
    run = lint(minion_config, root)
    assert run.returncode == 1
    assert run.stdout.splitlines()[0] == (
        f"{root / 'main.sls'}:2: shape: spectrum:apps must be a mapping of app name to app (got list)"
    )


def test_pillar_key_and_minion_config_pillar_roots(tmp_path):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text("base:\n  'edge-a':\n    - main\n")
    (root / "main.sls").write_text(
        "edge:\n  spectrum_apps:\n    one:\n      account_id: crossbow\n      protocol: tcp/22\n"
        "      dns: {type: CNAME, name: o.crossbow.example.com}\n      origin_direct: ['tcp://104.16.9.9:22']\n"
    )
    from tests.conftest import EXAMPLES
    from tests.lint.conftest import run_cli

    config = tmp_path / "minion"
    config.write_text(yaml.safe_dump({
        "id": "edge-a",
        "pillar_roots": {"base": [str(root)]},
        "spectrum_acl": {"prefix_data": str(EXAMPLES / "prefixes.yaml"), "pillar_key": "edge:spectrum_apps",
                         "accounts": ACCOUNTS},
    }))
    run = run_cli("lint", "--minion-config", config)
    assert run.returncode == 1, run.stdout + run.stderr
    assert run.stdout.startswith(f"{root / 'main.sls'}:7: one: not_delegated: tcp://104.16.9.9:22 denied")
    assert run.stdout.splitlines()[-1].endswith("minion edge-a (not_delegated 1)")
    run = run_cli("lint", "-c", tmp_path)
    assert run.returncode == 1


def test_minion_d_settings_apply_and_minion_ids_take_several_values(tmp_path):
    from tests.conftest import EXAMPLES
    from tests.lint.conftest import run_cli

    conf = tmp_path / "conf"
    (conf / "minion.d").mkdir(parents=True)
    (conf / "minion").write_text(yaml.safe_dump({"pillar_roots": {"base": [str(EXAMPLES / "pillar")]}}))
    (conf / "minion.d" / "spectrum.conf").write_text(yaml.safe_dump({
        "spectrum_acl": {"prefix_data": str(EXAMPLES / "prefixes.yaml"), "accounts": ACCOUNTS,
                         "static_hosts": {"origin.partner.example": ["93.184.215.14"]}},
    }))
    run = run_cli("lint", "-c", conf, "--offline", "--minion-id", "edge01", "edge02", "--format", "json")
    assert run.returncode == 0, run.stdout + run.stderr
    result = run.json()
    assert [m["id"] for m in result["minions"]] == ["edge01", "edge02"]
    assert all(m["allowed"] for m in result["minions"])


def test_prefix_data_from_the_salt_file_server(tmp_path):
    import shutil

    from tests.conftest import EXAMPLES
    from tests.lint.conftest import run_cli

    state_root = tmp_path / "salt" / "spectrum"
    state_root.mkdir(parents=True)
    shutil.copy(EXAMPLES / "prefixes.yaml", state_root / "prefixes.yaml")
    config = {
        "file_roots": {"base": [str(tmp_path / "salt")]},
        "pillar_roots": {"base": [str(EXAMPLES / "pillar-bad")]},
        "spectrum_acl": {"prefix_data": "salt://spectrum/prefixes.yaml", "accounts": ACCOUNTS},
    }
    (tmp_path / "minion").write_text(yaml.safe_dump(config))
    run = run_cli("lint", "-c", tmp_path, "--format", "json")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "not_delegated" in run.json()["summary"]["by_kind"]  # the provider prefix came from salt://
    config["spectrum_acl"]["prefix_data"] = "salt://spectrum/missing.yaml"
    (tmp_path / "minion").write_text(yaml.safe_dump(config))
    run = run_cli("lint", "-c", tmp_path)
    assert run.returncode == 2
    assert "prefix data 'salt://spectrum/missing.yaml' could not be fetched from the file server" in run.stderr
