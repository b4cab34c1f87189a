"""The drift audit: deployed apps judged again with today's prefix data and DNS.

Each deployed config here is what the state writes: the pillar apps checked with the
prefix data of "deploy day", rendered by ``canonical_json``. The table then changes the
prefix data or DNS and asserts the causes (app, field, cause), not prose.
"""

import copy
import json
import socket

import pytest
import yaml

from saltext.spectrum_acl.api.server import ReferenceServer
from saltext.spectrum_acl.apps import check, drift, render
from saltext.spectrum_acl.core.resolver import Resolution, SrvTarget
from saltext.spectrum_acl.runtime import Runtime
from tests.unit.helpers import DOC, FakeResolver, build_guard

ACCOUNTS = frozenset(("crossbow", "partner", "acme"))
APPS = {
    "crossbow-ssh": {
        "account_id": "crossbow",
        "protocol": "tcp/22",
        "dns": {"type": "CNAME", "name": "ssh.crossbow.example.com"},
        "edge_ips": {"type": "static", "ips": ["104.16.5.11"]},
        "origin_direct": ["tcp://104.16.5.20:22"],
    },
    "partner-api": {
        "account_id": "partner",
        "protocol": "tcp/443",
        "dns": {"type": "CNAME", "name": "api.partner.example"},
        "origin_dns": {"name": "origin.partner.example", "ttl": 600},
        "origin_port": 443,
    },
    "acme-game": {
        "account_id": "acme",
        "protocol": "udp/27015-27030",
        "dns": {"type": "ADDRESS", "name": "play.acme.example"},
        "origin_direct": ["udp://45.91.89.40:27015-27030"],
    },
}
DNS_BEFORE = {"origin.partner.example": ["93.184.215.14"]}


def without_delegation(document):
    document = copy.deepcopy(document)
    document["prefixes"][0]["delegations"] = []
    return document


def with_binding(cidr, prefix=0):
    def change(document):
        document = copy.deepcopy(document)
        document["prefixes"][prefix]["bindings"].append({"cidr": cidr, "service_name": "Spectrum"})
        return document

    return change


def deployed(pin_dns, document=DOC, dns=DNS_BEFORE, apps=APPS):
    """The apps of the edge config the state wrote on deploy day (all allowed)."""
    report, valid = check.check_apps(apps, build_guard(document, resolver=FakeResolver(dns)), None,
                                     accounts=ACCOUNTS, pin_dns=pin_dns)
    assert report["allowed"], report["errors"] + report["denials"]
    return json.loads(render.canonical_json(valid))["apps"]


def causes(drifted):
    return sorted((item["app"], item["field"], item["cause"], item["allowed"]) for item in drifted)


AUDIT_TABLE = [
    # (prefix data today, DNS today, pin_dns at deploy, expected (app, field, cause, allowed))
    pytest.param(DOC, DNS_BEFORE, True, [], id="unchanged-pinned-no-drift"),
    pytest.param(DOC, DNS_BEFORE, False, [], id="unchanged-no-drift"),
    pytest.param(
        without_delegation(DOC), DNS_BEFORE, False,
        [("crossbow-ssh", "edge_ips.ips[0]", "edge_ip_space", False),
         ("crossbow-ssh", "origin_direct[0]", "not_delegated", False)],
        id="delegation-revoked: origin and static edge IP",
    ),
    pytest.param(
        with_binding("104.16.5.20/32")(DOC), DNS_BEFORE, False,
        [("crossbow-ssh", "origin_direct[0]", "edge_ip", False)],
        id="binding-added-at-the-origin",
    ),
    pytest.param(
        with_binding("45.91.89.40/32", prefix=2)(DOC), DNS_BEFORE, False,
        [("acme-game", "origin_direct[0]", "edge_ip", False)],
        id="binding-added-in-byoip-space: even the owner is denied",
    ),
    pytest.param(
        DOC, {"origin.partner.example": ["10.0.0.5"]}, True,
        [("partner-api", "origin_dns.name", "reserved", False)],
        id="dns-changed-to-private-space, pinned: the edge still uses the judged address",
    ),
    pytest.param(
        DOC, {"origin.partner.example": ["10.0.0.5"]}, False,
        [("partner-api", "origin_dns.name", "reserved", False)],
        id="dns-changed-to-private-space, not pinned: the edge follows DNS",
    ),
    pytest.param(
        DOC, {"origin.partner.example": ["104.16.5.10"]}, False,
        [("partner-api", "origin_dns.name", "edge_ip", False)],
        id="dns-changed-to-an-edge-ip",
    ),
    pytest.param(
        DOC, {"origin.partner.example": ["93.184.215.15"]}, True,
        [("partner-api", "origin_dns.pinned", "dns_changed", True)],
        id="dns-changed-to-another-public-address, pinned: still allowed, pins are stale",
    ),
    pytest.param(DOC, {"origin.partner.example": ["93.184.215.15"]}, False, [],
                 id="dns-changed-to-another-public-address, not pinned: nothing to say"),
    pytest.param(
        DOC, {}, False, [("partner-api", "origin_dns.name", "unresolvable", False)],
        id="name-gone",
    ),
]


