"""The client's settings and answer checks, without a network."""

import json
import logging

import pytest

from saltext.spectrum_acl.api import client as api_client
from saltext.spectrum_acl.api.client import ApiConfigError, ApiError, ApiSettings, parse_answer

TOKEN = "sk-unit-0123456789abcdef"


def build(environ=None, **values):
    return ApiSettings.from_config(lambda key, default: values.get(key, default), environ=environ or {})


def test_defaults_are_safe():
    settings = build(url="https://api.example.net/client/v4/", token=TOKEN)
    assert settings.url == "https://api.example.net/client/v4"
    assert settings.endpoint == "https://api.example.net/client/v4/edge_services/spectrum/validate_origin_ip_acl"
    assert settings.verify is True
    assert (settings.connect_timeout, settings.read_timeout) == (3.05, 10.0)
    assert (settings.batch_size, settings.retries) == (100, 3)
    assert settings.concurrency == 8
    assert settings.tracing == "auto"
    assert settings.deadline == 30.0
    assert settings.proxy is None


def test_token_is_never_in_repr():
    settings = build(url="https://api.example.net", token=TOKEN)
    client = api_client.AddressingApiClient(settings)
    for text in (repr(settings), str(settings), repr(client), repr(client._session.auth)):
        assert TOKEN not in text
    client.close()


def test_token_sources(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}\n")
    token_file.chmod(0o600)
    from_file = build(url="https://a.example", token_file=str(token_file))
    assert from_file.token == TOKEN
    assert from_file.token_source == f"token_file {token_file}"
    from_env = build(url="https://a.example", environ={"SPECTRUM_ACL_API_TOKEN": TOKEN})
    assert from_env.token == TOKEN
    assert from_env.token_source == "environment variable SPECTRUM_ACL_API_TOKEN"
    named_env = build(url="https://a.example", token_env="EDGE_TOKEN", environ={"EDGE_TOKEN": TOKEN})
    assert named_env.token_source == "environment variable EDGE_TOKEN"


def test_world_readable_token_file_warns(tmp_path, caplog):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        build(url="https://a.example", token_file=str(token_file))
    assert "chmod 600" in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    "values, message",
    [
        ({}, "spectrum_acl:api:url is required"),
        ({"url": "ftp://a.example"}, "must be an https:// URL"),
        ({"url": "https://"}, "must be an https:// URL with a host"),
        ({"url": "http://api.example.net"}, "plain http to a host that is not loopback"),
        ({"url": f"https://user:{TOKEN}@a.example"}, "must not contain user:password@"),
        ({"url": "https://a.example/?x=1"}, "query string"),
        ({"url": "https://a.example:99999"}, "not a valid URL"),
        ({"url": "https://a.example"}, "no Addressing API token"),
        ({"url": "https://a.example", "token": TOKEN, "token_file": "/x"}, "set only one of"),
        ({"url": "https://a.example", "token": ""}, "is empty"),
        ({"url": "https://a.example", "token": f"{TOKEN} extra"}, "contains spaces"),
        ({"url": "https://a.example", "token": 12345}, "must be a string"),
        ({"url": "https://a.example", "token_file": "/nonexistent/token"}, "does not exist"),
        ({"url": "https://a.example", "token": TOKEN, "verify": "/nonexistent/ca.pem"}, "CA bundle"),
        ({"url": "https://a.example", "token": TOKEN, "verify": 0}, "must be true, false or the path"),
        ({"url": "https://a.example", "token": TOKEN, "batch_size": 0}, "batch_size must be a whole number from 1 to 1000"),
        ({"url": "https://a.example", "token": TOKEN, "batch_size": 5000}, "from 1 to 1000"),
        ({"url": "https://a.example", "token": TOKEN, "batch_size": 2.5}, "whole number"),
        ({"url": "https://a.example", "token": TOKEN, "connect_timeout": "5"}, "connect_timeout must be a number"),
        ({"url": "https://a.example", "token": TOKEN, "read_timeout": -1}, "read_timeout"),
        ({"url": "https://a.example", "token": TOKEN, "retries": True}, "retries"),
        ({"url": "https://a.example", "token": TOKEN, "tracing": "sometimes"}, "tracing must be auto, true or false"),
        ({"url": "https://a.example", "token": TOKEN, "deadline": 0}, "deadline must be a number from 0.1 to 3600"),
        ({"url": "https://a.example", "token": TOKEN, "deadline": "30"}, "deadline must be a number"),
        ({"url": "https://a.example", "token": TOKEN, "proxy": "socks5://proxy.example:1080"}, "must be http:// or https://"),
        ({"url": "https://a.example", "token": TOKEN, "proxy": "http://proxy.example/path"}, "must be http:// or https://"),
        ({"url": "https://a.example", "token": TOKEN, "proxy": f"http://user:{TOKEN}@proxy.example"}, "must not contain user:password@"),
        ({"url": "https://a.example", "token": TOKEN, "proxy": 3128}, "spectrum_acl:api:proxy must be a URL"),
    ],
)
def test_bad_settings_are_clear_and_never_show_the_token(values, message):
    with pytest.raises(ApiConfigError) as caught:
        build(**values)
    assert message in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_http_is_fine_to_loopback():
    for url in ("http://127.0.0.1:8080", "http://[::1]:8080", "http://localhost:8080"):
        assert build(url=url, token=TOKEN).url == url


