"""Spectrum apps from pillar: shape errors, the all-apps check, cycles, and rendering."""

import copy
import json
from collections.abc import Mapping

import pytest
import yaml

from saltext.spectrum_acl.apps import check, model, render
from saltext.spectrum_acl.core.resolver import Resolution, SrvTarget
from saltext.spectrum_acl.errors import PillarShapeError
from tests.unit.helpers import DOC, FakeResolver, build_guard

DELETE = object()

RESOLVER = FakeResolver(
    {
        "origin.example.net": ["8.8.8.8"],
        "loopback.example.net": ["127.0.0.1"],
        "gone.example.net": [],
    }
)


@pytest.fixture(scope="module")
def guard():
    return build_guard(DOC, resolver=RESOLVER)


def good_app(**changes):
    """A valid app for account crossbow; keyword ``field=DELETE`` removes a field."""
    app = {
        "account_id": "crossbow",
        "protocol": "tcp/22",
        "dns": {"type": "CNAME", "name": "ssh.crossbow.example.com"},
        "origin_direct": ["tcp://104.16.5.20:22"],
    }
    for key, value in changes.items():
        if value is DELETE:
            app.pop(key, None)
        else:
            app[key] = value
    return app


def dns_app(**changes):
    changes.setdefault("origin_direct", DELETE)
    changes.setdefault("origin_dns", {"name": "origin.example.net"})
    changes.setdefault("origin_port", 22)
    return good_app(**changes)


