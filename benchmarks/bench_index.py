"""Verdict throughput of the prefix index, with a naive baseline measured in the same run.

    python benchmarks/bench_index.py [--sizes 10000,100000] [--queries 20000]

Synthetic prefix data: provider /16s each with nested /24 prefixes, delegations
and /32 bindings, plus IPv6 /48s. Queries mix IPv4/IPv6 addresses and CIDRs.
The baseline is what a Jinja or Python author would write: ``ipaddress``
``overlaps`` over every entry, measured at the smallest size on a sample of
queries. Absolute times drift on shared machines, so read the ratios.
"""

import argparse
import ipaddress
import platform
import random
import statistics
import time

import netaddr

from saltext.spectrum_acl import index, policy, prefix_data, special_purpose


def synthetic_document(size, seed=7):
    """Prefix data with about ``size`` entries (prefixes + delegations + bindings)."""
    rng = random.Random(seed)
    prefixes = []
    count = 0
    block = 0
    while count < size:
        first_octet, second_octet = 1 + (block // 256) % 99, block % 256
        block += 1
        prefix = {"cidr": f"{first_octet + 100}.{second_octet}.0.0/16", "account_id": f"acct{block % 50}",
                  "delegations": [], "bindings": []}
        count += 1
        for third in rng.sample(range(256), 40):
            if count >= size:
                break
            kind = rng.random()
            if kind < 0.3:
                prefix["delegations"].append({"cidr": f"{first_octet + 100}.{second_octet}.{third}.0/24",
                                              "delegated_account_id": f"acct{rng.randrange(50)}"})
            else:
                prefix["bindings"].append({"cidr": f"{first_octet + 100}.{second_octet}.{third}.{rng.randrange(256)}/32",
                                           "service_name": "Spectrum"})
            count += 1
        prefixes.append(prefix)
        if count < size:
            prefixes.append({"cidr": f"2a0{block % 10}:{block % 65536:x}::/48", "account_id": f"acct{block % 50}"})
            count += 1
    return {"prefixes": prefixes}


def queries(count, seed=11):
    rng = random.Random(seed)
    out = []
    for position in range(count):
        if position % 4 == 3:
            out.append(f"2a0{rng.randrange(10)}:{rng.randrange(65536):x}::{rng.randrange(65536):x}")
        elif position % 4 == 2:
            out.append(f"{rng.randrange(101, 200)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24")
        else:
            out.append(f"{rng.randrange(101, 200)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}")
    return out


def naive_verdicts(document, origins, account):
    """The loop a template author would write: check every entry for every origin."""
    rows = []
    for record in document["prefixes"]:
        rows.append(("prefix", ipaddress.ip_network(record["cidr"]), record["account_id"]))
        rows.extend(("delegation", ipaddress.ip_network(d["cidr"]), d["delegated_account_id"]) for d in record.get("delegations", []))
        rows.extend(("binding", ipaddress.ip_network(b["cidr"]), None) for b in record.get("bindings", []))
    results = []
    for origin in origins:
        network = ipaddress.ip_network(origin)
        flags = {"managed": False, "binding": False, "permitted": False}
        for kind, candidate, owner in rows:
            if candidate.version == network.version and candidate.overlaps(network):
                flags[kind if kind != "prefix" else "managed"] = True
                flags["permitted"] |= owner == account
        results.append(flags)
    return results


def timed(func, *args, repeat=3):
    samples = []
    result = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = func(*args)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=20000)
    parser.add_argument("--baseline-queries", type=int, default=200)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    origins = queries(args.queries)
    parsed = [netaddr.IPNetwork(origin) for origin in origins]
    print(f"# {time.strftime('%Y-%m-%d')} {platform.python_implementation()} {platform.python_version()} "
          f"{platform.machine()}, {args.queries} queries, median of 3")
    print(f"{'entries':>9} {'build s':>8} {'verdicts/s':>11} {'naive/s':>9} {'speed-up':>9}")
    for position, size in enumerate(sizes):
        document = synthetic_document(size)
        build_s, idx = timed(
            lambda: index.PrefixIndex(prefix_data.entries_from_document(document) + special_purpose.reserved_entries()),
            repeat=1,
        )
        guard = policy.OriginGuard(idx)
        query_s, _ = timed(lambda: [guard.check_networks(o, [n], "acct1") for o, n in zip(origins, parsed)])
        rate = len(origins) / query_s
        naive = ""
        ratio = ""
        if position == 0:
            sample = origins[: args.baseline_queries]
            naive_s, _ = timed(naive_verdicts, document, sample, "acct1", repeat=1)
            naive_rate = len(sample) / naive_s
            naive, ratio = f"{naive_rate:9.0f}", f"{rate / naive_rate:8.0f}x"
        print(f"{size:>9} {build_s:8.2f} {rate:11.0f} {naive:>9} {ratio:>9}")


if __name__ == "__main__":
    main()