@pytest.mark.parametrize(("document", "dns", "pin_dns", "expected"), AUDIT_TABLE)
def test_causes(document, dns, pin_dns, expected):
    drifted, checked = drift.audit(deployed(pin_dns), build_guard(document, resolver=FakeResolver(dns)), ACCOUNTS)
    assert causes(drifted) == expected
    assert checked == len(APPS)


def test_a_pinned_address_that_is_now_denied_is_named_by_its_pin():
    """The edge connects to the pinned address: when it is denied, the pin is what drifted."""
    apps = {"crossbow-api": {**APPS["partner-api"], "account_id": "crossbow"}}
    dns = {"origin.partner.example": ["104.16.5.20"]}
    deployed_apps = deployed(True, dns=dns, apps=apps)
    drifted, _ = drift.audit(deployed_apps, build_guard(without_delegation(DOC), resolver=FakeResolver(dns)), ACCOUNTS)
    assert causes(drifted) == [
        ("crossbow-api", "origin_dns.name", "not_delegated", False),
        ("crossbow-api", "origin_dns.pinned[0]", "not_delegated", False),
    ]
    pinned = next(item for item in drifted if item["field"] == "origin_dns.pinned[0]")
    assert pinned["origin"] == "104.16.5.20"
    assert pinned["decided_by"] == "104.16.0.0/13"
    assert pinned["changed"] == {"verdict": {"was": "allowed", "now": "denied"}}


def test_what_changed_dns():
    """Previously pinned addresses against the ones resolved now."""
    dns_now = {"origin.partner.example": ["10.0.0.5"]}
    drifted, _ = drift.audit(deployed(True), build_guard(DOC, resolver=FakeResolver(dns_now)), ACCOUNTS)
    (item,) = drifted
    assert item["origin"] == "origin.partner.example"
    assert item["changed"] == {
        "verdict": {"was": "allowed", "now": "denied"},
        "addresses": {"was": [{"address": "93.184.215.14"}], "now": [{"address": "10.0.0.5"}]},
    }
    not_pinned, _ = drift.audit(deployed(False), build_guard(DOC, resolver=FakeResolver(dns_now)), ACCOUNTS)
    assert not_pinned[0]["changed"]["addresses"] == {"was": None, "now": [{"address": "10.0.0.5"}]}


def test_what_changed_delegation():
    drifted, _ = drift.audit(deployed(False), build_guard(without_delegation(DOC), resolver=FakeResolver(DNS_BEFORE)), ACCOUNTS)
    origin = next(item for item in drifted if item["field"] == "origin_direct[0]")
    assert origin["origin"] == "tcp://104.16.5.20:22"
    assert origin["decided_by"] == "104.16.0.0/13"
    assert origin["changed"] == {"verdict": {"was": "allowed", "now": "denied"}}
    edge_ip = next(item for item in drifted if item["field"] == "edge_ips.ips[0]")
    assert (edge_ip["origin"], edge_ip["allowed"]) == ("104.16.5.11", False)


