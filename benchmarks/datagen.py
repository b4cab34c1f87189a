"""Synthetic, realistic prefix data and origins for the benchmarks.

Shape: provider IPv4 /12s and IPv6 /32s with many /32 (and /128) Spectrum
bindings, thousands of BYOIP /24s and IPv6 /48s owned by customer accounts,
and delegations of provider /24s to internal teams. Deterministic per seed.
"""

import json
import random


def document(entries, seed=7):
    """A prefix data document with about ``entries`` prefixes + delegations + bindings."""
    rng = random.Random(seed)
    prefixes = []
    count = 0
    # provider space: 64 x /12 in 100.128.0.0 - 127.255 style public ranges (not special-purpose)
    provider = []
    for block in range(64):
        first_octet = 130 + block // 16
        second = (block % 16) * 16
        provider.append({"cidr": f"{first_octet}.{second}.0.0/12", "account_id": "provider",
                         "description": f"provider edge {block}", "delegations": [], "bindings": []})
    for block in range(16):
        provider.append({"cidr": f"2a06:{0x9800 + block * 0x10:x}::/28", "account_id": "provider",
                         "description": f"provider v6 {block}", "delegations": [], "bindings": []})
    prefixes.extend(provider)
    count += len(provider)
    byoip_budget = max(entries // 20, 1)
    for customer in range(byoip_budget):
        if customer % 4 == 3:
            cidr = f"2a10:{customer // 65536:x}:{customer % 65536:x}::/48"
        else:
            cidr = f"{60 + customer // 65536}.{(customer // 256) % 256}.{customer % 256}.0/24"
        prefixes.append({"cidr": cidr, "account_id": f"customer{customer}", "description": "BYOIP"})
        count += 1
    delegated = set()
    while count < entries:
        parent = provider[rng.randrange(len(provider))]
        if parent["cidr"].startswith("2a06"):
            base = parent["cidr"].split("::")[0]
            suffix = f"{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}"
            parent["bindings"].append({"cidr": f"{base}:{suffix}::1/128", "service_name": "Spectrum"})
        else:
            octets = parent["cidr"].split("/")[0].split(".")
            third = int(octets[1]) + rng.randrange(16)
            fourth = rng.randrange(256)
            if rng.random() < 0.1 and (octets[0], third, fourth) not in delegated:
                delegated.add((octets[0], third, fourth))
                parent["delegations"].append({"cidr": f"{octets[0]}.{third}.{fourth}.0/24",
                                              "delegated_account_id": f"team{rng.randrange(40)}"})
            else:
                parent["bindings"].append({"cidr": f"{octets[0]}.{third}.{fourth}.{rng.randrange(256)}/32",
                                           "service_name": "Spectrum"})
        count += 1
    return {"prefixes": prefixes}


def write_json(path, entries, seed=7):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document(entries, seed), handle)


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
