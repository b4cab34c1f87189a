"""Batched Addressing API client against one request per origin, in one run.

    python benchmarks/bench_api.py [--origins 10000] [--distinct 6000] [--latency-ms 100]
                                   [--batch-size 100] [--baseline-sample 100]
                                   [--goal-origins 10000] [--rounds 3]

Starts ``spectrum-acl serve`` (a separate process) on 127.0.0.1 with synthetic
prefix data and ``--latency-ms`` added to every answer (100 ms: the seed's
figure for one Addressing API call). Then, for ``--origins`` origins of which
``--distinct`` are distinct, it measures:

- the batched client (the ``api`` backend): prefetch, then judge every origin;
- the baseline: the same work one origin per request, over a keep-alive session.
  At 100 ms a request, 10,000 of them take ~17 minutes, so by default the baseline
  is measured on ``--baseline-sample`` origins and scaled (it is linear: one request
  per origin); ``--baseline-sample 0`` measures all of them.

Then the goal of batches in flight together: ``--goal-origins`` distinct origins
(default 10,000) with default settings (``concurrency`` 8) against ``concurrency`` 1
(one batch after another), in ``--rounds`` interleaved rounds (the order alternates
each round), with the min and median of each and the ratio of the medians. Both
give the same verdicts. Goal: at most 2.0 s with default settings at 100 ms latency.

Absolute times drift on shared machines: read the ratios.
"""

import argparse
import datetime
import os
import platform
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import netaddr
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import datagen
from saltext.spectrum_acl.api import client as api_client
from saltext.spectrum_acl.api.server import ENDPOINT_PATH
from saltext.spectrum_acl.core import index, reserved
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.core.parse import parse_origin

ACCOUNT = "team7"
#: The goal of batches in flight together: this many distinct origins, with default settings, in at most this long.
GOAL_SECONDS = 2.0


