"""The reference server over real HTTP: auth, errors, limits, concurrency, TLS and ``spectrum-acl serve``."""

import datetime
import ipaddress
import json
import os
import signal
import subprocess
import sys
import threading

import pytest
import requests

from saltext.spectrum_acl.api import client as api_client
from saltext.spectrum_acl.api.server import ENDPOINT_PATH, MAX_CIDRS, ReferenceServer
from tests.api.conftest import reserved_only_guard, settings


def _get(server, token, params, **kwargs):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(server.url + ENDPOINT_PATH, params=params, headers=headers, timeout=10, **kwargs)


def _error_envelope(response, status, code):
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and body["result"] is None and body["messages"] == []
    assert body["errors"][0]["code"] == code
    return body["errors"][0]["message"]


def test_answers_with_the_documented_envelope(reference_server, token):
    response = _get(reference_server, token, [("cidr", "104.16.5.20"), ("cidr", "10.0.0.0/8"), ("account_id", "crossbow")])
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "errors": [],
        "messages": [],
        "result": {
            "allowed_origins": {
                "104.16.5.20": {"allowed": True, "is_managed": True, "is_delegated": True, "is_reserved": False, "has_binding": False},
                "10.0.0.0/8": {"allowed": False, "is_managed": False, "is_delegated": False, "is_reserved": True, "has_binding": False},
            }
        },
    }


@pytest.mark.parametrize("authorization", [None, "Bearer", "Bearer wrong-token", "Basic dXNlcjpwYXNz", "token {token}"])
def test_401_without_a_valid_bearer_token(reference_server, token, authorization):
    headers = {"Authorization": authorization.format(token=token)} if authorization else {}
    response = requests.get(reference_server.url + ENDPOINT_PATH, params={"cidr": "1.1.1.1"}, headers=headers, timeout=10)
    message = _error_envelope(response, 401, 10000)
    assert "Authentication error" in message
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert token not in response.text


def test_auth_comes_before_anything_else(reference_server):
    response = requests.get(reference_server.url + ENDPOINT_PATH, params={"cidr": "127.1"}, timeout=10)
    assert response.status_code == 401


@pytest.mark.parametrize(
    "cidr, words",
    [
        ("127.1", "'127.1' is not a valid origin"),
        ("10.0.0.1/8", "host bits are set"),
        ("0x7f.0.0.1", "hexadecimal"),
        (" 1.1.1.1", "whitespace"),
        ("1.1.1.1\x00", "not a valid origin"),
        ("fe80::1%eth0", "zone ids"),
        ("10.0.0.0/255.0.0.0", "netmask"),
        ("tcp://1.1.1.1:22", "not a valid origin"),
    ],
)
def test_400_names_a_bad_cidr(reference_server, token, cidr, words):
    response = _get(reference_server, token, [("cidr", "1.1.1.1"), ("cidr", cidr)])
    message = _error_envelope(response, 400, 1001)
    assert message.startswith("invalid cidr: ") and words in message


def test_400_without_cidr_and_with_two_account_ids(reference_server, token):
    assert "at least one cidr" in _error_envelope(_get(reference_server, token, {}), 400, 1003)
    twice = _get(reference_server, token, [("cidr", "1.1.1.1"), ("account_id", "a"), ("account_id", "b")])
    assert "account_id must be given at most once" in _error_envelope(twice, 400, 1004)


def test_bound_on_cidr_values_per_request(reference_server, token):
    at_limit = [("cidr", f"44.{n // 256}.{n % 256}.1") for n in range(MAX_CIDRS)]
    assert _get(reference_server, token, at_limit).status_code == 200
    over = at_limit + [("cidr", "9.9.9.9")]
    message = _error_envelope(_get(reference_server, token, over), 400, 1002)
    assert message == f"too many cidr values: {MAX_CIDRS + 1} in one request, at most {MAX_CIDRS}"
    far_over = [("cidr", "1.1.1.1")] * 5000  # still our envelope, not a bare 400 from the HTTP layer
    assert "too many cidr values: 5000" in _error_envelope(_get(reference_server, token, far_over), 400, 1002)


