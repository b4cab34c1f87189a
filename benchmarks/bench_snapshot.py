"""The snapshot at scale: build time, size and requests against the reference server, and what minions then load.

    python benchmarks/bench_snapshot.py [--entries 1000000] [--per-page 1000] [--concurrency 8]
                                        [--latency-ms 0] [--sample 20000]

Generates prefix data with ``datagen.py`` (three levels, a tenth IPv6), starts
``spectrum-acl serve`` on it (a separate process, so server and snapshot do not share
an interpreter), and takes one snapshot of every owner account in it, as
``salt-run spectrum_acl.snapshot`` does. It reports:

- the snapshot's build time (every listing read, converted, checked, loaded once by
  the loader and written) and peak memory, in a fresh process as ``salt-run`` runs it,
  its size, and the requests it made, against the requests
  expected: one per page of each account's prefixes, one per page of each prefix's
  delegations and of its bindings (at least one each), and one for ``GET /ips``;
  the server's own count of listing requests must be the same;
- a cold load of the snapshot against a cold load of the source data (minions load
  the snapshot), in fresh processes;
- agreement: for ``--sample`` origins (mixed addresses and CIDRs, and addresses drawn
  from the data), for several accounts, the snapshot and the source data give the same
  verdicts (``allowed`` and the five flags).

Then the API requests of one highstate wave of 10^4 minions in each mode, from these
figures. Goals: requests exactly as expected, every verdict the same, the snapshot
loads on the loader's fast JSON path.
"""

import argparse
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import datagen  # noqa: E402
from run import load_average, report_goals  # noqa: E402
from saltext.spectrum_acl.api.protocol import ENDPOINT_PATH  # noqa: E402

#: Runs in a fresh interpreter: load prefix data through the public API; report seconds and the fast path.
LOAD_SNIPPET = """
import json, sys, time
from saltext.spectrum_acl import load_guard
from saltext.spectrum_acl.data import fast_json
started = time.perf_counter()
guard = load_guard(sys.argv[1])
seconds = time.perf_counter() - started
raw = open(sys.argv[1], "rb").read()
fast = fast_json.columns_from_document(fast_json.decode(raw)) is not None
print(json.dumps({"seconds": seconds, "entries": len(guard.prefix_index), "fast_path": fast}))
"""
#: Runs in a fresh interpreter, as salt-run does: one snapshot of the settings in the file argv[1]; the report, time and peak RSS.
SNAPSHOT_SNIPPET = """
import json, resource, sys, time
from saltext.spectrum_acl.api.snapshot import SnapshotSettings, take_snapshot
with open(sys.argv[1], encoding="utf-8") as handle:
    settings = SnapshotSettings.from_mapping(json.load(handle), environ={})
started = time.perf_counter()
report = take_snapshot(settings)
report["build_seconds"] = time.perf_counter() - started
report["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(report))
"""
#: Minions of one highstate wave, and origins per minion, for the requests table.
WAVE_MINIONS, ORIGINS_PER_MINION, API_BATCH = 10_000, 50, 100


