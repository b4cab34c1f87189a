"""The segment index itself: what covers a range, clipped to the query."""

import random

import netaddr
import pytest

from saltext.spectrum_acl.core import index
from saltext.spectrum_acl.data import prefix_data
from tests.unit.helpers import DOC


def _net(text):
    return netaddr.IPNetwork(text)


@pytest.fixture(scope="module")
def doc_index():
    return index.PrefixIndex(prefix_data.entries_from_document(DOC))


def test_counts(doc_index):
    assert doc_index.counts == {"prefix": 5, "delegation": 2, "binding": 3, "reserved": 0}
    assert len(doc_index) == 10
    assert len(index.PrefixIndex()) == 0


def _describe(cover):
    return (
        cover.prefix.cidr if cover.prefix else None,
        tuple(d.cidr for d in cover.delegations),
        cover.binding.cidr if cover.binding else None,
    )


@pytest.mark.parametrize(
    "query, expected",
    [
        pytest.param("8.8.8.8", [], id="uncovered"),
        pytest.param("104.16.9.1", [("104.16.9.1", "104.16.9.1", ("104.16.0.0/13", (), None))], id="in-prefix"),
        pytest.param(
            "104.16.5.8/30",
            [
                ("104.16.5.8", "104.16.5.9", ("104.16.0.0/13", ("104.16.5.0/24",), None)),
                ("104.16.5.10", "104.16.5.10", ("104.16.0.0/13", ("104.16.5.0/24",), "104.16.5.10/32")),
                ("104.16.5.11", "104.16.5.11", ("104.16.0.0/13", ("104.16.5.0/24",), None)),
            ],
            id="around-binding",
        ),
        pytest.param(
            "104.17.7.255/32",
            [("104.17.7.255", "104.17.7.255", ("104.16.0.0/13", (), None))],
            id="just-before-nested",
        ),
        pytest.param(
            "104.17.8.0/23",
            [
                ("104.17.8.0", "104.17.8.255", ("104.17.8.0/24", (), None)),
                ("104.17.9.0", "104.17.9.255", ("104.16.0.0/13", (), None)),
            ],
            id="nested-then-outer",
        ),
        pytest.param(
            "44.10.0.0/16",
            [("44.10.20.0", "44.10.20.255", ("44.10.20.0/24", (), None))],
            id="clipped-to-covered-part",
        ),
        pytest.param(
            "2606:4700:10::/47",
            [
                ("2606:4700:10::", "2606:4700:10:ffff:ffff:ffff:ffff:ffff", ("2606:4700::/32", ("2606:4700:10::/48",), None)),
                ("2606:4700:11::", "2606:4700:11:ffff:ffff:ffff:ffff:ffff", ("2606:4700::/32", (), None)),
            ],
            id="v6-delegation-then-prefix",
        ),
    ],
)
def test_coverage(doc_index, query, expected):
    network = _net(query)
    got = [
        (str(netaddr.IPAddress(first, network.version)), str(netaddr.IPAddress(last, network.version)), _describe(cover))
        for first, last, cover in doc_index.coverage(network)
    ]
    assert got == expected


@pytest.mark.parametrize(
    "account, expected",
    [
        pytest.param("provider", True, id="owner"),
        pytest.param("crossbow", True, id="delegate"),
        pytest.param("team", False, id="other"),
        pytest.param(None, False, id="none"),
    ],
)
def test_permits(doc_index, account, expected):
    network = _net("104.16.5.20/32")
    ((_, _, label, _),) = list(doc_index.labels_in(4, network.first, network.last))
    assert doc_index.permits(label, doc_index.account_id(account)) is expected


def test_edges_of_the_address_space():
    entries = [
        index.Entry(index.RESERVED, _net("0.0.0.0/8"), None, "low"),
        index.Entry(index.RESERVED, _net("255.255.255.255/32"), None, "high"),
        index.Entry(index.RESERVED, _net("ffff::/16"), None, "v6 high"),
    ]
    idx = index.PrefixIndex(entries)
    assert [(first, last) for first, last, _ in idx.coverage(_net("0.0.0.0/0"))] == [(0, 0xFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF)]
    assert [(first, last) for first, last, _ in idx.coverage(_net("::/0"))] == [(0xFFFF << 112, (1 << 128) - 1)]
    assert list(idx.coverage(_net("1.0.0.0/8"))) == []


def test_entry_properties():
    entry = index.Entry(index.PREFIX, _net("104.16.0.0/13"), "provider", "CDN")
    assert entry.cidr == "104.16.0.0/13"
    assert entry.network == _net("104.16.0.0/13")
    assert "104.16.0.0/13" in repr(entry) and "provider" in repr(entry)


