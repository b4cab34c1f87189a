"""Randomized differential test: PrefixIndex + OriginGuard against a deliberately naive reference.

The reference knows nothing of segments or ``bisect``. It uses Python's ``ipaddress`` and, for
each query, cuts the queried range at every entry boundary that falls inside it, then judges
one representative address of each piece by looping over every entry. Carried IPv4 addresses
are found per address with ``ipaddress`` (``ipv4_mapped``, ``sixtofour``, ``teredo``) and
plain bit arithmetic for IPv4-compatible and NAT64, so queries that touch an embedding block
are kept small enough to enumerate.
"""

import ipaddress
import random
from functools import lru_cache

import netaddr
import pytest

from saltext.spectrum_acl.core import guard as guard_module
from saltext.spectrum_acl.core import index, reserved
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.data import prefix_data

ACCOUNTS = ["alpha", "bravo", "charlie", "delta", "echo"]

V4_REGIONS = [
    ipaddress.ip_network("44.0.0.0/20"),  # public (AMPRNet), nothing reserved
    ipaddress.ip_network("100.63.255.0/24"),  # just below 100.64.0.0/10
    ipaddress.ip_network("100.64.0.0/24"),  # just inside it
]
V6_REGIONS = [
    ipaddress.ip_network("2a00::/116"),  # public
    ipaddress.ip_network("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ff00/120"),  # just outside 2000::/3
    ipaddress.ip_network("2000::/120"),  # just inside it
]
EMBEDDING_BLOCKS = [
    ipaddress.ip_network(cidr)
    for cidr in ("::ffff:0:0/96", "::/96", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32")
]
#: Whole embedding blocks a random document may hand to an account, so carried IPv4 can decide.
EMBEDDING_PREFIXES = ["::ffff:0:0/96", "64:ff9b::/96", "2002::/16", "2001::/32", "::/96"]

RESERVED = [ipaddress.ip_network(cidr) for cidr, _, _ in reserved.RESERVED_BLOCKS]

SEEDS = range(24)
QUERIES_PER_SEED = 120


class Ref:
    """One entry as the reference sees it: plain ints."""

    __slots__ = ("kind", "version", "first", "last", "prefixlen", "account")

    def __init__(self, kind, network, account=None):
        self.kind = kind
        self.version = network.version
        self.first = int(network.network_address)
        self.last = int(network.broadcast_address)
        self.prefixlen = network.prefixlen
        self.account = account


def _random_subnet(rng, network, min_len, max_len):
    """A random aligned subnet of ``network`` with a prefix length in [min_len, max_len]."""
    length = rng.randint(max(min_len, network.prefixlen), max_len)
    size = 1 << (network.max_prefixlen - length)
    count = network.num_addresses // size
    first = int(network.network_address) + rng.randrange(count) * size
    return ipaddress.ip_network((first, length))


def make_world(rng):
    """A random prefix data document and its reference entries, plus random app bindings."""
    records = []
    owners = {}
    refs = []
    for _ in range(rng.randint(6, 22)):
        region = rng.choice(V4_REGIONS + V6_REGIONS)
        top = region.max_prefixlen
        prefix = _random_subnet(rng, region, region.prefixlen, top - 1)
        owner = owners.setdefault(prefix, rng.choice(ACCOUNTS))
        record = {"cidr": str(prefix), "account_id": owner, "delegations": [], "bindings": []}
        refs.append(Ref(index.PREFIX, prefix, owner))
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            delegated = _random_subnet(rng, prefix, prefix.prefixlen, top)
            account = rng.choice(ACCOUNTS)
            record["delegations"].append({"cidr": str(delegated), "delegated_account_id": account})
            refs.append(Ref(index.DELEGATION, delegated, account))
        for _ in range(rng.choice((0, 0, 0, 1, 2))):
            bound = _random_subnet(rng, prefix, max(prefix.prefixlen, top - 2), top)
            service = rng.choice(("Spectrum", "Spectrum", "Magic Transit"))
            record["bindings"].append({"cidr": str(bound), "service_name": service})
            if service == "Spectrum":
                refs.append(Ref(index.BINDING, bound))
        records.append(record)
    for cidr in EMBEDDING_PREFIXES:
        if rng.random() < 0.4:
            network = ipaddress.ip_network(cidr)
            owner = owners.setdefault(network, rng.choice(ACCOUNTS))
            records.append({"cidr": cidr, "account_id": owner})
            refs.append(Ref(index.PREFIX, network, owner))
    rng.shuffle(records)
    app_bindings = []
    for _ in range(rng.choice((0, 0, 1, 2, 3))):
        region = rng.choice(V4_REGIONS + V6_REGIONS)
        app_bindings.append(_random_subnet(rng, region, region.max_prefixlen, region.max_prefixlen))
    refs.extend(Ref(index.BINDING, network) for network in app_bindings)
    refs.extend(Ref(index.RESERVED, network) for network in RESERVED)
    return {"prefixes": records}, refs, app_bindings


class Reference:
    """The naive judge: loops over every entry for every piece of every query."""

    def __init__(self, refs):
        self.refs = refs
        self.cover = lru_cache(maxsize=None)(self._cover)

    def _cover(self, version, address):
        covering = [r for r in self.refs if r.version == version and r.first <= address <= r.last]
        prefixes = [r for r in covering if r.kind == index.PREFIX]
        best = max(prefixes, key=lambda r: r.prefixlen) if prefixes else None
        delegates = {r.account for r in covering if r.kind == index.DELEGATION}
        binding = any(r.kind == index.BINDING for r in covering)
        reserved = any(r.kind == index.RESERVED for r in covering)
        return best, delegates, binding, reserved

    def judge_range(self, version, first, last, account, state):
        cuts = {first}
        for ref in self.refs:
            if ref.version != version:
                continue
            for cut in (ref.first, ref.last + 1):
                if first < cut <= last:
                    cuts.add(cut)
        for address in cuts:
            best, delegates, binding, reserved = self.cover(version, address)
            state["has_binding"] |= binding
            if best is None and not reserved:
                continue
            state["is_managed"] |= best is not None
            state["is_reserved"] |= reserved
            permitted = account is not None and ((best is not None and best.account == account) or account in delegates)
            state["unpermitted"] |= not permitted

    def verdict(self, network, account):
        state = dict.fromkeys(("has_binding", "is_managed", "is_reserved", "unpermitted"), False)
        first, last = int(network.network_address), int(network.broadcast_address)
        self.judge_range(network.version, first, last, account, state)
        if network.version == 6 and any(network.overlaps(block) for block in EMBEDDING_BLOCKS):
            assert network.num_addresses <= 4096, "keep embedded queries enumerable"
            carried = set()
            for value in range(first, last + 1):
                carried.update(carried_ipv4(ipaddress.IPv6Address(value)))
            for v4 in carried:
                self.judge_range(4, v4, v4, account, state)
        sensitive = state["is_managed"] or state["is_reserved"]
        delegated = sensitive and not state["unpermitted"]
        return {
            "allowed": not state["has_binding"] and (not sensitive or delegated),
            "is_managed": state["is_managed"],
            "is_delegated": delegated,
            "is_reserved": state["is_reserved"],
            "has_binding": state["has_binding"],
        }


def carried_ipv4(address):
    """Every IPv4 address (as int) carried by one IPv6 address, by the SPEC's forms."""
    value = int(address)
    found = []
    if address.ipv4_mapped is not None:
        found.append(int(address.ipv4_mapped))
    if value >> 32 == 0:  # IPv4-compatible ::/96
        found.append(value)
    if value >> 32 == 0x64FF9B << 64 or value >> 80 == 0x64FF9B0001:  # NAT64 /96 and local-use /48
        found.append(value & 0xFFFFFFFF)
    if address.sixtofour is not None:
        found.append(int(address.sixtofour))
    if address.teredo is not None:
        server, client = address.teredo
        found.extend((int(server), int(client)))
    return found


def random_query(rng, world_refs):
    """A random origin: mostly small CIDRs in the test regions, some big ones, some embedded forms."""
    kind = rng.random()
    if kind < 0.35:
        region = rng.choice(V4_REGIONS)
        return _random_subnet(rng, region, region.prefixlen - 2 if rng.random() < 0.2 else region.prefixlen, 32)
    if kind < 0.6:
        region = rng.choice(V6_REGIONS)
        return _random_subnet(rng, region, region.prefixlen - 4 if rng.random() < 0.2 else region.prefixlen, 128)
    if kind < 0.68:  # big CIDRs: overlap many entries and reserved blocks at once
        if rng.random() < 0.5:
            address = int(rng.choice(V4_REGIONS).network_address)
            length = rng.randint(0, 16)
            return ipaddress.ip_network((address >> (32 - length) << (32 - length), length))
        address = int(ipaddress.ip_address("2a00::"))
        length = rng.randint(7, 100)  # 2a00::/7 and longer stay clear of 2001::/32 and 2002::/16
        return ipaddress.ip_network((address >> (128 - length) << (128 - length), length))
    # embedded forms carrying an address from an IPv4 test region
    v4_net = _random_subnet(rng, rng.choice(V4_REGIONS), 24, 32)
    v4 = int(v4_net.network_address)
    low_len = 128 - (32 - v4_net.prefixlen)
    form = rng.choice(("mapped", "compatible", "nat64", "nat64-local", "6to4", "teredo-client", "teredo-server"))
    if form == "mapped":
        return ipaddress.ip_network(((0xFFFF << 32) | v4, low_len))
    if form == "compatible":
        return ipaddress.ip_network((v4, low_len))
    if form == "nat64":
        return ipaddress.ip_network(((0x64FF9B << 96) | v4, low_len))
    if form == "nat64-local":
        return ipaddress.ip_network(((0x64FF9B0001 << 80) | (rng.getrandbits(16) << 32) | v4, low_len))
    if form == "6to4":
        value = (0x2002 << 112) | (rng.choice((v4, int(rng.choice(V4_REGIONS).network_address))) << 80) | rng.getrandbits(80)
        length = rng.choice((128, 124, 120))
        return ipaddress.ip_network((value >> (128 - length) << (128 - length), length))
    other = int(_random_subnet(rng, rng.choice(V4_REGIONS), 32, 32).network_address)
    if form == "teredo-client":  # server: another region address; client: the v4 range, inverted
        return ipaddress.ip_network(((0x20010000 << 96) | (other << 64) | (rng.getrandbits(32) << 32) | (~v4 & 0xFFFFFFFF & ~((1 << (128 - low_len)) - 1)), low_len))
    return ipaddress.ip_network(((0x20010000 << 96) | (v4 << 64) | (rng.getrandbits(32) << 32) | (~other & 0xFFFFFFFF), 128))


def _pick_account(rng, refs, network):
    """Often an account that matters here (an owner or delegate nearby), sometimes none."""
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.2:
        return "stranger"
    if roll < 0.7:
        first = int(network.network_address)
        near = [
            r.account
            for r in refs
            if r.account is not None and r.version == network.version and r.first <= first <= r.last
        ]
        if near:
            return rng.choice(near)
    return rng.choice(ACCOUNTS)


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed-{seed}" for seed in SEEDS])
def test_index_and_guard_agree_with_naive_reference(seed, monkeypatch):
    monkeypatch.setattr(guard_module, "BATCH_MINIMUM", 0)  # the numpy path however few queries an account has
    rng = random.Random(seed)
    document, refs, app_bindings = make_world(rng)
    entries = prefix_data.entries_from_document(document)
    app_index = index.PrefixIndex(
        [index.Entry(index.BINDING, netaddr.IPNetwork(str(network)), None, "app edge IP") for network in app_bindings]
    )
    guard = OriginGuard(index.PrefixIndex(entries + reserved.reserved_entries()), app_bindings=app_index)
    reference = Reference(refs)
    outcomes = set()
    asked = {}
    for _ in range(QUERIES_PER_SEED):
        network = random_query(rng, refs)
        account = _pick_account(rng, refs, network)
        expected = reference.verdict(network, account)
        single = guard.check_origin(str(network), account)
        assert single.flags() == expected, f"seed {seed}: {network} for {account!r}\ndocument: {document}\napp bindings: {app_bindings}"
        asked.setdefault(account, []).append((str(network), expected, single.decided_by))
        outcomes.add(tuple(sorted(expected.items())))
    # the random worlds must actually exercise several different outcomes
    assert len(outcomes) >= 4
    for account, queries in asked.items():  # the batch path, per account, against the same answers
        batch = guard.check_batch([origin for origin, _, _ in queries], account)
        for item, (origin, expected, decided_by) in enumerate(queries):
            assert (batch.flags(item), batch.decided_by(item)) == (expected, decided_by), f"seed {seed}: {origin} for {account!r}"


def test_differential_covers_every_outcome():
    """Across all seeds the generator reaches allowed-by-ownership, binding, reserved and carried cases."""
    seen = {"allowed_managed": 0, "allowed_unmanaged": 0, "binding": 0, "reserved_only": 0, "denied_managed": 0}
    for seed in SEEDS:
        rng = random.Random(seed)
        _, refs, _ = make_world(rng)
        reference = Reference(refs)
        for _ in range(QUERIES_PER_SEED):
            network = random_query(rng, refs)
            flags = reference.verdict(network, _pick_account(rng, refs, network))
            if flags["allowed"]:
                seen["allowed_managed" if flags["is_managed"] else "allowed_unmanaged"] += 1
            elif flags["has_binding"]:
                seen["binding"] += 1
            elif flags["is_managed"]:
                seen["denied_managed"] += 1
            elif flags["is_reserved"]:
                seen["reserved_only"] += 1
    assert all(count >= 20 for count in seen.values()), seen


@pytest.mark.parametrize(
    "address, expected",
    [
        pytest.param("::ffff:1.2.3.4", [0x01020304], id="mapped"),
        pytest.param("::1.2.3.4", [0x01020304], id="compatible"),
        pytest.param("64:ff9b::1.2.3.4", [0x01020304], id="nat64"),
        pytest.param("64:ff9b:1:5::1.2.3.4", [0x01020304], id="nat64-local"),
        pytest.param("2002:102:304::1", [0x01020304], id="6to4"),
        pytest.param("2001:0:4136:e378:8000:63bf:3fff:fdd2", [0x4136E378, 0xC000022D], id="teredo"),
        pytest.param("2a00::1", [], id="none"),
    ],
)
def test_reference_carried_ipv4(address, expected):
    """The reference's own embedded-IPv4 helper, checked against known values."""
    assert sorted(carried_ipv4(ipaddress.ip_address(address))) == sorted(expected)
