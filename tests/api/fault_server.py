"""A deliberately misbehaving Addressing API for the fault tests (stdlib ``http.server``).

``mode`` picks the behaviour of the next requests; ``ok`` answers correctly from
the engine, like the reference server. Every request is recorded, and so is the
most requests it had in flight at once (``max_in_flight``).

``first_ok`` answers the first request of a ``reset`` correctly whatever the mode,
so that a client's batches after its first one meet the fault while in flight together.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from saltext.spectrum_acl.api.server import judge_cidrs

MODES = (
    "ok", "hang", "status-500", "503-then-ok", "429-then-ok", "503-always", "401", "not-json",
    "success-false", "missing-key", "non-bool", "bad-envelope", "echo-token", "redirect",
    # slow and hostile servers
    "drip-body", "drip-headers", "503-retry-after-30",
    "echo-late-errors", "echo-late-body", "echo-late-location", "echo-late-reason", "echo-late-status-line",
    "duplicate-flag", "duplicate-success", "deep-100000", "deep-40-messages", "deep-error-body",
    # batches in flight together
    "slow", "gather", "fail-one", "503-once-per-batch",
)
#: A dripping server sends a byte a second for this long, so that a client without a deadline ends too.
DRIP_SECONDS = 12
#: Server text echoed before the token, so that cutting before redacting would leak part of it.
ECHO_PADDING = "x" * 175
#: How long a "gather" or "fail-one" request waits for the others at most, so that a test never hangs.
GATHER_WAIT = 10


class FaultServer:
    def __init__(self, guard, failures_before_ok=2):
        self.guard = guard
        self.failures_before_ok = failures_before_ok
        self.mode = "ok"
        self.requests = []
        self.release = threading.Event()  # ends a "hang"
        self.first_ok = False
        self.latency = 0.0  # seconds before an answer in "slow", "gather" (once gathered) and "fail-one"
        self.gather = 1  # "gather" and "fail-one": hold answers until this many requests were in flight at once
        self.fail_cidrs = frozenset()  # "fail-one": requests asking any of these answer HTTP 500
        self.failed_after = None  # "fail-one": how many requests had arrived when the 500 went out
        # "fail-one": the other requests answer after the 500, and ``latency`` later still
        self.in_flight = 0  # requests since the last reset, not yet answered
        self.max_in_flight = 0
        self._generation = 0  # a request still running from before a reset does not count after it
        self._flight = threading.Condition()
        self._seen_batches = set()
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

    def reset(self, mode="ok", *, first_ok=False, latency=0.0, gather=1, fail_cidrs=()):
        assert mode in MODES, mode
        self.mode = mode
        self.first_ok = first_ok
        self.latency, self.gather, self.fail_cidrs, self.failed_after = latency, gather, frozenset(fail_cidrs), None
        self.requests.clear()
        self.release.clear()
        with self._flight:
            self._generation += 1
            self.in_flight = self.max_in_flight = 0
            self._seen_batches.clear()

    def _enter(self):
        with self._flight:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self._flight.notify_all()
            return self._generation

    def _leave(self, generation):
        with self._flight:
            if generation == self._generation:
                self.in_flight -= 1

    def _gathered(self):
        """Wait until ``gather`` requests were in flight at once (at most ``GATHER_WAIT``); did they?"""
        with self._flight:
            return self._flight.wait_for(lambda: self.max_in_flight >= self.gather, GATHER_WAIT)

    def _first_time(self, cidrs):
        with self._flight:
            key = tuple(cidrs)
            first = key not in self._seen_batches
            self._seen_batches.add(key)
            return first

    def _handler_class(self):
        fault = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
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

            def _drip(self, data):
                """Write ``data`` a byte a second, for at most ``DRIP_SECONDS``, then hang up (or when released)."""
                for position in range(min(len(data), DRIP_SECONDS)):
                    if fault.release.wait(1):
                        break
                    try:
                        self.wfile.write(data[position : position + 1])
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        break
                self.close_connection = True

            def _echo(self, padding=ECHO_PADDING):
                """Padding, the token the client sent, and a 12-character piece of it."""
                token = self.headers.get("Authorization", "").partition(" ")[2]
                return f"{padding}{token} {token[4:16]}"

            def do_GET(self):
                generation = fault._enter()
                try:
                    return self._answer()
                finally:
                    fault._leave(generation)

            def _answer(self):
                query = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
                fault.requests.append(
                    {"target": self.path, "path": urlsplit(self.path).path, "query": query, "headers": dict(self.headers)}
                )
                cidrs = query.get("cidr", [])
                account = query.get("account_id", [None])[0]
                mode, seen = fault.mode, len(fault.requests)

                def ok():
                    answers = judge_cidrs(fault.guard, cidrs, account)
                    return {"success": True, "errors": [], "messages": [], "result": {"allowed_origins": answers}}

                if fault.first_ok and seen == 1:
                    return self._send(200, ok())
                if mode == "slow":
                    time.sleep(fault.latency)
                    return self._send(200, ok())
                if mode == "gather":
                    fault._gathered()
                    time.sleep(fault.latency)
                    return self._send(200, ok())
                if mode == "fail-one":
                    if fault.fail_cidrs.intersection(cidrs):
                        fault._gathered()  # the others are in flight: the failure comes while they are
                        with fault._flight:
                            fault.failed_after = len(fault.requests)
                            fault._flight.notify_all()
                        return self._send(500, {"success": False, "errors": [{"code": 1500, "message": "this batch failed"}],
                                                "result": None})
                    with fault._flight:  # answered after the failure, and ``latency`` later still
                        fault._flight.wait_for(lambda: fault.failed_after is not None, GATHER_WAIT)
                    time.sleep(fault.latency)
                    return self._send(200, ok())
                if mode == "503-once-per-batch":
                    if fault._first_time(cidrs):
                        return self._send(503, {"success": False, "errors": [{"code": 503, "message": "try again"}], "result": None})
                    return self._send(200, ok())
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
                if mode == "drip-body":
                    body = json.dumps(ok()).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.flush()
                    return self._drip(body)
                if mode == "drip-headers":
                    return self._drip(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Slow: " + b"z" * 200 + b"\r\n\r\n")
                if mode == "503-retry-after-30":
                    return self._send(503, {"success": False, "errors": [{"code": 503, "message": "later"}], "result": None},
                                      [("Retry-After", "30")])
                if mode == "echo-late-errors":
                    return self._send(502, {"success": False, "errors": [{"code": 1, "message": self._echo()}], "result": None})
                if mode == "echo-late-body":
                    return self._send(200, self._echo().encode())
                if mode == "echo-late-location":
                    return self._send(302, b"", [("Location", self._echo().replace(" ", "/"))])
                if mode == "echo-late-reason":
                    data = b"{}"
                    self.send_response(500, self._echo())
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return None
                if mode == "echo-late-status-line":
                    # the client quotes it after 39 characters of its own: a shorter padding
                    self.wfile.write(f"{self._echo(ECHO_PADDING[:140])}\r\n\r\n".encode())
                    self.close_connection = True
                    return None
                if mode == "duplicate-flag":
                    # a deny, then an allow for the same flag: the last one must not win
                    flags = '"allowed": false, "is_managed": true, "is_delegated": false, "is_reserved": false, "has_binding": true'
                    origins = ", ".join(f'{json.dumps(cidr)}: {{{flags}, "allowed": true}}' for cidr in cidrs)
                    body = f'{{"success": true, "errors": [], "messages": [], "result": {{"allowed_origins": {{{origins}}}}}}}'
                    return self._send(200, body.encode())
                if mode == "duplicate-success":
                    body = json.dumps(ok())
                    return self._send(200, body.replace('"success": true', '"success": false, "success": true', 1).encode())
                if mode == "deep-100000":
                    return self._send(200, b"[" * 100000 + b"]" * 100000)
                if mode == "deep-40-messages":
                    body = ok()
                    body["messages"] = json.loads("[" * 40 + "]" * 40)
                    return self._send(200, body)
                if mode == "deep-error-body":
                    return self._send(500, b'{"errors": ' + b"[" * 100000 + b"]" * 100000 + b"}")
                return self._send(200, ok())

        return Handler