def test_verify_false_must_be_explicit_and_warns(caplog):
    with caplog.at_level(logging.WARNING):
        assert build(url="https://a.example", token=TOKEN, verify=False).verify is False
    assert "verification of the Addressing API is OFF" in caplog.text


def test_the_session_takes_nothing_from_the_environment():
    plain = api_client.AddressingApiClient(build(url="https://a.example", token=TOKEN))
    assert plain._session.trust_env is False and not plain._session.proxies
    proxied = api_client.AddressingApiClient(build(url="https://a.example", token=TOKEN, proxy="http://proxy.example:3128"))
    assert proxied._session.proxies == {"http": "http://proxy.example:3128", "https": "http://proxy.example:3128"}
    plain.close()
    proxied.close()


def test_unknown_keys():
    assert api_client.unknown_keys({"url": 1, "tokenfile": 2, "batch_size": 3}) == ["tokenfile"]


def test_retry_policy():
    client = api_client.AddressingApiClient(build(url="https://a.example", token=TOKEN, retries=4))
    retry = client._session.get_adapter("https://a.example").max_retries
    assert retry.total == retry.connect == retry.status == 4
    assert retry.read is False  # a read timeout is not retried
    assert retry.other == 0
    assert set(retry.status_forcelist) == {429, 502, 503, 504}
    assert set(retry.allowed_methods) == {"GET"}
    assert retry.backoff_factor == 0.5
    assert retry.raise_on_status is False
    client.close()


# --------------------------------------------------------------------------- answers

FLAGS_OK = {"allowed": True, "is_managed": False, "is_delegated": False, "is_reserved": False, "has_binding": False}


def body(origins, success=True):
    return json.dumps({"success": success, "errors": [], "messages": [], "result": {"allowed_origins": origins}}).encode()


def test_parse_answer_accepts_the_documented_shape():
    answers = parse_answer(body({"1.1.1.1/32": FLAGS_OK, "extra/32": FLAGS_OK}), ["1.1.1.1/32"])
    assert answers == {"1.1.1.1/32": FLAGS_OK}


def test_parse_answer_takes_nesting_up_to_the_limit():
    def nested(lists):
        messages = json.loads("[" * lists + "]" * lists)
        return json.dumps({"success": True, "errors": [], "messages": messages, "result": {"allowed_origins": {"1.1.1.1/32": FLAGS_OK}}})

    assert parse_answer(nested(31).encode(), ["1.1.1.1/32"]) == {"1.1.1.1/32": FLAGS_OK}  # 32 levels with the envelope
    with pytest.raises(ApiError) as caught:
        parse_answer(nested(32).encode(), ["1.1.1.1/32"])
    assert caught.value.kind == "bad_shape"


def test_parse_answer_matches_keys_by_network():
    answers = parse_answer(body({"1.1.1.1": FLAGS_OK, "2606:4700:0::1": FLAGS_OK}), ["1.1.1.1/32", "2606:4700::1/128"])
    assert set(answers) == {"1.1.1.1/32", "2606:4700::1/128"}


