"""The drift audit with a real master and minion: what the master's event bus receives, and what the reactor does.

The minion deploys an allowed edge config with the guarded state (``state.apply edge``).
Then the prefix data loses the delegation its origin needs, and the DNS name of its other
app moves to private space (a real DNS server on 127.0.0.1). The audit, and the beacon,
fire ``spectrum_acl/drift``; the master's reactor (``examples/master.d/reactor.conf``)
applies the guarded state again, which refuses, and fires ``spectrum_acl/alert``. The
deployed file stays byte-identical and the edge daemon is not reloaded.
"""

import hashlib
import json
import shutil
import time
import uuid

import pytest
import salt.loader
import yaml

from saltext.spectrum_acl.apps import drift
from tests.conftest import EXAMPLES
from tests.dns_server import DnsServer
from tests.integration.masters import example_file_root, master_daemon

ZONE = {"origin.partner.test": {"A": ["93.184.215.14"]}}
PILLAR = {
    "spectrum": {
        "apps": {
            "crossbow-ssh": {
                "account_id": "crossbow",
                "protocol": "tcp/22",
                "dns": {"type": "CNAME", "name": "ssh.crossbow.example.com"},
                "edge_ips": {"type": "static", "ips": ["104.16.5.10"]},
                "origin_direct": ["tcp://104.16.5.20:22"],
            },
            "partner-api": {
                "account_id": "partner",
                "protocol": "tcp/443",
                "dns": {"type": "CNAME", "name": "api.partner.example"},
                "origin_dns": {"name": "origin.partner.test", "ttl": 600},
                "origin_port": 443,
            },
        }
    }
}


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _events(master, pattern, predicate, after, timeout=60):
    """The master's events matching ``pattern`` and ``predicate(data)`` since ``after``; waits for at least one."""
    deadline = time.time() + timeout
    while True:
        found = [event for event in master.event_listener.get_events([(master.id, pattern)], after_time=after)
                 if predicate(event.data)]
        if found or time.time() > deadline:
            return sorted(found, key=lambda event: event.stamp)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def dns_server():
    with DnsServer({name: dict(records) for name, records in ZONE.items()}) as server:
        yield server


@pytest.fixture(scope="module")
def master(salt_factories, tmp_path_factory):
    file_root = example_file_root(tmp_path_factory, "drift-file-root")
    pillar_root = tmp_path_factory.mktemp("drift-pillar")
    (pillar_root / "top.sls").write_text("base:\n  '*':\n    - spectrum\n")
    (pillar_root / "spectrum.sls").write_text(yaml.safe_dump(PILLAR))
    reactor = yaml.safe_load((EXAMPLES / "master.d" / "reactor.conf").read_text())  # the example snippet, as written
    factory = master_daemon(salt_factories, "drift-master", file_root, pillar_root, **reactor)
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def minion(master, dns_server, tmp_path_factory):
    edge_etc = tmp_path_factory.mktemp("drift-edge-etc")
    prefixes = tmp_path_factory.mktemp("drift-data") / "prefixes.yaml"
    shutil.copy(EXAMPLES / "prefixes.yaml", prefixes)
    overrides = {
        "master": "127.0.0.1",
        "spectrum_acl": {
            "prefix_data": str(prefixes),
            "accounts": ["crossbow", "partner"],
            "nameservers": ["127.0.0.1"],
            "dns_port": dns_server.port,
            "dns_timeout": 2,
            "pin_dns": True,
        },
        "spectrum_edge": {"config_dir": str(edge_etc)},
        # docs/drift.md's schedule, not run at start here (the test deploys first)
        "schedule": {
            "enabled": True,
            "spectrum_acl_drift": {
                "function": "spectrum_acl.audit_drift",
                "minutes": 15,
                "run_on_start": False,
                "kwargs": {"config_path": str(edge_etc / "apps.json")},
            },
        },
    }
    factory = master.salt_minion_daemon(f"drift-edge-{uuid.uuid4().hex[:8]}", overrides=overrides)
    with factory.started():
        factory.edge_etc, factory.prefixes = edge_etc, prefixes
        yield factory


def _revoke_delegation(prefixes):
    document = yaml.safe_load(prefixes.read_text())
    document["prefixes"][0]["delegations"] = []
    prefixes.write_text(yaml.safe_dump(document))


def _is_state_apply(data):
    return data.get("fun") == "state.apply"