def test_srv_pins_compare_targets_ports_and_addresses():
    srv = lambda address: Resolution(
        "_db._tcp.partner.example", "SRV", (address,), (SrvTarget("db1.partner.example", 5432, 0, 5, (address,)),)
    )
    apps = {"partner-db": {
        "account_id": "partner", "protocol": "tcp/5432", "dns": {"type": "CNAME", "name": "db.partner.example"},
        "origin_dns": {"name": "_db._tcp.partner.example", "type": "SRV"},
    }}
    deployed_apps = deployed(True, dns={"_db._tcp.partner.example": srv("93.184.215.14")}, apps=apps)
    assert deployed_apps["partner-db"]["origin_dns"]["pinned"] == [
        {"target": "db1.partner.example", "port": 5432, "address": "93.184.215.14"}
    ]
    same, _ = drift.audit(deployed_apps, build_guard(DOC, resolver=FakeResolver({"_db._tcp.partner.example": srv("93.184.215.14")})), ACCOUNTS)
    assert same == []
    moved, _ = drift.audit(deployed_apps, build_guard(DOC, resolver=FakeResolver({"_db._tcp.partner.example": srv("192.168.1.9")})), ACCOUNTS)
    assert causes(moved) == [("partner-db", "origin_dns.name", "reserved", False)]


def test_each_audit_asks_dns_again():
    """The guard lives on between beacon runs (``__context__``); its DNS answers must not."""
    resolver = FakeResolver(dict(DNS_BEFORE))
    guard = build_guard(DOC, resolver=resolver)
    apps = deployed(False)
    assert drift.audit(apps, guard, ACCOUNTS)[0] == []
    resolver.table["origin.partner.example"] = ["127.0.0.1"]
    assert causes(drift.audit(apps, guard, ACCOUNTS)[0]) == [("partner-api", "origin_dns.name", "reserved", False)]


def test_an_account_no_longer_authorised_is_drift():
    drifted, _ = drift.audit(deployed(False), build_guard(DOC, resolver=FakeResolver(DNS_BEFORE)), ACCOUNTS - {"acme"})
    assert causes(drifted) == [("acme-game", "account_id", "shape", False)]


# The file, the settings and the prefix data: through a real Runtime, as the beacon runs it.


@pytest.fixture
def edge(tmp_path):
    """A deployed edge config, prefix data and a minion's ``__opts__`` (static hosts answer DNS)."""
    prefixes = tmp_path / "prefixes.yaml"
    prefixes.write_text(yaml.safe_dump(DOC))
    config = tmp_path / "apps.json"
    apps = deployed(True)
    config.write_text(json.dumps({"apps": apps}))
    opts = {
        "cachedir": str(tmp_path / "cache"),
        "spectrum_acl": {"prefix_data": str(prefixes), "accounts": sorted(ACCOUNTS), "static_hosts": DNS_BEFORE},
    }
    return {"prefixes": prefixes, "config": config, "opts": opts}


def runtime(opts, context=None):
    return Runtime({}, {} if context is None else context, None, opts)


def test_run_reports_nothing_for_an_unchanged_edge(edge):
    result = drift.run(str(edge["config"]), runtime(edge["opts"]), "audit_drift")
    assert result == {"source": "audit_drift", "config_path": str(edge["config"]), "checked": 3, "drifted": [], "causes": []}


def test_run_sees_new_prefix_data_with_the_same_context(edge):
    context = {}
    assert drift.run(str(edge["config"]), runtime(edge["opts"], context), "beacon")["drifted"] == []
    edge["prefixes"].write_text(yaml.safe_dump(without_delegation(DOC)))
    result = drift.run(str(edge["config"]), runtime(edge["opts"], context), "beacon")
    assert result["causes"] == ["edge_ip_space", "not_delegated"]
    assert {item["app"] for item in result["drifted"]} == {"crossbow-ssh"}


INFRASTRUCTURE_TABLE = [
    # (what breaks, fragment naming it): the deployed config, or what judges it
    pytest.param(lambda edge: edge["config"].unlink(), "cannot be read", id="deployed-config-missing"),
    pytest.param(lambda edge: edge["config"].write_text('{"apps": {"crossbow-ssh": '), "not JSON", id="deployed-config-corrupt"),
    pytest.param(lambda edge: edge["config"].write_bytes(b"\xff\xfe{}"), "not UTF-8", id="deployed-config-not-utf8"),
    pytest.param(lambda edge: edge["config"].write_text('{"apps": []}'), '"apps" must be a mapping', id="deployed-config-wrong-shape"),
    pytest.param(lambda edge: edge["config"].write_text('{"apps": {"a": 1}}'), "app 'a' must be a mapping", id="deployed-app-wrong-shape"),
    pytest.param(lambda edge: edge["config"].write_text("[" * 100000 + "]" * 100000), "nested too deeply", id="deployed-config-deep"),
    pytest.param(lambda edge: edge["prefixes"].unlink(), "prefixes.yaml", id="prefix-data-missing"),
    pytest.param(lambda edge: edge["prefixes"].write_text("prefixes: [{cidr: 10.0.0.0/33}]"), "10.0.0.0/33", id="prefix-data-corrupt"),
    pytest.param(lambda edge: edge["opts"]["spectrum_acl"].update(prefix_dat="x"), "prefix_dat", id="settings-misspelt"),
    pytest.param(lambda edge: edge["opts"]["spectrum_acl"].pop("accounts"), "no account is authorised", id="settings-no-accounts"),
]