SHAPE_ERRORS = [
    # (raw app, default account, field named in the error, fragment of the problem)
    pytest.param("not a mapping", None, "(app)", "mapping", id="app-not-a-mapping"),
    pytest.param(None, None, "(app)", "mapping", id="app-none"),
    pytest.param(good_app(colour="blue"), None, "(app).colour", "unknown field", id="unknown-field"),
    pytest.param(good_app(origin="tcp://8.8.8.8:22"), None, "(app).origin", "unknown field", id="unknown-field-origin"),
    pytest.param(good_app(account_id=DELETE), None, "account_id", "missing", id="missing-account-no-default"),
    pytest.param(good_app(account_id=42), None, "account_id", "non-empty string", id="account-id-int"),
    pytest.param(good_app(account_id=""), None, "account_id", "non-empty string", id="account-id-empty"),
    pytest.param(good_app(protocol=DELETE), None, "protocol", "non-empty string", id="protocol-missing"),
    pytest.param(good_app(protocol=22), None, "protocol", "non-empty string", id="protocol-int"),
    pytest.param(good_app(protocol="tcp"), None, "protocol", "tcp/22", id="protocol-no-port"),
    pytest.param(good_app(protocol="sctp/22"), None, "protocol", "tcp/22", id="protocol-sctp"),
    pytest.param(good_app(protocol="TCP/22"), None, "protocol", "tcp/22", id="protocol-upper"),
    pytest.param(good_app(protocol="tcp/0"), None, "protocol", "1 to 65535", id="protocol-port-0"),
    pytest.param(good_app(protocol="tcp/65536"), None, "protocol", "1 to 65535", id="protocol-port-65536"),
    pytest.param(good_app(protocol="tcp/2000-1000"), None, "protocol", "below", id="protocol-range-reversed"),
    pytest.param(good_app(dns=DELETE), None, "dns", "mapping", id="dns-missing"),
    pytest.param(good_app(dns="ssh.example.com"), None, "dns", "mapping", id="dns-string"),
    pytest.param(good_app(dns={"type": "MX", "name": "a.example.com"}), None, "dns.type", "CNAME", id="dns-type-mx"),
    pytest.param(good_app(dns={"type": "CNAME", "name": "127.1"}), None, "dns.name", "numeric", id="dns-name-numeric"),
    pytest.param(good_app(dns={"type": "CNAME", "name": "a b"}), None, "dns.name", "whitespace", id="dns-name-space"),
    pytest.param(good_app(dns={"type": "CNAME", "name": "a.example.com", "ttl": 1}), None, "dns.ttl", "unknown field", id="dns-unknown"),
    pytest.param(good_app(edge_ips="static"), None, "edge_ips", "mapping", id="edge-ips-string"),
    pytest.param(good_app(edge_ips={"type": "sticky"}), None, "edge_ips.type", "static", id="edge-ips-type"),
    pytest.param(good_app(edge_ips={"type": "static"}), None, "edge_ips.ips", "non-empty list", id="edge-ips-static-no-ips"),
    pytest.param(good_app(edge_ips={"type": "static", "ips": []}), None, "edge_ips.ips", "non-empty list", id="edge-ips-empty"),
    pytest.param(good_app(edge_ips={"type": "static", "ips": "1.2.3.4"}), None, "edge_ips.ips", "list", id="edge-ips-string-ips"),
    pytest.param(good_app(edge_ips={"type": "static", "ips": ["104.16.5.010"]}), None, "edge_ips.ips[0]", "leading zero", id="edge-ip-leading-zero"),
    pytest.param(good_app(edge_ips={"type": "static", "ips": ["8.8.8.8", "127.1"]}), None, "edge_ips.ips[1]", "short forms", id="edge-ip-short"),
    pytest.param(good_app(edge_ips={"type": "static", "ips": ["8.8.8.0/24"]}), None, "edge_ips.ips[0]", "not a valid", id="edge-ip-cidr"),
    pytest.param(good_app(edge_ips={"type": "static", "ips": [134744072]}), None, "edge_ips.ips[0]", "string", id="edge-ip-int"),
    pytest.param(good_app(edge_ips={"type": "static", "ips": ["8.8.8.8", "8.8.8.8"]}), None, "edge_ips.ips[1]", "twice", id="edge-ip-twice"),
    pytest.param(good_app(edge_ips={"type": "static", "ips": ["8.8.8.8"], "connectivity": "all"}), None, "edge_ips.connectivity", "unknown field",
                 id="edge-ips-static-connectivity"),
    pytest.param(good_app(edge_ips={"type": "dynamic", "connectivity": "ipv5"}), None, "edge_ips.connectivity", "ipv4", id="edge-ips-connectivity"),
    pytest.param(good_app(edge_ips={"type": "dynamic", "ips": ["8.8.8.8"]}), None, "edge_ips.ips", "unknown field", id="edge-ips-dynamic-ips"),
    pytest.param(good_app(origin_dns={"name": "origin.example.net"}, origin_port=22), None, "origin_direct/origin_dns", "both", id="both-origin-kinds"),
    pytest.param(good_app(origin_direct=DELETE), None, "origin_direct/origin_dns", "neither", id="neither-origin-kind"),
    pytest.param(good_app(origin_direct="tcp://8.8.8.8:22"), None, "origin_direct", "list", id="origin-direct-string"),
    pytest.param(good_app(origin_direct=[]), None, "origin_direct", "non-empty list", id="origin-direct-empty"),
    pytest.param(good_app(origin_direct=["tcp://0x7f.0.0.1:22"]), None, "origin_direct[0]", "hexadecimal", id="origin-hex"),
    pytest.param(good_app(origin_direct=["tcp://8.8.8.8:22", "tcp://127.1:22"]), None, "origin_direct[1]", "short forms", id="origin-short-second"),
    pytest.param(good_app(origin_direct=["8.8.8.8"]), None, "origin_direct[0]", "tcp://", id="origin-no-scheme"),
    pytest.param(good_app(origin_direct=["udp://8.8.8.8:22"]), None, "origin_direct[0]", "scheme udp does not match protocol tcp", id="scheme-mismatch"),
    pytest.param(good_app(protocol="udp/53", origin_direct=["tcp://8.8.8.8:53"]), None, "origin_direct[0]", "scheme", id="scheme-mismatch-udp"),
    pytest.param(
        good_app(protocol="tcp/1000-2000", origin_direct=["tcp://8.8.8.8:1000-1500"]), None, "origin_direct[0]",
        "does not match", id="port-range-mismatch",
    ),
    pytest.param(
        good_app(protocol="tcp/22", origin_direct=["tcp://8.8.8.8:22-23"]), None, "origin_direct[0]",
        "does not match", id="port-range-for-single-port",
    ),
    pytest.param(good_app(origin_port=22), None, "origin_port", "origin_dns", id="origin-port-with-direct"),
    pytest.param(dns_app(origin_port=DELETE), None, "origin_port", "needs origin_port", id="origin-dns-no-port"),
    pytest.param(dns_app(origin_port=0), None, "origin_port", "1 to 65535", id="origin-port-0"),
    pytest.param(dns_app(origin_port="65536"), None, "origin_port", "1 to 65535", id="origin-port-65536"),
    pytest.param(dns_app(origin_port=True), None, "origin_port", "valid port", id="origin-port-bool"),
    pytest.param(dns_app(protocol="tcp/1000-2000", origin_port="1000-1500"), None, "origin_port", "does not match", id="origin-port-range-mismatch"),
    pytest.param(dns_app(origin_dns="origin.example.net"), None, "origin_dns", "mapping", id="origin-dns-string"),
    pytest.param(dns_app(origin_dns={"name": "0x7f000001"}), None, "origin_dns.name", "numeric", id="origin-dns-hex-name"),
    pytest.param(dns_app(origin_dns={"name": "1.2.3.4"}), None, "origin_dns.name", "origin_direct", id="origin-dns-address"),
    pytest.param(dns_app(origin_dns={"name": "origin.example.net", "ttl": 0}), None, "origin_dns.ttl", "1 to 86400", id="origin-dns-ttl-0"),
    pytest.param(dns_app(origin_dns={"name": "origin.example.net", "ttl": True}), None, "origin_dns.ttl", "1 to 86400", id="origin-dns-ttl-bool"),
    pytest.param(dns_app(origin_dns={"name": "origin.example.net", "ttl": "600"}), None, "origin_dns.ttl", "1 to 86400", id="origin-dns-ttl-str"),
    pytest.param(dns_app(origin_dns={"name": "origin.example.net", "type": "MX"}), None, "origin_dns.type", "AAAA", id="origin-dns-type"),
    pytest.param(dns_app(origin_dns={"name": "origin.example.net", "port": 22}), None, "origin_dns.port", "unknown field", id="origin-dns-unknown"),
    pytest.param(good_app(tls="bogus"), None, "tls", "must be one of", id="tls-bogus"),
    pytest.param(good_app(tls=False), None, "tls", "quotes", id="tls-unquoted-off"),
    pytest.param(good_app(tls=True), None, "tls", "must be one of", id="tls-true"),
    pytest.param(good_app(proxy_protocol=False), None, "proxy_protocol", "quotes", id="proxy-protocol-unquoted-off"),
    pytest.param(good_app(proxy_protocol="v3"), None, "proxy_protocol", "must be one of", id="proxy-protocol-v3"),
    pytest.param(good_app(traffic_type="ftp"), None, "traffic_type", "must be one of", id="traffic-type-ftp"),
    pytest.param(
        good_app(protocol="udp/53", origin_direct=["udp://8.8.8.8:53"], traffic_type="http"), None, "traffic_type",
        "tcp", id="traffic-type-http-over-udp",
    ),
    pytest.param(good_app(ip_firewall="yes"), None, "ip_firewall", "true or false", id="ip-firewall-string"),
    pytest.param(good_app(ip_firewall=1), None, "ip_firewall", "true or false", id="ip-firewall-int"),
]


