"""Real ``salt-call --local`` runs with ``backend: api`` (pytest-salt-factories), at ``-l debug``.

The minion asks a real HTTP server on 127.0.0.1 that answers from the example
prefix data. The token is set inline in the minion config, the riskiest place:
it must not appear in the output, the state return or the minion log, even at debug.
"""

import hashlib
import json
import uuid

import pytest

from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.data import prefix_data
from tests.api.fault_server import FaultServer
from tests.conftest import EXAMPLES

ENDPOINT = "/edge_services/spectrum/validate_origin_ip_acl"


@pytest.fixture(scope="module")
def example_api():
    """Answers from examples/prefixes.yaml; the tests switch it to faults."""
    server = FaultServer(OriginGuard(prefix_data.load_index(str(EXAMPLES / "prefixes.yaml")))).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("etc-spectrum")


@pytest.fixture(scope="module")
def minion(salt_factories, example_api, token, config_dir, tmp_path_factory):
    overrides = {
        "file_client": "local",
        "file_roots": {"base": [str(EXAMPLES / "salt")]},
        "pillar_roots": {"base": [str(EXAMPLES / "pillar")]},
        "log_level_logfile": "debug",
        "spectrum_acl": {
            "backend": "api",
            "accounts": ["crossbow", "acme", "partner"],
            "static_hosts": {"origin.partner.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]},
            "api": {"url": example_api.url, "token": token, "read_timeout": 1, "retries": 1, "backoff_factor": 0.01},
        },
        "spectrum_edge": {"config_dir": str(config_dir)},
    }
    return salt_factories.salt_minion_daemon(f"edge-api-{uuid.uuid4().hex[:8]}", overrides=overrides)


def _state(ret, prefix):
    return next(v for k, v in ret.data.items() if k.startswith(prefix))


def _no_token(token, *texts):
    for text in texts:
        assert token not in text


def test_state_apply_through_the_api_then_a_fault_leaves_the_file(minion, example_api, token, config_dir):
    cli = minion.salt_call_cli(timeout=120)
    target, reload_log = config_dir / "apps.json", config_dir / "reload.log"

    example_api.reset("ok")
    first = cli.run("--local", "-l", "debug", "state.apply")
    assert first.returncode == 0, first.stderr[-3000:]
    config_state = _state(first, "spectrum_acl_|-spectrum-edge-config")
    assert config_state["result"] is True
    assert "4 apps, 5 origins allowed" in config_state["comment"]
    assert sorted(json.loads(target.read_text())["apps"]) == ["acme-game", "crossbow-ssh", "partner-api", "partner-db"]
    # one state run: one request per account (crossbow, acme, partner), whatever the number of origins
    assert sorted(r["query"]["account_id"][0] for r in example_api.requests) == ["acme", "crossbow", "partner"]
    assert all(r["headers"]["Authorization"] == f"Bearer {token}" for r in example_api.requests)
    assert "spectrum_acl: Addressing API GET" in first.stderr  # debug logging is really on
    assert f"{ENDPOINT}?cidr=" in first.stderr  # urllib3's request line too
    _no_token(token, first.stdout, first.stderr, json.dumps(first.data))

    before = hashlib.sha256(target.read_bytes()).hexdigest()
    example_api.reset("401")
    refused = cli.run("--local", "-l", "debug", "state.apply")
    assert refused.returncode != 0
    config_state = _state(refused, "spectrum_acl_|-spectrum-edge-config")
    assert config_state["result"] is False and config_state["changes"] == {}
    assert "HTTP 401 Unauthorized: the token from spectrum_acl:api:token was refused" in config_state["comment"]
    assert f"GET {example_api.url}{ENDPOINT}" in config_state["comment"]
    assert _state(refused, "cmd_|-spectrum-edge-reload")["changes"] == {}
    assert hashlib.sha256(target.read_bytes()).hexdigest() == before
    assert len(reload_log.read_text().splitlines()) == 1  # the reload did not fire
    _no_token(token, refused.stdout, refused.stderr, json.dumps(refused.data))
    # the debug log did record the exchanges, without the token
    log_text = open(minion.config["log_file"], encoding="utf-8").read()
    assert "spectrum_acl: Addressing API GET" in log_text
    assert f"{ENDPOINT}?cidr=" in log_text  # urllib3's own debug line
    _no_token(token, log_text)


def test_check_origin_through_the_api_at_debug(minion, example_api, token):
    example_api.reset("ok")
    cli = minion.salt_call_cli(timeout=120)
    ret = cli.run("--local", "-l", "debug", "spectrum_acl.check_origin", "104.16.9.1", "account_id=crossbow")
    assert ret.returncode == 1
    assert ret.data["allowed"] is False
    assert any("the Addressing API denies it" in reason for reason in ret.data["reasons"])
    _no_token(token, ret.stdout, ret.stderr)
