"""Ordinary clients of ``spectrum-acl serve`` keep their latency while others send wide CIDRs and idle connections.

    python benchmarks/bench_server_load.py [--entries 1000000] [--seconds 10] [--idle 100] [--wide-clients 2]

Starts the real server (a separate process) on 127.0.0.1 with synthetic prefix
data (``datagen.py``), then runs these clients at once for ``--seconds``:

- ordinary: one small request at a time (four addresses and CIDRs), timing each;
- wide: back-to-back requests of 16 wide CIDRs (``::/0``, ``2000::/3``, ``0.0.0.0/0``, ...);
- idle: ``--idle`` connections that send half a request line and nothing more,
  opened again as the server closes them.

Prints the ordinary client's p50, p99 and maximum latency, and what every client got.
``tests/api/test_server_load.py`` runs the same load, smaller and shorter.
"""

import argparse
import itertools
import os
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import datagen
from saltext.spectrum_acl.api.server import ENDPOINT_PATH

ACCOUNT = "team7"
#: One wide request: IPv6 that covers every embedding of IPv4, and IPv4 itself.
WIDE_CIDRS = (
    "::/0", "2000::/3", "::/1", "8000::/1", "2000::/4", "2a00::/8", "2a06::/16", "2a06:9000::/20",
    "2002::/16", "2001::/32", "64:ff9b::/96", "::ffff:0:0/96", "2a10::/16", "::/8", "0.0.0.0/0", "128.0.0.0/1",
)
ORDINARY_PER_REQUEST = 4


def start_server(data_path, token_path, log, *args, **popen):
    """``spectrum-acl serve`` on a free port, its log in the open file ``log``: ``(process, base URL)``."""
    command = [
        sys.executable, "-c", "import sys; from saltext.spectrum_acl.cli.main import main; sys.exit(main())",
        "serve", "--data", data_path, "--port", "0", "--token-file", token_path, *args,
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}, **popen
    )
    first = process.stdout.readline()
    if not first.startswith("spectrum-acl serve: listening on "):
        process.kill()
        raise RuntimeError(f"the server did not start: {first!r}")
    return process, first.split(" on ", 1)[1].strip()[: -len(ENDPOINT_PATH)]


def stop_server(process, wait=30):
    """SIGTERM, then the server's last line (``stopped after N requests``); killed when it does not stop in ``wait`` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return f"killed: still busy {wait} s after SIGTERM"
    return out.strip().splitlines()[-1]


@dataclass
class Load:
    """What the clients saw."""

    ordinary_seconds: list = field(default_factory=list)
    ordinary_failed: int = 0
    wide_statuses: dict = field(default_factory=dict)
    idle_opened: int = 0

    def percentile(self, fraction):
        """Seconds; infinite when no ordinary request was answered."""
        ordered = sorted(self.ordinary_seconds) or [float("inf")]
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def summary(self):
        ms = [f"{name} {1000 * self.percentile(fraction):.1f} ms" for name, fraction in (("p50", 0.5), ("p99", 0.99), ("max", 1))]
        return (
            f"ordinary: {len(self.ordinary_seconds)} requests, {', '.join(ms)}, "
            f"{self.ordinary_failed} failed; wide: {sum(self.wide_statuses.values())} requests "
            f"({', '.join(f'{count} x {status}' for status, count in sorted(self.wide_statuses.items(), key=str))}); "
            f"idle: {self.idle_opened} connections opened"
        )


def run_load(url, token, seconds, *, idle=50, wide_clients=1, ordinary_limit=None):
    """Run the three kinds of client against ``url`` for ``seconds`` (or ``ordinary_limit`` requests); a :class:`Load`."""
    load, stop = Load(), threading.Event()
    headers = {"Authorization": f"Bearer {token}"}
    endpoint = url + ENDPOINT_PATH

    def ordinary():
        origins = datagen.origins(4000)
        batches = itertools.cycle(range(0, len(origins), ORDINARY_PER_REQUEST))
        with requests.Session() as session:
            while not stop.is_set() and not (ordinary_limit and len(load.ordinary_seconds) >= ordinary_limit):
                start = next(batches)
                params = [("cidr", cidr) for cidr in origins[start : start + ORDINARY_PER_REQUEST]] + [("account_id", ACCOUNT)]
                began = time.perf_counter()
                try:
                    response = session.get(endpoint, params=params, headers=headers, timeout=10)
                    response.json()["result"]["allowed_origins"]
                except (requests.RequestException, ValueError, KeyError, TypeError):
                    load.ordinary_failed += 1
                    continue
                load.ordinary_seconds.append(time.perf_counter() - began)
        stop.set()

    def wide():
        params = [("cidr", cidr) for cidr in WIDE_CIDRS] + [("account_id", ACCOUNT)]
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    status = session.get(endpoint, params=params, headers=headers, timeout=30).status_code
                except requests.RequestException as exc:
                    status = type(exc).__name__
                load.wide_statuses[status] = load.wide_statuses.get(status, 0) + 1

    def idle_connections():
        address = (urlsplit(url).hostname, urlsplit(url).port)
        held = []
        while not stop.is_set():
            while len(held) < idle:
                try:
                    held.append(socket.create_connection(address, timeout=5))
                    held[-1].sendall(b"GET / HT")  # half a request line, then nothing
                    load.idle_opened += 1
                except OSError:
                    break
            readable, _, _ = select.select(held, [], [], 0.2)
            for sock in readable:  # the server closed it
                held.remove(sock)
                sock.close()
        for sock in held:
            sock.close()

    threads = [threading.Thread(target=idle_connections)] + [threading.Thread(target=wide) for _ in range(wide_clients)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the wide and idle clients are at it before the first ordinary request
    timer = threading.Timer(seconds, stop.set)
    timer.start()
    ordinary()
    timer.cancel()
    for thread in threads:
        thread.join(60)
    return load


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="prefix data entries")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--idle", type=int, default=100, help="idle connections held open")
    parser.add_argument("--wide-clients", type=int, default=2)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as folder:
        data_path, token_path = os.path.join(folder, "prefixes.json"), os.path.join(folder, "token")
        began = time.perf_counter()
        datagen.write_json(data_path, args.entries)
        print(f"prefix data: {args.entries} entries, written in {time.perf_counter() - began:.1f} s")
        token = secrets.token_hex(16)
        with open(token_path, "w", encoding="utf-8") as handle:
            handle.write(token)
        with open(os.path.join(folder, "server.log"), "w+", encoding="utf-8") as log:
            began = time.perf_counter()
            process, url = start_server(data_path, token_path, log, "--log-level", "warning")
            print(f"server: listening after {time.perf_counter() - began:.1f} s")
            try:
                load = run_load(url, token, args.seconds, idle=args.idle, wide_clients=args.wide_clients)
            finally:
                print(f"server: {stop_server(process)}")
            log.seek(0)
            warnings = log.read().splitlines()
    print(load.summary())
    print(f"server warnings: {len(warnings)} lines" + "".join(f"\n  {line}" for line in warnings[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
