"""The resolver against a real DNS server on 127.0.0.1: record types, SRV targets, failures, deadline."""

import time

import pytest

from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.core.resolver import MAX_SRV_TARGETS, ResolutionError, Resolver
from tests.dns_server import DnsServer
from tests.unit.helpers import DOC, build_index

ZONE = {
    "both.example": {"A": ["93.184.215.14"], "AAAA": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"]},
    "v6only.example": {"AAAA": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"]},
    "alias.example": {"CNAME": "both.example."},
    "empty.example": {"TXT": ['"nothing"']},
    "slow.example": "timeout",
    # The name itself points at a public address; its SRV targets are private and a binding.
    "_db._tcp.svc.example": {"SRV": ["10 5 5432 db1.svc.example.", "20 5 6432 db2.svc.example."]},
    "svc.example": {"A": ["93.184.215.14"]},
    "db1.svc.example": {"A": ["10.1.2.3"]},
    "db2.svc.example": {"A": ["104.16.5.10"]},
    "_none._tcp.svc.example": {"SRV": ["0 0 0 ."]},
    "_public._tcp.svc.example": {"SRV": ["0 0 5432 svc.example."]},
    "_many._tcp.svc.example": {"SRV": [f"0 0 {port} svc.example." for port in range(1, MAX_SRV_TARGETS + 3)]},
}


@pytest.fixture(scope="module")
def dns_server():
    with DnsServer(ZONE) as server:
        yield server


@pytest.fixture
def resolver(dns_server):
    return Resolver(timeout=2.0, nameservers=["127.0.0.1"], port=dns_server.port)


@pytest.mark.parametrize(
    "name, record_type, expected",
    [
        pytest.param("both.example", "", ("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"), id="a-and-aaaa"),
        pytest.param("both.example", "A", ("93.184.215.14",), id="a-only"),
        pytest.param("both.example", "AAAA", ("2606:2800:21f:cb07:6820:80da:af6b:8b2c",), id="aaaa-only"),
        pytest.param("v6only.example", "", ("2606:2800:21f:cb07:6820:80da:af6b:8b2c",), id="no-a-is-fine"),
        pytest.param("alias.example", "A", ("93.184.215.14",), id="cname-followed"),
        pytest.param("BOTH.example.", "A", ("93.184.215.14",), id="case-and-final-dot"),
    ],
)
def test_address_records(resolver, name, record_type, expected):
    assert resolver.lookup(name, record_type).addresses == expected


@pytest.mark.parametrize(
    "name, record_type",
    [
        pytest.param("missing.example", "", id="nxdomain"),
        pytest.param("empty.example", "", id="no-address-records"),
        pytest.param("v6only.example", "A", id="no-record-of-the-type"),
        pytest.param("_none._tcp.svc.example", "SRV", id="srv-dot-target"),
        pytest.param("both.example", "SRV", id="no-srv-records"),
        pytest.param("_many._tcp.svc.example", "SRV", id="too-many-srv-targets"),
        pytest.param("both.example", "MX", id="unknown-type"),
    ],
)
def test_nothing_to_judge_raises(resolver, name, record_type):
    with pytest.raises(ResolutionError):
        resolver.lookup(name, record_type)


def test_srv_resolves_every_target(resolver):
    resolution = resolver.lookup("_db._tcp.svc.example", "SRV")
    assert [(t.target, t.port, t.priority, t.addresses) for t in resolution.targets] == [
        ("db1.svc.example", 5432, 10, ("10.1.2.3",)),
        ("db2.svc.example", 6432, 20, ("104.16.5.10",)),
    ]
    assert resolution.addresses == ("10.1.2.3", "104.16.5.10")


def test_srv_origin_is_judged_on_its_targets_not_the_name(resolver):
    guard = OriginGuard(build_index(DOC), resolver=resolver)
    name_only = guard.check_hostname("svc.example", "crossbow")
    assert name_only.allowed is True  # the name's own A record is public
    srv = guard.check_hostname("_db._tcp.svc.example", "crossbow", "SRV")
    assert srv.allowed is False
    assert srv.is_reserved is True  # db1: 10.1.2.3
    assert srv.has_binding is True  # db2: the Spectrum edge IP 104.16.5.10
    assert guard.check_hostname("_public._tcp.svc.example", "crossbow", "SRV").allowed is True


def test_the_deadline_bounds_a_silent_server(dns_server):
    resolver = Resolver(timeout=0.5, nameservers=["127.0.0.1"], port=dns_server.port)
    started = time.monotonic()
    with pytest.raises(ResolutionError, match="no answer within"):
        resolver.lookup("slow.example")
    assert time.monotonic() - started < 3  # not the OS resolver's unbounded wait


def test_static_hosts_answer_first_and_localhost_is_loopback(dns_server):
    resolver = Resolver({"both.example": ["192.0.2.7"]}, nameservers=["127.0.0.1"], port=dns_server.port)
    before = len(dns_server.queries)
    assert resolver.lookup("both.example").addresses == ("192.0.2.7",)
    assert resolver.lookup("localhost").addresses == ("127.0.0.1", "::1")
    assert resolver.lookup("db.localhost", "A").source == "localhost"
    assert len(dns_server.queries) == before  # none of these asked DNS


def test_offline_resolver_refuses_unknown_names():
    with pytest.raises(ResolutionError, match="offline"):
        Resolver({}, use_dns=False).lookup("both.example")


def test_a_guard_denies_what_does_not_resolve(resolver):
    guard = OriginGuard(build_index(DOC), resolver=resolver)
    verdict = guard.check_hostname("missing.example", "crossbow")
    assert verdict.allowed is False
    assert verdict.denied_by == ["unresolved"]
