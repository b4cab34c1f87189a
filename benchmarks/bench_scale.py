"""Scale: verdicts against C tries, load time and memory at 10^6 entries, and guarded state runs.

    python benchmarks/run.py scale [--entries 1000000] [--queries 100000] [--apps 1000,10000]
                                   [--rounds R] [--big] [--big-entries 4000000]
                                   [--only loads,verdicts,naive,states]

The data comes from ``datagen.py``: three levels of nesting, a tenth IPv6. What is timed:

- verdicts: ``check_batch`` and ``check_origin(...).allowed`` against two peers, pytricia
  ``get`` with one trie per address family (the baseline) and py-radix ``search_best``,
  all in this process, in interleaved rounds (the order rotates each round). The peers'
  answers are checked first: for single addresses, the most specific covering entry (CIDR
  and owner) each peer returns must be the one the project's index holds, or the
  benchmark stops;
- loads: each in a fresh process started by a small launcher process, so the peak RSS
  (``ru_maxrss``) is the loading process's own, not inherited from this one;
- state runs: ``salt-call --local state.apply`` of the guarded state against plain
  ``file.managed`` of the same JSON, two origins per app (one in space delegated to the
  app's account, one unmanaged), in interleaved rounds.

Each table gives min and median, and ratios of medians and of mins; the goals of
issue 12 close the output. Needs the ``bench`` extra (pytricia, py-radix).
"""

import argparse
import compileall
import gc
import ipaddress
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import datagen  # noqa: E402
from run import interleaved, load_average, report_goals  # noqa: E402

ACCOUNT = "team7"  # holds delegations at level 2 and 3
LOAD_SECONDS_GOAL, LOAD_RSS_GOAL = 1.5, 300  # 10^6 entries
BIG_SECONDS_GOAL, BIG_RSS_GOAL = 6.0, 1200  # 4 x 10^6 entries
BATCH_GOAL, SINGLE_GOAL, STATE_GOAL = 3.0, 1.0, 1.10
PARTS = ("loads", "verdicts", "naive", "states")
#: State runs of up to this many apps get three times the rounds (see _run).
SMALL_STATE_RUN = 2000

#: Runs in a fresh interpreter: load the prefix data through the public API, report time and peak RSS.
LOAD_SNIPPET = """
import json, resource, sys, time
from saltext.spectrum_acl import load_guard
start = time.perf_counter()
guard = load_guard(sys.argv[1], cache_dir=sys.argv[2] or None)
seconds = time.perf_counter() - start
with open("/proc/self/status", encoding="ascii") as status:
    hwm = next((int(line.split()[1]) for line in status if line.startswith("VmHWM:")), 0)
print(json.dumps({"seconds": seconds, "entries": len(guard.prefix_index),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "hwm_mb": hwm / 1024}))
"""
#: A small parent for the measured process. A child forked straight from this benchmark
#: (tries, 10^6 entries of data) starts with this process's peak in its ``ru_maxrss``.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


# -- helpers ------------------------------------------------------------------------------------


def _ratio(base, mine):
    return base / mine if mine else float("inf")


def _load_in_child(data_path, cache_dir):
    """Load in a fresh process whose parent is a small launcher; returns the child's JSON report."""
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-c", LAUNCHER, sys.executable, "-c", LOAD_SNIPPET, data_path, cache_dir or ""],
        check=False, capture_output=True, text=True,
    )
    if process.returncode:
        raise SystemExit(f"loading {data_path} failed (exit {process.returncode}):\n{process.stderr}")
    report = json.loads(process.stdout)
    report["process_seconds"] = time.perf_counter() - started
    return report


def _same_cidr(left, right):
    return left == right or ipaddress.ip_network(left) == ipaddress.ip_network(right)


# -- data ---------------------------------------------------------------------------------------


def write_data(path, entries):
    """Generate and write the data; return ``(document, delegations by account, seconds)``."""
    started = time.perf_counter()
    document, delegations = datagen.generate(entries)
    import msgspec

    with open(path, "wb") as handle:
        handle.write(msgspec.json.encode(document))
    return document, delegations, time.perf_counter() - started


