"""The decision per origin and account, against a small prefix data document (helpers.DOC)."""

import netaddr
import pytest

from saltext.spectrum_acl.core import index
from saltext.spectrum_acl.core.reasons import MAX_REASONS_PER_KIND
from saltext.spectrum_acl.core.resolver import ResolutionError
from saltext.spectrum_acl.core.verdict import DENIAL_CAUSES, FLAGS, fail_closed
from saltext.spectrum_acl.errors import OriginSyntaxError
from tests.unit.helpers import DOC, FakeResolver, build_guard

A, D = True, False  # allowed / denied


def _flags(allowed, managed=False, delegated=False, reserved=False, binding=False):
    return {
        "allowed": allowed,
        "is_managed": managed,
        "is_delegated": delegated,
        "is_reserved": reserved,
        "has_binding": binding,
    }


DECISIONS = [
    # unmanaged public space: allowed, every other flag False, whoever asks
    pytest.param("8.8.8.8", "crossbow", _flags(A), ["not managed"], id="unmanaged-public"),
    pytest.param("8.8.8.8", None, _flags(A), [], id="unmanaged-public-no-account"),
    pytest.param("2a00:1450::1", "crossbow", _flags(A), [], id="unmanaged-public-v6"),
    pytest.param("44.11.0.0/16", "crossbow", _flags(A), [], id="cidr-only-unmanaged"),
    pytest.param("44.10.21.0/24", "crossbow", _flags(A), [], id="cidr-beside-managed"),
    # overlap, not containment: a /16 containing a managed /24
    pytest.param(
        "44.10.0.0/16", "crossbow", _flags(D, managed=True), ["44.10.20.0/24", "ham", "crossbow"],
        id="cidr-overlaps-managed-outsider",
    ),
    pytest.param(
        "44.10.0.0/16", "ham", _flags(A, managed=True, delegated=True), ["44.10.20.0/24", "ham owns"],
        id="cidr-overlaps-managed-owner",
    ),
    pytest.param(
        "44.10.20.128/25", "crossbow", _flags(D, managed=True), ["44.10.20.0/24"], id="cidr-inside-managed-outsider",
    ),
    pytest.param("0.0.0.0/0", "ham", _flags(D, managed=True, reserved=True, binding=True), [], id="everything"),
    # owner
    pytest.param("104.16.9.1", "provider", _flags(A, managed=True, delegated=True), ["104.16.0.0/13", "provider owns"], id="owner"),
    pytest.param("104.16.9.1", "crossbow", _flags(D, managed=True), ["104.16.0.0/13", "owned by provider", "crossbow"], id="outsider"),
    pytest.param("104.16.9.1", None, _flags(D, managed=True), ["no account_id"], id="no-account"),
    pytest.param("104.16.9.1", "", _flags(D, managed=True), [], id="empty-account"),
    # delegation
    pytest.param(
        "104.16.5.20", "crossbow", _flags(A, managed=True, delegated=True),
        ["104.16.5.0/24", "delegation", "from provider"], id="delegated",
    ),
    pytest.param("tcp://104.16.5.20:22", "crossbow", _flags(A, managed=True, delegated=True), [], id="delegated-url"),
    pytest.param("104.16.5.20", "provider", _flags(A, managed=True, delegated=True), ["provider owns"], id="delegated-owner-still-allowed"),
    pytest.param("104.16.5.128/25", "crossbow", _flags(A, managed=True, delegated=True), [], id="delegated-cidr"),
    pytest.param("104.16.4.0/23", "crossbow", _flags(D, managed=True, binding=True), [], id="cidr-wider-than-delegation"),
    pytest.param("104.16.6.20", "crossbow", _flags(D, managed=True), [], id="beside-delegation"),
    pytest.param("2606:4700:10::1", "crossbow", _flags(A, managed=True, delegated=True), ["2606:4700:10::/48"], id="delegated-v6"),
    pytest.param("2606:4700:11::1", "crossbow", _flags(D, managed=True), [], id="beside-delegation-v6"),
    # most-specific ownership: team owns 104.17.8.0/24 inside provider's /13
    pytest.param("104.17.8.5", "team", _flags(A, managed=True, delegated=True), ["104.17.8.0/24", "team owns"], id="nested-owner"),
    pytest.param("104.17.8.5", "provider", _flags(D, managed=True), ["104.17.8.0/24", "owned by team"], id="outer-owner-in-nested"),
    pytest.param("104.17.9.5", "team", _flags(D, managed=True), ["104.16.0.0/13"], id="nested-owner-elsewhere"),
    pytest.param("104.17.9.5", "provider", _flags(A, managed=True, delegated=True), [], id="outer-owner-outside-nested"),
    pytest.param("104.17.8.0/23", "provider", _flags(D, managed=True), ["104.17.8.0/24"], id="outer-owner-cidr-over-nested"),
    pytest.param("104.17.8.0/23", "team", _flags(D, managed=True), [], id="nested-owner-cidr-over-outer"),
    pytest.param("104.0.0.0/8", "provider", _flags(D, managed=True, binding=True), [], id="outer-owner-slash8"),
    # bindings: always denied, even for the owner (BYOIP corner case)
    pytest.param(
        "45.91.88.1", "acme", _flags(D, managed=True, delegated=True, binding=True),
        ["45.91.88.1", "edge IP", "loop"], id="binding-byoip-owner",
    ),
    pytest.param("45.91.88.1", "crossbow", _flags(D, managed=True, binding=True), [], id="binding-outsider"),
    pytest.param("45.91.88.2", "acme", _flags(A, managed=True, delegated=True), [], id="beside-binding-owner"),
    pytest.param("45.91.88.0/30", "acme", _flags(D, managed=True, delegated=True, binding=True), ["45.91.88.1"], id="cidr-overlaps-binding"),
    pytest.param(
        "104.16.5.10", "crossbow", _flags(D, managed=True, delegated=True, binding=True),
        ["104.16.5.10", "binding"], id="binding-in-delegation",
    ),
    pytest.param("104.16.5.10", "provider", _flags(D, managed=True, delegated=True, binding=True), [], id="binding-provider"),
    pytest.param("2606:4700::6810:5:a", "provider", _flags(D, managed=True, delegated=True, binding=True), [], id="binding-v6"),
    pytest.param("tcp://[2606:4700::6810:5:a]:22", "provider", _flags(D, managed=True, delegated=True, binding=True), [], id="binding-v6-url"),
    # a non-Spectrum binding is not an edge IP
    pytest.param("104.16.6.1", "provider", _flags(A, managed=True, delegated=True), [], id="magic-transit-not-a-binding"),
    # reserved
    pytest.param("10.1.2.3", "crossbow", _flags(D, reserved=True), ["10.0.0.0/8", "RFC 1918"], id="reserved-private"),
    pytest.param("127.0.0.1", "provider", _flags(D, reserved=True), ["Loopback"], id="reserved-loopback"),
    pytest.param("::1", "crossbow", _flags(D, reserved=True), [], id="reserved-v6-loopback"),
    pytest.param("ff02::1", "crossbow", _flags(D, reserved=True), ["Multicast"], id="reserved-v6-multicast"),
    pytest.param("224.0.0.1", None, _flags(D, reserved=True), [], id="reserved-multicast-no-account"),
    pytest.param("32.0.0.0/4", "ham", _flags(D, managed=True, binding=True), [], id="cidr-managed-and-binding"),
    # embedded IPv4 carrying managed space
    pytest.param("::ffff:104.16.9.1", "crossbow", _flags(D, managed=True, reserved=True), ["carried by", "104.16.0.0/13"], id="mapped-managed"),
    pytest.param("::ffff:8.8.8.8", "crossbow", _flags(D, reserved=True), ["IPv4-mapped"], id="mapped-unmanaged"),
    pytest.param("2002:6810:901::1", "crossbow", _flags(D, managed=True, reserved=True), ["6to4"], id="6to4-managed"),
    pytest.param("64:ff9b::104.16.9.1", "crossbow", _flags(D, managed=True, reserved=True), ["NAT64"], id="nat64-managed"),
    pytest.param("::ffff:45.91.88.1", "acme", _flags(D, managed=True, reserved=True, binding=True), [], id="mapped-binding"),
    pytest.param("::ffff:10.0.0.1", "crossbow", _flags(D, reserved=True), ["10.0.0.0/8"], id="mapped-private"),
]


