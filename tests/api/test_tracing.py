"""Tracing: spans for every API request, W3C ``traceparent`` on the wire, the server joins the trace.

Spans go to the OpenTelemetry SDK's in-memory exporter; no global provider is set.
"""

import os
import subprocess
import sys

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from saltext.spectrum_acl.api import client as api_client
from saltext.spectrum_acl.api import tracing
from saltext.spectrum_acl.api.server import ENDPOINT_PATH, ReferenceServer
from tests.api.conftest import reserved_only_guard, settings


def _no_token_anywhere(spans, token):
    for span in spans:
        values = [span.name, str(span.status.description)] + [str(v) for v in span.attributes.values()]
        values += [str(v) for event in span.events for v in event.attributes.values()]
        assert not any(token in value for value in values), span.name


def test_client_spans_and_server_joins_the_trace(local_guard, token, provider, exporter):
    with ReferenceServer(local_guard, token, tracing=tracing.server_tracing(tracer_provider=provider)) as server:
        client = api_client.AddressingApiClient(
            settings(server.url, token, batch_size=2), tracing=tracing.client_tracing(tracer_provider=provider)
        )
        guard = reserved_only_guard(client)
        import netaddr

        guard.prefetch(("crossbow", netaddr.IPNetwork(o)) for o in ("104.16.5.20", "1.1.1.1", "10.0.0.1"))
    spans = exporter.get_finished_spans()
    clients = sorted((s for s in spans if s.kind == SpanKind.CLIENT), key=lambda s: s.attributes["spectrum_acl.batch"])
    servers = [s for s in spans if s.kind == SpanKind.SERVER]
    assert [s.attributes["spectrum_acl.batch"] for s in clients] == [1, 2]
    assert [s.attributes["spectrum_acl.cidr_count"] for s in clients] == [2, 1]
    for span in clients:
        assert span.name == f"GET {ENDPOINT_PATH}"
        assert span.attributes["spectrum_acl.batch_count"] == 2
        assert span.attributes["http.response.status_code"] == 200
        assert span.attributes["http.request.method"] == "GET"
        assert span.attributes["url.full"] == server.url + ENDPOINT_PATH
        assert span.attributes["spectrum_acl.account_id"] == "crossbow"
        assert span.attributes["spectrum_acl.retries"] == 0
    assert len(servers) == 2
    for client_span in clients:
        (server_span,) = [s for s in servers if s.parent is not None and s.parent.span_id == client_span.context.span_id]
        assert server_span.context.trace_id == client_span.context.trace_id
        assert server_span.parent.is_remote
        assert server_span.attributes["spectrum_acl.cidr_count"] == client_span.attributes["spectrum_acl.cidr_count"]
        assert server_span.attributes["http.response.status_code"] == 200
    _no_token_anywhere(spans, token)


def test_traceparent_on_the_wire_and_errors_on_the_span(fault_server, token, provider, exporter):
    fault_server.reset("401")
    client = api_client.AddressingApiClient(settings(fault_server.url, token), tracing=tracing.client_tracing(tracer_provider=provider))
    assert not reserved_only_guard(client).check_origin("1.1.1.1", "crossbow").allowed
    (span,) = exporter.get_finished_spans()
    headers = {name.lower(): value for name, value in fault_server.requests[0]["headers"].items()}
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled
    assert int(trace_id, 16) == span.context.trace_id and int(span_id, 16) == span.context.span_id
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes["http.response.status_code"] == 401
    assert span.attributes["error.type"] == "http_status"
    assert "HTTP 401" in span.status.description
    _no_token_anywhere([span], token)


def test_spans_join_an_active_trace(fault_server, token, provider, exporter):
    """Under Salt's job span (or any caller span), API spans are its children."""
    client = api_client.AddressingApiClient(settings(fault_server.url, token), tracing=tracing.client_tracing(tracer_provider=provider))
    with provider.get_tracer("test").start_as_current_span("salt.minion.exec.state.apply") as parent:
        reserved_only_guard(client).check_origin("1.1.1.1", "crossbow")
    api_span = next(s for s in exporter.get_finished_spans() if s.name.startswith("GET "))
    assert api_span.parent.span_id == parent.get_span_context().span_id


def test_salt_tracing_is_used_when_enabled(fault_server, token, provider, exporter):
    """With Salt's ``tracing: {enabled: true}``, spans go through ``salt.utils.tracing``."""

    class FakeSaltTracing:  # the two calls the client makes, over an SDK tracer
        SpanKind = type("SpanKind", (), {"CLIENT": "CLIENT"})
        calls = []

        @staticmethod
        def is_enabled():
            return True

        def start_span(self, name, kind=None, attributes=None):
            self.calls.append(kind)
            return provider.get_tracer("salt").start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes)

        @staticmethod
        def inject(carrier):
            from opentelemetry import propagate

            propagate.inject(carrier)

    salt_tracing = FakeSaltTracing()
    client = api_client.AddressingApiClient(settings(fault_server.url, token), tracing=tracing.client_tracing("auto", salt_tracing=salt_tracing))
    assert reserved_only_guard(client).check_origin("1.1.1.1", "crossbow").allowed
    assert salt_tracing.calls == ["CLIENT"]
    (span,) = exporter.get_finished_spans()
    assert "traceparent" in {k.lower() for k in fault_server.requests[0]["headers"]}
    assert span.attributes["http.response.status_code"] == 200


def test_modes():
    assert tracing.client_tracing(False) is None
    assert tracing.client_tracing("auto") is None  # nothing configured: no spans, nothing imported for them
    forced = tracing.client_tracing(True)  # a private SDK provider: valid traceparent, nothing exported
    assert isinstance(forced, tracing.ClientTracing)
    with forced.request("x", {}) as (span, headers):
        assert span.get_span_context().is_valid
        assert "traceparent" in headers


_BLOCK_OTEL = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
"""

_RUN_CLIENT = """
import sys
from saltext.spectrum_acl.api import client as api_client
from saltext.spectrum_acl.api import tracing
from tests.api.conftest import reserved_only_guard, settings
url, token, mode = sys.argv[1], sys.argv[2], sys.argv[3]
mode = {"auto": "auto", "true": True, "false": False}[mode]
try:
    trace = tracing.client_tracing(mode)
except tracing.TracingUnavailable as exc:
    print("UNAVAILABLE", exc)
    sys.exit(0)
client = api_client.AddressingApiClient(settings(url, token, tracing=mode), tracing=trace)
verdict = reserved_only_guard(client).check_origin("104.16.5.20", "crossbow")
print("ALLOWED" if verdict.allowed else "DENIED", trace is None, sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""


def _run(code, *args):
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60, check=False,
                          cwd=os.getcwd(), env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("mode", ["auto", "false"])
def test_without_opentelemetry_nothing_is_imported(reference_server, token, mode):
    """Without the extra, requests work and no OpenTelemetry module is ever imported."""
    assert _run(_BLOCK_OTEL + _RUN_CLIENT, reference_server.url, token, mode) == "ALLOWED True []"


def test_without_opentelemetry_tracing_true_is_a_clear_error(reference_server, token):
    out = _run(_BLOCK_OTEL + _RUN_CLIENT, reference_server.url, token, "true")
    assert out == "UNAVAILABLE opentelemetry-api is not installed (pip install 'saltext-spectrum-acl[tracing]')"


def test_installed_but_unconfigured_imports_nothing(reference_server, token):
    """OpenTelemetry installed (Salt 3008 ships it) but no tracing configured: still nothing imported."""
    assert _run(_RUN_CLIENT, reference_server.url, token, "auto") == "ALLOWED True []"