def start_server(data_path, token_path, latency_ms):
    command = [sys.executable, "-c", "import sys; from saltext.spectrum_acl.cli.main import main; sys.exit(main())",
               "serve", "--data", data_path, "--port", "0", "--token-file", token_path, "--latency-ms", str(latency_ms),
               "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    first = process.stdout.readline()
    if not first.startswith("spectrum-acl serve: listening on "):
        process.kill()
        raise SystemExit(f"the server did not start: {first!r}")
    return process, first.split(" on ", 1)[1].strip()[: -len(ENDPOINT_PATH)]


def stop_server(process):
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    return out.strip().splitlines()[-1]


def expected_requests(document, per_page, ips=True):
    """Requests one snapshot of every owner needs, from the data itself (only Spectrum bindings are served)."""
    def pages(count):
        return max(1, -(-count // per_page))

    owners = {}
    total = 1 if ips else 0
    for record in document["prefixes"]:
        owners[record["account_id"]] = owners.get(record["account_id"], 0) + 1
        total += pages(len(record.get("delegations", ())))
        total += pages(sum(binding["service_name"].casefold() == "spectrum" for binding in record.get("bindings", ())))
    return total + sum(pages(count) for count in owners.values()), owners


def cold_load(path):
    done = subprocess.run([sys.executable, "-c", LOAD_SNIPPET, path], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def agreement(source_path, snapshot_path, document, sample):
    """``(checked, differing)``: verdicts of the source data and of the snapshot for a sample of origins and accounts."""
    from saltext.spectrum_acl import load_guard

    source, snapshot = load_guard(source_path), load_guard(snapshot_path)
    origins = datagen.origins(sample // 2) + datagen.data_addresses(document, sample - sample // 2)
    accounts = [None, "provider", "team7", "team23", "customer5", "byoip3", "nobody"]
    checked = differing = 0
    for account in accounts:
        expected, got = source.check_batch(origins, account), snapshot.check_batch(origins, account)
        for item in range(len(origins)):
            checked += 1
            if expected.allowed[item] != got.allowed[item] or expected.flags(item) != got.flags(item):
                differing += 1
    return checked, differing


def wave_table(snapshot_requests, snapshot_bytes):
    """API requests of one highstate wave of ``WAVE_MINIONS`` minions, by mode."""
    per_minion = ORIGINS_PER_MINION
    batched = -(-per_minion // API_BATCH)
    return [
        ("api, a request per origin (no batching, no cache)", WAVE_MINIONS * per_minion, "every wave"),
        (f"api backend: batches of {API_BATCH}, answers cached for the run", WAVE_MINIONS * batched,
         "every wave (one request per minion and account)"),
        ("snapshot: minions", 0, f"never; each fetches the {snapshot_bytes / 1e6:.1f} MB file only when it changed"),
        ("snapshot: the runner on the master", snapshot_requests, "once per refresh, not per wave"),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="bench_snapshot.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="prefix data entries (default 10^6)")
    parser.add_argument("--per-page", type=int, default=1000, help="per_page of every listing (default 1000)")
    parser.add_argument("--concurrency", type=int, default=8, help="snapshot requests in flight (default 8)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="latency the server adds to each answer")
    parser.add_argument("--sample", type=int, default=20_000, help="origins checked for agreement (default 20,000)")
    args = parser.parse_args(argv)

    print(f"# Snapshot benchmark: {args.entries:,} entries\n")
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {platform.python_implementation()} {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cores, {load_average()}; per_page {args.per_page}, "
          f"concurrency {args.concurrency}, {args.latency_ms:g} ms server latency\n")
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as work:
        os.chmod(work, 0o700)
        data_path = os.path.join(work, "source.json")
        started = time.perf_counter()
        datagen.write_json(data_path, args.entries)
        with open(data_path, "rb") as handle:
            document = json.loads(handle.read())
        print(f"generated {datagen.count_entries(document):,} entries, {len(document['prefixes']):,} prefixes "
              f"in {time.perf_counter() - started:.1f} s ({os.path.getsize(data_path) / 1e6:.1f} MB)")
        expected, owners = expected_requests(document, args.per_page)
        token_path = os.path.join(work, "api.token")
        token = "bench-" + secrets.token_hex(16)
        with open(token_path, "w", encoding="ascii") as handle:
            handle.write(token)
        os.chmod(token_path, 0o600)

        process, url = start_server(data_path, token_path, args.latency_ms)
        try:
            output = os.path.join(work, "roots", "spectrum_acl", "prefixes.json")
            values = {"url": url, "token": token, "accounts": sorted(owners), "output": output, "per_page": args.per_page,
                      "concurrency": args.concurrency, "read_timeout": 120, "deadline": 300}
            settings_path = os.path.join(work, "settings.json")  # the work directory is 0700: it holds the token
            with open(settings_path, "w", encoding="utf-8") as handle:
                json.dump(values, handle)
            done = subprocess.run([sys.executable, "-c", SNAPSHOT_SNIPPET, settings_path],
                                  capture_output=True, text=True, check=True)
            report = json.loads(done.stdout)
            build = report["build_seconds"]
        finally:
            stop_line = stop_server(process)
        if not report["result"]:
            raise SystemExit(f"the snapshot failed: {report['reason']}: {report['comment']}")
        served = int(stop_line.split(", ")[-1].split(" listing requests")[0]) if "listing requests" in stop_line else 0
        counts = report["counts"]

        print("\n### The snapshot\n")
        print("| figure | value |")
        print("| --- | --- |")
        print(f"| accounts read | {len(owners):,} |")
        print(f"| prefixes, delegations, bindings | {counts['prefixes']:,}, {counts['delegations']:,}, {counts['bindings']:,} |")
        print(f"| build time (fetch, convert, check, load once, write) | {build:.1f} s |")
        print(f"| peak RSS of the snapshot process | {report['rss_mb']:.0f} MB |")
        print(f"| size | {report['bytes'] / 1e6:.1f} MB ({report['bytes']:,} bytes) |")
        print(f"| requests made (snapshot's count) | {report['requests']:,} |")
        print(f"| requests served (server's count) | {served:,} |")
        print(f"| requests expected | {expected:,} |")
        print(f"| requests per second | {report['requests'] / build:,.0f} |")

        source_load, snapshot_load = cold_load(data_path), cold_load(output)
        print("\n### Cold load, fresh process (what a minion does with the snapshot)\n")
        print("| data | seconds | entries | fast JSON path |")
        print("| --- | --- | --- | --- |")
        print(f"| source data | {source_load['seconds']:.2f} | {source_load['entries']:,} | {source_load['fast_path']} |")
        print(f"| snapshot | {snapshot_load['seconds']:.2f} | {snapshot_load['entries']:,} | {snapshot_load['fast_path']} |")

        checked, differing = agreement(data_path, output, document, args.sample)
        print(f"\nagreement: {checked:,} verdicts compared, {differing} differ")

        print(f"\n### API requests of one highstate wave of {WAVE_MINIONS:,} minions ({ORIGINS_PER_MINION} origins each)\n")
        print("| mode | requests to the Addressing API | when |")
        print("| --- | --- | --- |")
        for mode, count, when in wave_table(report["requests"], report["bytes"]):
            print(f"| {mode} | {count:,} | {when} |")

    report_goals([
        {"benchmark": "snapshot", "goal": "requests as expected (pages of listings + /ips)", "target": f"== {expected:,}",
         "measured": f"{report['requests']:,} made, {served:,} served", "passed": report["requests"] == expected == served},
        {"benchmark": "snapshot", "goal": "same verdicts as the source data", "target": "0 differ",
         "measured": f"{differing} of {checked:,}", "passed": differing == 0},
        {"benchmark": "snapshot", "goal": "the snapshot loads on the fast JSON path", "target": "fast path",
         "measured": f"{snapshot_load['seconds']:.2f} s", "passed": snapshot_load["fast_path"]},
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
