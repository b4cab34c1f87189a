"""Batches of one prefetch in flight together (``spectrum_acl:api:concurrency``), over real HTTP on 127.0.0.1.

Overlap is shown by the server, which counts the requests it has in flight at once,
never by timing. Fail closed holds as with one batch at a time: no batch is sent once
a failure is known, and every origin not answered is denied.
"""

import logging
import time

import netaddr
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from saltext.spectrum_acl.api import client as api_client
from saltext.spectrum_acl.api import tracing
from saltext.spectrum_acl.api.client import MAX_CONCURRENCY, ApiConfigError, ApiError
from tests.api.conftest import reserved_only_guard, settings
from tests.api.fault_server import ECHO_PADDING

FAST = {"connect_timeout": 2, "read_timeout": 5, "retries": 2, "backoff_factor": 0.01}
ACCOUNT = "crossbow"
#: A deadline shorter than the per-read timeout: only the deadline can stop a drip.
DEADLINE, READ_TIMEOUT = 2, 3
#: "Does not hang": the deadline and a generous margin (concurrent requests share it, they do not add up).
HANG_BOUND = DEADLINE + 3


def _origins(count):
    """Unmanaged addresses: the API allows them, so an allowed verdict can only come from an answer."""
    return [f"44.0.{n // 250}.{n % 250 + 1}" for n in range(count)]


def _cidr(origin):
    return f"{origin}/32"


def _client(url, token, trace=None, **overrides):
    return api_client.AddressingApiClient(settings(url, token, **{**FAST, "batch_size": 1, **overrides}), tracing=trace)


def _run(client, origins):
    guard = reserved_only_guard(client)
    guard.prefetch((ACCOUNT, netaddr.IPNetwork(origin)) for origin in origins)
    return {origin: guard.check_origin(origin, ACCOUNT) for origin in origins}


def _asked(server):
    """The cidrs of every request the server saw, in the order they arrived."""
    return [request["query"]["cidr"] for request in server.requests]


# --------------------------------------------------------------------------- overlap


@pytest.mark.parametrize("concurrency", [None, 2, 4, MAX_CONCURRENCY])
def test_batches_are_in_flight_together(fault_server, token, concurrency):
    """The server holds answers until ``concurrency`` requests are in flight at once; never more are."""
    expected = concurrency or api_client.DEFAULTS["concurrency"]
    fault_server.reset("gather", first_ok=True, gather=expected, latency=0.02)
    overrides = {} if concurrency is None else {"concurrency": concurrency}
    client = _client(fault_server.url, token, **overrides)
    origins = _origins(1 + 2 * expected)  # the first batch alone, then two rounds
    verdicts = _run(client, origins)
    assert fault_server.max_in_flight == expected
    assert all(verdict.allowed for verdict in verdicts.values())
    assert sorted(_asked(fault_server)) == sorted([_cidr(origin)] for origin in origins)  # each asked once
    assert _asked(fault_server)[0] == [_cidr(origins[0])]  # batch 1 first, alone
    assert client.requests_sent == len(origins)


def test_the_pool_holds_a_connection_per_batch_in_flight(token):
    for concurrency in (1, 8, MAX_CONCURRENCY):
        client = api_client.AddressingApiClient(settings("https://api.example.net", token, concurrency=concurrency))
        for scheme in ("https://", "http://"):
            assert client._session.get_adapter(scheme)._pool_maxsize == max(2, concurrency)
        client.close()


def test_concurrency_one_stays_sequential(fault_server, token, monkeypatch):
    """One at a time, in batch order, in the caller's thread: no worker threads at all."""

    def no_threads(*args, **kwargs):
        raise AssertionError("concurrency 1 started worker threads")

    monkeypatch.setattr(api_client, "ThreadPoolExecutor", no_threads)
    fault_server.reset("slow", latency=0.02)
    client = _client(fault_server.url, token, concurrency=1)
    origins = _origins(6)
    verdicts = _run(client, origins)
    assert fault_server.max_in_flight == 1
    assert _asked(fault_server) == [[_cidr(origin)] for origin in origins]
    assert all(verdict.allowed for verdict in verdicts.values())


def test_more_concurrency_than_batches_is_fine(fault_server, token):
    fault_server.reset("ok")
    client = _client(fault_server.url, token, concurrency=MAX_CONCURRENCY, batch_size=2)
    verdicts = _run(client, _origins(5))  # 3 batches
    assert all(verdict.allowed for verdict in verdicts.values())
    assert len(fault_server.requests) == client.requests_sent == 3


# --------------------------------------------------------------------------- fail closed


