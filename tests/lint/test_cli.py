"""The real ``spectrum-acl lint`` CLI on the example pillars and on broken ones."""

import shutil

import pytest
import yaml

from saltext.spectrum_acl.lint.blame import INFRASTRUCTURE_NOTE
from tests.conftest import EXAMPLES
from tests.lint.conftest import ACCOUNTS, STATIC_HOSTS, assert_clean, line_of, lint, run_cli

BAD_SLS = EXAMPLES / "pillar-bad" / "spectrum.sls"


def test_good_pillar_passes(minion_config):
    run = lint(minion_config, EXAMPLES / "pillar")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == [
        "PASS: 4 apps (0 failing), 5 origins (0 denied), 0 errors, 0 warnings; minion spectrum-acl-lint"
    ]
    assert run.stderr == ""


def test_good_pillar_verbose_lists_every_check_with_its_line(minion_config):
    run = lint(minion_config, EXAMPLES / "pillar", "-v")
    assert run.returncode == 0
    sls = EXAMPLES / "pillar" / "spectrum.sls"
    expected = line_of(sls, "tcp://[2606:4700::6810:5:14]:22")
    assert f"examples/pillar/spectrum.sls:{expected}: ok: crossbow-ssh tcp://[2606:4700::6810:5:14]:22" in run.stdout
    assert f"examples/pillar/spectrum.sls:{line_of(sls, 'partner-api:')}: ok: partner-api definition" in run.stdout


@pytest.fixture(scope="module")
def bad_text(minion_config):
    run = lint(minion_config, EXAMPLES / "pillar-bad")
    assert run.returncode == 1, run.stdout + run.stderr
    assert_clean(run)
    return run.stdout.splitlines()


@pytest.mark.parametrize(
    "app, kind, origin_text, because",
    [
        ("not-delegated", "not_delegated", "tcp://104.16.9.1:22", "crossbow neither owns it nor holds a delegation"),
        ("loop-a", "app_edge_ip", "tcp://104.16.5.41:443", "static edge IP of app 'loop-b'"),
        ("loop-b", "app_edge_ip", "tcp://104.16.5.40:443", "static edge IP of app 'loop-a'"),
        ("acme-self-loop", "edge_ip", "tcp://45.91.88.1:25565", "is a Spectrum edge IP (binding 45.91.88.1/32"),
        ("private-origin", "reserved", "tcp://10.20.0.5:3306", "10.0.0.0/8 (Private-Use, RFC 1918)"),
        ("mapped-loopback", "reserved", "tcp://[::ffff:127.0.0.1]:8080", "carried by ::ffff:127.0.0.1 as IPv4-mapped"),
        ("localhost-origin", "reserved", "{name: localhost}", "localhost resolves to 127.0.0.1"),
        ("hex-loopback", "shape", "tcp://0x7f.0.0.1:8080", "hexadecimal forms are not accepted"),
        ("bad-shape", "shape", "origin_direct:", "both origin_direct and origin_dns are set"),
        ("provider-claim", "shape", "account_id: provider", "account is not authorised on this minion"),
    ],
)
def test_bad_pillar_lists_every_denial_kind_at_its_line(bad_text, app, kind, origin_text, because):
    app_line = line_of(BAD_SLS, f"    {app}:")
    line = line_of(BAD_SLS, origin_text, start=app_line)
    prefix = f"examples/pillar-bad/spectrum.sls:{line}: {app}: {kind}: "
    matching = [text for text in bad_text if text.startswith(prefix)]
    assert len(matching) == 1, (prefix, bad_text)
    assert because in matching[0]


def test_bad_pillar_names_the_cycle_and_sums_up(bad_text):
    assert any("[cycle: loop-a -> loop-b -> loop-a]" in text for text in bad_text)
    assert bad_text[-1].startswith("FAIL: 10 apps (10 failing), 7 origins (7 denied), 11 errors, 0 warnings;")


