"""The api backend through Salt's real loaders: the state fails closed on every fault class.

The minion's ``spectrum_acl:api:url`` points at the fault server, whose behaviour
each test picks. A failed state run leaves the old file byte-identical.
"""

import copy
import time
import uuid

import pytest
from salt.exceptions import CommandExecutionError
from saltfactories.utils.functional import Loaders

from tests.api.test_faults import FAULTS

APPS = {
    "edge-a": {
        "account_id": "crossbow",
        "protocol": "tcp/22",
        "dns": {"type": "CNAME", "name": "a.example.com"},
        "origin_direct": ["tcp://104.16.5.20:22", "tcp://1.1.1.1:22"],
    },
    "edge-b": {
        "account_id": "acme",
        "protocol": "tcp/443",
        "dns": {"type": "CNAME", "name": "b.example.com"},
        "origin_dns": {"name": "origin.partner.example"},
        "origin_port": 443,
    },
}
OLD = b'{"apps": {"old": {}}}\n  trailing bytes \x00\n'
ENDPOINT = "/edge_services/spectrum/validate_origin_ip_acl"


@pytest.fixture(scope="module")
def loaders(salt_factories, fault_server_session, token_file, tmp_path_factory):
    overrides = {
        "file_client": "local",
        "file_roots": {"base": [str(tmp_path_factory.mktemp("state-tree"))]},
        "pillar_roots": {"base": [str(tmp_path_factory.mktemp("pillar"))]},
        "spectrum_acl": {
            "backend": "api",
            "accounts": ["crossbow", "acme"],
            "static_hosts": {"origin.partner.example": ["93.184.215.14"]},
            "api": {
                "url": fault_server_session.url,
                "token_file": str(token_file),
                "read_timeout": 0.5,
                "retries": 2,
                "backoff_factor": 0.01,
            },
        },
    }
    factory = salt_factories.salt_minion_daemon(f"api-func-{uuid.uuid4().hex[:8]}", overrides=overrides)
    return Loaders(factory.config.copy(), loaded_base_name=f"{__name__}.loaded")


@pytest.fixture(autouse=True)
def fresh_run(loaders, fault_server):
    """Each test is its own run: a fresh ``__context__`` (so a fresh client) and the ok mode."""
    loaders.opts["test"] = False
    api = loaders.opts["spectrum_acl"]["api"]
    saved = dict(api)
    yield
    api.clear()
    api.update(saved)
    loaders.reset_state()


@pytest.fixture
def edge_config(tmp_path):
    path = tmp_path / "apps.json"
    path.write_bytes(OLD)
    return path


def test_allowed_through_the_api_renders(loaders, fault_server, edge_config):
    ret = loaders.states.spectrum_acl.app_config(name=str(edge_config), apps=APPS)
    assert ret.result is True, ret.comment
    assert "2 apps, 3 origins allowed" in ret.comment
    assert ret.changes["diff"]
    assert b'"edge-a"' in edge_config.read_bytes()
    # one run, one session: one request per account
    assert [r["query"]["account_id"] for r in fault_server.requests] == [["crossbow"], ["acme"]]
    # state.single is a run of its own (Salt copies __context__ per state run): it asks again
    assert loaders.states.spectrum_acl.origins_allowed(name="check", apps=APPS).result is True
    assert len(fault_server.requests) == 4


@pytest.mark.parametrize("mode", sorted(FAULTS))
def test_fault_leaves_the_file_byte_identical(loaders, fault_server, edge_config, token, mode):
    fault_server.reset(mode)
    ret = loaders.states.spectrum_acl.app_config(name=str(edge_config), apps=APPS)
    fault_server.release.set()
    assert ret.result is False
    assert ret.changes == {}
    assert edge_config.read_bytes() == OLD
    lines = ret.comment.splitlines()
    assert lines[0] == "Spectrum origin guard denied, nothing was written:"
    assert len(lines) == 4  # one line per failing origin
    assert FAULTS[mode][0] in ret.comment
    assert f"GET {fault_server.url}{ENDPOINT}" in ret.comment
    assert token not in ret.comment