def describe(document):
    counts = {"prefix": 0, "delegation": 0, "binding": 0}
    v6 = 0
    for record in document["prefixes"]:
        counts["prefix"] += 1
        v6 += ":" in record["cidr"]
        for kind, key in (("delegation", "delegations"), ("binding", "bindings")):
            items = record.get(key, ())
            counts[kind] += len(items)
            v6 += sum(":" in item["cidr"] for item in items)
    total = sum(counts.values())
    return total, counts, v6 / total


# -- loads --------------------------------------------------------------------------------------


def bench_loads(data_path, work_dir, rounds):
    from saltext.spectrum_acl.data import compiled

    cache_dir = os.path.join(work_dir, "cache")
    cold = [_load_in_child(data_path, None) for _ in range(rounds)]
    first = _load_in_child(data_path, cache_dir)  # builds and writes the cache
    warm = [_load_in_child(data_path, cache_dir) for _ in range(rounds)]  # written just now: each checks the payload
    (cache_file,) = [os.path.join(cache_dir, n) for n in os.listdir(cache_dir) if n.startswith("prefix-index-")]
    time.sleep(max(0.0, compiled.RACY_SECONDS + 0.1 - (time.time() - os.stat(cache_file).st_ctime)))
    _load_in_child(data_path, cache_dir)  # old enough now: checks the payload once more, and records that
    checked = [_load_in_child(data_path, cache_dir) for _ in range(rounds)]  # the header only
    with open(cache_file, "r+b") as handle:  # flip one payload byte
        handle.seek(-100, os.SEEK_END)
        byte = handle.read(1)
        handle.seek(-100, os.SEEK_END)
        handle.write(bytes([byte[0] ^ 0xFF]))
    corrupt = _load_in_child(data_path, cache_dir)
    rebuilt = compiled.load(cache_dir, os.path.basename(cache_file).split("-")[2]) is not None
    return cold, first, (warm, checked), corrupt, rebuilt


def _load_row(label, runs, target=""):
    seconds = [run["seconds"] for run in runs]
    rss = max(run["rss_mb"] for run in runs)
    hwm = max(run["hwm_mb"] for run in runs)
    process = statistics.median(run["process_seconds"] for run in runs)
    return (f"| {label} | {len(runs)} | {min(seconds):.2f} | {statistics.median(seconds):.2f} | {process:.2f} | "
            f"{rss:.0f} | {hwm:.0f} | {target} |")