def _tree(tmp_path, files, top="base:\n  '*':\n    - spectrum\n"):
    root = tmp_path / "pillar"
    root.mkdir()
    (root / "top.sls").write_text(top)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    "text, line, why",
    [
        ("spectrum:\n  apps:\n    a: {protocol: tcp/22\n    b: 1\n", 4, "did not find expected ',' or '}'"),
        ("spectrum:\n  apps:\n{% for x in [1] %}\n    a{{ x }: 1\n{% endfor %}\n", 4, "Jinja syntax error: unexpected '}'"),
        ("spectrum:\n  apps:\n    a: 1\n    a: 2\n", 4, "found conflicting ID 'a'"),
    ],
    ids=["yaml", "jinja", "duplicate-key"],
)
def test_broken_sls_exits_2_naming_file_line_and_why(minion_config, tmp_path, text, line, why):
    root = _tree(tmp_path, {"spectrum.sls": text})
    run = lint(minion_config, root)
    assert run.returncode == 2, run.stdout + run.stderr
    assert_clean(run)
    assert run.stdout == ""
    message, note = run.stderr.splitlines()
    assert note == f"spectrum-acl lint: {INFRASTRUCTURE_NOTE}"  # without --changed-files nobody is blamed
    where = f"{root / 'spectrum.sls'}" + (f":{line}" if line else "")
    assert message.startswith(f"spectrum-acl: error: {where}: cannot render SLS 'spectrum' for minion 'spectrum-acl-lint': ")
    assert why in message


def test_broken_sls_in_github_format_is_also_an_annotation(minion_config, tmp_path):
    root = _tree(tmp_path, {"spectrum.sls": "spectrum:\n  apps:\n    a: {protocol: tcp/22\n    b: 1\n"})
    run = lint(minion_config, root, "--format", "github")
    assert run.returncode == 2
    assert run.stdout.startswith(f"::error file={root / 'spectrum.sls'},line=4,title=spectrum-acl render::")


def test_missing_sls_and_broken_top_file_exit_2(minion_config, tmp_path):
    (tmp_path / "a").mkdir()
    missing = _tree(tmp_path / "a", {}, top="base:\n  '*':\n    - nothere\n")
    run = lint(minion_config, missing)
    assert run.returncode == 2
    assert "names SLS 'nothere' (saltenv 'base') in top.sls or an include, but no such file is in the pillar roots" in run.stderr
    (tmp_path / "b").mkdir()
    broken = _tree(tmp_path / "b", {}, top="base:\n  '*': [\n")
    run = lint(minion_config, broken)
    assert run.returncode == 2
    assert f"{broken / 'top.sls'}:" in run.stderr and "cannot render the top file" in run.stderr
    assert_clean(run)


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "no prefix data configured"),
        (("--data", "nope.yaml"), "prefix data file 'nope.yaml' does not exist"),
        (("--pillar-root", "/nonexistent/pillar"), "pillar root '/nonexistent/pillar' (saltenv 'base') is not a directory"),
        (("--minion-config", "/nonexistent/minion"), "minion config '/nonexistent/minion' does not exist"),
        (("--grains", "/nonexistent/grains"), "grains file '/nonexistent/grains' cannot be read"),
    ],
)
def test_usage_and_config_errors_exit_2(args, message):
    if "--pillar-root" not in args:
        args = ("--pillar-root", EXAMPLES / "pillar") + args
    run = run_cli("lint", *args)
    assert run.returncode == 2, run.stdout + run.stderr
    assert_clean(run)
    assert message in run.stderr


def test_bad_prefix_data_and_bad_static_hosts_exit_2(tmp_path):
    data = tmp_path / "prefixes.yaml"
    data.write_text("prefixes:\n  - {cidr: 10.0.0.1/8, account_id: x}\n")
    run = run_cli("lint", "--pillar-root", EXAMPLES / "pillar", "--data", data)
    assert run.returncode == 2
    assert "host bits" in run.stderr or "10.0.0.1/8" in run.stderr
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text("origin.partner.example: {a: 1}\n")
    run = run_cli("lint", "--pillar-root", EXAMPLES / "pillar", "--data", EXAMPLES / "prefixes.yaml", "--static-hosts", hosts)
    assert run.returncode == 2
    assert "entry 'origin.partner.example' must map a name to a list of addresses" in run.stderr
    assert str(hosts) in run.stderr


def test_bad_minion_config_yaml_exits_2(tmp_path):
    config = tmp_path / "minion"
    config.write_text("spectrum_acl: [\n")
    run = run_cli("lint", "--pillar-root", EXAMPLES / "pillar", "--minion-config", config)
    assert run.returncode == 2
    assert f"minion config '{config}' is not valid YAML" in run.stderr
    assert_clean(run)


