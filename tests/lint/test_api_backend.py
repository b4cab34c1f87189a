"""``--api-url``: the lint asks the Addressing API through the Runtime's client (a real HTTP server here)."""

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from saltext.spectrum_acl.lint.blame import INFRASTRUCTURE_NOTE
from tests.conftest import EXAMPLES
from tests.lint.conftest import assert_clean, lint

TOKEN = "lint-test-token-0123456789"
#: The example pillar's static edge IPs: Spectrum bindings in space their accounts hold.
EDGE_IPS = {"104.16.5.10/32", "45.91.88.1/32"}


class _Api(BaseHTTPRequestHandler):
    status = 200
    seen = []
    deny = set()

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        type(self).seen.append((url.path, self.headers.get("Authorization"), query.get("account_id")))
        if type(self).status != 200:
            body = {"success": False, "errors": [{"code": 1000, "message": "down"}], "messages": [], "result": None}
        else:
            flags = {"allowed": True, "is_managed": False, "is_delegated": False, "is_reserved": False, "has_binding": False}
            edge = {"allowed": False, "is_managed": True, "is_delegated": True, "is_reserved": False, "has_binding": True}
            denied = dict(flags, allowed=False)
            answers = {cidr: dict(edge if cidr in EDGE_IPS else denied if cidr in type(self).deny else flags)
                       for cidr in query.get("cidr", [])}
            body = {"success": True, "errors": [], "messages": [], "result": {"allowed_origins": answers}}
        data = json.dumps(body).encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Api.seen = []
    _Api.status = 200
    _Api.deny = set()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Api
    server.shutdown()
    server.server_close()


def test_api_url_judges_every_origin_remotely(minion_config, api):
    url, handler = api
    run = lint(minion_config, EXAMPLES / "pillar", "--api-url", url, env={"SPECTRUM_ACL_API_TOKEN": TOKEN})
    assert run.returncode == 0, run.stdout + run.stderr
    assert handler.seen, "the Addressing API was not asked"
    assert all(path.endswith("/edge_services/spectrum/validate_origin_ip_acl") for path, _, _ in handler.seen)
    assert {auth for _, auth, _ in handler.seen} == {f"Bearer {TOKEN}"}
    assert TOKEN not in run.stdout + run.stderr


def test_an_api_outage_is_exit_2_not_a_denial_per_app(minion_config, api, tmp_path):
    url, handler = api
    handler.status = 500
    summary = tmp_path / "summary.md"
    run = lint(minion_config, EXAMPLES / "pillar", "--api-url", url, "--format", "json",
               env={"SPECTRUM_ACL_API_TOKEN": TOKEN, "GITHUB_STEP_SUMMARY": str(summary)})
    assert run.returncode == 2, run.stdout + run.stderr
    assert_clean(run)
    assert run.stdout == ""  # no report: nothing was judged, so nothing is reported as denied
    error, note = run.stderr.splitlines()
    assert error.startswith("spectrum-acl: error: the Addressing API failed, so ")
    assert note == f"spectrum-acl lint: {INFRASTRUCTURE_NOTE}"
    assert TOKEN not in run.stdout + run.stderr + summary.read_text()
    assert summary.read_text().startswith("### spectrum-acl lint: could not run (exit 2)")


def test_an_api_outage_in_github_format_is_one_annotation(minion_config, api):
    url, handler = api
    handler.status = 503
    run = lint(minion_config, EXAMPLES / "pillar", "--api-url", url, "--format", "github",
               env={"SPECTRUM_ACL_API_TOKEN": TOKEN})
    assert run.returncode == 2
    (annotation,) = run.stdout.splitlines()
    assert annotation.startswith("::error title=spectrum-acl infrastructure::the Addressing API failed")
    assert TOKEN not in run.stdout + run.stderr


def test_an_unreachable_api_is_exit_2(minion_config):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = lint(minion_config, EXAMPLES / "pillar", "--api-url", f"http://127.0.0.1:{port}",
               env={"SPECTRUM_ACL_API_TOKEN": TOKEN})
    assert run.returncode == 2, run.stdout + run.stderr
    assert "the Addressing API failed" in run.stderr and "exit 2:" in run.stderr


def test_an_origin_the_api_denies_is_a_finding(minion_config, api):
    url, handler = api
    handler.deny = {"93.184.215.14/32"}
    run = lint(minion_config, EXAMPLES / "pillar", "--api-url", url, "--format", "json",
               env={"SPECTRUM_ACL_API_TOKEN": TOKEN})
    assert run.returncode == 1, run.stdout + run.stderr
    findings = run.json()["findings"]
    assert findings and {f["kind"] for f in findings} == {"denied"}
    assert {f["origin"] for f in findings} == {"tcp://93.184.215.14:5432", "origin.partner.example (origin_dns)"}
    assert all(any("the Addressing API denies it" in reason for reason in f["reasons"]) for f in findings)
