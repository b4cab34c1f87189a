"""Synthetic, realistic prefix data, origins and app pillars for the benchmarks.

Shape, three levels deep, about a tenth of it IPv6:

1. provider prefixes: 64 IPv4 /12s (130.0.0.0 - 133.240.0.0) and 16 IPv6 /28s
   (2a06:9800::/28 ...) per 10^6 entries, owned by ``provider``;
2. customer prefixes nested inside them (top-level records of their own, each the
   most specific prefix of its space): IPv4 /22s and IPv6 /40s owned by
   ``customer<n>``, one for every 50 entries, and BYOIP /24s and /48s outside
   provider space (60.0.0.0/8, 2a10::/16), one for every 500 entries; at 10^6 entries
   that is about 22,000 top-level prefixes;
3. delegations to 40 internal teams (``team0`` ... ``team39``), one for every 10
   entries: half of them /24s (/48s) of a customer prefix, half of them provider
   /24s (/48s) outside every customer prefix;

and Spectrum bindings (edge IPs: /32 and /128) for the rest, in provider, customer,
BYOIP and delegated space, each listed under its innermost prefix. No binding is on
host .1 - .9 of an IPv4 /24, nor below ``::100`` in the last group of IPv6, so those
addresses of a delegation are free for the apps of :func:`apps`.

Everything is deterministic per ``seed`` and sized by ``entries`` (prefixes +
delegations + bindings).
"""

import json
import random
import socket

TEAMS = 40
V4_BLOCKS_PER_MILLION = 64  # provider /12s per 10^6 entries (at least 64)
V6_BLOCKS_PER_MILLION = 16  # provider /28s per 10^6 entries (at least 16)
V4_SLOTS = 1 << 10  # customer /22s in a provider /12
V6_SLOTS = 1 << 12  # customer /40s in a provider /28
FREE_V4_HOSTS = range(1, 10)  # never a binding: host .1 - .9 of every /24
FREE_V6_HOSTS = range(1, 0x100)  # never a binding: the last group below 0x100


def _v4(value):
    return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))


