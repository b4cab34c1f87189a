"""``spectrum-acl serve`` under load, over real HTTP on 127.0.0.1: wide CIDRs, idle connections, few file descriptors.

The server runs as its own process on generated prefix data (``benchmarks/datagen.py``);
the load clients are the benchmark's (``benchmarks/bench_server_load.py``), run
smaller and shorter. Times are only ever bounded from above, generously.
"""

import resource
import socket
import sys
import time

import pytest
import requests

from saltext.spectrum_acl.api.server import BUSY, ENDPOINT_PATH
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.data import prefix_data
from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
import bench_server_load as bench
import datagen

#: Enough entries that a wide request reads ~180,000 index segments, and still quick to build.
ENTRIES = 30_000
#: Wide CIDRs that carry IPv4 in every embedding form, for several accounts.
WIDE = [*bench.WIDE_CIDRS, "64:ff9b:1::/48", "::/96", "130.0.0.0/8", "2a06:9800::/28"]


@pytest.fixture(scope="module")
def generated_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("generated") / "prefixes.json"
    datagen.write_json(str(path), ENTRIES)
    return path


@pytest.fixture
def serve(generated_data, token_file, tmp_path):
    """``serve(*options)`` starts ``spectrum-acl serve`` on the generated data: ``(base URL, its log file)``."""
    started = []

    def start(*options, **popen):
        log = open(tmp_path / f"server-{len(started)}.log", "w+", encoding="utf-8")
        process, url = bench.start_server(str(generated_data), str(token_file), log, *options, **popen)
        started.append((process, log))
        return url, log

    yield start
    for process, log in started:
        bench.stop_server(process)
        log.close()


def _get(url, token, cidrs, account="team7", timeout=30):
    params = [("cidr", cidr) for cidr in cidrs] + [("account_id", account)]
    return requests.get(url + ENDPOINT_PATH, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)


def _log_text(log):
    log.flush()
    log.seek(0)
    return log.read()


def test_ordinary_requests_keep_p99_under_100_ms_beside_wide_cidrs_and_idle_connections(serve, token):
    url, log = serve("--log-level", "warning")
    load = bench.run_load(url, token, seconds=3, idle=50, ordinary_limit=400)
    assert load.ordinary_failed == 0
    assert len(load.ordinary_seconds) >= 50, load.summary()
    assert load.wide_statuses.get(200, 0) >= 1, load.summary()
    assert load.idle_opened >= 50
    assert load.percentile(0.99) < 0.100, load.summary()
    assert "Traceback" not in _log_text(log)


def test_wide_cidrs_are_judged_as_the_local_guard_judges_them(serve, generated_data, token):
    url, _ = serve()
    guard = OriginGuard(prefix_data.load_index(str(generated_data)))
    for account in ("team7", "provider", "customer1"):
        response = _get(url, token, WIDE, account)
        assert response.status_code == 200
        answers = response.json()["result"]["allowed_origins"]
        assert answers == {cidr: guard.check_origin(cidr, account).flags() for cidr in WIDE}


def test_wide_cidrs_on_small_data_are_judged_as_the_local_guard_judges_them(reference_server, local_guard, token):
    """The same on the parity data, where every request is judged on the event loop."""
    for account in ("crossbow", "provider", "acme", "team"):
        response = _get(reference_server.url, token, WIDE + ["104.0.0.0/8", "2606:4700::/32", "45.91.88.0/24"], account)
        for cidr, flags in response.json()["result"]["allowed_origins"].items():
            assert flags == local_guard.check_origin(cidr, account).flags(), (cidr, account)


def test_a_wide_request_past_its_budget_is_503_and_ordinary_ones_are_served(serve, token):
    url, _ = serve("--judge-budget-ms", "0.001")
    wide = _get(url, token, WIDE)
    assert wide.status_code == 503
    assert wide.json()["errors"][0]["code"] == BUSY
    assert wide.headers["Retry-After"] == "1"
    ordinary = _get(url, token, ["130.1.2.3", "2a06:9800::1"])
    assert ordinary.status_code == 200
    assert ordinary.json()["result"]["allowed_origins"]["130.1.2.3"]["is_managed"] is True


# --------------------------------------------------------------------------- connections

#: The open files limit of the server, and the idle connections against it.
FILE_LIMIT, IDLE_CONNECTIONS = 128, 140


def _limit_open_files():
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def _half_open(url, number):
    """A connection that sends half a request (or nothing) and then waits."""
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    if number % 2:
        sock.sendall(b"GET " + ENDPOINT_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\n")
    return sock


def _first_answer(url, token, within):
    """Seconds until an ordinary request gets its 200, or ``None`` after ``within`` seconds."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        try:
            if _get(url, token, ["1.1.1.1"], timeout=2).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:
            time.sleep(0.2)
    return None


@pytest.mark.parametrize("options", [[], ["--max-connections", "1000"]], ids=["default-cap", "cap-above-the-file-limit"])
def test_idle_connections_under_a_low_file_limit_do_not_deny_service(serve, token, options):
    """140 half-open connections against ``ulimit -n 128``: closed after the idle timeout, then served.

    By default the cap stays below the limit; set above it, accept runs out of file
    descriptors (EMFILE) and backs off. Either way the log stays short, without tracebacks.
    """
    url, log = serve("--idle-timeout", "2", *options, preexec_fn=_limit_open_files)
    held = [_half_open(url, number) for number in range(IDLE_CONNECTIONS)]
    try:
        served_after = _first_answer(url, token, within=20)
    finally:
        for sock in held:
            sock.close()
    assert served_after is not None
    text = _log_text(log)
    assert "Traceback" not in text
    assert len(text) < 20_000
    warnings = [line for line in text.splitlines() if "WARNING" in line and "spectrum-acl serve:" in line]
    assert 1 <= len(warnings) <= 4, warnings
