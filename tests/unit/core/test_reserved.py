"""The reserved-space table, judged through the policy engine with empty prefix data."""

import ipaddress

import netaddr
import pytest

from saltext.spectrum_acl.core import reserved

R, P = True, False  # reserved / public

BOUNDARIES = [
    # IPv4 special-purpose blocks, both sides of each edge
    ("0.0.0.0", R),
    ("0.255.255.255", R),
    ("1.0.0.0", P),
    ("1.1.1.1", P),
    ("9.255.255.255", P),
    ("10.0.0.0", R),
    ("10.255.255.255", R),
    ("11.0.0.0", P),
    ("100.63.255.255", P),
    ("100.64.0.0", R),
    ("100.127.255.255", R),
    ("100.128.0.0", P),
    ("126.255.255.255", P),
    ("127.0.0.0", R),
    ("127.0.0.1", R),
    ("127.255.255.255", R),
    ("128.0.0.0", P),
    ("169.253.255.255", P),
    ("169.254.0.0", R),
    ("169.254.255.255", R),
    ("169.255.0.0", P),
    ("172.15.255.255", P),
    ("172.16.0.0", R),
    ("172.31.255.255", R),
    ("172.32.0.0", P),
    ("191.255.255.255", P),
    ("192.0.0.0", R),
    ("192.0.0.255", R),
    ("192.0.1.0", P),
    ("192.0.1.255", P),
    ("192.0.2.0", R),
    ("192.0.2.255", R),
    ("192.0.3.0", P),
    ("192.31.195.255", P),
    ("192.31.196.0", R),
    ("192.31.196.255", R),
    ("192.31.197.0", P),
    ("192.52.192.255", P),
    ("192.52.193.0", R),
    ("192.52.193.255", R),
    ("192.52.194.0", P),
    ("192.88.98.255", P),
    ("192.88.99.0", R),
    ("192.88.99.2", R),
    ("192.88.99.255", R),
    ("192.88.100.0", P),
    ("192.167.255.255", P),
    ("192.168.0.0", R),
    ("192.168.255.255", R),
    ("192.169.0.0", P),
    ("192.175.47.255", P),
    ("192.175.48.0", R),
    ("192.175.48.255", R),
    ("192.175.49.0", P),
    ("198.17.255.255", P),
    ("198.18.0.0", R),
    ("198.19.255.255", R),
    ("198.20.0.0", P),
    ("198.51.99.255", P),
    ("198.51.100.0", R),
    ("198.51.100.255", R),
    ("198.51.101.0", P),
    ("203.0.112.255", P),
    ("203.0.113.0", R),
    ("203.0.113.255", R),
    ("203.0.114.0", P),
    ("223.255.255.255", P),
    ("224.0.0.0", R),
    ("239.255.255.255", R),
    ("240.0.0.0", R),
    ("255.255.255.254", R),
    ("255.255.255.255", R),
    # IPv6
    ("::", R),
    ("::1", R),
    ("::ffff:8.8.8.8", R),
    ("64:ff9b::1.1.1.1", R),
    ("64:ff9b:1::1.1.1.1", R),
    ("100::1", R),
    ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", R),
    ("2000::", P),
    ("2000::1", P),
    ("2001::", R),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", R),
    ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", R),
    ("2001:200::", P),
    ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", P),
    ("2001:db8::", R),
    ("2001:db8::1", R),
    ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", R),
    ("2001:db9::", P),
    ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", P),
    ("2002::", R),
    ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", R),
    ("2003::", P),
    ("2606:4700::1", P),
    ("2620:4f:7fff:ffff:ffff:ffff:ffff:ffff", P),
    ("2620:4f:8000::", R),
    ("2620:4f:8000:ffff:ffff:ffff:ffff:ffff", R),
    ("2620:4f:8001::", P),
    ("3ffe::", P),
    ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", P),
    ("3fff::", R),
    ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", R),
    ("3fff:1000::", P),
    ("3fff:ffff::", P),
    ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", P),
    ("4000::", R),
    ("5f00::1", R),
    ("fc00::1", R),
    ("fd00::1", R),
    ("fe80::1", R),
    ("fec0::1", R),
    ("ff02::1", R),
    ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", R),
]