def test_refused_connection_fails_closed(loaders, refused_url, edge_config, token):
    loaders.opts["spectrum_acl"]["api"]["url"] = refused_url
    ret = loaders.states.spectrum_acl.app_config(name=str(edge_config), apps=APPS)
    assert ret.result is False and ret.changes == {}
    assert edge_config.read_bytes() == OLD
    assert f"connection refused (GET {refused_url}{ENDPOINT}" in ret.comment
    assert token not in ret.comment


def test_test_mode_asks_the_api_and_writes_nothing(loaders, fault_server, edge_config):
    loaders.opts["test"] = True
    ret = loaders.states.spectrum_acl.app_config(name=str(edge_config), apps=APPS, test=True)
    assert ret.result is None
    assert ret.changes
    assert edge_config.read_bytes() == OLD
    assert len(fault_server.requests) == 2


def test_module_check_origin_and_data_info(loaders, fault_server):
    verdict = loaders.modules.spectrum_acl.check_origin("104.16.9.1", account_id="crossbow")
    assert verdict["allowed"] is False
    assert any("the Addressing API denies it" in reason for reason in verdict["reasons"])
    assert loaders.context["retcode"] == 1
    info = loaders.modules.spectrum_acl.data_info()
    assert info["backend"] == "api"


@pytest.mark.parametrize(
    "change, words",
    [
        ({"url": None}, "spectrum_acl:api:url is required"),
        ({"url": "http://api.example.net"}, "plain http to a host that is not loopback"),
        ({"tokenfile": "/x"}, "spectrum_acl:api:tokenfile is not a setting"),
        ({"token": "inline-and-file"}, "set only one of spectrum_acl:api:token and spectrum_acl:api:token_file"),
        ({"batch_size": 0}, "spectrum_acl:api:batch_size must be a whole number from 1 to 1000"),
    ],
)
def test_bad_config_is_a_clear_error(loaders, edge_config, token, change, words):
    # A minion config is read when the minion starts: a bad one gets loaders of its own.
    opts = copy.deepcopy(dict(loaders.opts))
    api = opts["spectrum_acl"]["api"]
    for key, value in change.items():
        if value is None:
            api.pop(key)
        else:
            api[key] = value
    bad = Loaders(opts, loaded_base_name=f"{__name__}.bad{uuid.uuid4().hex[:6]}")
    with pytest.raises(CommandExecutionError, match=words):
        bad.modules.spectrum_acl.check_apps(apps=APPS)
    ret = bad.states.spectrum_acl.app_config(name=str(edge_config), apps=APPS)
    assert ret.result is False
    assert ret.comment.startswith("Spectrum origin guard could not run, nothing was written: ")
    assert words in ret.comment and token not in ret.comment
    assert edge_config.read_bytes() == OLD

@pytest.mark.parametrize("mode", ["duplicate-flag", "duplicate-success", "deep-100000", "echo-late-body", "echo-late-errors"])
def test_hostile_answers_fail_closed_cleanly_in_the_state(loaders, fault_server, edge_config, token, mode):
    """Repeated keys, 100,000-deep JSON and a server echoing the token: denied, no traceback, no token."""
    fault_server.reset(mode)
    ret = loaders.states.spectrum_acl.app_config(name=str(edge_config), apps=APPS)
    fault_server.release.set()
    assert ret.result is False and ret.changes == {}
    assert edge_config.read_bytes() == OLD
    assert "Traceback" not in ret.comment and "RecursionError" not in ret.comment
    secret = token.split("-")[-1]  # the random part: "sk-spectrum-" is in every URL here anyway
    assert all(secret[start:start + 8] not in ret.comment for start in range(len(secret) - 7))


def test_a_dripping_api_is_cut_off_at_the_deadline_in_the_state(loaders, fault_server, edge_config):
    opts = copy.deepcopy(dict(loaders.opts))
    opts["spectrum_acl"]["api"].update(deadline=1.5, read_timeout=3)
    dripping = Loaders(opts, loaded_base_name=f"{__name__}.drip{uuid.uuid4().hex[:6]}")
    fault_server.reset("drip-body")
    started = time.monotonic()
    ret = dripping.states.spectrum_acl.app_config(name=str(edge_config), apps=APPS)
    elapsed = time.monotonic() - started
    fault_server.release.set()
    assert ret.result is False and edge_config.read_bytes() == OLD
    assert elapsed < 10  # bounded by the deadline, not by the server's pace