@pytest.mark.parametrize(
    "raw, kind, words",
    [
        (b"<html>nope</html>", "not_json", "not JSON"),
        (b"", "not_json", "not JSON"),
        (b"[1, 2]", "bad_shape", "without the envelope"),
        (json.dumps({"success": "yes"}).encode(), "bad_shape", "not a boolean"),
        (json.dumps({"success": False, "errors": [{"code": 7, "message": "nope"}]}).encode(), "success_false", "code 7: nope"),
        (json.dumps({"success": True, "result": None}).encode(), "bad_shape", "result.allowed_origins"),
        (json.dumps({"success": True, "result": {"allowed_origins": []}}).encode(), "bad_shape", "result.allowed_origins"),
        (body({}), "missing_cidr", "without cidr '1.1.1.1/32'"),
        (body({"1.1.1.1/32": True}), "bad_shape", "not an object of flags"),
        (body({"1.1.1.1/32": {**FLAGS_OK, "allowed": "true"}}), "bad_flag", "allowed='\"true\"'"),
        (body({"1.1.1.1/32": {**FLAGS_OK, "has_binding": None}}), "bad_flag", "has_binding='null'"),
        (body({"1.1.1.1/32": {**FLAGS_OK, "is_reserved": 0}}), "bad_flag", "is_reserved='0'"),
        (body({"1.1.1.1/32": {k: v for k, v in FLAGS_OK.items() if k != "is_delegated"}}), "bad_flag", "is_delegated=nothing"),
        (b'{"success": false, "success": true}', "bad_shape", "the key 'success' twice"),
        (body({"1.1.1.1/32": FLAGS_OK}).replace(b'"allowed": true', b'"allowed": false, "allowed": true'), "bad_shape", "'allowed' twice"),
        (b"[" * 33 + b"]" * 33, "bad_shape", "nested more than 32 levels deep"),
        (b"[" * 100_000 + b"]" * 100_000, "bad_shape", "nested more than 32 levels deep"),
    ],
)
def test_parse_answer_refuses_everything_else(raw, kind, words):
    with pytest.raises(ApiError) as caught:
        parse_answer(raw, ["1.1.1.1/32"])
    assert caught.value.kind == kind
    assert words in str(caught.value)


@pytest.mark.parametrize(
    "text, secret, redacted",
    [
        ("a 0123456789abcdef b", "0123456789abcdef", "a <redacted> b"),
        ("a 23456789ab b 89abcdef c", "0123456789abcdef", "a <redacted> b <redacted> c"),  # pieces of 8+
        ("a 2345678 b", "0123456789abcdef", "a 2345678 b"),  # 7 characters are not a piece
        ("0123456789abcdef0123456789abcdef", "0123456789abcdef", "<redacted>"),  # adjacent runs are one
        ("short tok here", "tok", "short <redacted> here"),  # a short token only as a whole
    ],
)
def test_redact(text, secret, redacted):
    assert api_client.redact(text, secret) == redacted


def test_quoted_server_text_is_one_bounded_line():
    with pytest.raises(ApiError) as caught:
        parse_answer(b"line one\nline two\x1b[31m" + b"x" * 1000, ["1.1.1.1/32"])
    text = str(caught.value)
    assert "\n" not in text and "\x1b" not in text
    assert len(text) < 400


@pytest.mark.parametrize("account_id", [None, "crossbow", "team 7/ü&x=1"])
def test_the_query_carries_exactly_the_pairs(account_id):
    """The quick way to the query string decodes to the very pairs, and requests sends it as it is."""
    from urllib.parse import parse_qsl

    import netaddr
    import requests

    networks = ["104.16.5.20/32", "2606:4700::/32", "::ffff:1.2.3.4/128", "10.0.0.0/8", "2001:DB8::1/128"]
    cidrs = [api_client.cidr_key(netaddr.IPNetwork(text)) for text in networks] + ["odd value+%&=", "", "ü"]
    pairs = [("cidr", cidr) for cidr in cidrs] + ([] if account_id is None else [("account_id", account_id)])
    query = api_client.encode_query(cidrs, account_id)
    assert parse_qsl(query, keep_blank_values=True) == pairs
    prepared = requests.Request("GET", "https://api.example.net/x", params=query).prepare()
    assert prepared.url == f"https://api.example.net/x?{query}"
    plain = api_client.encode_query(cidrs[:5], "crossbow")
    assert "%" not in plain and "cidr=2606:4700::/32" in plain  # urllib3's quick path: nothing to re-encode


@pytest.mark.parametrize("text", ["104.16.5.20/32", "2606:4700::/32", "::ffff:1.2.3.4/128", "::1.2.3.4/128", "0.0.0.0/0",
                                  "::/0", "2001:DB8::1/128", "64:ff9b::102:304/128", "2002:102:304::/48"])
def test_cidr_key_spells_what_netaddr_spells(text):
    import netaddr

    from saltext.spectrum_acl.core.parse import parse_origin

    network = netaddr.IPNetwork(text)
    assert api_client.cidr_key(network) == str(network.cidr) == api_client.cidr_key(parse_origin(str(network.cidr)).span)
