"""check_apps' structured findings: one table of kinds and fields, and one golden message per kind.

Tests elsewhere assert on fields (kind, cause, field); this module holds the only
full-text expectations, one per kind, so a wording change is made in one place.
"""

import pytest

from saltext.spectrum_acl.apps import check
from tests.unit.helpers import DOC, FakeResolver, build_guard


def _app(**changes):
    app = {"account_id": "crossbow", "protocol": "tcp/22", "dns": {"type": "CNAME", "name": "a.example.com"},
           "origin_direct": ["tcp://104.16.5.20:22"]}
    app.update(changes)
    return {key: value for key, value in app.items() if value is not None}


APPS = {
    "shape": _app(origin_direct=["tcp://127.1:22"]),
    "collide-a": _app(edge_ips={"type": "static", "ips": ["104.16.5.40"]}),
    "collide-b": _app(edge_ips={"type": "static", "ips": ["104.16.5.40"]}),
    "space": _app(edge_ips={"type": "static", "ips": ["10.0.0.1"]}),
    "loop": _app(origin_direct=["tcp://104.16.5.40:22"]),
    "edge": _app(origin_direct=["tcp://104.16.5.10:22"]),
    "managed": _app(origin_direct=["tcp://104.16.9.1:22"]),
    "private": _app(origin_direct=["tcp://10.1.2.3:22"]),
    "gone": _app(origin_direct=None, origin_dns={"name": "gone.example.net"}, origin_port=22),
}

#: (app, kind, field, cause, the golden message of that kind)
GOLDEN = [
    ("shape", "shape", "origin_direct[0]", None,
     "field 'origin_direct[0]': 'tcp://127.1:22' is not a valid origin: address '127.1': an IPv4 address "
     "needs exactly four decimal octets (short forms like 127.1 are refused) (got 'tcp://127.1:22')"),
    ("collide-b", "edge_ip_collision", "edge_ips.ips[0]", None,
     "field 'edge_ips.ips[0]': 104.16.5.40 is also a static edge IP of app 'collide-a' (got '104.16.5.40')"),
    ("space", "edge_ip_space", "edge_ips.ips[0]", None,
     "field 'edge_ips.ips[0]': is reserved space, not on the public Internet, so it cannot be an edge IP: "
     "10.0.0.1 is in 10.0.0.0/8 (Private-Use, RFC 1918), reserved space that is not on the public Internet; no prefix "
     "grants crossbow permission for it (got '10.0.0.1')"),
    ("loop", "app_edge_ip", "origin_direct[0]", "app_binding",
     "tcp://104.16.5.40:22 denied: 104.16.5.40 is the static edge IP of app 'collide-a'; an origin at an edge IP makes "
     "the proxy loop"),
    ("edge", "edge_ip", "origin_direct[0]", "binding",
     "tcp://104.16.5.10:22 denied: 104.16.5.10 is a Spectrum edge IP (binding 104.16.5.10/32 in prefix 104.16.0.0/13); "
     "an origin at an edge IP makes the proxy loop"),
    ("managed", "not_delegated", "origin_direct[0]", "unpermitted",
     "tcp://104.16.9.1:22 denied: 104.16.9.1 is in managed prefix 104.16.0.0/13 (CDN edge) owned by provider; crossbow "
     "neither owns it nor holds a delegation covering it"),
    ("private", "reserved", "origin_direct[0]", "unpermitted",
     "tcp://10.1.2.3:22 denied: 10.1.2.3 is in 10.0.0.0/8 (Private-Use, RFC 1918), reserved space that is not on the "
     "public Internet; no prefix grants crossbow permission for it"),
    ("gone", "unresolvable", "origin_dns.name", "unresolved",
     "gone.example.net (origin_dns) denied: gone.example.net resolves to no address; a name must resolve to be judged"),
]


@pytest.fixture(scope="module")
def findings():
    guard = build_guard(DOC, resolver=FakeResolver({"gone.example.net": []}))
    report, _ = check.check_apps(APPS, guard, accounts=frozenset({"crossbow"}))
    return {(found["app"], found["kind"]): found for found in report["findings"]}


@pytest.mark.parametrize("app, kind, field, cause, message", GOLDEN, ids=[row[1] for row in GOLDEN])
def test_each_kind_has_its_fields_and_one_golden_message(findings, app, kind, field, cause, message):
    found = findings[(app, kind)]
    assert (found["field"], found["cause"]) == (field, cause)
    assert found["message"] == message


def test_every_finding_is_one_of_the_table(findings):
    assert sorted(findings) == sorted((app, kind) for app, kind, *_ in GOLDEN)


def test_a_denied_origin_carries_its_verdict(findings):
    verdict = findings[("managed", "not_delegated")]["verdict"]
    assert (verdict["allowed"], verdict["is_managed"], verdict["decided_by"]) == (False, True, "104.16.0.0/13")