@pytest.mark.parametrize(("breakage", "fragment"), INFRASTRUCTURE_TABLE)
def test_what_cannot_be_judged_is_one_infrastructure_item(edge, breakage, fragment):
    breakage(edge)
    result = drift.run(str(edge["config"]), runtime(edge["opts"]), "beacon")
    assert result["causes"] == ["infrastructure"]
    (item,) = result["drifted"]
    assert (item["app"], item["origin"], item["allowed"]) == (None, None, False)
    assert fragment in item["message"]


def test_an_addressing_api_that_does_not_answer_is_infrastructure(edge):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        unused_tcp_port = probe.getsockname()[1]
    edge["opts"]["spectrum_acl"] = {
        "backend": "api", "accounts": sorted(ACCOUNTS), "static_hosts": DNS_BEFORE,
        "api": {"url": f"http://127.0.0.1:{unused_tcp_port}", "token": "drift-test-token", "retries": 0},
    }
    result = drift.run(str(edge["config"]), runtime(edge["opts"]), "beacon")
    assert result["causes"] == ["infrastructure"]  # the static edge IP it could not place too
    (item,) = result["drifted"]
    assert item["changed"] == {"apps": ["acme-game", "crossbow-ssh", "partner-api"]}
    assert "drift-test-token" not in json.dumps(result)


def test_an_addressing_api_that_answers_gives_the_guards_causes(edge):
    """A real reference server that no longer knows the delegation: a drift, not infrastructure."""
    with ReferenceServer(build_guard(without_delegation(DOC)), "drift-test-token") as server:
        edge["opts"]["spectrum_acl"] = {
            "backend": "api", "accounts": sorted(ACCOUNTS), "static_hosts": DNS_BEFORE,
            "api": {"url": server.url, "token": "drift-test-token", "retries": 0},
        }
        result = drift.run(str(edge["config"]), runtime(edge["opts"]), "audit_drift")
    assert causes(result["drifted"]) == [
        ("crossbow-ssh", "edge_ips.ips[0]", "edge_ip_space", False),
        ("crossbow-ssh", "origin_direct[0]", "not_delegated", False),
    ]


# Firing once per drift (the beacon's memory in __context__).


def result_with(*items):
    return drift.report("/etc/spectrum/apps.json", list(items), 3, "beacon")


REVOKED = drift._item("crossbow-ssh", "origin_direct[0]", "tcp://104.16.5.20:22", "not_delegated", "denied: ...")
BINDING = drift._item("crossbow-ssh", "origin_direct[0]", "tcp://104.16.5.20:22", "edge_ip", "denied: ...")


def test_the_same_drift_fires_once_then_after_the_realert_interval():
    memory = {}
    assert drift.due(memory, result_with(REVOKED), 1000.0, 3600) is True
    assert drift.due(memory, result_with(REVOKED), 1060.0, 3600) is False
    reworded = dict(REVOKED, message="the same drift, other words")
    assert drift.due(memory, result_with(reworded), 1120.0, 3600) is False
    assert drift.due(memory, result_with(REVOKED), 4600.0, 3600) is True
    assert drift.due(memory, result_with(REVOKED), 4660.0, 3600) is False


def test_a_changed_drift_fires_at_once():
    memory = {}
    assert drift.due(memory, result_with(REVOKED), 1000.0, 3600) is True
    assert drift.due(memory, result_with(BINDING), 1001.0, 3600) is True
    assert drift.due(memory, result_with(BINDING, REVOKED), 1002.0, 3600) is True


def test_another_infrastructure_failure_fires_at_once():
    memory = {}
    missing = drift.infrastructure("deployed edge config /etc/spectrum/apps.json: cannot be read (No such file or directory)")
    corrupt = drift.infrastructure("deployed edge config /etc/spectrum/apps.json: not JSON (Expecting value at line 1 column 1)")
    assert drift.due(memory, result_with(missing), 1000.0, 3600) is True
    assert drift.due(memory, result_with(missing), 1001.0, 3600) is False
    assert drift.due(memory, result_with(corrupt), 1002.0, 3600) is True


