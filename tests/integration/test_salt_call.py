"""Real ``salt-call --local`` runs on the example pillars, state tree and prefix data."""

import hashlib
import json
import uuid

import pytest
import yaml

from tests.conftest import EXAMPLES


def _example_spectrum_acl_config():
    text = (EXAMPLES / "minion").read_text().replace("@EXAMPLES@", str(EXAMPLES))
    return yaml.safe_load(text.replace("@RUN@", "/unused").replace("@PILLAR@", "pillar"))["spectrum_acl"]


def _minion(salt_factories, pillar, config_dir):
    overrides = {
        "file_client": "local",
        "file_roots": {"base": [str(EXAMPLES / "salt")]},
        "pillar_roots": {"base": [str(EXAMPLES / pillar)]},
        "spectrum_acl": _example_spectrum_acl_config(),
        "spectrum_edge": {"config_dir": str(config_dir)},
    }
    return salt_factories.salt_minion_daemon(f"edge-{pillar}-{uuid.uuid4().hex[:8]}", overrides=overrides)


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("etc-spectrum")


@pytest.fixture(scope="module")
def good_cli(salt_factories, config_dir):
    return _minion(salt_factories, "pillar", config_dir).salt_call_cli()


@pytest.fixture(scope="module")
def bad_cli(salt_factories, config_dir):
    return _minion(salt_factories, "pillar-bad", config_dir).salt_call_cli()


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_good_pillar_renders_then_bad_pillar_is_refused(good_cli, bad_cli, config_dir):
    target = config_dir / "apps.json"
    reload_log = config_dir / "reload.log"

    first = good_cli.run("--local", "state.apply")
    assert first.returncode == 0, first.stdout + first.stderr
    states = first.data
    config_state = next(v for k, v in states.items() if k.startswith("spectrum_acl_|-spectrum-edge-config"))
    assert config_state["result"] is True
    assert "4 apps, 5 origins allowed" in config_state["comment"]
    config = json.loads(target.read_text())
    assert sorted(config["apps"]) == ["acme-game", "crossbow-ssh", "partner-api", "partner-db"]
    assert len(reload_log.read_text().splitlines()) == 1  # onchanges fired once

    before = _digest(target)
    refused = bad_cli.run("--local", "state.apply")
    assert refused.returncode != 0
    bad_state = next(v for k, v in refused.data.items() if k.startswith("spectrum_acl_|-spectrum-edge-config"))
    assert bad_state["result"] is False
    assert bad_state["changes"] == {}
    comment = bad_state["comment"]
    for expected in (
        "not-delegated: tcp://104.16.9.1:22 denied",  # managed, not delegated
        "loop-a: tcp://104.16.5.41:443 denied: 104.16.5.41 is the static edge IP of app 'loop-b'",  # cycle
        "loop-b: tcp://104.16.5.40:443 denied: 104.16.5.40 is the static edge IP of app 'loop-a'",
        "acme-self-loop: tcp://45.91.88.1:25565 denied: 45.91.88.1 is a Spectrum edge IP",  # BYOIP self loop
        "private-origin: tcp://10.20.0.5:3306 denied: 10.20.0.5 is in 10.0.0.0/8 (Private-Use, RFC 1918)",
        "app 'hex-loopback': field 'origin_direct[0]': 'tcp://0x7f.0.0.1:8080' is not a valid origin: address '0x7f.0.0.1': hexadecimal",  # bypass spelling
        "127.0.0.1 (carried by ::ffff:127.0.0.1 as IPv4-mapped) is in 127.0.0.0/8",  # embedded IPv4
        "localhost-origin: localhost (origin_dns) denied: localhost resolves to",  # loopback by name
        "app 'bad-shape': field 'origin_direct/origin_dns'",  # bad shape
    ):
        assert expected in comment, expected
    reload_state = next(v for k, v in refused.data.items() if k.startswith("cmd_|-spectrum-edge-reload"))
    assert reload_state["changes"] == {}
    assert _digest(target) == before
    assert len(reload_log.read_text().splitlines()) == 1  # the reload did not fire


def test_test_mode_shows_verdicts_and_writes_nothing(good_cli, tmp_path):
    target = tmp_path / "never" / "apps.json"
    single = good_cli.run("--local", "state.single", "spectrum_acl.app_config", str(target), "test=True")
    assert single.returncode == 0, single.stdout + single.stderr
    (state,) = single.data.values()
    assert state["result"] is None
    assert "4 apps, 5 origins allowed" in state["comment"]
    assert state["changes"]
    assert not target.exists()


def test_module_check_apps_exit_codes(good_cli, bad_cli):
    good = good_cli.run("--local", "spectrum_acl.check_apps")
    assert good.returncode == 0
    assert good.data["allowed"] is True
    bad = bad_cli.run("--local", "spectrum_acl.check_apps")
    assert bad.returncode == 1
    assert bad.data["allowed"] is False
    assert set(bad.data["apps"]) >= {"loop-a", "loop-b", "private-origin", "bad-shape"}


def test_check_origin_cli_reports_reasons(good_cli):
    ret = good_cli.run("--local", "spectrum_acl.check_origin", "104.16.5.20", "account_id=crossbow")
    assert ret.returncode == 0
    assert ret.data["allowed"] is True
    assert ret.data["is_delegated"] is True
    bad = good_cli.run("--local", "spectrum_acl.check_origin", "127.1")
    assert bad.returncode != 0
    assert "'127.1' is not a valid origin" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