@pytest.mark.parametrize("raw, default_account, field, fragment", SHAPE_ERRORS)
def test_shape_errors_name_app_and_field(guard, raw, default_account, field, fragment):
    report, valid = check.check_apps({"my-app": raw}, guard, default_account)
    assert report["allowed"] is False
    assert valid == {}
    entry = report["apps"]["my-app"]
    assert entry["allowed"] is False
    assert entry["origins"] == []
    assert len(entry["errors"]) == 1
    message = entry["errors"][0]
    assert message.startswith("app 'my-app': ")
    assert f"field {field!r}" in message
    assert fragment in message
    assert "Traceback" not in message and "\n" not in message
    assert report["errors"] == entry["errors"]


@pytest.mark.parametrize("raw, default_account, field, fragment", SHAPE_ERRORS)
def test_normalise_app_raises_pillar_shape_error(raw, default_account, field, fragment):
    with pytest.raises(PillarShapeError) as excinfo:
        model.normalise_app("my-app", raw, default_account)
    assert excinfo.value.app == "my-app"
    assert excinfo.value.field == field


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("bad name", id="space"),
        pytest.param("-dash", id="leading-dash"),
        pytest.param("", id="empty"),
        pytest.param(7, id="int"),
        pytest.param("x" * 129, id="too-long"),
    ],
)
def test_bad_app_names(guard, name):
    report, valid = check.check_apps({name: good_app()}, guard)
    assert report["allowed"] is False and valid == {}
    assert report["apps"][model.app_key(name)]["error_fields"] == ["name"]
    (message,) = report["apps"][model.app_key(name)]["errors"]
    assert repr(name) in message


def test_a_name_yaml_reads_as_a_number_does_not_hide_its_twin(guard):
    """``1:`` and ``"1":`` are two apps: the number is refused, and neither vanishes."""
    report, valid = check.check_apps({1: good_app(origin_direct=["tcp://10.0.0.1:22"]), "1": good_app()}, guard)
    assert report["allowed"] is False
    assert set(report["apps"]) == {"1", "1 (int)"}
    assert report["apps"]["1 (int)"]["error_fields"] == ["name"]
    assert report["apps"]["1"]["allowed"] is True and list(valid) == ["1"]