def test_a_failure_stops_further_sends_and_denies_the_unanswered(fault_server, token, caplog):
    """Batch 3 fails while batches 2, 4 and 5 are in flight: they keep their answers, and nothing more is sent."""
    concurrency = 4
    origins = _origins(12)
    failing = origins[2]
    # batch 1 alone and answered; then batches 2-5 in flight together; batch 3 fails while
    # the others are still in flight, and they are answered only after it, and later still
    fault_server.reset("fail-one", first_ok=True, gather=concurrency, latency=0.3, fail_cidrs=[_cidr(failing)])
    client = _client(fault_server.url, token, concurrency=concurrency)
    with caplog.at_level(logging.DEBUG):
        verdicts = _run(client, origins)

    assert fault_server.max_in_flight == concurrency
    # no request reached the server after the failure was answered
    assert fault_server.failed_after == len(fault_server.requests) == 1 + concurrency == client.requests_sent
    answered = {cidrs[0] for cidrs in _asked(fault_server)} - {_cidr(failing)}
    assert answered == {_cidr(origin) for origin in origins[: 1 + concurrency] if origin != failing}
    # nothing is allowed that was not answered, and everything answered is used
    assert {_cidr(origin) for origin, verdict in verdicts.items() if verdict.allowed} == answered
    assert "HTTP 500 Internal Server Error (code 1500: this batch failed)" in verdicts[failing].summary()
    assert f"batch 3 of {len(origins)}, 1 cidr" in verdicts[failing].summary()
    for origin in origins[1 + concurrency :]:
        verdict = verdicts[origin]
        assert not verdict.allowed and verdict.denied_by == ["remote"]
        assert "not asked after an earlier failure: Addressing API answered HTTP 500" in verdict.summary()
        with pytest.raises(ApiError) as caught:
            client.judge(netaddr.IPNetwork(origin), ACCOUNT)
        assert caught.value.kind == "skipped"
    # an origin nobody prefetched is not asked either, while the failure stands
    assert not reserved_only_guard(client).check_origin("9.9.9.9", ACCOUNT).allowed
    assert len(fault_server.requests) == 1 + concurrency
    assert token not in caplog.text


def test_every_batch_in_flight_failing_denies_them_all(fault_server, token):
    """Several failures at once: each batch keeps its own error, the rest are skipped, nothing is allowed."""
    concurrency = 4
    origins = _origins(20)
    fault_server.reset("401", first_ok=True)
    client = _client(fault_server.url, token, concurrency=concurrency)
    verdicts = _run(client, origins)
    sent = len(fault_server.requests)
    assert 2 <= sent <= 1 + concurrency == 5
    assert client.requests_sent == sent
    assert [origin for origin, verdict in verdicts.items() if verdict.allowed] == [origins[0]]
    refused = [o for o, v in verdicts.items() if "HTTP 401" in v.summary() and "not asked" not in v.summary()]
    skipped = [o for o, v in verdicts.items() if "not asked after an earlier failure: Addressing API answered HTTP 401" in v.summary()]
    assert len(refused) == sent - 1
    assert sorted(refused + skipped) == sorted(origins[1:])


def test_a_first_batch_failing_sends_nothing_more(fault_server, token):
    """The first batch goes alone: a refused token costs one request, not ``concurrency``."""
    fault_server.reset("401")
    client = _client(fault_server.url, token, concurrency=8)
    verdicts = _run(client, _origins(30))
    assert len(fault_server.requests) == 1
    assert not any(verdict.allowed for verdict in verdicts.values())


# --------------------------------------------------------------------------- deadline, retries, redaction


def test_retries_work_for_batches_in_flight_together(fault_server, token):
    """Each batch is refused once with 503 and retried: all are answered."""
    fault_server.reset("503-once-per-batch")
    client = _client(fault_server.url, token, concurrency=4)
    origins = _origins(9)
    verdicts = _run(client, origins)
    assert all(verdict.allowed for verdict in verdicts.values())
    assert client.requests_sent == len(origins)
    assert len(fault_server.requests) == 2 * len(origins)


def test_each_batch_in_flight_has_its_own_deadline(fault_server, token):
    """Batches 2-5 drip their answers a byte a second: each ends at its deadline, together, not one after another."""
    fault_server.reset("drip-body", first_ok=True)
    client = _client(fault_server.url, token, concurrency=4, deadline=DEADLINE, read_timeout=READ_TIMEOUT)
    origins = _origins(5)
    started = time.monotonic()
    verdicts = _run(client, origins)
    elapsed = time.monotonic() - started
    assert elapsed < HANG_BOUND, elapsed
    assert fault_server.max_in_flight >= 2
    assert verdicts[origins[0]].allowed
    timed_out = [o for o, v in verdicts.items() if f"no complete answer within the deadline of {DEADLINE} s" in v.summary()]
    assert timed_out == origins[1:]  # four workers, four batches: all in flight, each timed out on its own