@pytest.mark.parametrize("origin, account, expected, fragments", DECISIONS)
def test_decision(doc_guard, origin, account, expected, fragments):
    verdict = doc_guard.check_origin(origin, account)
    assert verdict.flags() == expected, verdict.reasons
    assert verdict.origin == origin
    assert verdict.account_id == account
    text = " | ".join(verdict.reasons)
    for fragment in fragments:
        assert fragment in text
    assert verdict.reasons
    if not verdict.allowed:
        assert verdict.denying_reasons
        assert set(verdict.denying_reasons) <= set(verdict.reasons)
        assert verdict.summary().startswith(f"{origin} denied: ")
    else:
        assert verdict.denying_reasons == []
        assert verdict.summary().startswith(f"{origin} allowed: ")


def test_is_delegated_only_when_sensitive(doc_guard):
    """is_delegated means permission for managed/reserved space; unmanaged space never sets it."""
    for origin in ("8.8.8.8", "44.11.0.0/16", "2a00::1"):
        for account in ("provider", "crossbow", None):
            assert doc_guard.check_origin(origin, account).is_delegated is False


def test_denying_reasons_show_only_what_denies(doc_guard):
    # 2606:4700:10::/47: 2606:4700:10::/48 is delegated to crossbow, 2606:4700:11::/48 is not
    verdict = doc_guard.check_origin("2606:4700:10::/47", "crossbow")
    assert verdict.is_managed and not verdict.has_binding
    assert not verdict.allowed
    assert len(verdict.reasons) == 2
    assert len(verdict.denying_reasons) == 1
    assert "neither owns it nor holds a delegation" in verdict.denying_reasons[0]