@pytest.mark.parametrize(
    "ips, field",
    [
        pytest.param(["10.0.0.1"], "edge_ips.ips[0]", id="reserved"),
        pytest.param(["104.16.5.10", "8.8.8.8"], "edge_ips.ips[1]", id="unmanaged"),
        pytest.param(["104.16.9.1"], "edge_ips.ips[0]", id="managed-not-delegated"),
        pytest.param(["104.16.5.10", "::ffff:104.16.5.10"], "edge_ips.ips[1]", id="mapped-spelling-listed-twice"),
    ],
)
def test_static_edge_ips_must_be_in_space_the_account_holds(guard, ips, field):
    report, _ = check.check_apps({"web": good_app(edge_ips={"type": "static", "ips": ips})}, guard)
    assert report["apps"]["web"]["error_fields"] == [field]
    assert report["allowed"] is False


def test_an_ipv4_mapped_edge_ip_is_the_ipv4_address(guard):
    """App b's origin at app a's edge IP is a loop, however a writes it; and two apps claiming it collide."""
    report, _ = check.check_apps({
        "a": good_app(edge_ips={"type": "static", "ips": ["::ffff:104.16.5.40"]}),
        "b": good_app(origin_direct=["tcp://104.16.5.40:22"]),
        "c": good_app(edge_ips={"type": "static", "ips": ["104.16.5.40"]}),
    }, guard)
    (verdict,) = report["apps"]["b"]["origins"]
    assert verdict["denied_by"] == ["app_binding"] and verdict["edge_ip_of"] == ["a"]
    assert report["apps"]["c"]["error_fields"] == ["edge_ips.ips[0]"]  # collision with a


def test_sexagesimal_origin_port_is_refused_with_a_hint(guard):
    report, _ = check.check_apps({"web": dns_app(origin_port=1342 * 60)}, guard)
    assert report["apps"]["web"]["error_fields"] == ["origin_port"]


def test_deep_nesting_is_a_shape_error_not_a_crash(guard):
    deep = []
    for _ in range(5000):
        deep = [deep]
    report, _ = check.check_apps({"web": good_app(dns={"type": "CNAME", "name": deep})}, guard)
    assert report["apps"]["web"]["error_fields"] == ["dns"]
    assert "levels" in report["apps"]["web"]["errors"][0]


@pytest.mark.parametrize(
    "raw, field",
    [
        pytest.param(good_app(**{}) | {1: "x"}, "(app).1", id="int-key-in-app"),
        pytest.param(good_app() | {True: "x"}, "(app).True", id="yaml-on-key-in-app"),
        pytest.param(good_app(dns={"type": "CNAME", "name": "a.example.com", 5: 1}), "dns.5", id="int-key-in-dns"),
        pytest.param(dns_app(origin_dns={"name": "origin.example.net", None: 1}), "origin_dns.None", id="null-key-in-origin-dns"),
    ],
)
def test_non_string_unknown_keys_are_shape_errors(guard, raw, field):
    report, _ = check.check_apps({"my-app": raw}, guard)
    (message,) = report["apps"]["my-app"]["errors"]
    assert "app 'my-app'" in message and f"field {field!r}" in message


def test_unquoted_yaml_off_is_false_and_named():
    pillar = yaml.safe_load("app:\n  tls: off\n")
    assert pillar["app"]["tls"] is False
    with pytest.raises(PillarShapeError) as excinfo:
        model.normalise_app("app", good_app(tls=pillar["app"]["tls"]))
    assert "unquoted off" in str(excinfo.value)
    assert "field 'tls'" in str(excinfo.value)


def test_apps_not_a_mapping(guard):
    report, valid = check.check_apps(["my-app"], guard)
    assert report["allowed"] is False and valid == {}
    assert "must be a mapping" in report["errors"][0]


def test_empty_apps_is_allowed(guard):
    report, valid = check.check_apps({}, guard)
    assert report["allowed"] is True and valid == {}


# --------------------------------------------------------------------------- good apps and verdicts