def test_offline_denies_unpinned_names_and_static_hosts_file_pins_them(tmp_path):
    base = ("lint", "--pillar-root", EXAMPLES / "pillar", "--data", EXAMPLES / "prefixes.yaml", "--offline",
            "--accounts", *ACCOUNTS)
    run = run_cli(*base)
    assert run.returncode == 1
    line = line_of(EXAMPLES / "pillar" / "spectrum.sls", "origin_dns: {name: origin.partner.example")
    assert run.stdout.startswith(
        f"examples/pillar/spectrum.sls:{line}: partner-api: unresolvable: origin.partner.example (origin_dns) denied: "
        "origin.partner.example does not resolve"
    )
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(yaml.safe_dump(STATIC_HOSTS))
    assert run_cli(*base, "--static-hosts", hosts).returncode == 0


def test_api_url_without_a_token_exits_2_without_leaking_anything(minion_config):
    run = lint(minion_config, EXAMPLES / "pillar", "--api-url", "https://api.example.net/client/v4")
    assert run.returncode == 2
    assert_clean(run)
    assert "token" in run.stderr.lower()


def test_api_url_and_data_are_exclusive(minion_config):
    run = lint(minion_config, EXAMPLES / "pillar", "--api-url", "https://x.example", "--data", EXAMPLES / "prefixes.yaml")
    assert run.returncode == 2
    assert "not allowed with argument" in run.stderr


def test_account_id_flag_overrides_the_pillar_default(minion_config):
    run = lint(minion_config, EXAMPLES / "pillar", "--account-id", "nobody", "--format", "json")
    assert run.returncode == 1
    report = run.json()["minions"][0]["report"]
    # crossbow-ssh names no account: it is judged for nobody now, who holds no delegation;
    # acme-game names acme and is unchanged.
    assert report["apps"]["crossbow-ssh"]["account_id"] == "nobody"
    assert report["apps"]["crossbow-ssh"]["allowed"] is False
    assert report["apps"]["acme-game"]["allowed"] is True


def test_runs_from_a_pillar_repo_with_relative_paths(tmp_path, minion_config):
    repo = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "pillar", repo / "pillar")
    run = run_cli("lint", "--pillar-root", "pillar", "--minion-config", minion_config, cwd=repo)
    assert run.returncode == 0, run.stdout + run.stderr
    run = run_cli("lint", "--pillar-root", "pillar", "--minion-config", minion_config, "--format", "json", cwd=repo)
    assert run.json()["minions"][0]["sls"] == [{"saltenv": "base", "sls": "spectrum", "file": "pillar/spectrum.sls"}]


def test_every_shape_error_of_an_app_is_reported_at_its_line(bad_text):
    shape_lines = [text for text in bad_text if ": bad-shape: shape: " in text]
    assert len(shape_lines) == 2
    assert any("field 'origin_direct/origin_dns'" in text for text in shape_lines)
    assert any("field 'tls'" in text and 'write "off" in quotes' in text for text in shape_lines)
    sls = (EXAMPLES / "pillar-bad" / "spectrum.sls").read_text().splitlines()
    tls_line = next(text for text in shape_lines if "field 'tls'" in text).split(":")[1]
    assert sls[int(tls_line) - 1].strip() == "tls: off"


def test_cache_dir_keeps_a_compiled_index_for_the_next_run(minion_config, tmp_path):
    cache = tmp_path / "cache"
    first = lint(minion_config, EXAMPLES / "pillar", "--cache-dir", cache)
    assert first.returncode == 0, first.stdout + first.stderr
    compiled = sorted(path.name for path in cache.iterdir() if path.name.startswith("prefix-index-"))
    assert len(compiled) == 1
    again = lint(minion_config, EXAMPLES / "pillar", "--cache-dir", cache)
    assert again.returncode == 0 and again.stdout == first.stdout
    assert sorted(path.name for path in cache.iterdir() if path.name.startswith("prefix-index-")) == compiled


def test_prefix_data_from_the_operators_environment(tmp_path):
    run = run_cli("lint", "--pillar-root", EXAMPLES / "pillar", "--accounts", *ACCOUNTS, "--static-hosts", _hosts(tmp_path),
                  env={"SPECTRUM_ACL_PREFIX_DATA": str(EXAMPLES / "prefixes.yaml")})
    assert run.returncode == 0, run.stdout + run.stderr


def _hosts(tmp_path):
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(yaml.safe_dump(STATIC_HOSTS))
    return hosts
