"""The fleet set-up end to end: ``salt-run spectrum_acl.snapshot`` on a real master writes the snapshot
into its file roots; a real minion with ``prefix_data: salt://spectrum_acl/prefixes.json`` applies its
state from it and makes no request to the Addressing API at all.
"""

import hashlib
import json
import pathlib
import secrets

import pytest
from salt.exceptions import SaltInvocationError

from saltext.spectrum_acl import load_guard
from saltext.spectrum_acl.api.server import ReferenceServer
from tests.api.test_snapshot_faults import FaultProxy
from tests.conftest import EXAMPLES
from tests.integration.masters import example_edge_minion, example_file_root, master_daemon, owner_only_token_file

SNAPSHOT = "spectrum_acl/prefixes.json"


@pytest.fixture(scope="module")
def token():
    return "sk-snapshot-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def api(token):
    """The reference server of the examples, behind a proxy that a test can make fail."""
    with ReferenceServer(load_guard(str(EXAMPLES / "prefixes.yaml")), token) as server:
        proxy = FaultProxy(server.url)
        yield server, proxy
        proxy.stop()


@pytest.fixture(scope="module")
def master(salt_factories, tmp_path_factory, api, token):
    token_file = owner_only_token_file(tmp_path_factory, token)
    file_root = example_file_root(tmp_path_factory, "master-file-root")
    overrides = {
        "spectrum_acl": {
            "snapshot": {
                "url": api[1].url,
                "token_file": str(token_file),
                "accounts": ["provider", "acme"],
                "output": f"salt://{SNAPSHOT}",
                "retries": 0,
            },
        },
    }
    factory = master_daemon(salt_factories, "master", file_root, EXAMPLES / "pillar", **overrides)
    with factory.started():
        # salt-factories puts a state tree of its own first in file_roots: salt:// output goes to the first
        factory.snapshot_path = pathlib.Path(factory.config["file_roots"]["base"][0]) / SNAPSHOT
        yield factory


@pytest.fixture(scope="module")
def minion(master, tmp_path_factory):
    factory = example_edge_minion(master, "edge", f"salt://{SNAPSHOT}", tmp_path_factory.mktemp("edge-etc"))
    with factory.started():
        yield factory


def _served(server):
    return server.state.requests + server.state.listing_requests