@pytest.mark.parametrize(
    "raw, default_account",
    [
        pytest.param(good_app(), None, id="direct"),
        pytest.param(good_app(account_id=DELETE), "crossbow", id="default-account"),
        pytest.param(good_app(origin_direct=["tcp://104.16.5.20:22", "tcp://[2606:4700:10::1]:22"]), None, id="two-origins"),
        pytest.param(good_app(protocol="tcp/1000-2000", origin_direct=["tcp://104.16.5.20:3000-4000"]), None, id="shifted-range"),
        pytest.param(good_app(protocol="udp/53", origin_direct=["udp://8.8.8.8:53"]), "x", id="udp-unmanaged"),
        pytest.param(dns_app(), None, id="origin-dns"),
        pytest.param(dns_app(origin_dns={"name": "Origin.Example.NET.", "ttl": 600, "type": ""}), None, id="origin-dns-full"),
        pytest.param(good_app(edge_ips={"type": "static", "ips": ["104.16.5.30"]}), None, id="static-edge"),
        pytest.param(good_app(edge_ips={"type": "dynamic", "connectivity": "ipv6"}), None, id="dynamic-edge"),
        pytest.param(good_app(tls="strict", proxy_protocol="v2", traffic_type="https", ip_firewall=True), None, id="all-options"),
    ],
)
def test_good_app_is_allowed(guard, raw, default_account):
    report, valid = check.check_apps({"good": raw}, guard, default_account)
    entry = report["apps"]["good"]
    assert entry["errors"] == [], entry["errors"]
    assert entry["allowed"] is True, entry["origins"]
    assert entry["account_id"] == raw.get("account_id", default_account)
    assert report["allowed"] is True
    assert report["denials"] == [] and report["errors"] == []
    assert list(valid) == ["good"]
    assert entry["origins"] and all(origin["allowed"] for origin in entry["origins"])


@pytest.mark.parametrize(
    "raw, fragment",
    [
        pytest.param(good_app(origin_direct=["tcp://104.16.9.1:22"]), "neither owns it", id="not-delegated"),
        pytest.param(good_app(origin_direct=["tcp://10.0.0.5:22"]), "RFC 1918", id="private"),
        pytest.param(good_app(origin_direct=["tcp://[::ffff:127.0.0.1]:22"]), "Loopback", id="mapped-loopback"),
        pytest.param(good_app(origin_direct=["tcp://104.16.5.10:22"]), "edge IP", id="binding"),
        pytest.param(dns_app(origin_dns={"name": "loopback.example.net"}), "127.0.0.1", id="dns-loopback"),
        pytest.param(dns_app(origin_dns={"name": "gone.example.net"}), "no address", id="dns-empty"),
        pytest.param(dns_app(origin_dns={"name": "unknown.example.net"}), "does not resolve", id="dns-fails"),
        pytest.param(good_app(origin_direct=["tcp://104.16.5.20:22", "tcp://104.16.9.1:22"]), "104.16.9.1", id="second-origin"),
    ],
)
def test_denied_app(guard, raw, fragment):
    report, valid = check.check_apps({"bad": raw}, guard)
    entry = report["apps"]["bad"]
    assert entry["errors"] == []
    assert entry["allowed"] is False
    assert report["allowed"] is False
    assert valid == {}
    assert len(report["denials"]) == 1
    assert report["denials"][0].startswith("bad: ")
    assert fragment in report["denials"][0]


def test_two_app_cycle_denies_both(guard):
    raw = {
        "loop-a": good_app(edge_ips={"type": "static", "ips": ["104.16.5.40"]}, origin_direct=["tcp://104.16.5.41:22"]),
        "loop-b": good_app(edge_ips={"type": "static", "ips": ["104.16.5.41"]}, origin_direct=["tcp://104.16.5.40:22"]),
        "fine": good_app(),
    }
    report, valid = check.check_apps(raw, guard)
    assert report["allowed"] is False
    assert list(valid) == ["fine"]
    for name, other in (("loop-a", "loop-b"), ("loop-b", "loop-a")):
        entry = report["apps"][name]
        assert entry["errors"] == []
        assert entry["allowed"] is False
        (origin,) = entry["origins"]
        assert origin["has_binding"] is True
        assert origin["allowed"] is False
        assert origin["is_delegated"] is True  # crossbow holds the delegation; the binding alone denies
        assert any(f"app {other!r}" in reason for reason in origin["reasons"])
    assert len(report["denials"]) == 2


def test_cycle_in_unmanaged_space(guard):
    raw = {
        "a": good_app(account_id="x", edge_ips={"type": "static", "ips": ["8.8.8.8"]}, origin_direct=["tcp://[::ffff:8.8.4.4]:22"]),
        "b": good_app(account_id="x", edge_ips={"type": "static", "ips": ["8.8.4.4"]}, origin_direct=["tcp://8.8.8.8:22"]),
    }
    report, _ = check.check_apps(raw, guard)
    assert report["apps"]["b"]["origins"][0]["has_binding"] is True
    assert report["apps"]["b"]["origins"][0]["is_managed"] is False
    assert report["apps"]["a"]["origins"][0]["has_binding"] is True  # carried by the IPv4-mapped address


