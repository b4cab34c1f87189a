"""The client against slow, hostile and proxied servers, over real HTTP on 127.0.0.1.

Each one fails closed with a structured ``ApiError.kind``, within the deadline,
and no piece of the token of ``SECRET_PIECE`` or more characters shows anywhere.
"""

import logging
import secrets
import time

import netaddr
import pytest

from saltext.spectrum_acl.api import client as api_client
from saltext.spectrum_acl.api.client import SECRET_PIECE, ApiError
from tests.api.conftest import reserved_only_guard, settings
from tests.api.fault_server import ECHO_PADDING

ENDPOINT = "/edge_services/spectrum/validate_origin_ip_acl"
FAST = {"connect_timeout": 2, "read_timeout": 0.5, "retries": 2, "backoff_factor": 0.01}
#: A deadline shorter than the per-read timeout: only the deadline can stop a drip.
DEADLINE, READ_TIMEOUT = 2, 3
#: "Does not hang": the deadline and a generous margin.
HANG_BOUND = DEADLINE + 3


def _client(url, token, **overrides):
    return api_client.AddressingApiClient(settings(url, token, **{**FAST, **overrides}))


def _ask(client, origin="1.1.1.1", account="crossbow"):
    """The ``ApiError`` that ``client`` fails closed with for ``origin``."""
    with pytest.raises(ApiError) as caught:
        client.judge(netaddr.IPNetwork(origin), account)
    return caught.value


#: A token that shares no piece with the client's own words (the session token has "spectrum" in it).
ECHOED_TOKEN = "tk" + secrets.token_hex(20)


def _token_pieces(token):
    return [token[start : start + SECRET_PIECE] for start in range(len(token) - SECRET_PIECE + 1)]


# --------------------------------------------------------------------------- the deadline


@pytest.mark.parametrize("mode, status", [("drip-body", 200), ("drip-headers", None)])
def test_a_dripping_server_fails_closed_at_the_deadline(fault_server, token, mode, status):
    """A byte a second, each well within the read timeout: the deadline ends the request."""
    fault_server.reset(mode)
    client = _client(fault_server.url, token, deadline=DEADLINE, read_timeout=READ_TIMEOUT)
    started = time.monotonic()
    error = _ask(client)
    elapsed = time.monotonic() - started
    assert (error.kind, error.status) == ("timeout", status)
    assert elapsed < HANG_BOUND, elapsed
    assert len(fault_server.requests) == 1
    verdict = reserved_only_guard(client).check_origin("1.1.1.1", "crossbow")
    assert verdict.allowed is False and verdict.denied_by == ["remote"]


def test_retry_waits_count_against_the_deadline(fault_server, token):
    """``Retry-After: 30`` with three retries: the deadline ends it, without waiting."""
    fault_server.reset("503-retry-after-30")
    client = _client(fault_server.url, token, deadline=DEADLINE, retries=3)
    started = time.monotonic()
    error = _ask(client)
    assert error.kind == "timeout"
    assert time.monotonic() - started < HANG_BOUND
    assert len(fault_server.requests) == 1


def test_an_answer_within_the_deadline_is_used(reference_server, token):
    client = _client(reference_server.url, token, deadline=DEADLINE)
    assert client.judge(netaddr.IPNetwork("104.16.5.20"), "crossbow")["allowed"] is True


# --------------------------------------------------------------------------- proxies


@pytest.fixture
def proxy_environment(monkeypatch, fault_server):
    """Every proxy variable points at the fault server (which records what reaches it)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.setenv(name, fault_server.url)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    return fault_server


def test_proxy_variables_in_the_environment_are_ignored(proxy_environment, reference_server, token):
    before = reference_server.state.requests
    client = _client(reference_server.url, token)
    assert client.judge(netaddr.IPNetwork("104.16.5.20"), "crossbow")["allowed"] is True
    assert proxy_environment.requests == []
    assert reference_server.state.requests == before + 1


def test_an_explicit_proxy_is_used(proxy_environment, monkeypatch, refused_url, reference_server, token):
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, refused_url)  # only the setting may say where to go
    before = reference_server.state.requests
    client = _client(reference_server.url, token, proxy=proxy_environment.url)
    assert client.judge(netaddr.IPNetwork("104.16.5.20"), "crossbow")["allowed"] is True
    assert [request["target"].split("?")[0] for request in proxy_environment.requests] == [reference_server.url + ENDPOINT]
    assert reference_server.state.requests == before


# --------------------------------------------------------------------------- server text


@pytest.mark.parametrize(
    "mode, kind, status",
    [
        ("echo-late-errors", "http_status", 502),
        ("echo-late-body", "not_json", 200),
        ("echo-late-location", "http_status", 302),
        ("echo-late-reason", "http_status", 500),
        ("echo-late-status-line", "connect", None),
    ],
)
def test_server_text_is_redacted_before_it_is_cut(fault_server, caplog, mode, kind, status):
    """The server echoes 175 characters, the token and a piece of it: no piece of it shows."""
    fault_server.reset(mode)
    client = _client(fault_server.url, ECHOED_TOKEN, retries=0)
    with caplog.at_level(logging.DEBUG):
        error = _ask(client)
        verdict = reserved_only_guard(client).check_origin("1.1.1.1", "crossbow")
    assert (error.kind, error.status) == (kind, status)
    assert not verdict.allowed
    shown = "\n".join((str(error), verdict.summary(), caplog.text))
    assert ECHO_PADDING[:20] in str(error)  # the server text is quoted
    leaked = [piece for piece in _token_pieces(ECHOED_TOKEN) if piece in shown]
    assert not leaked


# --------------------------------------------------------------------------- answer shape


@pytest.mark.parametrize(
    "mode, kind, status",
    [
        ("duplicate-flag", "bad_shape", 200),
        ("duplicate-success", "bad_shape", 200),
        ("deep-100000", "bad_shape", 200),
        ("deep-40-messages", "bad_shape", 200),
        ("deep-error-body", "http_status", 500),
    ],
)
def test_duplicate_keys_and_deep_nesting_are_refused(fault_server, token, caplog, mode, kind, status):
    fault_server.reset(mode)
    client = _client(fault_server.url, token)
    with caplog.at_level(logging.DEBUG):
        error = _ask(client)
        verdict = reserved_only_guard(client).check_origin("1.1.1.1", "crossbow")
    assert (error.kind, error.status) == (kind, status)
    assert verdict.allowed is False and verdict.denied_by == ["remote"]
    for text in (verdict.summary(), caplog.text):
        assert "RecursionError" not in text and "Traceback" not in text
