"""``--api-url``: the lint asks the Addressing API through the Runtime's client (a real HTTP server here)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import EXAMPLES
from tests.lint.conftest import assert_clean, lint

TOKEN = "lint-test-token-0123456789"
#: The example pillar's static edge IPs: Spectrum bindings in space their accounts hold.
EDGE_IPS = {"104.16.5.10/32", "45.91.88.1/32"}


class _Api(BaseHTTPRequestHandler):
    status = 200
    seen = []

    def do_GET(self):
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        type(self).seen.append((url.path, self.headers.get("Authorization"), query.get("account_id")))
        if type(self).status != 200:
            body = {"success": False, "errors": [{"code": 1000, "message": "down"}], "messages": [], "result": None}
        else:
            flags = {"allowed": True, "is_managed": False, "is_delegated": False, "is_reserved": False, "has_binding": False}
            edge = {"allowed": False, "is_managed": True, "is_delegated": True, "is_reserved": False, "has_binding": True}
            answers = {cidr: dict(edge if cidr in EDGE_IPS else flags) for cidr in query.get("cidr", [])}
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


def test_api_failure_denies_and_never_shows_the_token(minion_config, api):
    url, handler = api
    handler.status = 500
    run = lint(minion_config, EXAMPLES / "pillar", "--api-url", url, "--format", "json",
               env={"SPECTRUM_ACL_API_TOKEN": TOKEN})
    assert run.returncode == 1
    assert_clean(run)
    assert TOKEN not in run.stdout + run.stderr
    findings = run.json()["findings"]
    assert findings and {f["kind"] for f in findings} <= {"denied", "edge_ip_space"}  # static edge IPs cannot be checked either: refused