def test_app_pointing_at_its_own_edge_ip(guard):
    raw = {"self": good_app(edge_ips={"type": "static", "ips": ["104.16.5.40"]}, origin_direct=["tcp://104.16.5.40:22"])}
    report, _ = check.check_apps(raw, guard)
    assert report["apps"]["self"]["origins"][0]["has_binding"] is True
    assert report["allowed"] is False


def test_edge_ip_claimed_by_two_apps(guard):
    raw = {
        "first": good_app(edge_ips={"type": "static", "ips": ["104.16.5.40"]}),
        "second": good_app(edge_ips={"type": "static", "ips": ["104.16.5.40"]}),
    }
    report, valid = check.check_apps(raw, guard)
    assert report["allowed"] is False
    messages = report["apps"]["first"]["errors"] + report["apps"]["second"]["errors"]
    assert len(messages) == 1
    assert "104.16.5.40" in messages[0]
    assert "'first'" in messages[0] and "'second'" in messages[0]
    assert "edge_ips.ips" in messages[0]
    assert messages[0] in report["errors"]
    assert "second" not in valid


def test_only_limits_the_report(guard):
    raw = {"good": good_app(), "bad": good_app(origin_direct=["tcp://10.0.0.1:22"])}
    report, valid = check.check_apps(raw, guard, only="good")
    assert list(report["apps"]) == ["good"] and report["allowed"] is True and list(valid) == ["good"]
    report, _ = check.check_apps(raw, guard, only="missing")
    assert report["apps"] == {} and report["allowed"] is False


def test_check_apps_does_not_mutate_pillar(guard):
    raw = {"a": dns_app(origin_dns={"name": "Origin.Example.NET"}), "b": good_app()}
    before = copy.deepcopy(raw)
    check.check_apps(raw, guard)
    assert raw == before


# --------------------------------------------------------------------------- rendering


def test_normalised_config():
    app = model.normalise_app("a", dns_app(dns={"type": "CNAME", "name": "SSH.Example.COM."}, origin_dns={"name": "Origin.Example.NET", "ttl": 60}))
    assert app.config == {
        "account_id": "crossbow",
        "protocol": "tcp/22",
        "dns": {"type": "CNAME", "name": "ssh.example.com"},
        "edge_ips": {"type": "dynamic", "connectivity": "all"},
        "origin_dns": {"name": "origin.example.net", "type": "", "ttl": 60},
        "origin_port": 22,
        "proxy_protocol": "off",
        "tls": "off",
        "traffic_type": "direct",
        "ip_firewall": False,
    }
    assert app.hostname == "origin.example.net"


def test_canonical_json_is_deterministic_and_sorted(guard):
    raw = {
        "zeta": good_app(tls="full", edge_ips={"type": "static", "ips": ["104.16.5.30"]}),
        "alpha": dns_app(),
        "mid": good_app(protocol="udp/53", origin_direct=["udp://8.8.8.8:53"], account_id="x"),
    }
    _, valid = check.check_apps(raw, guard)
    assert sorted(valid) == ["alpha", "mid", "zeta"]
    _, valid_reversed = check.check_apps(dict(reversed(list(raw.items()))), guard)
    text = render.canonical_json(valid)
    assert text == render.canonical_json(valid)
    assert text == render.canonical_json(dict(reversed(list(valid.items()))))
    assert text == render.canonical_json(valid_reversed)
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.isascii()
    data = json.loads(text)
    assert list(data) == ["apps"]
    assert list(data["apps"]) == ["alpha", "mid", "zeta"]
    lines = text.splitlines()
    assert lines[:2] == ["{", '  "apps": {'] and lines[-2:] == ["  }", "}"]
    assert [line.split(":", 1)[0].strip() for line in lines[2:-2]] == ['"alpha"', '"mid"', '"zeta"']  # one app a line
    for name in data["apps"]:
        assert list(data["apps"][name]) == sorted(data["apps"][name])
    assert data["apps"]["zeta"]["tls"] == "full"
    assert data["apps"]["zeta"]["edge_ips"] == {"ips": ["104.16.5.30"], "type": "static"}
    assert data["apps"]["alpha"]["origin_dns"]["name"] == "origin.example.net"
    assert render.app_configs(valid) == {name: valid[name].config for name in sorted(valid)}


def test_canonical_json_of_nothing():
    assert render.canonical_json({}) == '{\n  "apps": {}\n}\n'