def _v6(value):
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def _v4_provider_base(block):
    return ((130 + block // 16) << 24) | (((block % 16) * 16) << 16)


def _v6_provider_base(block):
    return (0x2A06 << 112) | ((0x9800 + block * 0x10) << 96)


_V6_PROVIDER_TOP = _v6_provider_base(0) >> 100


class _Prefix:
    """A prefix record being built: its ``first`` address as an int, delegations and bindings as ints."""

    __slots__ = ("version", "first", "prefixlen", "account", "description", "delegations", "bindings")

    def __init__(self, version, first, prefixlen, account, description):
        self.version, self.first, self.prefixlen = version, first, prefixlen
        self.account, self.description = account, description
        self.delegations, self.bindings = [], []

    def record(self):
        text = _v4 if self.version == 4 else _v6
        host = "/32" if self.version == 4 else "/128"
        sub = "/24" if self.version == 4 else "/48"
        out = {"cidr": f"{text(self.first)}/{self.prefixlen}", "account_id": self.account,
               "description": self.description}
        if self.delegations:
            out["delegations"] = [{"cidr": f"{text(first)}{sub}", "delegated_account_id": account}
                                  for first, account in self.delegations]
        if self.bindings:
            out["bindings"] = [{"cidr": f"{text(address)}{host}", "service_name": "Spectrum"}
                               for address in self.bindings]
        return out


def plan(entries):
    """How many of each kind: a dict of counts (the rest of ``entries`` are bindings)."""
    millions = max(1, -(-entries // 1_000_000))
    counts = {
        "v4_providers": V4_BLOCKS_PER_MILLION * millions,
        "v6_providers": V6_BLOCKS_PER_MILLION * millions,
        "byoip": max(entries // 500, 1),
        "customers": max(entries // 50, 1),
        "delegations": max(entries // 10, 1),
    }
    counts["bindings"] = max(entries - sum(counts.values()), 0)
    return counts


class _Generator:
    def __init__(self, entries, seed):
        self.rng = random.Random(seed)
        self.counts = plan(entries)
        self.v4_providers = [_Prefix(4, _v4_provider_base(b), 12, "provider", f"provider edge {b}")
                             for b in range(self.counts["v4_providers"])]
        self.v6_providers = [_Prefix(6, _v6_provider_base(b), 28, "provider", f"provider edge v6 {b}")
                             for b in range(self.counts["v6_providers"])]
        self.v4_customers, self.v6_customers = {}, {}  # (provider block, slot) -> _Prefix
        self.byoip = []
        self.delegated = {4: [], 6: []}  # first addresses
        self.by_account = {}

    def customers(self):
        """Level 2: customer prefixes inside provider space, one slot each (/22 in IPv4, /40 in IPv6)."""
        rng = self.rng
        for number in range(self.counts["customers"]):
            if number % 10 == 9:
                table, blocks, slots = self.v6_customers, len(self.v6_providers), V6_SLOTS
            else:
                table, blocks, slots = self.v4_customers, len(self.v4_providers), V4_SLOTS
            while True:
                key = (rng.randrange(blocks), rng.randrange(slots))
                if key not in table:
                    break
            block, slot = key
            if table is self.v4_customers:
                table[key] = _Prefix(4, _v4_provider_base(block) | (slot << 10), 22, f"customer{number}", "customer")
            else:
                table[key] = _Prefix(6, _v6_provider_base(block) | (slot << 88), 40, f"customer{number}", "customer")

    def byoip_prefixes(self):
        """Level 1 outside provider space: BYOIP /24s and /48s."""
        for number in range(self.counts["byoip"]):
            if number % 4 == 3:
                first = (0x2A10 << 112) | ((number // 65536) << 96) | ((number % 65536) << 80)
                self.byoip.append(_Prefix(6, first, 48, f"byoip{number}", "BYOIP"))
            else:
                first = ((60 + number // 65536) << 24) | (((number // 256) % 256) << 16) | ((number % 256) << 8)
                self.byoip.append(_Prefix(4, first, 24, f"byoip{number}", "BYOIP"))

    def delegations(self):
        """Level 3 (inside a customer prefix) and level 2 (provider space outside every customer)."""
        rng = self.rng
        v4_customers, v6_customers = list(self.v4_customers.values()), list(self.v6_customers.values())
        taken = set()
        for number in range(self.counts["delegations"]):
            team = f"team{rng.randrange(TEAMS)}"
            v6 = number % 10 == 9
            inside_customer = number % 2 == 0
            for _attempt in range(64):
                if v6 and inside_customer and v6_customers:
                    parent = v6_customers[rng.randrange(len(v6_customers))]
                    first = parent.first | (rng.randrange(256) << 80)
                elif v6:
                    block = rng.randrange(len(self.v6_providers))
                    place = rng.randrange(1 << 20)  # a /48 in the /28
                    if (block, place >> 8) in self.v6_customers:
                        continue
                    parent, first = self.v6_providers[block], _v6_provider_base(block) | (place << 80)
                elif inside_customer and v4_customers:
                    parent = v4_customers[rng.randrange(len(v4_customers))]
                    first = parent.first | (rng.randrange(4) << 8)
                else:
                    block = rng.randrange(len(self.v4_providers))
                    place = rng.randrange(1 << 12)  # a /24 in the /12
                    if (block, place >> 2) in self.v4_customers:
                        continue
                    parent, first = self.v4_providers[block], _v4_provider_base(block) | (place << 8)
                if (parent.version, first) not in taken:
                    taken.add((parent.version, first))
                    parent.delegations.append((first, team))
                    self.delegated[parent.version].append(first)
                    self.by_account.setdefault(team, []).append((parent.version, first))
                    break

    def bindings(self):
        """Edge IPs in provider, customer, BYOIP and delegated space, each under its innermost prefix."""
        rng = self.rng
        v4_customers, v6_customers = list(self.v4_customers.values()), list(self.v6_customers.values())
        v4_byoip = [prefix for prefix in self.byoip if prefix.version == 4]
        delegated4, delegated6 = self.delegated[4], self.delegated[6]
        v4_blocks, v6_blocks = len(self.v4_providers), len(self.v6_providers)
        bound = set()
        for number in range(self.counts["bindings"]):
            v6 = number % 10 == 9
            where = rng.random()
            for _attempt in range(64):
                if v6:
                    if where < 0.15 and delegated6:
                        first = delegated6[rng.randrange(len(delegated6))]
                        address = first | (rng.randrange(1 << 16) << 64) | rng.randrange(1 << 64)
                    elif where < 0.35 and v6_customers:
                        address = v6_customers[rng.randrange(len(v6_customers))].first | rng.randrange(1 << 88)
                    else:
                        address = _v6_provider_base(rng.randrange(v6_blocks)) | rng.randrange(1 << 100)
                    if address & 0xFFFF < 0x100:
                        continue
                    block = (address >> 100) - _V6_PROVIDER_TOP
                    parent = self.v6_customers.get((block, (address >> 88) & (V6_SLOTS - 1))) or self.v6_providers[block]
                else:
                    if where < 0.15 and delegated4:
                        address = delegated4[rng.randrange(len(delegated4))] | rng.randrange(10, 255)
                    elif where < 0.35 and v4_customers:
                        address = v4_customers[rng.randrange(len(v4_customers))].first | rng.randrange(1 << 10)
                    elif where < 0.40 and v4_byoip:
                        address = v4_byoip[rng.randrange(len(v4_byoip))].first | rng.randrange(256)
                    else:
                        address = _v4_provider_base(rng.randrange(v4_blocks)) | rng.randrange(1 << 20)
                    if address & 0xFF < 10 or address & 0xFF == 255:
                        continue
                    parent = self._v4_parent(address)
                if (v6, address) not in bound:
                    bound.add((v6, address))
                    parent.bindings.append(address)
                    break

    def _v4_parent(self, address):
        top = address >> 24
        if top >= 130:
            block = (top - 130) * 16 + ((address >> 16) & 0xFF) // 16
            return self.v4_customers.get((block, (address >> 10) & (V4_SLOTS - 1))) or self.v4_providers[block]
        number = ((top - 60) << 16) | (((address >> 16) & 0xFF) << 8) | ((address >> 8) & 0xFF)
        return self.byoip[number]

    def prefixes(self):
        return (self.v4_providers + self.v6_providers + list(self.v4_customers.values())
                + list(self.v6_customers.values()) + self.byoip)


def _build(entries, seed):
    """The prefix records (``_Prefix``) of a document, and the delegations by account."""
    generator = _Generator(entries, seed)
    generator.customers()
    generator.byoip_prefixes()
    generator.delegations()
    generator.bindings()
    return generator.prefixes(), generator.by_account


def document(entries, seed=7):
    """A prefix data document with ``entries`` prefixes + delegations + bindings (about: duplicates are skipped)."""
    prefixes, _ = _build(entries, seed)
    return {"prefixes": [prefix.record() for prefix in prefixes]}


def generate(entries, seed=7):
    """``(document, delegations)``: the document and ``{team: [(version, first int)]}`` of its delegations."""
    prefixes, by_account = _build(entries, seed)
    return {"prefixes": [prefix.record() for prefix in prefixes]}, by_account


def write_json(path, entries, seed=7):
    """Write :func:`document` as JSON; return the delegations by account (see :func:`generate`)."""
    doc, by_account = generate(entries, seed)
    try:
        import msgspec

        data = msgspec.json.encode(doc)
    except ImportError:  # the project depends on msgspec; this is only for a bare interpreter
        data = json.dumps(doc).encode()
    with open(path, "wb") as handle:
        handle.write(data)
    return by_account


def count_entries(doc):
    return sum(1 + len(p.get("delegations", ())) + len(p.get("bindings", ())) for p in doc["prefixes"])


def origins(count, seed=11):
    """Mixed origins: IPv4 addresses and /24-/28 CIDRs, IPv6 addresses and /64s, all spellings valid."""
    rng = random.Random(seed)
    out = []
    for position in range(count):
        pick = position % 8
        if pick in (0, 1, 2):
            out.append(f"{rng.choice((60, 130, 131, 132, 133, 8, 9))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}")
        elif pick == 3:
            out.append(f"{rng.choice((60, 130, 131, 8))}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(16) * 16}/28")
        elif pick == 4:
            out.append(f"{rng.choice((130, 131, 20))}.{rng.randrange(256)}.{rng.randrange(256)}.0/24")
        elif pick in (5, 6):
            out.append(f"2a06:{0x9800 + rng.randrange(16) * 0x10:x}:{rng.randrange(1 << 16):x}::{rng.randrange(1 << 16):x}")
        else:
            out.append(f"2a10:0:{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}::/64")
    return out


def data_addresses(doc, count, seed=13):
    """``count`` single addresses drawn from the data: binding addresses, and addresses inside
    delegations and prefixes of every level (for checking longest-prefix answers)."""
    rng = random.Random(seed)
    records = doc["prefixes"]
    out = []
    while len(out) < count:
        record = records[rng.randrange(len(records))]
        pick = rng.randrange(3)
        pool = record.get("bindings") if pick == 0 else record.get("delegations") if pick == 1 else None
        cidr = pool[rng.randrange(len(pool))]["cidr"] if pool else record["cidr"]
        out.append(_address_in(cidr, rng))
    return out


def _address_in(cidr, rng):
    text, length = cidr.split("/")
    if ":" in text:
        first = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
        return _v6(first | rng.randrange(1 << (128 - int(length))))
    first = int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    return _v4(first | rng.randrange(1 << (32 - int(length))))


def apps(count, delegations, seed=17):
    """``count`` Spectrum apps of the teams, with two origins each: one in a /24 (or /48)
    delegated to the app's account, one unmanaged (in 8.0.0.0/8: public space outside
    the data). About a tenth of the delegated origins are IPv6.

    ``delegations`` is ``{team: [(version, first int)]}`` from :func:`generate`.
    """
    rng = random.Random(seed)
    teams = sorted(delegations, key=lambda name: int(name[4:]))
    v4 = {team: [first for version, first in delegations[team] if version == 4] for team in teams}
    v6 = {team: [first for version, first in delegations[team] if version == 6] for team in teams}
    out = {}
    for number in range(count):
        team = teams[number % len(teams)]
        if number % 10 == 9 and v6[team]:
            first = v6[team][rng.randrange(len(v6[team]))]
            delegated = f"tcp://[{_v6(first | rng.choice(FREE_V6_HOSTS))}]:443"
        else:
            first = v4[team][rng.randrange(len(v4[team]))]
            delegated = f"tcp://{_v4(first | rng.choice(FREE_V4_HOSTS))}:443"
        unmanaged = f"tcp://8.{number // 62500 % 256}.{number // 250 % 250}.{1 + number % 250}:8443"
        out[f"{team}-app{number:05d}"] = {
            "account_id": team,
            "protocol": "tcp/443",
            "dns": {"type": "CNAME", "name": f"app{number}.{team}.example.com"},
            "edge_ips": {"type": "dynamic", "connectivity": "all"},
            "origin_direct": [delegated, unmanaged],
            "tls": "full",
            "traffic_type": "direct",
        }
    return out