def test_server_text_is_redacted_in_batches_in_flight_together(fault_server, caplog):
    echoed_token = "tk" + "0123456789abcdef" * 2
    fault_server.reset("echo-late-errors", first_ok=True)
    client = _client(fault_server.url, echoed_token, concurrency=4, retries=0)
    with caplog.at_level(logging.DEBUG):
        verdicts = _run(client, _origins(5))
    shown = "\n".join([caplog.text, *(verdict.summary() for verdict in verdicts.values())])
    assert ECHO_PADDING[:20] in shown  # the server text is quoted
    pieces = {echoed_token[start : start + api_client.SECRET_PIECE] for start in range(len(echoed_token) - api_client.SECRET_PIECE + 1)}
    assert not [piece for piece in pieces if piece in shown]


# --------------------------------------------------------------------------- tracing


def _client_spans(exporter):
    return sorted((s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT), key=lambda s: s.attributes["spectrum_acl.batch"])


def test_spans_of_batches_in_flight_together_have_the_runs_parent(fault_server, token, provider, exporter):
    concurrency = 4
    fault_server.reset("gather", first_ok=True, gather=concurrency)
    client = _client(fault_server.url, token, trace=tracing.client_tracing(tracer_provider=provider), concurrency=concurrency)
    origins = _origins(1 + concurrency)
    with provider.get_tracer("test").start_as_current_span("salt.minion.exec.state.apply") as parent:
        verdicts = _run(client, origins)
    assert fault_server.max_in_flight == concurrency
    assert all(verdict.allowed for verdict in verdicts.values())
    spans = _client_spans(exporter)
    assert [s.attributes["spectrum_acl.batch"] for s in spans] == list(range(1, len(origins) + 1))
    for span in spans:
        assert span.parent is not None and span.parent.span_id == parent.get_span_context().span_id
        assert span.context.trace_id == parent.get_span_context().trace_id
        assert span.attributes["http.response.status_code"] == 200
    # each request carried its own span as traceparent
    carried = set()
    for request in fault_server.requests:
        headers = {name.lower(): value for name, value in request["headers"].items()}
        _version, trace_id, span_id, _flags = headers["traceparent"].split("-")
        assert int(trace_id, 16) == parent.get_span_context().trace_id
        carried.add(int(span_id, 16))
    assert carried == {span.context.span_id for span in spans}

    # a later run without a parent span: its spans are roots, nothing of the first run's context is left
    exporter.clear()
    fault_server.reset("gather", first_ok=True, gather=concurrency)
    _run(client, _origins(2 * (1 + concurrency))[1 + concurrency :])
    spans = _client_spans(exporter)
    assert len(spans) == 1 + concurrency
    assert all(span.parent is None for span in spans)
    assert len({span.context.trace_id for span in spans}) == len(spans)


def test_a_failed_batch_in_flight_is_an_error_span_under_the_parent(fault_server, token, provider, exporter):
    concurrency = 3
    origins = _origins(8)
    fault_server.reset("fail-one", first_ok=True, gather=concurrency, latency=0.3, fail_cidrs=[_cidr(origins[1])])
    client = _client(fault_server.url, token, trace=tracing.client_tracing(tracer_provider=provider), concurrency=concurrency)
    with provider.get_tracer("test").start_as_current_span("run") as parent:
        _run(client, origins)
    spans = _client_spans(exporter)
    assert len(spans) == 1 + concurrency  # batches never sent have no span
    assert all(span.parent.span_id == parent.get_span_context().span_id for span in spans)
    (failed,) = [span for span in spans if span.status.status_code == StatusCode.ERROR]
    assert failed.attributes["spectrum_acl.batch"] == 2
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.attributes["error.type"] == "http_status"


# --------------------------------------------------------------------------- the setting


def test_concurrency_is_a_known_setting_with_its_default(token):
    assert "concurrency" in api_client.KNOWN_KEYS
    assert api_client.unknown_keys({"concurrency": 4}) == []
    assert settings("https://a.example", token).concurrency == 8
    for value in (1, 8, MAX_CONCURRENCY):
        assert settings("https://a.example", token, concurrency=value).concurrency == value


@pytest.mark.parametrize("value", [0, -1, MAX_CONCURRENCY + 1, 1000, 2.5, 8.0, "8", True, None, float("nan")])
def test_bad_concurrency_is_refused_by_name(token, value):
    with pytest.raises(ApiConfigError) as caught:
        settings("https://a.example", token, concurrency=value)
    message = str(caught.value)
    assert message.startswith(f"spectrum_acl:api:concurrency must be a whole number from 1 to {MAX_CONCURRENCY} (got ")
    assert token not in message