def test_every_independent_shape_error_is_reported(guard):
    raw = good_app(tls=False, proxy_protocol="v9", ip_firewall="yes", colour="blue", dns={"type": "MX", "name": "x.example"})
    report, valid = check.check_apps({"many": raw}, guard)
    assert valid == {}
    fields = [message.split("field ", 1)[1].split(":", 1)[0] for message in report["apps"]["many"]["errors"]]
    assert fields == ["'(app).colour'", "'dns.type'", "'proxy_protocol'", "'tls'", "'ip_firewall'"]
    assert report["errors"] == report["apps"]["many"]["errors"]
    with pytest.raises(PillarShapeError) as excinfo:
        model.normalise_app("many", raw)
    assert [error.field for error in excinfo.value.errors] == ["(app).colour", "dns.type", "proxy_protocol", "tls", "ip_firewall"]


def test_port_checks_are_skipped_when_the_protocol_itself_is_wrong(guard):
    report, _ = check.check_apps({"p": good_app(protocol="tcp/0", origin_direct=["tcp://8.8.8.8:1000-2000"])}, guard)
    (message,) = report["apps"]["p"]["errors"]
    assert "field 'protocol'" in message


# -- accounts authorised by trusted configuration ------------------------------------


@pytest.mark.parametrize(
    "raw, default, expected_value",
    [
        pytest.param(good_app(account_id="provider"), None, "provider", id="app-claims-the-owner"),
        pytest.param(good_app(account_id=DELETE), "provider", "provider", id="pillar-default-claims-the-owner"),
    ],
)
def test_an_account_trusted_config_does_not_authorise_is_an_error(guard, raw, default, expected_value):
    report, valid = check.check_apps({"grab": raw}, guard, default, accounts=frozenset({"crossbow"}))
    assert report["allowed"] is False and valid == {}
    entry = report["apps"]["grab"]
    assert entry["error_fields"] == ["account_id"]
    assert repr(expected_value) in entry["errors"][0] and "'grab'" in entry["errors"][0]
    assert entry["origins"] == []  # never judged with the owner's permission


def test_an_unauthorised_pillar_default_fails_the_run_even_unused(guard):
    report, _ = check.check_apps({"ok": good_app()}, guard, "provider", accounts=frozenset({"crossbow"}))
    assert report["apps"]["ok"]["allowed"] is True
    assert report["allowed"] is False
    assert any("'provider'" in error for error in report["errors"])


# -- SRV origins and pinned addresses -------------------------------------------------


PINNING = FakeResolver({
    "origin.example.net": ["8.8.8.8", "2001:4860:4860::8888", "1.1.1.1"],
    "_svc._tcp.example.net": Resolution(
        "_svc._tcp.example.net", "SRV", ("8.8.4.4", "1.0.0.1"),
        (SrvTarget("b.example.net", 6432, 10, 0, ("8.8.4.4",)), SrvTarget("a.example.net", 5432, 10, 0, ("1.0.0.1",))),
    ),
})


def test_pin_dns_renders_the_judged_addresses_in_a_stable_order():
    guard = build_guard(DOC, resolver=PINNING)
    _, valid = check.check_apps({"web": dns_app()}, guard, pin_dns=True)
    assert valid["web"].config["origin_dns"]["pinned"] == [
        {"address": "1.1.1.1"}, {"address": "8.8.8.8"}, {"address": "2001:4860:4860::8888"},
    ]
    _, unpinned = check.check_apps({"web": dns_app()}, guard)
    assert "pinned" not in unpinned["web"].config["origin_dns"]


def test_srv_origin_needs_no_port_and_pins_each_target():
    guard = build_guard(DOC, resolver=PINNING)
    raw = dns_app(origin_dns={"name": "_svc._tcp.example.net", "type": "SRV"}, origin_port=DELETE)
    report, valid = check.check_apps({"db": raw}, guard, pin_dns=True)
    assert report["allowed"] is True, report
    assert valid["db"].config["origin_dns"]["pinned"] == [
        {"target": "a.example.net", "port": 5432, "address": "1.0.0.1"},
        {"target": "b.example.net", "port": 6432, "address": "8.8.4.4"},
    ]


def test_the_pillar_apps_are_read_without_salts_whole_pillar_copy(guard):
    """Salt 3008's pillar proxy deep-copies the whole pillar when ``[]`` reads a mapping from it;
    the apps are read with ``get``, which gives the same value without that copy."""
    from salt.utils.optsdict import OptsDict

    from saltext.spectrum_acl.runtime import Runtime

    opts = OptsDict.from_dict({"pillar": {"spectrum": {"apps": {"ssh": good_app()}}, "other": {"big": [1, 2]}}})
    pillar = opts["pillar"]
    runtime = Runtime({}, {}, pillar, {"spectrum_acl": {"accounts": ["crossbow"]}}, guard=guard)
    report, valid = runtime.check_apps(details=False)
    assert report["allowed"] and list(valid) == ["ssh"]
    assert not object.__getattribute__(pillar, "_copied")  # nothing was copied
    pillar["spectrum"]  # the proxy's own [] is what copies
    assert object.__getattribute__(pillar, "_copied")