def print_loads(cold, first, warm, corrupt, rebuilt):
    print("\n| load, each in a fresh process of a small parent | runs | min s | median s | process s "
          "| peak RSS MB | VmHWM MB | target |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print(_load_row("JSON to ready index, no cache (cold)", cold, f"<= {LOAD_SECONDS_GOAL} s, <= {LOAD_RSS_GOAL} MB"))
    print(_load_row("first load, writing the compiled cache", [first]))
    written_just_now, checked_before = warm
    print(_load_row("repeat load from the cache written just now (its payload CRC checked)", written_just_now))
    print(_load_row("warm load: the cache file checked before, unchanged (header only)", checked_before))
    print(_load_row(f"corrupt cache: detected, rebuilt (rewritten: {rebuilt})", [corrupt]))
    print("\nseconds: load_guard() inside the process (numpy and msgspec imports included); process s: the "
          "whole process, interpreter start included; peak RSS: its ru_maxrss; VmHWM: the kernel's high-water "
          "mark of its memory (MB = 2^20 bytes).")


# -- verdicts -----------------------------------------------------------------------------------


def build_peers(document):
    """pytricia: one trie per address family; py-radix (one tree, per-family heads). Values: ``(cidr, owner)``."""
    import pytricia
    import radix

    tries = {4: pytricia.PyTricia(32), 6: pytricia.PyTricia(128)}
    tree = radix.Radix()

    def add(cidr, owner):
        value = (cidr, owner)
        tries[6 if ":" in cidr else 4].insert(cidr, value)
        tree.add(cidr).data["v"] = value

    for record in document["prefixes"]:
        add(record["cidr"], record["account_id"])
        for delegation in record.get("delegations", ()):
            add(delegation["cidr"], delegation["delegated_account_id"])
        for binding in record.get("bindings", ()):
            add(binding["cidr"], None)
    return tries, tree


def project_longest(index, address):
    """The most specific data entry covering ``address``, as ``(cidr, owner)``, from the project's index
    (what a longest-prefix trie answers; reserved blocks are left out: the peers do not hold them)."""
    version = 6 if ":" in address else 4
    value = int(ipaddress.ip_address(address))
    for _, _, label, binding in index.labels_in(version, value, value):
        cover = index.coverage_of_label(label, binding)
        found = [entry for entry in (cover.binding, cover.prefix, *cover.delegations) if entry is not None]
        if found:
            best = max(found, key=lambda entry: entry.prefixlen)
            return best.cidr, best.account
    return None


def check_agreement(index, tries, tree, addresses):
    """Compare the peers' longest-prefix answers with the project's; stop the benchmark on a difference."""
    disagreements = []
    kinds = {"binding": 0, "delegation or prefix": 0, "nothing": 0}
    for address in addresses:
        mine = project_longest(index, address)
        trie = tries[6 if ":" in address else 4].get(address)
        node = tree.search_best(address)
        theirs = node.data["v"] if node is not None else None
        for peer, answer in (("pytricia", trie), ("py-radix", theirs)):
            same = (answer is None and mine is None) or (
                answer is not None and mine is not None and _same_cidr(answer[0], mine[0]) and answer[1] == mine[1]
            )
            if not same:
                disagreements.append((peer, address, answer, mine))
        kinds["nothing" if mine is None else "binding" if mine[1] is None else "delegation or prefix"] += 1
    if disagreements:
        for peer, address, answer, mine in disagreements[:20]:
            print(f"DISAGREE {peer}: {address}: peer {answer}, project {mine}", file=sys.stderr)
        raise SystemExit(f"the peers and the project disagree on {len(disagreements)} answers (first 20 above)")
    return kinds


def bench_verdicts(document, data_path, cache_dir, queries, rounds):
    from saltext.spectrum_acl import load_guard

    guard = load_guard(data_path, cache_dir=cache_dir)  # the public API, as an embedder would
    tries, tree = build_peers(document)
    origins = datagen.origins(queries)
    singles = [origin for origin in origins if "/" not in origin]
    check_set = singles + datagen.data_addresses(document, 20_000)
    kinds = check_agreement(guard.prefix_index, tries, tree, check_set)
    get4, get6, best = tries[4].get, tries[6].get, tree.search_best
    guard.check_batch(origins[:64], ACCOUNT)  # numpy views of the index, made once per process
    contenders = [
        ("pytricia", lambda: [get6(o) if ":" in o else get4(o) for o in origins]),
        ("radix", lambda: [best(o) for o in origins]),
        ("batch", lambda: guard.check_batch(origins, ACCOUNT)),
        ("batch_allowed", lambda: guard.check_batch(origins, ACCOUNT).allowed),
        ("single", lambda: [guard.check_origin(o, ACCOUNT).allowed for o in origins]),
        ("pytricia_addresses", lambda: [get6(o) if ":" in o else get4(o) for o in singles]),
        ("single_addresses", lambda: [guard.check_origin(o, ACCOUNT).allowed for o in singles]),
    ]
    times = interleaved(contenders, rounds)
    batch = guard.check_batch(origins, ACCOUNT)
    allowed = batch.allowed
    sample = range(0, len(origins), max(1, len(origins) // 2000))
    assert all(guard.check_origin(origins[i], ACCOUNT).allowed == allowed[i] for i in sample), "batch != single"
    numpy_share = 1 - len(getattr(batch, "_full", ())) / len(origins)
    return times, (len(origins), len(singles)), len(check_set), kinds, numpy_share, sum(allowed)


def print_verdicts(times, counts, entries, rounds):
    count, addresses = counts
    print(f"\n| {count:,} mixed origins at {entries:,} entries, {rounds} interleaved rounds | min s | median s | "
          "origins/s (median) | vs pytricia, medians | vs pytricia, mins | target |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    rows = (
        ("pytricia", "pytricia `get`, one trie per family (baseline; no verdict, no explanation)", ""),
        ("radix", "py-radix `search_best` (second peer)", ""),
        ("batch", "`check_batch`: flags and deciding entry of every origin", f">= {BATCH_GOAL:g}"),
        ("batch_allowed", "`check_batch(...).allowed`: as a list of booleans", ""),
        ("single", "`check_origin(...).allowed`, one at a time", f">= {SINGLE_GOAL:g}"),
        ("pytricia_addresses", f"only the {addresses:,} single addresses: pytricia `get`", ""),
        ("single_addresses", f"only the {addresses:,} single addresses: `check_origin(...).allowed`", ""),
    )
    for name, label, target in rows:
        samples = times[name]
        median = statistics.median(samples)
        base = times["pytricia_addresses" if name.endswith("_addresses") else "pytricia"]
        size = addresses if name.endswith("_addresses") else count
        print(f"| {label} | {min(samples):.3f} | {median:.3f} | {size / median:,.0f} | "
              f"{_ratio(statistics.median(base), median):.2f} | {_ratio(min(base), min(samples)):.2f} | {target} |")


def bench_naive(work_dir, queries):
    """``check_origin`` against what a Jinja or Python author would write, at 10^4 entries."""
    from saltext.spectrum_acl import load_guard

    path = os.path.join(work_dir, "small.json")
    document, _, _ = write_data(path, 10_000)
    guard = load_guard(path)
    origins = datagen.origins(queries)
    rows = []
    for record in document["prefixes"]:
        rows.append((ipaddress.ip_network(record["cidr"]), record["account_id"]))
        rows.extend((ipaddress.ip_network(d["cidr"]), d["delegated_account_id"]) for d in record.get("delegations", ()))
        rows.extend((ipaddress.ip_network(b["cidr"]), None) for b in record.get("bindings", ()))
    sample = origins[:300]

    def naive():
        verdicts = []
        for origin in sample:
            network = ipaddress.ip_network(origin)
            permitted = managed = False
            for candidate, owner in rows:
                if candidate.version == network.version and candidate.overlaps(network):
                    managed = True
                    permitted |= owner == ACCOUNT
            verdicts.append(permitted or not managed)
        return verdicts

    times = interleaved([("naive", naive), ("ours", lambda: [guard.check_origin(o, ACCOUNT).allowed for o in origins])],
                        3)
    return len(sample) / statistics.median(times["naive"]), len(origins) / statistics.median(times["ours"])


# -- state runs ---------------------------------------------------------------------------------


def bench_state_run(data_path, delegations, guard, work_dir, apps_count, rounds, cache_dir):
    """Guarded ``spectrum_acl.app_config`` against plain ``file.managed`` of the same JSON, interleaved."""
    from saltext.spectrum_acl.apps import check as apps_check
    from saltext.spectrum_acl.apps import render

    apps = datagen.apps(apps_count, delegations)
    accounts = sorted({app["account_id"] for app in apps.values()}, key=lambda name: int(name[4:]))
    # the realism of the pillar, checked: first origins delegated to the app's account, second unmanaged
    flags = [(guard.check_origin(origin, app["account_id"]), position)
             for app in apps.values() for position, origin in enumerate(app["origin_direct"])]
    delegated = sum(v.allowed and v.is_managed and v.is_delegated for v, position in flags if position == 0)
    unmanaged = sum(v.allowed and not v.is_managed and not v.is_reserved for v, position in flags if position == 1)
    ipv6 = sum(app["origin_direct"][0].startswith("tcp://[") for app in apps.values())
    report, valid = apps_check.check_apps(apps, guard, accounts=set(accounts))
    if not report["allowed"] or delegated != apps_count or unmanaged != apps_count:
        raise SystemExit(f"the state-run pillar is not what it should be: {delegated} delegated and {unmanaged} "
                         f"unmanaged origins of {apps_count} apps; errors: {report['errors'][:3]}")
    base = os.path.join(work_dir, f"state-{apps_count}")
    state_tree, pillar_tree, out, conf, root = (os.path.join(base, n) for n in ("salt", "pillar", "out", "conf", "root"))
    for folder in (state_tree, pillar_tree, out, conf):
        os.makedirs(folder, exist_ok=True)
    with open(os.path.join(state_tree, "apps.json"), "w", encoding="utf-8") as handle:
        handle.write(render.canonical_json(valid))
    with open(os.path.join(state_tree, "guarded.sls"), "w", encoding="utf-8") as handle:
        handle.write(f"edge-config:\n  spectrum_acl.app_config:\n    - name: {out}/guarded.json\n")
    with open(os.path.join(state_tree, "plain.sls"), "w", encoding="utf-8") as handle:
        handle.write(f"edge-config:\n  file.managed:\n    - name: {out}/plain.json\n    - source: salt://apps.json\n")
    with open(os.path.join(pillar_tree, "top.sls"), "w", encoding="utf-8") as handle:
        handle.write("base:\n  '*':\n    - spectrum\n")
    with open(os.path.join(pillar_tree, "spectrum.sls"), "w", encoding="utf-8") as handle:
        json.dump({"spectrum": {"apps": apps}}, handle)
    with open(os.path.join(conf, "minion"), "w", encoding="utf-8") as handle:
        json.dump({
            "id": "bench-edge", "file_client": "local", "root_dir": root, "pki_dir": f"{root}/pki",
            "cachedir": f"{root}/cache", "sock_dir": f"{root}/sock", "log_file": f"{root}/minion.log",
            "file_roots": {"base": [state_tree]}, "pillar_roots": {"base": [pillar_tree]},
            "spectrum_acl": {"prefix_data": data_path, "accounts": accounts, "cache_dir": cache_dir},
        }, handle)
    salt_call = os.path.join(os.path.dirname(sys.executable), "salt-call")

    def apply(sls):
        subprocess.run([salt_call, "--local", "-c", conf, "--retcode-passthrough", "-l", "quiet", "state.apply", sls],
                       check=True, stdout=subprocess.DEVNULL)

    def timed(sls):
        start = time.perf_counter()
        apply(sls)
        return time.perf_counter() - start

    first_guarded = timed("guarded")  # the compiled cache is already there; Salt's own caches are not
    timed("plain")
    times = interleaved([("guarded", lambda: apply("guarded")), ("plain", lambda: apply("plain"))], rounds)
    with open(f"{out}/guarded.json", encoding="utf-8") as mine, open(f"{out}/plain.json", encoding="utf-8") as theirs:
        same = mine.read() == theirs.read()
    if not same:
        raise SystemExit("the guarded and plain state runs wrote different files")
    return {"first": first_guarded, "times": times, "accounts": len(accounts), "ipv6": ipv6,
            "pillar_mb": os.path.getsize(os.path.join(pillar_tree, "spectrum.sls")) / 1e6}


def print_state_runs(results, entries):
    print(f"\n| `salt-call --local state.apply`, {entries:,} entries, interleaved rounds | min s | median s "
          "| guarded / plain, medians | guarded / plain, mins | target |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for count, result in results.items():
        guarded, plain = result["times"]["guarded"], result["times"]["plain"]
        print(f"| {count:,} apps, {len(plain)} rounds: plain `file.managed` of the same JSON (baseline) | {min(plain):.2f} | "
              f"{statistics.median(plain):.2f} | 1.00 | 1.00 | |")
        print(f"| {count:,} apps, {len(guarded)} rounds: `spectrum_acl.app_config`, guarded | {min(guarded):.2f} | "
              f"{statistics.median(guarded):.2f} | {statistics.median(guarded) / statistics.median(plain):.2f} | "
              f"{min(guarded) / min(plain):.2f} | <= {STATE_GOAL:.2f} |")
    for count, result in results.items():
        print(f"\n{count:,} apps of {result['accounts']} accounts, two origins each: one in a /24 (or /48) delegated "
              f"to the app's account ({result['ipv6']} of them IPv6), one unmanaged; pillar {result['pillar_mb']:.2f} MB "
              f"of JSON in one SLS file; first guarded run {result['first']:.2f} s; guarded and plain files identical.")


# -- 4 x 10^6 -----------------------------------------------------------------------------------


def bench_big(work_dir, entries, rounds):
    path = os.path.join(work_dir, "big.json")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {HERE!r}); import datagen; "
                    f"datagen.write_json({path!r}, {entries})"], check=True)
    generated = time.perf_counter() - started
    size = os.path.getsize(path)
    runs = [_load_in_child(path, None) for _ in range(rounds)]
    os.remove(path)
    return runs, generated, size


# -- main ---------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--apps", default="1000,10000", help="state-run app counts, comma-separated; 0 to skip")
    parser.add_argument("--rounds", type=int, help="rounds for every part (default: verdicts 7, state runs 7 (21 up to 2,000 apps), loads 3)")
    parser.add_argument("--big", action="store_true", help="also the 4x10^6 entries goal (slow: ~2 min)")
    parser.add_argument("--big-entries", type=int, default=4_000_000)
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"which parts, comma-separated (default all of {','.join(PARTS)}; --big adds the 4x10^6 load)")
    args = parser.parse_args(argv)
    args.only = {part for part in args.only.split(",") if part}
    if args.only - set(PARTS):
        parser.error(f"unknown part(s): {', '.join(sorted(args.only - set(PARTS)))}")
    work_dir = tempfile.mkdtemp(prefix="spectrum-acl-bench-")
    try:
        _run(args, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _run(args, work_dir):
    verdict_rounds, state_rounds, load_rounds = (args.rounds, args.rounds, args.rounds) if args.rounds else (7, 7, 3)
    app_counts = [int(count) for count in args.apps.split(",") if int(count)]
    data_path = os.path.join(work_dir, "prefixes.json")
    document, delegations, generated = write_data(data_path, args.entries)
    total, counts, v6_share = describe(document)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.python_implementation()} {platform.python_version()} "
          f"{platform.machine()}, {os.cpu_count()} cores, {load_average()}")
    print(f"# data: {total:,} entries ({counts['prefix']:,} prefixes, {counts['delegation']:,} delegations, "
          f"{counts['binding']:,} bindings; {v6_share:.0%} IPv6; 3 levels of nesting), "
          f"{os.path.getsize(data_path) / 1e6:.0f} MB of JSON, generated in {generated:.1f} s")

    cold = times = None
    if "loads" in args.only:
        cold, first, warm, corrupt, rebuilt = bench_loads(data_path, work_dir, load_rounds)
        print_loads(cold, first, warm, corrupt, rebuilt)

    cache_dir = os.path.join(work_dir, "cache")
    if "verdicts" in args.only:
        times, counts, checked, kinds, numpy_share, allowed = bench_verdicts(
            document, data_path, cache_dir, args.queries, verdict_rounds
        )
        print(f"\nPeers checked first: on {checked:,} single addresses ({checked - 20_000:,} of the benchmark's, 20,000 "
              f"drawn from the data), pytricia and py-radix return the same most specific entry (CIDR and owner) as the "
              f"project's index: {kinds['binding']:,} bindings, {kinds['delegation or prefix']:,} delegations or prefixes, "
              f"{kinds['nothing']:,} uncovered. All agree.")
        print_verdicts(times, counts, total, verdict_rounds)
        print(f"\n{numpy_share:.0%} of the origins took the numpy path; {allowed:,} of {counts[0]:,} allowed for {ACCOUNT}; "
              "a sample of the batch's answers equals check_origin's.")
    del document
    gc.collect()

    if "naive" in args.only:
        naive, ours = bench_naive(work_dir, min(args.queries, 20_000))
        print("\n| against the naive loop, 10^4 entries | origins/s | ratio |")
        print("| --- | ---: | ---: |")
        print(f"| `ipaddress` `overlaps` over every entry (baseline) | {naive:,.0f} | 1 |")
        print(f"| `check_origin(...).allowed` | {ours:,.0f} | {ours / naive:,.0f}x |")

    state = {}
    if app_counts and "states" in args.only:
        from saltext.spectrum_acl import load_guard

        guard = load_guard(data_path, cache_dir=cache_dir)
        # Salt's modules come with bytecode, as pip compiles what it installs; give this package the
        # same, also from an editable install or under PYTHONDONTWRITEBYTECODE
        import saltext.spectrum_acl

        compileall.compile_dir(os.path.dirname(saltext.spectrum_acl.__file__), quiet=1)
        for apps_count in app_counts:
            # short runs are noisier (imports and page cache weigh more): the small case gets three times the rounds
            rounds = state_rounds if args.rounds or apps_count > SMALL_STATE_RUN else 3 * state_rounds
            state[apps_count] = bench_state_run(data_path, delegations, guard, work_dir, apps_count, rounds,
                                                cache_dir)
        print_state_runs(state, total)

    big = None
    if args.big:
        big = bench_big(work_dir, args.big_entries, max(2, min(load_rounds, 3)))
        runs, generated_big, size = big
        print(f"\n{args.big_entries:,} entries ({size / 1e6:.0f} MB of JSON, generated in {generated_big:.0f} s):")
        print("\n| load, fresh process of a small parent | runs | min s | median s | process s | peak RSS MB "
              "| VmHWM MB | target |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        print(_load_row(f"{args.big_entries:,} entries, JSON to ready index, no cache", runs,
                        f"<= {BIG_SECONDS_GOAL:g} s, <= {BIG_RSS_GOAL} MB"))

    report_goals(_goals(args, times, cold, state, big), f"Goals of issue 12 (scale, {time.strftime('%Y-%m-%d')})")