@pytest.mark.parametrize(
    "address, reserved",
    [pytest.param(a, r, id=f"{a}-{'reserved' if r else 'public'}") for a, r in BOUNDARIES],
)
def test_reserved_boundaries(reserved_guard, address, reserved):
    verdict = reserved_guard.check_origin(address, "anyone")
    assert verdict.is_reserved is reserved
    assert verdict.allowed is (not reserved)
    assert verdict.is_managed is False
    assert verdict.has_binding is False
    assert verdict.is_delegated is False
    if reserved:
        assert any("RFC" in reason for reason in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(
    "cidr, reserved",
    [
        pytest.param("100.0.0.0/10", P, id="beside-shared-below"),
        pytest.param("100.0.0.0/9", R, id="contains-shared"),
        pytest.param("100.128.0.0/9", P, id="beside-shared-above"),
        pytest.param("172.0.0.0/12", P, id="beside-private-172"),
        pytest.param("172.0.0.0/11", R, id="contains-private-172"),
        pytest.param("8.0.0.0/7", P, id="8-and-9"),
        pytest.param("8.0.0.0/6", R, id="8-to-11-overlaps-10"),
        pytest.param("0.0.0.0/0", R, id="everything-v4"),
        pytest.param("2a00::/8", P, id="global-2a00"),
        pytest.param("2600::/8", R, id="2600-8-contains-as112"),
        pytest.param("2000::/4", R, id="2000-4-overlaps-2001-and-2002"),
        pytest.param("2000::/3", R, id="global-unicast-overlaps-special"),
        pytest.param("2800::/6", P, id="2800-6"),
        pytest.param("2620:4f::/32", R, id="contains-as112"),
        pytest.param("::/0", R, id="everything-v6"),
    ],
)
def test_reserved_by_overlap(reserved_guard, cidr, reserved):
    verdict = reserved_guard.check_origin(cidr, "anyone")
    assert verdict.is_reserved is reserved
    assert verdict.allowed is (not reserved)


@pytest.mark.parametrize(
    "cidr, name, reference",
    [pytest.param(*row, id=row[0]) for row in reserved.RESERVED_BLOCKS],
)
def test_every_reserved_block_first_and_last(reserved_guard, cidr, name, reference):
    network = netaddr.IPNetwork(cidr)
    for address in {network.first, network.last}:
        text = str(netaddr.IPAddress(address, network.version))
        verdict = reserved_guard.check_origin(text, "anyone")
        assert verdict.is_reserved is True, text
        assert verdict.allowed is False, text
    whole = reserved_guard.check_origin(str(network.cidr), "anyone")
    assert whole.is_reserved is True
    assert whole.allowed is False


@pytest.mark.parametrize(
    "cidr, name, reference",
    [pytest.param(*row, id=row[0]) for row in reserved.RESERVED_BLOCKS],
)
def test_table_rows_are_clean(cidr, name, reference):
    network = ipaddress.ip_network(cidr)  # strict: raises on host bits
    assert network.compressed == cidr
    assert name and reference
    assert "RFC" in reference


def test_table_is_complete():
    """Every block the SPEC names (and the IANA registries list) has a row."""
    cidrs = {ipaddress.ip_network(cidr) for cidr, _, _ in reserved.RESERVED_BLOCKS}
    required = [
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24",
        "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
        "::1/128", "::/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
        "2001::/32", "2001:2::/48", "2001:3::/32", "2001:4:112::/48", "2001:20::/28", "2001:db8::/32",
        "2002::/16", "2620:4f:8000::/48", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10",
        "fec0::/10", "ff00::/8",
    ]  # fmt: skip
    missing = [cidr for cidr in required if ipaddress.ip_network(cidr) not in cidrs]
    assert not missing


def test_outside_global_unicast_is_covered():
    """All IPv6 outside 2000::/3 is reserved: the table's rows cover it exactly."""
    outside = [ipaddress.ip_network("::/3"), ipaddress.ip_network("4000::/2"), ipaddress.ip_network("8000::/1")]
    rows = [ipaddress.ip_network(cidr) for cidr, _, _ in reserved.RESERVED_BLOCKS]
    for block in outside:
        assert any(block.subnet_of(row) for row in rows if row.version == 6), block


def test_reserved_entries_detail():
    entries = reserved.reserved_entries()
    assert len(entries) == len(reserved.RESERVED_BLOCKS)
    by_cidr = {entry.cidr: entry for entry in entries}
    assert by_cidr["10.0.0.0/8"].detail == "Private-Use, RFC 1918"
    assert all(entry.kind == "reserved" and entry.account is None for entry in entries)


def test_reserved_reason_names_block_and_rfc(reserved_guard):
    verdict = reserved_guard.check_origin("192.168.1.1", "crossbow")
    text = " ".join(verdict.reasons)
    assert "192.168.0.0/16" in text
    assert "RFC 1918" in text
    assert "crossbow" in text
    assert verdict.summary().startswith("192.168.1.1 denied: ")