def test_cidr_text_spells_every_network_as_netaddr_does():
    """``cidr_text`` (inet_ntop) and netaddr agree, IPv4-mapped and -compatible forms included."""
    rng = random.Random(3)
    values = [(4, rng.getrandbits(32)) for _ in range(2000)]
    values += [(6, rng.getrandbits(128)) for _ in range(2000)]
    values += [(6, rng.getrandbits(32)) for _ in range(500)]  # ::a.b.c.d
    values += [(6, (0xFFFF << 32) | rng.getrandbits(32)) for _ in range(500)]  # ::ffff:a.b.c.d
    values += [(6, rng.getrandbits(16) << (16 * rng.randrange(8))) for _ in range(500)]  # one group set
    values += [(6, 0), (6, 1), (4, 0), (6, (1 << 128) - 1)]
    for version, value in values:
        width = 32 if version == 4 else 128
        prefixlen = rng.randrange(width + 1)
        first = value >> (width - prefixlen) << (width - prefixlen)
        assert index.cidr_text(version, first, prefixlen) == str(netaddr.IPNetwork((first, prefixlen), version=version))


EDGE_ENTRIES = [
    ("prefix", "0.0.0.0/0", "everyone"),  # the whole space: opens at 0, never closes
    ("prefix", "0.0.0.0/32", "zero"),
    ("prefix", "255.255.255.255/32", "top"),  # closes at the top address: no boundary after it
    ("prefix", "10.0.0.0/24", "left"),
    ("prefix", "10.0.1.0/24", "right"),  # adjacent: left closes where right opens
    ("delegation", "10.0.1.0/24", "same-cidr"),  # the same CIDR as its prefix
    ("binding", "10.0.1.0/24", None),
    ("binding", "10.0.1.0/24", None),  # a duplicate binding
    ("delegation", "10.0.1.128/25", "inner"),
    ("prefix", "::/0", "everyone6"),
    ("prefix", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", "top6"),
    ("binding", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", None),
    ("prefix", "2001:db8::/64", "left6"),
    ("prefix", "2001:db8:0:1::/64", "right6"),
]


def _naive_cover(entries, version, address):
    covering = [e for e in entries if e.version == version and e.first <= address <= e.last]
    prefixes = [e for e in covering if e.kind == index.PREFIX]
    return (
        prefixes[-1].cidr if prefixes else None,  # entries are listed outer first
        tuple(e.account for e in covering if e.kind == index.DELEGATION),
        any(e.kind == index.BINDING for e in covering),
    )


def test_boundaries_at_the_edges_of_the_space_adjacent_and_duplicate_entries():
    entries = [index.Entry(kind, _net(cidr), account) for kind, cidr, account in EDGE_ENTRIES]
    built = index.PrefixIndex(entries)
    probes = set()
    for entry in entries:
        for address in (entry.first - 1, entry.first, entry.last, entry.last + 1):
            if 0 <= address <= (1 << (32 if entry.version == 4 else 128)) - 1:
                probes.add((entry.version, address))
    for version, address in sorted(probes):
        ((_, _, cover),) = built.coverage(netaddr.IPNetwork((address, 32 if version == 4 else 128), version=version))
        got = (cover.prefix.cidr if cover.prefix else None, tuple(d.account for d in cover.delegations),
               cover.binding is not None)
        assert got == _naive_cover(entries, version, address), (version, address)


def test_duplicate_entries_are_one_node_and_keep_their_order(monkeypatch):
    """Hundreds of copies of one CIDR: one nesting level, every delegation kept in data order,
    the last binding the innermost, and a build whose passes do not grow with the copies."""
    from saltext.spectrum_acl.core.build import segments

    calls = []
    original = segments.LabelTable.add_labels
    monkeypatch.setattr(segments.LabelTable, "add_labels", lambda self, *args: calls.append(1) or original(self, *args))
    prefix = index.Entry(index.PREFIX, _net("44.0.0.0/24"), "owner")
    copies = [index.Entry(index.DELEGATION, _net("44.0.0.7/32"), f"team{n}", parent=prefix) for n in range(300)]
    copies += [index.Entry(index.BINDING, _net("44.0.0.7/32"), None, f"edge {n}", parent=prefix) for n in range(300)]
    built = index.PrefixIndex([prefix, *copies])
    ((_, _, cover),) = built.coverage(_net("44.0.0.7/32"))
    assert [d.account for d in cover.delegations] == [f"team{n}" for n in range(300)]
    assert cover.binding.detail == "edge 299" and cover.prefix.account == "owner"
    assert len(calls) <= 4
