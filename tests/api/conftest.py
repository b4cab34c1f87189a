"""Fixtures for the Addressing API tests: prefix data, a token, the reference and fault servers."""

import math
import secrets
import socket

import pytest
import yaml

from saltext.spectrum_acl.api import client as api_client
from saltext.spectrum_acl.api.server import ReferenceServer
from saltext.spectrum_acl.core import index, reserved
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.data import prefix_data
from tests.api.fault_server import FaultServer
from tests.unit.helpers import DOC as UNIT_DOC

#: Prefix data for parity (shared with the unit tests): nested ownership, delegations
#: (v4 and v6), bindings, a BYOIP owner with its own edge IP, a lone /24, and a
#: non-Spectrum binding.
DOC = UNIT_DOC


def full_guard(document=DOC):
    entries = prefix_data.entries_from_document(document)
    return OriginGuard(index.PrefixIndex(entries + reserved.reserved_entries()))


def reserved_only_guard(remote, resolver=None):
    return OriginGuard(index.PrefixIndex(reserved.reserved_entries()), remote=remote, resolver=resolver)


def settings(url, token, **overrides):
    values = {"url": url, "token": token, **overrides}
    return api_client.ApiSettings.from_config(lambda key, default: values.get(key, default), environ={})


def expected_requests(pairs, batch_size):
    """Requests a run of distinct ``(account, cidr)`` pairs needs: per account, ceil(n / batch)."""
    per_account = {}
    for account, _cidr in set(pairs):
        per_account[account] = per_account.get(account, 0) + 1
    return sum(math.ceil(count / batch_size) for count in per_account.values())


@pytest.fixture(scope="session")
def token():
    """A token unlike anything else in the output, so a leak is easy to find."""
    return "sk-spectrum-" + secrets.token_hex(16)


@pytest.fixture(scope="session")
def token_file(tmp_path_factory, token):
    path = tmp_path_factory.mktemp("secrets") / "api.token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture(scope="session")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "prefixes.yaml"
    path.write_text(yaml.safe_dump(DOC))
    return path


@pytest.fixture(scope="session")
def local_guard():
    return full_guard()


@pytest.fixture(scope="session")
def reference_server(local_guard, token):
    with ReferenceServer(local_guard, token) as server:
        yield server


@pytest.fixture(scope="session")
def fault_server_session(local_guard):
    server = FaultServer(local_guard).start()
    yield server
    server.stop()


@pytest.fixture
def fault_server(fault_server_session):
    fault_server_session.reset("ok")
    yield fault_server_session
    fault_server_session.release.set()


@pytest.fixture(scope="session")
def refused_url():
    """A port that is bound but not listening: connections are refused, and nobody else can take it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def exporter():
    """Spans kept in memory (OpenTelemetry, the [tracing] extra)."""
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # optional: [tracing]

    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter):
    """A tracer provider that sends every span to ``exporter`` at once."""
    from opentelemetry.sdk.trace import TracerProvider  # optional: [tracing]
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider
