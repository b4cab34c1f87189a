"""A deliberately misbehaving Addressing API for the fault tests (stdlib ``http.server``).

``mode`` picks the behaviour of the next requests; ``ok`` answers correctly from
the engine, like the reference server. Every request is recorded.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from saltext.spectrum_acl.server import judge_cidrs

MODES = (
    "ok", "hang", "status-500", "503-then-ok", "429-then-ok", "503-always", "401", "not-json",
    "success-false", "missing-key", "non-bool", "bad-envelope", "echo-token", "redirect",
)


class FaultServer:
    def __init__(self, guard, failures_before_ok=2):
        self.guard = guard
        self.failures_before_ok = failures_before_ok
        self.mode = "ok"
        self.requests = []
        self.release = threading.Event()  # ends a "hang"
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def reset(self, mode="ok"):
        assert mode in MODES, mode
        self.mode = mode
        self.requests.clear()
        self.release.clear()

    def _handler_class(self):
        fault = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # pylint: disable=redefined-builtin
                pass

            def _send(self, status, body, headers=()):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
                fault.requests.append({"path": urlsplit(self.path).path, "query": query, "headers": dict(self.headers)})
                cidrs = query.get("cidr", [])
                account = query.get("account_id", [None])[0]
                mode, seen = fault.mode, len(fault.requests)

                def ok():
                    answers = judge_cidrs(fault.guard, cidrs, account)
                    return {"success": True, "errors": [], "messages": [], "result": {"allowed_origins": answers}}

                if mode == "hang":
                    fault.release.wait(10)
                    self.close_connection = True
                    return
                if mode == "status-500":
                    return self._send(500, {"success": False, "errors": [{"code": 1500, "message": "internal error"}], "result": None})
                if mode in ("503-then-ok", "429-then-ok") and seen <= fault.failures_before_ok:
                    status = int(mode[:3])
                    return self._send(status, {"success": False, "errors": [{"code": status, "message": "try again"}], "result": None},
                                      [("Retry-After", "0")] if status == 429 else [])
                if mode == "503-always":
                    return self._send(503, b"<html>Service Unavailable</html>")
                if mode == "401":
                    return self._send(401, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}], "result": None})
                if mode == "not-json":
                    return self._send(200, b"<html><body>Login required</body></html>")
                if mode == "success-false":
                    return self._send(200, {"success": False, "errors": [{"code": 1234, "message": "backend on fire"}], "result": None})
                if mode == "bad-envelope":
                    return self._send(200, {"success": True, "result": {"allowed_origins": []}})
                if mode == "missing-key":
                    body = ok()
                    body["result"]["allowed_origins"].pop(cidrs[-1])
                    return self._send(200, body)
                if mode == "non-bool":
                    body = ok()
                    body["result"]["allowed_origins"][cidrs[0]]["is_managed"] = "false"
                    return self._send(200, body)
                if mode == "echo-token":
                    return self._send(502, {"success": False, "errors": [{"code": 1, "message": f"bad header {self.headers.get('Authorization')}"}]})
                if mode == "redirect":
                    return self._send(302, b"", [("Location", "https://elsewhere.example/api")])
                return self._send(200, ok())

        return Handler