def test_the_runner_writes_the_snapshot_into_the_file_roots(master, api, token):
    server, _ = api
    before = _served(server)
    ret = master.salt_run_cli(timeout=120).run("spectrum_acl.snapshot")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    report = ret.data
    path = master.snapshot_path
    assert report["result"] is True and report["changed"] is True
    assert report["path"] == str(path)
    assert report["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert report["counts"]["prefixes"] == 3 and report["counts"]["spectrum_bindings"] == 5
    assert report["requests"] == _served(server) - before == 2 + 2 * 3 + 1
    assert token not in ret.stdout + ret.stderr


def test_minions_apply_from_the_snapshot_with_no_api_request(master, minion, api):
    server, _ = api
    before = _served(server)
    salt_cli = master.salt_cli(timeout=120)
    ret = salt_cli.run("state.apply", minion_tgt=minion.id)
    assert ret.returncode == 0, ret.stdout + ret.stderr
    config = json.loads((minion.edge_dir / "apps.json").read_text())
    assert sorted(config["apps"]) == ["acme-game", "crossbow-ssh", "partner-api", "partner-db"]
    check = salt_cli.run("spectrum_acl.check_origin", "104.16.9.1", "account_id=crossbow", minion_tgt=minion.id)
    assert check.data["allowed"] is False
    assert "104.16.0.0/13" in " ".join(check.data["reasons"])
    edge_ip = salt_cli.run("spectrum_acl.check_origin", "45.91.88.1", "account_id=acme", minion_tgt=minion.id)
    assert edge_ip.data["has_binding"] is True and edge_ip.data["allowed"] is False
    assert _served(server) == before  # the minion asked the API nothing


def test_a_failed_snapshot_exits_1_and_the_minions_keep_the_old_one(master, api, token):
    server, proxy = api
    path = master.snapshot_path
    old = path.read_bytes()
    proxy.spoil = lambda number, request_path, status, body: (500, b'{"success": false, "errors": []}') \
        if "/bindings" in request_path else None
    try:
        ret = master.salt_run_cli(timeout=120).run("spectrum_acl.snapshot")
    finally:
        proxy.spoil = None
    assert ret.returncode == 1
    assert ret.data["result"] is False and ret.data["reason"] == "http_status"
    assert "/bindings" in ret.data["where"]
    assert path.read_bytes() == old
    assert token not in ret.stdout + ret.stderr


def test_status_says_when_the_snapshot_was_taken(master):
    ret = master.salt_run_cli(timeout=120).run("spectrum_acl.status")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    path = master.snapshot_path
    assert ret.data["current"] is True and ret.data["exists"] is True
    assert ret.data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ret.data["taken_at"] and ret.data["age_seconds"] >= 0


def test_an_unchanged_snapshot_is_not_rewritten(master):
    path = master.snapshot_path
    before = path.stat()
    ret = master.salt_run_cli(timeout=120).run("spectrum_acl.snapshot", "test=True")
    assert ret.returncode == 0 and ret.data["result"] is True and ret.data["changed"] is False
    ret = master.salt_run_cli(timeout=120).run("spectrum_acl.snapshot")
    assert ret.returncode == 0 and ret.data["changed"] is False
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


# --------------------------------------------------------------------------- the runner through Salt's loader, no daemon


def _runners(tmp_path, section):
    import salt.config
    import salt.loader

    opts = salt.config.master_config(None)
    opts.update({"cachedir": str(tmp_path / "cache"), "extension_modules": str(tmp_path / "extmods"),
                 "file_roots": {"base": [str(tmp_path / "srv")]}})
    if section is not None:
        opts["spectrum_acl"] = {"snapshot": section}
    return salt.loader.runner(opts)


def test_salts_loader_finds_the_runner_through_the_entry_point(tmp_path):
    runners = _runners(tmp_path, None)
    assert {"spectrum_acl.snapshot", "spectrum_acl.status"} <= set(runners)
    assert "CLI Example" in runners["spectrum_acl.snapshot"].__doc__


@pytest.mark.parametrize(
    "section, words",
    [
        (None, "no snapshot configured: set spectrum_acl:snapshot"),
        ({"output": "prefixes.json"}, "spectrum_acl:snapshot:output must be a salt:// URL or an absolute path"),
        ({"output": "salt://../prefixes.json"}, "is not a plain path below the file roots"),
        ({"output": "salt://spectrum_acl/prefixes.json?saltenv=prod"}, "the master has no file_roots directory for it"),
        ({"output": "salt://spectrum_acl/prefixes.json", "tokn_file": "/x"}, "spectrum_acl:snapshot:tokn_file is not a setting"),
    ],
)
def test_a_bad_configuration_is_named_and_fails(tmp_path, section, words, token):
    base = {"url": "https://api.example.net", "token": token, "accounts": ["acme"]}
    report = _runners(tmp_path, None if section is None else {**base, **section})["spectrum_acl.snapshot"]()
    assert report["result"] is False and report["reason"] == "config" and report["retcode"] == 1
    assert words in report["comment"] and token not in json.dumps(report)


def test_an_absolute_output_and_status(tmp_path, api, token):
    server, _ = api
    output = tmp_path / "srv" / "elsewhere" / "prefixes.json"
    runners = _runners(tmp_path, {"url": server.url, "token": token, "accounts": ["acme"], "output": str(output),
                                  "provider_account": False})
    assert runners["spectrum_acl.status"]()["current"] is False
    report = runners["spectrum_acl.snapshot"]()
    assert report["result"] is True and report["path"] == str(output) and output.is_file()
    status = runners["spectrum_acl.status"]()
    assert status["current"] is True and status["sha256"] == report["sha256"] and "retcode" not in status
    with pytest.raises(SaltInvocationError, match="allow_shrink must be True or False"):
        runners["spectrum_acl.snapshot"](allow_shrink="yes")