class _Proxy(Mapping):
    """A mapping that is not a dict, as Salt's masking types are."""

    def __init__(self, data):
        self._data = data

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self):
        return len(self._data)


def _outcome(normalise, name, raw):
    try:
        app = normalise(name, raw, None, {"crossbow", "x"})
    except PillarShapeError as exc:
        return "errors", [str(error) for error in getattr(exc, "errors", [exc])]
    return "app", (app.config, [origin.span for origin in app.origins], app.hostname, app.record_type, app.edge_ips)


def _containers(value):
    if isinstance(value, (dict, list)):
        yield value
        for child in value.values() if isinstance(value, dict) else value:
            yield from _containers(child)


READ_IN_PLACE = [param.values[0] for param in SHAPE_ERRORS] + [
    good_app(),
    good_app(edge_ips={"type": "static", "ips": ["104.16.5.30", "::ffff:104.16.5.31"]}),
    good_app(edge_ips={"type": "dynamic", "connectivity": "ipv6"}, tls="full", ip_firewall=True),
    good_app(dns=_Proxy({"type": "CNAME", "name": "SSH.Crossbow.Example.com."})),
    good_app(edge_ips=_Proxy({"type": "dynamic"})),
    good_app(origin_direct=("tcp://104.16.5.20:22",)),  # a tuple: a list once copied
    _Proxy(good_app(origin_direct=["tcp://[2606:4700:10::5]:22"])),
    dns_app(origin_dns={"name": "_ssh._tcp.origin.example.net", "type": "SRV"}, origin_port=DELETE),
    good_app(dns={"type": "CNAME", "name": [[["deep"]]]}),
    {"account_id": "crossbow", "dns": {"name": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {}}}}}}}}}}}},
]


@pytest.mark.parametrize("raw", READ_IN_PLACE)
def test_an_app_read_in_place_is_what_its_plain_copy_gives(raw):
    """``normalise_pillar_app`` skips the copy of a valid app: same app, or same errors, as
    ``normalise_app`` of the bounded plain copy, and no container of the pillar in the result."""
    expected = _outcome(lambda n, r, d, a: model.normalise_app(n, model.plain(r, model.MAX_APP_DEPTH), d, a), "app", raw)
    assert _outcome(model.normalise_pillar_app, "app", raw) == expected
    if expected[0] == "app":
        config = model.normalise_pillar_app("app", raw, None, {"crossbow", "x"}).config
        kept = {id(item) for item in _containers(config)}
        pillar = {id(item) for item in _containers(model.plain(raw))} | {id(raw)}
        assert all(type(item) in (dict, list) for item in _containers(config))
        assert not kept & {id(item) for item in _containers(raw) if isinstance(raw, dict)}
        assert not kept & pillar


def test_an_app_nested_too_deeply_is_named_by_its_field():
    deep = {}
    for _ in range(model.MAX_APP_DEPTH + 5):
        deep = {"x": deep}
    with pytest.raises(PillarShapeError) as raised:
        model.normalise_pillar_app("app", good_app(dns=deep))
    assert (raised.value.app, raised.value.field) == ("app", "dns")


def test_canonical_json_of_many_apps_is_what_json_writes(guard):
    """From ``render.MSGSPEC_FROM`` apps on, lines come from msgspec: the same text as json.dumps,
    a line that would differ (non-ASCII, escapes) made by json."""
    raw = {f"app{n:05d}": good_app(origin_direct=[f"tcp://8.8.{n // 250}.{n % 250 + 1}:22"], account_id="x")
           for n in range(render.MSGSPEC_FROM)}
    raw["app-odd-1"] = good_app(account_id="dé\"j\\à", origin_direct=["tcp://8.8.200.1:22"])
    raw["app-odd-2"] = good_app(account_id="tab\there", origin_direct=["tcp://8.8.200.2:22"])
    _, valid = check.check_apps(raw, guard)
    assert len(valid) == render.MSGSPEC_FROM + 2
    configs = render.app_configs(valid)
    expected = (
        '{\n  "apps": {\n'
        + ",\n".join(f"    {json.dumps(name)}: {json.dumps(config, sort_keys=True)}" for name, config in configs.items())
        + "\n  }\n}\n"
    )
    assert render.canonical_json(valid) == expected
