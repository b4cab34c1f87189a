"""``spectrum-acl snapshot`` as a user runs it, against ``spectrum-acl serve`` of the examples, both real processes."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest
import yaml

from saltext.spectrum_acl import load_guard
from tests.api.test_snapshot import assert_same_verdicts
from tests.conftest import EXAMPLES


def _spectrum_acl(*args):
    return [sys.executable, "-c", "import sys; from saltext.spectrum_acl.cli.main import main; sys.exit(main())", *args]


@pytest.fixture(scope="module")
def served(token_file):
    """``spectrum-acl serve --data examples/prefixes.yaml`` on a free port: its base URL."""
    process = subprocess.Popen(
        _spectrum_acl("serve", "--data", str(EXAMPLES / "prefixes.yaml"), "--port", "0", "--token-file", str(token_file)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    first = process.stdout.readline()
    assert first.startswith("spectrum-acl serve: listening on http://127.0.0.1:"), first
    url = first.split(" on ", 1)[1].strip().split("/edge_services")[0]
    yield url
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=30)


def _snapshot(url, token_file, output, *extra, env=None):
    args = ["snapshot", "--api-url", url, "--account-id", "provider", "--account-id", "acme",
            "--token-file", str(token_file), "--output", str(output), *extra]
    return subprocess.run(_spectrum_acl(*args), capture_output=True, text=True, timeout=120, check=False,
                          env=env or dict(os.environ))


def test_snapshot_of_the_served_examples(served, token_file, token, tmp_path):
    url = served
    output = tmp_path / "out" / "prefixes.json"
    done = _snapshot(url, token_file, output)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"spectrum-acl snapshot: wrote {output}"
    assert lines[1] == "  3 prefixes (2 provider ranges from GET /ips), 2 delegations, 5 bindings (5 Spectrum)"
    requests_made, size, digest = re.fullmatch(r"  (\d+) requests, (\d+) bytes, sha256 ([0-9a-f]{64}), [0-9.]+ s", lines[2]).groups()
    assert int(requests_made) == 2 + 2 * 3 + 1 and int(size) == output.stat().st_size
    assert token not in done.stdout + done.stderr
    document = yaml.safe_load((EXAMPLES / "prefixes.yaml").read_text())
    assert_same_verdicts(load_guard(str(EXAMPLES / "prefixes.yaml")), load_guard(str(output)), document)

    again = _snapshot(url, token_file, output, "--json")
    assert again.returncode == 0
    report = json.loads(again.stdout)
    assert report["result"] is True and report["changed"] is False and report["sha256"] == digest


def test_a_refused_snapshot_exits_2_and_leaves_the_file(served, token_file, token, tmp_path):
    url = served
    output = tmp_path / "prefixes.json"
    assert _snapshot(url, token_file, output).returncode == 0
    before = output.read_bytes()
    shrunk = subprocess.run(
        _spectrum_acl("snapshot", "--api-url", url, "--account-id", "acme", "--token-file", str(token_file),
                      "--output", str(output), "--no-provider-ranges"),
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert shrunk.returncode == 2 and shrunk.stdout == ""
    assert shrunk.stderr.startswith("spectrum-acl: error: snapshot not taken (shrink): the snapshot shrank: prefixes: 3 before, 1 now")
    assert "Traceback" not in shrunk.stderr and token not in shrunk.stderr
    assert output.read_bytes() == before

    as_json = subprocess.run(
        _spectrum_acl("snapshot", "--api-url", url, "--account-id", "acme", "--token-file", str(token_file),
                      "--output", str(output), "--no-provider-ranges", "--json"),
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert as_json.returncode == 2
    assert json.loads(as_json.stdout)["reason"] == "shrink"
    assert output.read_bytes() == before


def test_the_token_may_come_from_the_environment_and_is_needed(served, token, tmp_path):
    url = served
    output = tmp_path / "prefixes.json"
    base = ["snapshot", "--api-url", url, "--account-id", "acme", "--output", str(output)]
    environment = {key: value for key, value in os.environ.items() if key != "SPECTRUM_ACL_API_TOKEN"}
    missing = subprocess.run(_spectrum_acl(*base), capture_output=True, text=True, timeout=60, check=False, env=environment)
    assert missing.returncode == 2 and "no API token: pass --token-file FILE or set $SPECTRUM_ACL_API_TOKEN" in missing.stderr
    given = subprocess.run(_spectrum_acl(*base), capture_output=True, text=True, timeout=60, check=False,
                           env={**environment, "SPECTRUM_ACL_API_TOKEN": token})
    assert given.returncode == 0, given.stderr
    assert token not in given.stdout + given.stderr


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--per-page", "0"], "--per-page must be a whole number from 1 to 1000"),
        (["--concurrency", "99"], "--concurrency must be a whole number from 1 to 32"),
        (["--output", "prefixes.yaml"], "--output must be the absolute path of a .json file"),
        (["--api-url", "http://api.example.net"], "--api-url 'http://api.example.net' is plain http"),
    ],
)
def test_bad_options_are_named(token_file, tmp_path, extra, words):
    args = ["snapshot", "--api-url", "http://127.0.0.1:9", "--account-id", "a", "--token-file", str(token_file),
            "--output", str(tmp_path / "p.json"), *extra]
    done = subprocess.run(_spectrum_acl(*args), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr


def test_the_server_counts_the_requests_the_snapshot_reports(token_file, tmp_path):
    """A server of its own: its stop line counts exactly the listing requests the snapshot says it made."""
    process = subprocess.Popen(
        _spectrum_acl("serve", "--data", str(EXAMPLES / "prefixes.yaml"), "--port", "0", "--token-file", str(token_file)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = process.stdout.readline().split(" on ", 1)[1].strip().split("/edge_services")[0]
        done = _snapshot(url, token_file, tmp_path / "p.json", "--per-page", "1", "--json")
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=30)
    made = json.loads(done.stdout)["requests"]
    # provider: 2 pages; acme: 1; /ips; 104.16.0.0/13: 1 + 3 pages, 2606:4700::/32: 1 + 1, 45.91.88.0/22: 1 + 1
    assert made == 2 + 1 + 1 + 4 + 2 + 2
    assert f"stopped after 0 requests (0 cidr), {made} listing requests" in out