def test_drift_reaches_the_master_and_the_reactor_keeps_the_deployed_config(master, minion, dns_server):
    salt_cli = master.salt_cli(timeout=120)
    deployed = minion.edge_etc / "apps.json"
    reload_log = minion.edge_etc / "reload.log"

    applied = salt_cli.run("state.apply", "edge", minion_tgt=minion.id)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    before = _digest(deployed)
    reloads = reload_log.read_text()

    unchanged = salt_cli.run("spectrum_acl.audit_drift", f"config_path={deployed}", minion_tgt=minion.id)
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr
    assert (unchanged.data["checked"], unchanged.data["drifted"], unchanged.data["event_fired"]) == (2, [], False)

    # A week later: the delegation is revoked, and the name now points at private space.
    _revoke_delegation(minion.prefixes)
    dns_server.zone["origin.partner.test"] = {"A": ["10.0.0.5"]}
    started = time.time()
    audited = salt_cli.run("spectrum_acl.audit_drift", f"config_path={deployed}", minion_tgt=minion.id)
    assert audited.returncode == 1, audited.stdout + audited.stderr
    assert audited.data["event_fired"] is True
    expected = [
        ("crossbow-ssh", "edge_ips.ips[0]", "edge_ip_space"),
        ("crossbow-ssh", "origin_direct[0]", "not_delegated"),
        ("partner-api", "origin_dns.name", "reserved"),
    ]
    assert [(item["app"], item["field"], item["cause"]) for item in audited.data["drifted"]] == expected

    (event,) = _events(master, drift.DRIFT_TAG, lambda data: data.get("data", {}).get("source") == "audit_drift", started)
    assert event.data["id"] == minion.id  # the minion the master authenticated
    report = event.data["data"]
    assert report["config_path"] == str(deployed)
    assert report["causes"] == ["edge_ip_space", "not_delegated", "reserved"]
    by_field = {item["field"]: item for item in report["drifted"]}
    origin = by_field["origin_direct[0]"]
    assert (origin["app"], origin["origin"], origin["allowed"], origin["decided_by"]) == (
        "crossbow-ssh", "tcp://104.16.5.20:22", False, "104.16.0.0/13")
    assert origin["changed"] == {"verdict": {"was": "allowed", "now": "denied"}}
    assert by_field["origin_dns.name"]["changed"]["addresses"] == {
        "was": [{"address": "93.184.215.14"}], "now": [{"address": "10.0.0.5"}]}

    # The reactor: an alert on the master bus, and the guarded state applied again, which refuses.
    (alert,) = _events(master, "spectrum_acl/alert", lambda data: data.get("source") == "audit_drift", started)
    assert (alert.data["minion"], alert.data["causes"]) == (minion.id, report["causes"])
    assert alert.data["drifted"] == report["drifted"]
    (job,) = _events(master, f"salt/job/*/ret/{minion.id}", _is_state_apply, started, timeout=90)
    states = job.data["return"]
    config_state = next(value for key, value in states.items() if key.startswith("spectrum_acl_|-spectrum-edge-config"))
    assert config_state["result"] is False
    assert config_state["changes"] == {}
    assert _digest(deployed) == before
    assert reload_log.read_text() == reloads

    # The beacon, added by the operator from the master: the same drift, on both tags.
    started = time.time()
    beacon_config = [{"config_path": str(deployed)}, {"interval": 1}, {"disable_during_state_run": True}]
    added = salt_cli.run("beacons.add", "spectrum_acl", json.dumps(beacon_config), minion_tgt=minion.id)
    assert added.returncode == 0 and added.data["result"] is True, added.stdout + added.stderr
    is_beacon = lambda data: data.get("source") == "beacon"
    (own,) = _events(master, f"salt/beacon/{minion.id}/spectrum_acl/drift", is_beacon, started)
    assert own.data["id"] == minion.id
    assert [(item["app"], item["field"], item["cause"]) for item in own.data["drifted"]] == expected
    (shared,) = _events(master, drift.DRIFT_TAG, lambda data: is_beacon(data.get("data", {})), started)
    assert shared.data["data"]["drifted"] == own.data["drifted"]
    _events(master, f"salt/job/*/ret/{minion.id}", _is_state_apply, started, timeout=90)
    assert _digest(deployed) == before

    # The documented schedule, run now: the same drift from a job process.
    started = time.time()
    ran = salt_cli.run("schedule.run_job", "spectrum_acl_drift", minion_tgt=minion.id)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (scheduled,) = _events(master, drift.DRIFT_TAG, lambda data: data.get("data", {}).get("source") == "audit_drift", started)
    assert scheduled.data["data"]["drifted"] == report["drifted"]
    _events(master, f"salt/job/*/ret/{minion.id}", _is_state_apply, started, timeout=90)
    assert _digest(deployed) == before
    assert reload_log.read_text() == reloads
    assert salt_cli.run("beacons.delete", "spectrum_acl", minion_tgt=minion.id).returncode == 0


def test_the_beacon_through_salts_loader(minion, tmp_path):
    """The ``salt.loader`` entry point maps ``beacons/``; the beacon fires once per drift and trusts only the minion config."""
    opts = dict(minion.config)
    config = [{"config_path": str(tmp_path / "missing.json")}, {"interval": 60}]
    opts["beacons"] = {"spectrum_acl": config}
    sent = []
    functions = {"event.send": lambda tag, data: sent.append((tag, data)) or True}
    beacons = salt.loader.beacons(opts, functions, context={})
    assert beacons["spectrum_acl.validate"](config) == (True, "Valid beacon configuration")
    assert beacons["spectrum_acl.validate"]([{"config_path": "apps.json"}])[0] is False
    given = [{"config_path": str(tmp_path / "missing.json")}, {"_beacon_name": "spectrum_acl"}]
    (event,) = beacons["spectrum_acl.beacon"](given)
    assert (event["tag"], event["causes"], event["source"]) == ("drift", ["infrastructure"], "beacon")
    assert sent == [(drift.DRIFT_TAG, {key: value for key, value in event.items() if key != "tag"})]
    assert beacons["spectrum_acl.beacon"](given) == []  # the same drift: not again
    assert len(sent) == 1
    from_pillar = [{"config_path": "/etc/shadow"}, {"_beacon_name": "spectrum_acl"}]
    assert beacons["spectrum_acl.beacon"](from_pillar) == []
    assert len(sent) == 1