def test_many_reasons_are_summarised():
    document = {"prefixes": [{"cidr": f"44.0.{i}.0/24", "account_id": f"owner{i}"} for i in range(12)]}
    verdict = build_guard(document).check_origin("44.0.0.0/20", "stranger")
    assert not verdict.allowed and verdict.is_managed
    assert len(verdict.reasons) <= MAX_REASONS_PER_KIND + 1
    assert any("more permission findings" in reason for reason in verdict.reasons)


def test_deciding_reason_survives_the_reason_cap():
    # 44.0.0.0/21: six /24s owned by "me", then 44.0.6.0/24 owned by "other"
    document = {
        "prefixes": [{"cidr": f"44.0.{i}.0/24", "account_id": "me"} for i in range(6)]
        + [{"cidr": "44.0.6.0/24", "account_id": "other"}]
    }
    verdict = build_guard(document).check_origin("44.0.0.0/21", "me")
    assert verdict.flags() == _flags(D, managed=True)  # the decision itself is right
    summary = verdict.summary()
    assert "44.0.6.0/24" in summary and "other" in summary


def test_verdict_as_dict(doc_guard):
    data = doc_guard.check_origin("104.16.5.20", "crossbow").as_dict()
    assert set(data) == {"origin", "account_id", "decided_by", "denied_by", "edge_ip_of", "reasons", *FLAGS}
    assert data["allowed"] is True


def test_check_origin_parses_strictly(doc_guard):
    with pytest.raises(OriginSyntaxError):
        doc_guard.check_origin("127.1", "crossbow")


def test_denied_helper():
    verdict = fail_closed("x", "acct", "because")
    assert verdict.flags() == _flags(D)
    assert verdict.summary() == "x denied: because"


# --------------------------------------------------------------------------- embedded: the carried address decides

#: A (contrived) owner of the embedding blocks, so that only the carried IPv4 address can deny.
EMBEDDING_OWNER_DOC = {
    "prefixes": DOC["prefixes"]
    + [
        {"cidr": "::ffff:0:0/96", "account_id": "mapper"},
        {"cidr": "64:ff9b::/96", "account_id": "mapper"},
        {"cidr": "2002::/16", "account_id": "mapper"},
        {"cidr": "2001::/32", "account_id": "mapper"},
        {"cidr": "::/96", "account_id": "mapper"},
    ]
}


