"""The snapshot fails closed: every fault leaves the snapshot in place byte-identical, with a structured reason.

A small proxy in front of the reference server passes requests on, and spoils one
answer (or all of some kind) as each test asks: a 500 in the middle of the pages,
``success: false``, cut-off JSON, no ``result``, a bad field, a page repeated, a
listing that never ends, a token echoed back, a hang.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from saltext.spectrum_acl.api.snapshot import SnapshotSettings, meta_path, take_snapshot
from tests.api.test_snapshot import DOC_ACCOUNTS


class FaultProxy:
    """Forwards GETs to ``upstream``; ``spoil(number, path, status, body)`` may replace an answer.

    ``spoil`` gets the request's number (from 1), its path with query, and the upstream's
    status and body; it returns ``None`` (pass the answer on) or ``(status, body)``, or
    ``(status, body, seconds)`` to wait first.
    """

    def __init__(self, upstream):
        self.upstream, self.spoil, self.requests = upstream, None, []
        self._lock = threading.Lock()
        self.release = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with proxy._lock:
                    proxy.requests.append(self.path)
                    number = len(proxy.requests)
                headers = {"Authorization": self.headers.get("Authorization", "")}
                answer = requests.get(proxy.upstream + self.path, headers=headers, timeout=10)
                status, body = answer.status_code, answer.content
                spoiled = proxy.spoil(number, self.path, status, body) if proxy.spoil else None
                if spoiled is not None:
                    status, body, *wait = spoiled
                    if wait:
                        proxy.release.wait(wait[0])
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up first

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def proxy(reference_server):
    proxy = FaultProxy(reference_server.url)
    yield proxy
    proxy.stop()


@pytest.fixture
def good(proxy, token, tmp_path):
    """A snapshot taken through the proxy with nothing spoiled: its bytes and its sidecar's."""
    proxy.spoil, proxy.requests[:] = None, []
    output = tmp_path / "roots" / "prefixes.json"
    report = take_snapshot(settings(proxy, token, output))
    assert report["result"] is True, report
    proxy.requests.clear()
    yield output, output.read_bytes(), open(meta_path(str(output)), "rb").read()
    proxy.release.set()
    proxy.release.clear()
    proxy.spoil = None


def settings(proxy, token, output, **overrides):
    values = {"url": proxy.url, "token": token, "accounts": DOC_ACCOUNTS, "output": str(output), "per_page": 1,
              "concurrency": 1, "retries": 0, "read_timeout": 2, "deadline": 3, **overrides}
    return SnapshotSettings.from_mapping(values, environ={})


def envelope_of(body):
    return json.loads(body)


def with_envelope(change):
    """A spoiler that rewrites the JSON answer of listing requests matching ``change``'s test."""

    def spoil(number, path, status, body):
        document = envelope_of(body)
        changed = change(number, path, document)
        return None if changed is None else (status, json.dumps(changed).encode())

    return spoil


def assert_failed_closed(report, good, reason, token):
    output, data, meta = good
    assert report["result"] is False and report["changed"] is False
    assert report["reason"] == reason, report
    assert isinstance(report["comment"], str) and report["comment"]
    assert output.read_bytes() == data
    assert open(meta_path(str(output)), "rb").read() == meta
    assert sorted(path.name for path in output.parent.iterdir()) == ["prefixes.json", "prefixes.json.meta.json"]
    assert token not in json.dumps(report)


PREFIX_PAGE_2 = "/accounts/provider/addressing/prefixes?page=2"


def test_500_in_the_middle_of_the_pages(proxy, token, good):
    proxy.spoil = lambda number, path, status, body: (500, b'{"success": false, "errors": [{"code": 1, "message": "boom"}]}') \
        if path.startswith(PREFIX_PAGE_2) else None
    report = take_snapshot(settings(proxy, token, good[0]))
    assert_failed_closed(report, good, "http_status", token)
    assert report["where"].startswith("GET /accounts/provider/addressing/prefixes?page=2")
    assert "HTTP 500" in report["comment"] and "boom" in report["comment"]


def test_success_false_on_a_bindings_page(proxy, token, good):
    proxy.spoil = lambda number, path, status, body: (200, b'{"success": false, "errors": [{"code": 7, "message": "no"}], "result": null}') \
        if "/bindings" in path else None
    report = take_snapshot(settings(proxy, token, good[0]))
    assert_failed_closed(report, good, "success_false", token)
    assert "/bindings?page=1" in report["where"]


def test_truncated_json(proxy, token, good):
    proxy.spoil = lambda number, path, status, body: (200, body[: len(body) // 2]) if "/delegations" in path else None
    assert_failed_closed(take_snapshot(settings(proxy, token, good[0])), good, "not_json", token)


@pytest.mark.parametrize(
    "change, reason",
    [
        (lambda document: {key: value for key, value in document.items() if key != "result"}, "bad_shape"),
        (lambda document: {**document, "result": {"items": document["result"]}}, "bad_shape"),
        (lambda document: {**document, "success": "true"}, "bad_shape"),
        (lambda document: {**document, "result_info": {**document["result_info"], "total_pages": "2"}}, "bad_shape"),
        (lambda document: {**document, "result": [{**item, "cidr": "104.16.0.1/13"} for item in document["result"]]}, "bad_field"),
        (lambda document: {**document, "result": [{**item, "account_id": "mallory"} for item in document["result"]]}, "bad_field"),
    ],
    ids=["no-result", "result-not-a-list", "success-not-bool", "result-info-not-int", "host-bits", "foreign-owner"],
)
def test_a_malformed_prefix_page(proxy, token, good, change, reason):
    proxy.spoil = with_envelope(lambda number, path, document: change(document) if "/prefixes?" in path else None)
    assert_failed_closed(take_snapshot(settings(proxy, token, good[0])), good, reason, token)


def test_a_page_repeated_is_a_prefix_listed_twice(proxy, token, good):
    pages = {}

    def change(number, path, document):
        if path.startswith("/accounts/provider/addressing/prefixes?"):
            pages.setdefault("first", document["result"])
            if path.startswith(PREFIX_PAGE_2):
                return {**document, "result": pages["first"]}
        return None

    proxy.spoil = with_envelope(change)
    assert_failed_closed(take_snapshot(settings(proxy, token, good[0])), good, "duplicate", token)


def test_total_count_changing_between_pages(proxy, token, good):
    proxy.spoil = with_envelope(lambda number, path, document: {**document, "result_info": {
        **document["result_info"], "total_count": 3, "total_pages": 3}} if path.startswith(PREFIX_PAGE_2) else None)
    assert_failed_closed(take_snapshot(settings(proxy, token, good[0])), good, "inconsistent", token)


def test_a_listing_that_never_ends(proxy, token, good):
    """Every page says more follow, with new prefixes each time: max_pages ends it."""

    def change(number, path, document):
        if not path.startswith("/accounts/provider/addressing/prefixes?"):
            return None
        page = int(path.split("page=")[1].split("&")[0])
        item = {"id": f"p{page}", "cidr": f"198.51.{page % 256}.0/24", "account_id": "provider"}
        return {**document, "result": [item], "result_info": {"page": page, "per_page": 1, "count": 1,
                                                             "total_count": 10**9, "total_pages": 10**9}}

    proxy.spoil = with_envelope(change)
    report = take_snapshot(settings(proxy, token, good[0], max_pages=5))
    assert_failed_closed(report, good, "too_many_pages", token)
    assert sum(path.startswith("/accounts/provider/addressing/prefixes?") for path in proxy.requests) == 5


def test_an_empty_result_where_there_were_prefixes(proxy, token, good):
    """Every listing empty and GET /ips not read: no prefix at all, never written."""
    empty = {"success": True, "errors": [], "messages": [], "result": [],
             "result_info": {"page": 1, "per_page": 1, "count": 0, "total_count": 0, "total_pages": 0}}
    proxy.spoil = lambda number, path, status, body: (200, json.dumps(empty).encode())
    report = take_snapshot(settings(proxy, token, good[0], provider_account=False))
    assert_failed_closed(report, good, "empty", token)


def test_empty_listings_beside_the_provider_ranges_are_a_shrink(proxy, token, good):
    empty = {"success": True, "errors": [], "messages": [], "result": [],
             "result_info": {"page": 1, "per_page": 1, "count": 0, "total_count": 0, "total_pages": 0}}
    proxy.spoil = lambda number, path, status, body: None if path == "/ips" else (200, json.dumps(empty).encode())
    report = take_snapshot(settings(proxy, token, good[0]))
    assert_failed_closed(report, good, "shrink", token)
    allowed = take_snapshot(settings(proxy, token, good[0]), allow_shrink=True)  # an intended shrink, once
    assert allowed["result"] is True and allowed["changed"] is True and allowed["counts"]["prefixes"] == 2


def test_bindings_vanishing_are_a_shrink_of_entries(proxy, token, good):
    """Edge IPs disappearing en masse would let origins point at them: refused like vanishing prefixes."""
    proxy.spoil = with_envelope(lambda number, path, document: {
        **document, "result": [], "result_info": {**document["result_info"], "count": 0, "total_count": 0, "total_pages": 0}}
        if "/bindings" in path or "/delegations" in path else None)
    report = take_snapshot(settings(proxy, token, good[0], max_shrink=0.3))
    assert_failed_closed(report, good, "shrink", token)
    assert report["comment"].startswith("the snapshot shrank: entries:")


def test_a_hang_is_a_timeout(proxy, token, good):
    proxy.spoil = lambda number, path, status, body: (status, body, 30) if "/delegations" in path else None
    started = time.monotonic()
    report = take_snapshot(settings(proxy, token, good[0], read_timeout=0.5, deadline=1))
    assert_failed_closed(report, good, "timeout", token)
    assert time.monotonic() - started < 20  # the deadline ended it, not the proxy


def test_the_token_echoed_back_is_redacted(proxy, token, good):
    echo = json.dumps({"success": False, "errors": [{"code": 9, "message": f"bad token {token} and {token[3:20]}"}]})
    proxy.spoil = lambda number, path, status, body: (403, echo.encode()) if "/bindings" in path else None
    report = take_snapshot(settings(proxy, token, good[0]))
    assert_failed_closed(report, good, "http_status", token)
    assert "<redacted>" in report["comment"] and token[3:20] not in report["comment"]
    assert "was refused" in report["comment"]


def test_a_wrong_token_costs_the_first_requests_only(proxy, good, token):
    report = take_snapshot(settings(proxy, "wrong-token-000000", good[0]))
    assert_failed_closed(report, good, "http_status", token)
    assert "HTTP 401" in report["comment"]
    assert report["requests"] <= len(DOC_ACCOUNTS) + 1  # the first phase only: no prefix's children were asked


def test_a_refused_connection(token, good, refused_url):
    report = take_snapshot(SnapshotSettings.from_mapping(
        {"url": refused_url, "token": token, "accounts": ["acme"], "output": str(good[0]), "retries": 0}, environ={}))
    assert_failed_closed(report, good, "connect", token)


def test_after_a_failure_no_further_request_is_sent(proxy, token, good):
    """Concurrent children requests: the first failure stops the rest (no run to the end regardless)."""
    proxy.spoil = lambda number, path, status, body: (500, b"{}") if "/delegations" in path else None
    report = take_snapshot(settings(proxy, token, good[0], concurrency=1))
    assert_failed_closed(report, good, "http_status", token)
    children = [path for path in proxy.requests if "/delegations" in path or "/bindings" in path]
    assert len(children) == 1


# --------------------------------------------------------------------------- shapes a real API may use, read alike


@pytest.mark.parametrize(
    "change",
    [
        lambda info: {key: value for key, value in info.items() if key not in ("total_count", "total_pages")},
        lambda info: {key: value for key, value in info.items() if key != "total_pages"},
        lambda info: None,
    ],
    ids=["page-and-count-only", "total-count-only", "no-result-info"],
)
def test_listings_without_totals_end_at_a_short_page(proxy, token, good, change):
    """Without ``total_pages`` or ``total_count`` a full page means more may follow: the next is asked, and the data is the same."""

    def spoil(number, path, document):
        if "result_info" not in document:
            return None
        info = change(document["result_info"])
        stripped = {key: value for key, value in document.items() if key != "result_info"}
        return stripped if info is None else {**stripped, "result_info": info}

    proxy.spoil = with_envelope(spoil)
    report = take_snapshot(settings(proxy, token, good[0]))
    assert report["result"] is True and report["changed"] is False, report
    assert good[0].read_bytes() == good[1]