def test_a_drift_that_clears_and_comes_back_fires_again():
    memory = {}
    assert drift.due(memory, result_with(REVOKED), 1000.0, 3600) is True
    assert drift.due(memory, result_with(), 1001.0, 3600) is False
    assert drift.due(memory, result_with(REVOKED), 1002.0, 3600) is True


def test_each_beacon_remembers_its_own_drift():
    memory = {}
    other = dict(result_with(REVOKED), config_path="/etc/spectrum/other.json")
    assert drift.due(memory, result_with(REVOKED), 1000.0, 3600, "spectrum_acl") is True
    assert drift.due(memory, other, 1001.0, 3600, "drift_other") is True
    assert drift.due(memory, result_with(REVOKED), 1002.0, 3600, "spectrum_acl") is False
    assert drift.due(memory, other, 1003.0, 3600, "drift_other") is False


def test_realert_zero_fires_a_drift_once():
    memory = {}
    assert drift.due(memory, result_with(REVOKED), 1000.0, 0) is True
    assert drift.due(memory, result_with(REVOKED), 10**9, 0) is False


# The beacon's config: checked, and trusted only from the minion config.

BEACON_CONFIG_TABLE = [
    pytest.param([{"config_path": "/etc/spectrum/apps.json"}], None, id="minimal"),
    pytest.param([{"config_path": "/etc/spectrum/apps.json"}, {"interval": 300}, {"realert_interval": 0}], None, id="full"),
    pytest.param({"config_path": "/etc/spectrum/apps.json"}, "list of one-key mappings", id="mapping-not-list"),
    pytest.param([], "config_path", id="no-config-path"),
    pytest.param([{"config_path": "etc/apps.json"}], "config_path", id="relative-path"),
    pytest.param([{"config_path": "/a.json"}, {"config_pth": "/b.json"}], "config_pth", id="misspelt-key"),
    pytest.param([{"config_path": "/a.json"}, {"realert_interval": -1}], "realert_interval", id="negative-realert"),
    pytest.param([{"config_path": "/a.json"}, {"realert_interval": True}], "realert_interval", id="bool-realert"),
]


@pytest.mark.parametrize(("config", "fragment"), BEACON_CONFIG_TABLE)
def test_beacon_config_problems(config, fragment):
    problem = drift.beacon_config_problem(config)
    assert (problem is None) if fragment is None else (fragment in problem)


MINION_BEACONS = {"spectrum_acl": [{"config_path": "/etc/spectrum/apps.json"}, {"interval": 300}]}


def test_the_beacon_takes_its_settings_from_the_minion_config():
    given = [{"config_path": "/etc/spectrum/apps.json"}, {"_beacon_name": "spectrum_acl"}]
    settings, refused = drift.trusted_beacon_settings(given, MINION_BEACONS)
    assert refused is None
    assert (settings["config_path"], settings["_beacon_name"]) == ("/etc/spectrum/apps.json", "spectrum_acl")


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        pytest.param([{"config_path": "/etc/shadow"}, {"_beacon_name": "spectrum_acl"}], "config_path differs", id="path-changed-by-pillar"),
        pytest.param([{"config_path": "/etc/spectrum/apps.json"}, {"realert_interval": 1}, {"_beacon_name": "spectrum_acl"}],
                     "realert_interval differs", id="realert-added-by-pillar"),
        pytest.param([{"config_path": "/x.json"}, {"beacon_module": "spectrum_acl"}, {"_beacon_name": "drift2"}],
                     "not in the minion config", id="beacon-only-in-pillar"),
    ],
)
def test_a_beacon_config_from_pillar_does_not_run(given, fragment):
    settings, refused = drift.trusted_beacon_settings(given, MINION_BEACONS)
    assert settings is None
    assert fragment in refused


def test_the_modules_default_config_path_is_the_beacons():
    assert drift.default_config_path(MINION_BEACONS) == "/etc/spectrum/apps.json"
    assert drift.default_config_path({"drift": [{"beacon_module": "spectrum_acl"}, {"config_path": "/srv/apps.json"}]}) == "/srv/apps.json"
    assert drift.default_config_path({"inotify": [{"files": {}}]}) is None
    assert drift.default_config_path(None) is None