@pytest.mark.parametrize(
    "origin, expected",
    [
        pytest.param("::ffff:8.8.8.8", _flags(A, managed=True, delegated=True, reserved=True), id="mapped-public"),
        pytest.param("::ffff:104.16.9.1", _flags(D, managed=True, reserved=True), id="mapped-managed"),
        pytest.param("::ffff:10.0.0.1", _flags(D, managed=True, reserved=True), id="mapped-reserved"),
        pytest.param("::ffff:8.8.8.0/120", _flags(A, managed=True, delegated=True, reserved=True), id="mapped-cidr-public"),
        pytest.param("::ffff:104.16.8.0/120", _flags(D, managed=True, reserved=True), id="mapped-cidr-managed"),
        pytest.param("::ffff:45.91.88.1", _flags(D, managed=True, reserved=True, binding=True), id="mapped-binding"),
        pytest.param("::8.8.8.8", _flags(A, managed=True, delegated=True, reserved=True), id="compatible-public"),
        pytest.param("::104.16.9.1", _flags(D, managed=True, reserved=True), id="compatible-managed"),
        pytest.param("64:ff9b::8.8.8.8", _flags(A, managed=True, delegated=True, reserved=True), id="nat64-public"),
        pytest.param("64:ff9b::104.16.9.1", _flags(D, managed=True, reserved=True), id="nat64-managed"),
        pytest.param("2002:808:808::1", _flags(A, managed=True, delegated=True, reserved=True), id="6to4-public"),
        pytest.param("2002:6810:901::1", _flags(D, managed=True, reserved=True), id="6to4-managed"),
        pytest.param("2002:7f00:1::1", _flags(D, managed=True, reserved=True), id="6to4-loopback"),
        # Teredo: server 8.8.8.8, client 8.8.4.4 (stored inverted: f7f7:fbfb)
        pytest.param("2001:0:808:808::f7f7:fbfb", _flags(A, managed=True, delegated=True, reserved=True), id="teredo-public"),
        # server 104.16.9.1 is managed
        pytest.param("2001:0:6810:901::f7f7:fbfb", _flags(D, managed=True, reserved=True), id="teredo-server-managed"),
        # client 104.16.9.1 inverted is 97ef:f6fe
        pytest.param("2001:0:808:808::97ef:f6fe", _flags(D, managed=True, reserved=True), id="teredo-client-managed"),
        # client 192.0.2.45 (documentation) carried by the RFC 4380 example
        pytest.param("2001:0:4136:e378:8000:63bf:3fff:fdd2", _flags(D, managed=True, reserved=True), id="teredo-client-reserved"),
    ],
)
def test_carried_ipv4_decides(origin, expected):
    guard = build_guard(EMBEDDING_OWNER_DOC)
    verdict = guard.check_origin(origin, "mapper")
    assert verdict.flags() == expected, verdict.reasons


def test_carried_ipv4_owner_is_permitted():
    guard = build_guard(EMBEDDING_OWNER_DOC)
    # provider owns the carried 104.16.9.1 but not the IPv6 embedding block
    verdict = guard.check_origin("::ffff:104.16.9.1", "provider")
    assert verdict.flags() == _flags(D, managed=True, reserved=True)
    assert any("mapper" in reason for reason in verdict.denying_reasons)


# --------------------------------------------------------------------------- app bindings


def test_app_bindings_deny_unmanaged_address():
    app_bindings = index.PrefixIndex([index.Entry(index.BINDING, netaddr.IPNetwork("8.8.8.8/32"), None, "the static edge IP of app 'x'")])
    guard = build_guard(DOC, app_bindings=app_bindings)
    verdict = guard.check_origin("8.8.8.8", "crossbow")
    assert verdict.flags() == _flags(D, binding=True)
    assert "app 'x'" in verdict.summary()
    assert guard.check_origin("8.8.8.9", "crossbow").allowed
    assert guard.check_origin("::ffff:8.8.8.8", "crossbow").has_binding
    assert guard.with_app_bindings(index.PrefixIndex()).check_origin("8.8.8.8", "crossbow").allowed


# --------------------------------------------------------------------------- hostnames

RESOLVER = FakeResolver(
    {
        "public.example.net": ["8.8.8.8", "2a00:1450::1"],
        "loopback.example.net": ["127.0.0.1"],
        "localhost": ["127.0.0.1", "::1"],
        "mixed.example.net": ["8.8.8.8", "10.0.0.1"],
        "managed.example.net": ["104.16.5.20"],
        "edge.example.net": ["45.91.88.1"],
        "empty.example.net": [],
        "none.example.net": None,
        "fails.example.net": ResolutionError("SERVFAIL"),
        "oserror.example.net": OSError("network unreachable"),
        "garbage.example.net": ["not-an-address"],
        "short.example.net": ["127.1"],
        "zoned.example.net": ["fe80::1%eth0"],
        "half-garbage.example.net": ["8.8.8.8", "999.1.1.1"],
    }
)