def start_server(data_path, token_path, latency_ms):
    command = [
        sys.executable, "-c", "import sys; from saltext.spectrum_acl.cli.main import main; sys.exit(main())",
        "serve", "--data", data_path, "--port", "0", "--token-file", token_path,
        "--latency-ms", str(latency_ms), "--log-level", "warning",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    first = process.stdout.readline()
    if not first.startswith("spectrum-acl serve: listening on "):
        process.kill()
        raise SystemExit(f"the server did not start: {first!r}")
    url = first.split(" on ", 1)[1].strip()
    return process, url[: -len(ENDPOINT_PATH)]


def stop_server(process):
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    return out.strip().splitlines()[-1]


def workload(total, distinct, seed=5):
    """``total`` origins: ``distinct`` different ones, the rest repeats, shuffled."""
    unique = list(dict.fromkeys(datagen.origins(distinct * 2)))[:distinct]
    rng = random.Random(seed)
    origins = unique + [rng.choice(unique) for _ in range(total - distinct)]
    rng.shuffle(origins)
    return origins


def batched(url, token, origins, batch_size, concurrency=None):
    """The api backend: one prefetch for the run, then a verdict per origin (``concurrency`` None: the default)."""
    values = {"url": url, "token": token, "batch_size": batch_size, "read_timeout": 60}
    if concurrency is not None:
        values["concurrency"] = concurrency
    settings = api_client.ApiSettings.from_config(lambda key, default: values.get(key, default), environ={})
    client = api_client.AddressingApiClient(settings)
    guard = OriginGuard(index.PrefixIndex(reserved.reserved_entries()), remote=client)
    started = time.perf_counter()
    guard.prefetch((ACCOUNT, parse_origin(origin).span) for origin in origins)  # as check_apps hands them over
    verdicts = [guard.check_origin(origin, ACCOUNT) for origin in origins]
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed, client.requests_sent, verdicts


def one_per_origin(url, token, origins):
    """The baseline: a request per origin, with a keep-alive session; returns seconds and flags."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    flags = []
    started = time.perf_counter()
    for origin in origins:
        cidr = api_client.cidr_key(netaddr.IPNetwork(origin))
        response = session.get(url + ENDPOINT_PATH, params={"cidr": cidr, "account_id": ACCOUNT}, timeout=60)
        response.raise_for_status()
        flags.append(response.json()["result"]["allowed_origins"][cidr])
    elapsed = time.perf_counter() - started
    session.close()
    return elapsed, flags


def in_flight_together(url, token, origins, rounds):
    """Default settings against ``concurrency`` 1, in interleaved rounds: ``{label: [seconds, ...]}`` and requests."""
    configs = {"default": None, "concurrency 1": 1}
    times = {label: [] for label in configs}
    answers, sent = {}, {}
    for number in range(rounds):
        order = list(configs) if number % 2 == 0 else list(configs)[::-1]
        for label in order:
            seconds, requests_sent, verdicts = batched(url, token, origins, api_client.DEFAULTS["batch_size"], configs[label])
            times[label].append(seconds)
            sent[label] = requests_sent
            answers.setdefault(label, [verdict.flags() for verdict in verdicts])
    assert answers["default"] == answers["concurrency 1"], "concurrency changed an answer"
    return times, sent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--origins", type=int, default=10000)
    parser.add_argument("--distinct", type=int, default=6000)
    parser.add_argument("--entries", type=int, default=10000, help="prefix data entries")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--baseline-sample", type=int, default=100, help="origins for the baseline; 0 for all")
    parser.add_argument("--goal-origins", type=int, default=10000, help="distinct origins for the concurrency goal; 0 to skip")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds for the concurrency goal")
    args = parser.parse_args(argv)

    origins = workload(args.origins, args.distinct)
    with tempfile.TemporaryDirectory() as folder:
        data_path, token_path = os.path.join(folder, "prefixes.json"), os.path.join(folder, "token")
        datagen.write_json(data_path, args.entries)
        token = secrets.token_hex(16)
        with open(os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as handle:
            handle.write(token)  # owner-only, as the server asks of a token file
        process, url = start_server(data_path, token_path, args.latency_ms)
        try:
            runs = [(args.batch_size, *batched(url, token, origins, args.batch_size))]
            if args.batch_size != 1000:
                runs.append((1000, *batched(url, token, origins, 1000)))
            sample = origins if args.baseline_sample == 0 else origins[: args.baseline_sample]
            baseline_seconds, baseline_flags = one_per_origin(url, token, sample)
            goal = None
            if args.goal_origins:
                goal = in_flight_together(url, token, workload(args.goal_origins, args.goal_origins), args.rounds)
        finally:
            server_line = stop_server(process)

    # the batched verdicts agree with one-per-origin answers on the sample
    first_verdicts = runs[0][3]
    for position, flags in enumerate(baseline_flags):
        assert first_verdicts[position].flags() == flags, origins[position]

    scale = len(origins) / len(sample)
    baseline_total = baseline_seconds * scale
    print(f"Addressing API benchmark, {datetime.date.today()}, CPython {platform.python_version()}, "
          f"{platform.machine()}, {os.cpu_count()} cores")
    print(f"prefix data: {args.entries:,} entries; server: spectrum-acl serve (separate process), "
          f"+{args.latency_ms:g} ms per request")
    print(f"origins: {len(origins):,}, of which {len(set(origins)):,} distinct; one account")
    print()
    print(f"{'':44} {'requests':>9} {'wall time':>10} {'vs baseline':>12}")
    concurrency = api_client.DEFAULTS["concurrency"]
    for batch_size, seconds, sent, _ in runs:
        label = f"batched, batch_size {batch_size}, concurrency {concurrency}"
        print(f"{label:44} {sent:>9,} {seconds:>9.2f}s {baseline_total / seconds:>11.0f}x")
    label = "one origin per request" + ("" if scale == 1 else f" (measured on {len(sample)})")
    print(f"{label:44} {len(sample):>9,} {baseline_seconds:>9.2f}s")
    if scale != 1:
        print(f"{'one origin per request, ' + format(len(origins), ',') + ' (scaled)':44} "
              f"{len(origins):>9,} {baseline_total:>9.0f}s {'1x':>12}")
    print()
    default = runs[0]
    print(f"requests: {len(origins):,} origins -> {len(set(origins)):,} distinct -> {default[2]:,} requests "
          f"at batch_size {default[0]} ({len(origins) / default[2]:.0f}x fewer than one per origin)")
    print(f"wall time: {default[1]:.2f} s against {baseline_total:.0f} s one per origin: {baseline_total / default[1]:.0f}x faster")
    if goal is not None:
        times, sent = goal
        print()
        print(f"batches in flight together: {args.goal_origins:,} distinct origins, batch_size "
              f"{api_client.DEFAULTS['batch_size']}, +{args.latency_ms:g} ms, {args.rounds} interleaved rounds")
        print(f"{'':44} {'requests':>9} {'min':>8} {'median':>8}")
        for label, shown in (("default", f"default settings (concurrency {concurrency})"), ("concurrency 1", "concurrency 1 (one batch after another)")):
            print(f"{shown:44} {sent[label]:>9,} {min(times[label]):>7.2f}s {statistics.median(times[label]):>7.2f}s")
        default_median, sequential_median = statistics.median(times["default"]), statistics.median(times["concurrency 1"])
        verdict = "met" if default_median <= GOAL_SECONDS else "NOT met"
        print(f"goal: {args.goal_origins:,} distinct origins at {args.latency_ms:g} ms in <= {GOAL_SECONDS:g} s with default settings: "
              f"median {default_median:.2f} s (min {min(times['default']):.2f} s), {verdict}; "
              f"{sequential_median / default_median:.1f}x faster than concurrency 1 (medians; "
              f"{min(times['concurrency 1']) / min(times['default']):.1f}x on the mins)")
    print(f"server: {server_line}")


if __name__ == "__main__":
    main()
