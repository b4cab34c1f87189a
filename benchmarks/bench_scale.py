"""Scale: verdict rate, load time and memory at 10^6 entries, and a guarded state run.

    python benchmarks/run.py scale [--entries 1000000] [--queries 100000] [--apps 1000] [--runs 5]

Everything is measured in one run and printed with ratios, because absolute
times drift on shared machines. Needs the ``bench`` extra (pytricia).
"""

import argparse
import compileall
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
from saltext.spectrum_acl.core.guard import OriginGuard  # noqa: E402

LOAD_SNIPPET = """
import json, resource, sys, time
from saltext.spectrum_acl.data import prefix_data
start = time.perf_counter()
built = prefix_data.load_index(sys.argv[1], cache_dir=sys.argv[2] or None)
print(json.dumps({"seconds": time.perf_counter() - start, "entries": len(built),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _median_rate(func, count, repeat=3):
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        samples.append(time.perf_counter() - start)
    return count / statistics.median(samples)


def _load_in_subprocess(data_path, cache_dir):
    output = subprocess.run(
        [sys.executable, "-c", LOAD_SNIPPET, data_path, cache_dir or ""], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output)


def naive_rate(document, origins, account):
    """What a Jinja or Python author would write: ``ipaddress`` ``overlaps`` over every entry."""
    rows = []
    for record in document["prefixes"]:
        rows.append((ipaddress.ip_network(record["cidr"]), record["account_id"]))
        rows.extend((ipaddress.ip_network(d["cidr"]), d["delegated_account_id"]) for d in record.get("delegations", ()))
        rows.extend((ipaddress.ip_network(b["cidr"]), None) for b in record.get("bindings", ()))
    start = time.perf_counter()
    verdicts = []
    for origin in origins:
        network = ipaddress.ip_network(origin)
        permitted = managed = False
        for candidate, owner in rows:
            if candidate.version == network.version and candidate.overlaps(network):
                managed = True
                permitted |= owner == account
        verdicts.append(permitted or not managed)
    return len(verdicts) / (time.perf_counter() - start)


def bench_verdicts(data_path, cache_dir, queries):
    import netaddr
    import pytricia

    from saltext.spectrum_acl import load_guard

    guard = load_guard(data_path, cache_dir=cache_dir)  # the public API, as an embedder would
    built = guard.prefix_index
    origins = datagen.origins(queries)
    trie = pytricia.PyTricia(128)
    columns = built.columns
    for position in range(len(columns)):
        trie.insert(str(netaddr.IPNetwork((columns.first[position], columns.prefixlen[position]),
                                          version=columns.version[position])), position)
    guard.check_batch(origins[:10], "team1")  # numpy views of the index, made once per process
    pytricia_rate = _median_rate(lambda: [origin in trie for origin in origins], len(origins))
    batch_rate = _median_rate(lambda: guard.check_batch(origins, "team1"), len(origins))
    text_rate = _median_rate(lambda: guard.check_batch(origins, "team1").decided_by_all(), len(origins))
    single_rate = _median_rate(
        lambda: [guard.check_origin(origin, "team1").deciding_entry for origin in origins], len(origins)
    )
    batch = guard.check_batch(origins, "team1")
    numpy_share = 1 - len(batch._full) / len(origins)
    return pytricia_rate, batch_rate, text_rate, single_rate, numpy_share


def bench_small(queries):
    from saltext.spectrum_acl.core import index, reserved
    from saltext.spectrum_acl.data import prefix_data

    document = datagen.document(10_000)
    columns = prefix_data.columns_from_document(document)
    for entry in reserved.reserved_entries():
        columns.add_entry(entry)
    guard = OriginGuard(index.PrefixIndex.from_columns(columns))
    origins = datagen.origins(queries)
    ours = _median_rate(lambda: [guard.check_origin(o, "team1").deciding_entry for o in origins], len(origins))
    naive = naive_rate(document, origins[:300], "team1")
    return ours, naive


def bench_loads(data_path, work_dir):
    from saltext.spectrum_acl.data import compiled

    cache_dir = os.path.join(work_dir, "cache")
    cold = _load_in_subprocess(data_path, None)
    first = _load_in_subprocess(data_path, cache_dir)  # builds and writes the cache
    warm = [_load_in_subprocess(data_path, cache_dir) for _ in range(3)]
    (cache_file,) = [os.path.join(cache_dir, n) for n in os.listdir(cache_dir) if n.startswith("prefix-index-")]
    with open(cache_file, "r+b") as handle:  # flip one payload byte
        handle.seek(-100, os.SEEK_END)
        byte = handle.read(1)
        handle.seek(-100, os.SEEK_END)
        handle.write(bytes([byte[0] ^ 0xFF]))
    corrupt = _load_in_subprocess(data_path, cache_dir)
    rebuilt = compiled.load(cache_dir, os.path.basename(cache_file).split("-")[2]) is not None
    return cold, first, warm, corrupt, rebuilt


def bench_state_run(data_path, work_dir, apps_count, runs):
    from saltext.spectrum_acl.apps import check as apps_check
    from saltext.spectrum_acl.apps import render
    from saltext.spectrum_acl.core.index import PrefixIndex

    apps = {
        f"app{n:04d}": {
            "account_id": "team1",
            "protocol": "tcp/443",
            "dns": {"type": "CNAME", "name": f"app{n}.example.com"},
            "origin_direct": [f"tcp://8.{n // 250}.{n % 250}.{1 + n % 200}:443"],
        }
        for n in range(apps_count)
    }
    _, valid = apps_check.check_apps(apps, OriginGuard(PrefixIndex()))
    state_tree, pillar_tree, out = (os.path.join(work_dir, name) for name in ("salt", "pillar", "out"))
    for folder in (state_tree, pillar_tree, out):
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
    conf = os.path.join(work_dir, "conf")
    os.makedirs(conf, exist_ok=True)
    root = os.path.join(work_dir, "root")
    with open(os.path.join(conf, "minion"), "w", encoding="utf-8") as handle:
        json.dump({
            "id": "bench-edge", "file_client": "local", "root_dir": root, "pki_dir": f"{root}/pki",
            "cachedir": f"{root}/cache", "sock_dir": f"{root}/sock", "log_file": f"{root}/minion.log",
            "file_roots": {"base": [state_tree]}, "pillar_roots": {"base": [pillar_tree]},
            "spectrum_acl": {"prefix_data": data_path},
        }, handle)
    salt_call = os.path.join(os.path.dirname(sys.executable), "salt-call")
    # Salt's modules come with bytecode, as pip compiles what it installs; give this package the
    # same, also from an editable install or under PYTHONDONTWRITEBYTECODE
    import saltext.spectrum_acl

    compileall.compile_dir(os.path.dirname(saltext.spectrum_acl.__file__), quiet=1)

    def apply(sls):
        start = time.perf_counter()
        subprocess.run([salt_call, "--local", "-c", conf, "--retcode-passthrough", "-l", "quiet", "state.apply", sls],
                       check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start

    first_guarded = apply("guarded")  # builds the compiled cache
    apply("plain")
    guarded, plain = [], []
    for _ in range(runs):
        guarded.append(apply("guarded"))
        plain.append(apply("plain"))
    with open(f"{out}/guarded.json", encoding="utf-8") as mine, open(f"{out}/plain.json", encoding="utf-8") as theirs:
        same = mine.read() == theirs.read()
    return first_guarded, statistics.median(guarded), statistics.median(plain), same


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--apps", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    work_dir = tempfile.mkdtemp(prefix="spectrum-acl-bench-")
    try:
        _run(args, work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _run(args, work_dir):
    data_path = os.path.join(work_dir, "prefixes.json")
    datagen.write_json(data_path, args.entries)
    print(f"# {time.strftime('%Y-%m-%d')} {platform.python_implementation()} {platform.python_version()} "
          f"{platform.machine()}, {os.cpu_count()} cores; {args.entries:,} entries "
          f"({os.path.getsize(data_path) / 1e6:.0f} MB JSON), {args.queries:,} mixed origins")

    cold, first, warm, corrupt, rebuilt = bench_loads(data_path, work_dir)
    warm_s = statistics.median(run["seconds"] for run in warm)
    print("\n| load | seconds | peak RSS MB | target |")
    print("| --- | ---: | ---: | --- |")
    print(f"| JSON to ready index, no cache | {cold['seconds']:.2f} | {cold['rss_mb']:.0f} | <= 5 s, <= 400 MB |")
    print(f"| first load, writing the cache | {first['seconds']:.2f} | {first['rss_mb']:.0f} | |")
    print(f"| repeat load from the cache (median of 3) | {warm_s:.2f} | {warm[0]['rss_mb']:.0f} | <= 1 s |")
    print(f"| corrupt cache: detected, rebuilt | {corrupt['seconds']:.2f} | {corrupt['rss_mb']:.0f} | "
          f"rebuilt and rewritten: {rebuilt} |")

    pytricia_rate, batch_rate, text_rate, single_rate, numpy_share = bench_verdicts(
        data_path, os.path.join(work_dir, "cache"), args.queries
    )
    small_rate, naive = bench_small(min(args.queries, 20_000))
    print(f"\n| verdicts at {args.entries:,} entries (median of 3) | per second | ratio | target |")
    print("| --- | ---: | ---: | --- |")
    print(f"| pytricia membership, no explanation (baseline) | {pytricia_rate:,.0f} | 1.00 | |")
    print(f"| check_batch: all five flags and the deciding entry of each | {batch_rate:,.0f} | "
          f"{batch_rate / pytricia_rate:.2f} | >= 0.5 |")
    print(f"| check_batch + decided_by_all(): the deciding prefix as text too | {text_rate:,.0f} | "
          f"{text_rate / pytricia_rate:.2f} | >= 0.5 |")
    print(f"| check_origin, one at a time: Verdict with flags and deciding entry | {single_rate:,.0f} | "
          f"{single_rate / pytricia_rate:.2f} | |")
    print(f"\n{numpy_share:.0%} of the origins took the numpy path; the rest (IPv6 that may carry IPv4) went one at a time.")
    print("\n| against the naive loop | per second | ratio | target |")
    print("| --- | ---: | ---: | --- |")
    print(f"| naive ipaddress overlaps loop at 10^4 entries (baseline) | {naive:,.0f} | 1 | |")
    print(f"| check_origin at 10^4 entries | {small_rate:,.0f} | {small_rate / naive:,.0f}x | >= 1000x |")
    print(f"| check_batch + decided_by_all at {args.entries:,} entries | {text_rate:,.0f} | {text_rate / naive:,.0f}x | |")

    first_guarded, guarded, plain, same = bench_state_run(data_path, work_dir, args.apps, args.runs)
    print(f"\n| salt-call --local state.apply, {args.apps} apps (median of {args.runs}) | seconds | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| plain file.managed of the same JSON (baseline) | {plain:.2f} | 1.00 |")
    print(f"| spectrum_acl.app_config, guarded | {guarded:.2f} | {guarded / plain:.2f} |")
    print(f"| first guarded run, building the cache | {first_guarded:.2f} | {first_guarded / plain:.2f} |")
    print(f"\nguarded and plain files identical: {same}")


if __name__ == "__main__":
    main()