@pytest.mark.parametrize(
    "name, account, expected, fragments",
    [
        pytest.param("public.example.net", "crossbow", _flags(A), ["8.8.8.8"], id="public"),
        pytest.param("loopback.example.net", "crossbow", _flags(D, reserved=True), ["127.0.0.0/8"], id="loopback"),
        pytest.param("localhost", "crossbow", _flags(D, reserved=True), ["Loopback"], id="localhost"),
        pytest.param("mixed.example.net", "crossbow", _flags(D, reserved=True), ["10.0.0.1"], id="one-private-answer"),
        pytest.param("managed.example.net", "crossbow", _flags(A, managed=True, delegated=True), ["delegation"], id="delegated"),
        pytest.param("managed.example.net", "other", _flags(D, managed=True), [], id="managed-outsider"),
        pytest.param("edge.example.net", "acme", _flags(D, managed=True, delegated=True, binding=True), [], id="binding"),
        pytest.param("empty.example.net", "crossbow", _flags(D), ["no address"], id="resolves-to-nothing"),
        pytest.param("none.example.net", "crossbow", _flags(D), [], id="resolver-returns-none"),
        pytest.param("fails.example.net", "crossbow", _flags(D), ["does not resolve", "SERVFAIL"], id="resolution-error"),
        pytest.param("oserror.example.net", "crossbow", _flags(D), ["does not resolve"], id="os-error"),
        pytest.param("nxdomain.example.net", "crossbow", _flags(D), ["does not resolve"], id="nxdomain"),
        pytest.param("garbage.example.net", "crossbow", _flags(D), ["not-an-address"], id="garbage-answer"),
        pytest.param("short.example.net", "crossbow", _flags(D), ["127.1"], id="short-form-answer"),
        pytest.param("zoned.example.net", "crossbow", _flags(D), [], id="zone-id-answer"),
        pytest.param("half-garbage.example.net", "crossbow", _flags(D), ["999.1.1.1"], id="one-garbage-answer"),
    ],
)
def test_check_hostname(name, account, expected, fragments):
    guard = build_guard(DOC, resolver=RESOLVER)
    verdict = guard.check_hostname(name, account)
    assert verdict.flags() == expected, verdict.reasons
    assert verdict.origin == f"{name} (origin_dns)"
    assert name in verdict.reasons[0]
    text = " | ".join(verdict.reasons)
    for fragment in fragments:
        assert fragment in text
    if not verdict.allowed:
        assert name in verdict.summary()


@pytest.mark.parametrize(
    "origin, account, decided_by",
    [
        pytest.param("104.16.5.20", "crossbow", "104.16.5.0/24", id="permitted-by-delegation"),
        pytest.param("104.17.8.7", "team", "104.17.8.0/24", id="permitted-by-owned-most-specific-prefix"),
        pytest.param("104.16.9.1", "crossbow", "104.16.0.0/13", id="denied-by-unpermitted-prefix"),
        pytest.param("104.16.5.10", "crossbow", "104.16.5.10/32", id="denied-by-binding"),
        pytest.param("10.1.2.3", "crossbow", "10.0.0.0/8", id="denied-by-reserved-block"),
        pytest.param("1.1.1.1", "crossbow", None, id="nothing-decided"),
    ],
)
def test_decided_by_names_the_deciding_entry(doc_guard, origin, account, decided_by):
    verdict = doc_guard.check_origin(origin, account)
    assert verdict.decided_by == decided_by
    assert verdict.as_dict()["decided_by"] == decided_by


@pytest.mark.parametrize(
    "origin, account, denied_by",
    [
        pytest.param("104.16.5.20", "crossbow", [], id="allowed"),
        pytest.param("104.16.9.1", "crossbow", ["unpermitted"], id="managed-not-delegated"),
        pytest.param("104.16.5.10", "crossbow", ["binding"], id="binding-permitted-space"),
        pytest.param("104.16.0.0/16", "crossbow", ["binding", "unpermitted"], id="binding-and-unpermitted"),
        pytest.param("10.1.2.3", "crossbow", ["unpermitted"], id="reserved"),
    ],
)
def test_denied_by_is_machine_readable(doc_guard, origin, account, denied_by):
    verdict = doc_guard.check_origin(origin, account)
    assert verdict.denied_by == denied_by
    assert verdict.allowed is (denied_by == [])
    assert set(verdict.denied_by) <= set(DENIAL_CAUSES)


def test_app_binding_names_the_app_and_unresolved_names_say_so():
    app_bindings = index.PrefixIndex([index.Entry(index.BINDING, netaddr.IPNetwork("44.0.0.7/32"), "app-b", "the static edge IP of app 'app-b'")])
    guard = build_guard(DOC, resolver=FakeResolver({}), app_bindings=app_bindings)
    verdict = guard.check_origin("44.0.0.7", "crossbow")
    assert verdict.denied_by == ["app_binding"] and verdict.edge_ip_of == ["app-b"]
    unresolved = guard.check_hostname("nowhere.example", "crossbow")
    assert unresolved.denied_by == ["unresolved"] and unresolved.edge_ip_of == []
