"""Every failure class of SPEC.md ends denied, over real HTTP to a misbehaving server.

The message names the failure and the URL asked; the token appears nowhere.
"""

import logging

import netaddr
import pytest

from saltext.spectrum_acl.api import client as api_client
from tests.api.conftest import reserved_only_guard, settings

#: Fast failure: short timeouts and backoff, two retries.
FAST = {"connect_timeout": 2, "read_timeout": 0.5, "retries": 2, "backoff_factor": 0.01}
ENDPOINT = "/edge_services/spectrum/validate_origin_ip_acl"

#: mode -> (words in the message, retried requests the server saw)
FAULTS = {
    "hang": ("read timeout: no answer within 0.5 s", 1),
    "status-500": ("HTTP 500 Internal Server Error (code 1500: internal error)", 1),
    "503-always": ("HTTP 503 Service Unavailable after 2 retries ('<html>Service Unavailable</html>')", 3),
    "401": ("HTTP 401 Unauthorized: the token from ", 1),
    "not-json": ("answered with a body that is not JSON ('<html><body>Login required</body></html>')", 1),
    "success-false": ("answered success: false (code 1234: backend on fire)", 1),
    "bad-envelope": ("without a result.allowed_origins mapping", 1),
    "missing-key": ("answered without cidr '", 1),
    "non-bool": ("answered is_managed='\"false\"' for cidr '", 1),
    "redirect": ("HTTP 302 Found: a redirect to https://elsewhere.example/api; set spectrum_acl:api:url to the final URL", 1),
}

ORIGINS = ["1.1.1.1", "8.8.4.4"]


def _client(url, token, **overrides):
    return api_client.AddressingApiClient(settings(url, token, **{**FAST, **overrides}))


def _check(client, origins=ORIGINS, account="crossbow"):
    guard = reserved_only_guard(client)
    guard.prefetch((account, netaddr.IPNetwork(origin)) for origin in origins)
    return [guard.check_origin(origin, account) for origin in origins]


@pytest.mark.parametrize("mode", sorted(FAULTS))
def test_fault_denies_with_a_clear_message(fault_server, token, caplog, mode):
    words, requests_seen = FAULTS[mode]
    fault_server.reset(mode)
    client = _client(fault_server.url, token)
    with caplog.at_level(logging.DEBUG):
        verdicts = _check(client)
    fault_server.release.set()
    details = {
        "401": "the token from spectrum_acl:api:token was refused (code 10000: Authentication error)",
        "missing-key": "answered without cidr '8.8.4.4/32' that was asked",
        "non-bool": "answered is_managed='\"false\"' for cidr '1.1.1.1/32'; flags must be true or false",
    }
    for verdict in verdicts:
        assert verdict.allowed is False
        text = verdict.summary()
        assert words in text, text
        assert details.get(mode, words) in text, text
        assert f"GET {fault_server.url}{ENDPOINT}, account_id crossbow, batch 1 of 1, 2 cidr" in text
        assert "denied (fail closed)" in text
        assert token not in text
    assert len(fault_server.requests) == requests_seen
    assert client.requests_sent == 1
    assert token not in caplog.text


def test_refused_connection_denies(refused_url, token, caplog):
    client = _client(refused_url, token)
    with caplog.at_level(logging.DEBUG):
        verdict = _check(client, ["1.1.1.1"])[0]
    assert not verdict.allowed
    assert f"Addressing API request failed: connection refused (GET {refused_url}{ENDPOINT}" in verdict.summary()
    assert "Retrying" in caplog.text  # connect errors are retried
    assert token not in caplog.text


@pytest.mark.parametrize("mode", ["503-then-ok", "429-then-ok"])
def test_retry_then_success(fault_server, token, local_guard, mode):
    fault_server.reset(mode)
    client = _client(fault_server.url, token)
    verdicts = _check(client, ["1.1.1.1", "104.16.5.20"])
    assert [v.allowed for v in verdicts] == [True, True]
    assert [v.flags() for v in verdicts] == [local_guard.check_origin(o, "crossbow").flags() for o in ("1.1.1.1", "104.16.5.20")]
    assert len(fault_server.requests) == 3  # two refusals, one answer
    assert client.requests_sent == 1


def test_server_text_quoting_the_token_is_redacted(fault_server, token, caplog):
    fault_server.reset("echo-token")
    client = _client(fault_server.url, token, retries=0)
    with caplog.at_level(logging.DEBUG):
        verdict = _check(client, ["1.1.1.1"])[0]
    assert not verdict.allowed
    assert "bad header Bearer <redacted>" in verdict.summary()
    assert token not in verdict.summary()
    assert token not in caplog.text


def test_first_failure_stops_the_run(fault_server, token):
    """After a failed batch, the rest of the run is denied without more requests."""
    fault_server.reset("401")
    client = _client(fault_server.url, token, batch_size=2)
    origins = [f"44.0.0.{n}" for n in range(1, 11)]
    verdicts = _check(client, origins)
    assert len(fault_server.requests) == 1
    assert all(not v.allowed for v in verdicts)
    assert "not asked after an earlier failure: Addressing API answered HTTP 401" in verdicts[-1].summary()
    # an origin nobody prefetched is not asked either
    assert not reserved_only_guard(client).check_origin("9.9.9.9", "crossbow").allowed
    assert len(fault_server.requests) == 1


def test_answers_expire_after_cache_ttl(fault_server, token):
    now = [1000.0]
    client = api_client.AddressingApiClient(settings(fault_server.url, token, cache_ttl=60, **FAST), clock=lambda: now[0])
    guard = reserved_only_guard(client)
    assert guard.check_origin("1.1.1.1", "crossbow").allowed
    assert guard.check_origin("1.1.1.1", "crossbow").allowed
    assert len(fault_server.requests) == 1
    now[0] += 61
    fault_server.reset("401")
    assert not guard.check_origin("1.1.1.1", "crossbow").allowed  # asked again, and now refused
    assert len(fault_server.requests) == 1
    now[0] += 61
    fault_server.reset("ok")
    assert guard.check_origin("1.1.1.1", "crossbow").allowed  # the failure expired too


def test_request_shape(fault_server, token):
    client = _client(fault_server.url, token)
    _check(client, ["104.16.5.20", "2606:4700::/32"], account="crossbow")
    (request,) = fault_server.requests
    assert request["path"] == ENDPOINT
    assert request["query"] == {"cidr": ["104.16.5.20/32", "2606:4700::/32"], "account_id": ["crossbow"]}
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert headers["authorization"] == f"Bearer {token}"
    assert headers["accept"] == "application/json"
    assert headers["user-agent"].startswith("saltext-spectrum-acl/")
    # no account_id: the parameter is left out, and the guard denies managed space
    fault_server.reset("ok")
    verdict = _check(client, ["104.16.9.1"], account=None)[0]
    assert "account_id" not in fault_server.requests[0]["query"]
    assert not verdict.allowed


def test_a_slow_prefetch_does_not_expire_its_own_answers(fault_server, token):
    """Answers date from the end of the prefetch: judging right after asks nothing again."""
    now, ticking = [0.0], [True]

    def clock():
        if ticking[0]:
            now[0] += 25.0  # while the API is asked, every look at the clock is 25 s later
        return now[0]

    client = api_client.AddressingApiClient(settings(fault_server.url, token, cache_ttl=60, batch_size=1, **FAST), clock=clock)
    guard = reserved_only_guard(client)
    origins = ["1.1.1.1", "8.8.4.4", "9.9.9.9"]
    guard.prefetch(("crossbow", netaddr.IPNetwork(origin)) for origin in origins)
    ticking[0] = False
    assert all(guard.check_origin(origin, "crossbow").allowed for origin in origins)
    assert len(fault_server.requests) == 3