def _goals(args, times, cold, state, big):
    rows = []
    for name, goal, target in (("batch", "check_batch vs pytricia get (per-family tries)", BATCH_GOAL),
                               ("single", "single check_origin(...).allowed vs pytricia get", SINGLE_GOAL)):
        if times is None:
            rows.append({"benchmark": "scale", "goal": goal, "target": f">= {target:g}x", "measured": "-",
                         "passed": None, "note": "part verdicts not run"})
            continue
        base_median, base_min = statistics.median(times["pytricia"]), min(times["pytricia"])
        median, low = statistics.median(times[name]), min(times[name])
        ratio = base_median / median
        rows.append({"benchmark": "scale", "goal": f"{goal}, {args.entries:,} entries", "target": f">= {target:g}x",
                     "measured": f"{ratio:.2f}x", "passed": ratio >= target,
                     "note": f"medians; {base_min / low:.2f}x on the mins"})
    if cold is None:
        for goal, target in (("cold load", f"<= {LOAD_SECONDS_GOAL:g} s"), ("cold load peak RSS", f"<= {LOAD_RSS_GOAL} MB")):
            rows.append({"benchmark": "scale", "goal": goal, "target": target, "measured": "-", "passed": None,
                         "note": "part loads not run"})
    else:
        seconds = statistics.median(run["seconds"] for run in cold)
        rss = max(run["rss_mb"] for run in cold)
        rows.append({"benchmark": "scale", "goal": f"cold load, {args.entries:,} entries, 3 levels",
                     "target": f"<= {LOAD_SECONDS_GOAL:g} s", "measured": f"{seconds:.2f} s",
                     "passed": seconds <= LOAD_SECONDS_GOAL,
                     "note": f"median of {len(cold)}; min {min(run['seconds'] for run in cold):.2f} s"})
        rows.append({"benchmark": "scale", "goal": f"cold load peak RSS, {args.entries:,} entries",
                     "target": f"<= {LOAD_RSS_GOAL} MB", "measured": f"{rss:.0f} MB", "passed": rss <= LOAD_RSS_GOAL,
                     "note": "max of the runs, fresh child"})
    if big is not None:
        runs = big[0]
        seconds = statistics.median(run["seconds"] for run in runs)
        rss = max(run["rss_mb"] for run in runs)
        rows.append({"benchmark": "scale", "goal": f"cold load, {args.big_entries:,} entries", "target": f"<= {BIG_SECONDS_GOAL:g} s",
                     "measured": f"{seconds:.2f} s", "passed": seconds <= BIG_SECONDS_GOAL, "note": f"median of {len(runs)}"})
        rows.append({"benchmark": "scale", "goal": f"cold load peak RSS, {args.big_entries:,} entries",
                     "target": f"<= {BIG_RSS_GOAL} MB", "measured": f"{rss:.0f} MB", "passed": rss <= BIG_RSS_GOAL, "note": ""})
    else:
        for goal, target in (("cold load, 4x10^6 entries", f"<= {BIG_SECONDS_GOAL:g} s"),
                             ("cold load peak RSS, 4x10^6 entries", f"<= {BIG_RSS_GOAL} MB")):
            rows.append({"benchmark": "scale", "goal": goal, "target": target, "measured": "-", "passed": None,
                         "note": "pass --big"})
    for count in (1000, 10000):
        goal = f"guarded / plain state.apply, {count:,} apps, 2 origins each"
        if count in state:
            guarded, plain = state[count]["times"]["guarded"], state[count]["times"]["plain"]
            ratio = statistics.median(guarded) / statistics.median(plain)
            rows.append({"benchmark": "scale", "goal": f"{goal}, {args.entries:,} entries", "target": f"<= {STATE_GOAL:.2f}",
                         "measured": f"{ratio:.2f}", "passed": ratio <= STATE_GOAL,
                         "note": f"medians of {len(guarded)}; {min(guarded) / min(plain):.2f} on the mins"})
        else:
            rows.append({"benchmark": "scale", "goal": goal, "target": f"<= {STATE_GOAL:.2f}", "measured": "-",
                         "passed": None, "note": f"pass --apps {count}"})
    return rows


if __name__ == "__main__":
    main()
