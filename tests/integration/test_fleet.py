"""The fleet, end to end: one master, several edge minions, one snapshot.

The master takes a snapshot of the provider's Addressing API (the reference server)
with ``salt-run spectrum_acl.snapshot`` into its file roots. Every minion applies the
guarded edge state from ``prefix_data: salt://spectrum_acl/prefixes.json`` and asks the
API nothing. Then the crossbow delegation is revoked upstream: a new snapshot, the drift
audit on every minion fires ``spectrum_acl/drift`` with the cause, and the guarded
re-apply refuses on every minion, which keeps its old edge config byte-identical.

The API requests of each wave are counted at a proxy in front of the server.
"""

import hashlib
import json
import secrets
import time

import pytest
import yaml

from saltext.spectrum_acl import load_guard
from saltext.spectrum_acl.api.server import ReferenceServer
from tests.api.test_snapshot_faults import FaultProxy
from tests.conftest import EXAMPLES
from tests.integration.masters import example_edge_minion, example_file_root, master_daemon, owner_only_token_file

SNAPSHOT = "spectrum_acl/prefixes.json"
EDGES = 3
PREFIXES = 3  # in examples/prefixes.yaml: two of the provider's, one of acme's


def _revoked(tmp_path):
    """examples/prefixes.yaml without the crossbow delegation of 104.16.5.0/24."""
    data = yaml.safe_load((EXAMPLES / "prefixes.yaml").read_text())
    for prefix in data["prefixes"]:
        prefix["delegations"] = [d for d in prefix.get("delegations", []) if d["cidr"] != "104.16.5.0/24"]
    path = tmp_path / "revoked.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def token():
    return "sk-fleet-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def upstream(token, tmp_path_factory):
    """The API as it is, the API after the revocation, and a counting proxy that points at one of them."""
    revoked = _revoked(tmp_path_factory.mktemp("upstream"))
    with ReferenceServer(load_guard(str(EXAMPLES / "prefixes.yaml")), token) as before, \
            ReferenceServer(load_guard(str(revoked)), token) as after:
        proxy = FaultProxy(before.url)
        yield proxy, before, after
        proxy.stop()


@pytest.fixture(scope="module")
def master(salt_factories, tmp_path_factory, upstream, token):
    token_file = owner_only_token_file(tmp_path_factory, token, "fleet-secrets")
    file_root = example_file_root(tmp_path_factory, "fleet-file-root")
    overrides = {
        # three minions share two cores with the suite: give busy ones time to answer find_job
        "gather_job_timeout": 60,
        "spectrum_acl": {"snapshot": {"url": upstream[0].url, "token_file": str(token_file),
                                      "accounts": ["provider", "acme"], "output": f"salt://{SNAPSHOT}",
                                      "retries": 0}},
    }
    factory = master_daemon(salt_factories, "fleet-master", file_root, EXAMPLES / "pillar", **overrides)
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def edges(master, tmp_path_factory):
    """``EDGES`` minions, each with its own edge config directory."""
    started = []
    for number in range(EDGES):
        edge_dir = tmp_path_factory.mktemp(f"edge{number}-etc")
        started.append(example_edge_minion(master, f"edge{number}", f"salt://{SNAPSHOT}", edge_dir))
    for factory in started:
        factory.start()
    try:
        yield started
    finally:
        for factory in started:
            factory.terminate()


def _targets(edges):
    return ",".join(edge.id for edge in edges)


def _digests(edges):
    return {edge.id: hashlib.sha256((edge.edge_dir / "apps.json").read_bytes()).hexdigest() for edge in edges}


def _reloads(edges):
    return {edge.id: (edge.edge_dir / "reload.log").read_text() for edge in edges}


def _wave(master, edges, upstream, *args):
    """Run ``salt -L <edges> args``; the per-minion data and the API requests the wave made."""
    proxy = upstream[0]
    before = len(proxy.requests)
    ret = master.salt_cli(timeout=180).run("-L", *args, minion_tgt=_targets(edges))
    return ret, len(proxy.requests) - before


def _snapshot(master, upstream):
    proxy = upstream[0]
    before = len(proxy.requests)
    ret = master.salt_run_cli(timeout=120).run("spectrum_acl.snapshot")
    assert ret.returncode == 0, ret.stdout + ret.stderr
    return ret.data, len(proxy.requests) - before


def test_the_fleet_from_one_snapshot_then_a_revoked_delegation(master, edges, upstream, token):
    proxy, _, after = upstream

    # Wave 1: one snapshot on the master, then every edge applies from it.
    report, snapshot_requests = _snapshot(master, upstream)
    assert report["changed"] is True
    # accounts (2) + delegations and bindings of each prefix (2 x 3) + GET /ips (1)
    assert snapshot_requests == report["requests"] == 2 + 2 * PREFIXES + 1
    ret, wave_requests = _wave(master, edges, upstream, "state.apply", "edge")
    assert wave_requests == 0
    assert set(ret.data) == {edge.id for edge in edges}
    for edge in edges:
        states = ret.data[edge.id]
        assert isinstance(states, dict), states
        assert all(state["result"] is True for state in states.values()), states
        apps = json.loads((edge.edge_dir / "apps.json").read_text())["apps"]
        assert sorted(apps) == ["acme-game", "crossbow-ssh", "partner-api", "partner-db"]
    deployed, reloads = _digests(edges), _reloads(edges)

    # Upstream, crossbow's delegation of 104.16.5.0/24 is revoked; the next snapshot sees it.
    proxy.upstream = after.url
    report, snapshot_requests = _snapshot(master, upstream)
    assert report["changed"] is True and report["counts"]["delegations"] == 1
    assert snapshot_requests == 2 + 2 * PREFIXES + 1

    # The drift audit on every edge, each of its own deployed config: crossbow-ssh no longer passes.
    started = time.time()
    before = len(proxy.requests)
    for edge in edges:
        ret = master.salt_cli(timeout=120).run("spectrum_acl.audit_drift",
                                               f"config_path={edge.edge_dir / 'apps.json'}", minion_tgt=edge.id)
        audit = ret.data
        assert audit["checked"] == 4
        causes = {(item["app"], item["origin"], item["cause"]) for item in audit["drifted"]}
        # its origin, and its static edge IP, were both in the revoked delegation
        assert causes == {("crossbow-ssh", "tcp://104.16.5.20:22", "not_delegated"),
                          ("crossbow-ssh", "104.16.5.10", "edge_ip_space")}, audit["drifted"]
        assert audit["event_fired"] is True
    assert len(proxy.requests) == before
    events = []
    deadline = time.time() + 60
    while time.time() < deadline and len({event.data["id"] for event in events}) < EDGES:
        events = master.event_listener.get_events([(master.id, "spectrum_acl/drift")], after_time=started)
        time.sleep(0.5)
    assert {event.data["id"] for event in events} == {edge.id for edge in edges}
    for event in events:
        assert {item["cause"] for item in event.data["data"]["drifted"]} == {"not_delegated", "edge_ip_space"}
        assert token not in json.dumps(event.data)

    # The guarded re-apply refuses everywhere and keeps every edge's config and daemon as they were.
    ret, wave_requests = _wave(master, edges, upstream, "state.apply", "edge")
    assert wave_requests == 0
    for edge in edges:
        states = ret.data[edge.id]
        guarded = [state for key, state in states.items() if key.startswith("spectrum_acl_|-")]
        assert guarded and all(state["result"] is False for state in guarded), states
        assert not any(state["changes"] for state in states.values())
    assert _digests(edges) == deployed
    assert _reloads(edges) == reloads