def test_404_and_405_use_the_envelope(reference_server, token):
    assert "Not Found" in _error_envelope(requests.get(reference_server.url + "/nope", timeout=10), 404, 1005)
    post = requests.post(reference_server.url + ENDPOINT_PATH, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    _error_envelope(post, 405, 1006)


def test_concurrent_clients_overlap_and_get_their_own_answers(local_guard, token):
    """Eight clients at once: with added latency, requests are in flight together, and each answer is right."""
    with ReferenceServer(local_guard, token, latency=0.5) as server:
        barrier = threading.Barrier(8)
        results, errors = {}, []

        def client(number):
            origin = f"104.16.{number}.20"
            try:
                barrier.wait(10)
                response = _get(server, token, [("cidr", origin), ("account_id", "crossbow")])
                results[origin] = response.json()["result"]["allowed_origins"][origin]
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert not errors
        assert server.state.max_in_flight >= 2
        for origin, flags in results.items():
            assert flags == local_guard.check_origin(origin, "crossbow").flags()
        assert len(results) == 8


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and its key."""

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spectrum-acl test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return folder / "cert.pem", folder / "key.pem"


def test_tls_verify_with_a_ca_bundle_and_fail_closed_without(local_guard, token, tls_files):
    import ssl

    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with ReferenceServer(local_guard, token, ssl_context=context) as server:
        assert server.url.startswith("https://127.0.0.1:")
        pinned = api_client.AddressingApiClient(settings(server.url, token, verify=str(cert)))
        assert reserved_only_guard(pinned).check_origin("104.16.5.20", "crossbow").allowed
        default = api_client.AddressingApiClient(settings(server.url, token, retries=0))
        verdict = reserved_only_guard(default).check_origin("104.16.5.20", "crossbow")
        assert not verdict.allowed
        assert "Addressing API request failed: TLS error:" in verdict.summary()
        assert "CERTIFICATE_VERIFY_FAILED" in verdict.summary()
        assert token not in verdict.summary()


# --------------------------------------------------------------------------- spectrum-acl serve


def _spectrum_acl(*args):
    return [sys.executable, "-c", "import sys; from saltext.spectrum_acl.cli.main import main; sys.exit(main())", *args]


def test_serve_command(data_file, token_file, token):
    """``spectrum-acl serve`` on port 0 prints where it listens, answers, and stops cleanly on SIGTERM."""
    process = subprocess.Popen(
        _spectrum_acl("serve", "--data", str(data_file), "--host", "127.0.0.1", "--port", "0", "--token-file", str(token_file)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("spectrum-acl serve: listening on http://127.0.0.1:"), first + process.stderr.read()
        url = first.split(" on ", 1)[1].strip()
        assert url.endswith(ENDPOINT_PATH)
        response = requests.get(url, params={"cidr": "45.91.88.1", "account_id": "acme"}, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.json()["result"]["allowed_origins"]["45.91.88.1"]["has_binding"] is True
        assert requests.get(url, params={"cidr": "1.1.1.1"}, timeout=10).status_code == 401
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "stopped after 2 requests (1 cidr)" in out
    assert "200 GET " + ENDPOINT_PATH in err and "401 GET " + ENDPOINT_PATH in err  # the access log
    assert token not in out + err


@pytest.mark.parametrize(
    "args, words",
    [
        (["--token-file", "/nonexistent/token"], "token file '/nonexistent/token' cannot be read"),
        (["--tls-cert", "/x.pem"], "--tls-cert and --tls-key go together"),
        (["--max-cidrs", "0"], "--max-cidrs must be at least 1"),
        (["--max-connections", "0"], "--max-connections must be at least 1"),
        (["--idle-timeout", "0"], "--idle-timeout and --judge-budget-ms above 0"),
        (["--judge-budget-ms", "-1"], "--idle-timeout and --judge-budget-ms above 0"),
    ],
)
def test_serve_refuses_bad_options(data_file, token_file, args, words):
    base = ["serve", "--data", str(data_file), "--port", "0", "--token-file", str(token_file)]
    done = subprocess.run(_spectrum_acl(*base, *args), capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def test_serve_refuses_bad_data_and_a_busy_port(tmp_path, data_file, token_file, reference_server):
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps({"prefixes": [{"cidr": "10.0.0.1/8", "account_id": "x"}]}))
    done = subprocess.run(_spectrum_acl("serve", "--data", str(bad), "--port", "0", "--token-file", str(token_file)),
                          capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2 and "host bits are set" in done.stderr
    busy = subprocess.run(
        _spectrum_acl("serve", "--data", str(data_file), "--port", str(reference_server.port), "--token-file", str(token_file)),
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert busy.returncode == 2
    assert f"cannot listen on 127.0.0.1:{reference_server.port}: Address already in use" in busy.stderr
