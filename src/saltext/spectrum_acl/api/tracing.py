"""Optional OpenTelemetry tracing for Addressing API requests (the ``[tracing]`` extra).

Nothing here imports OpenTelemetry at module load. When tracing is off, or
OpenTelemetry is not installed, :func:`client_tracing` and :func:`server_tracing`
return ``None`` and the callers skip tracing with one ``is None`` test.

Client side, the tracer comes from, in this order:

1. an explicit ``tracer_provider`` (tests, embedding applications);
2. Salt's own tracing (``tracing: {enabled: true}`` in the minion config), so the
   API spans are children of the ``salt-call`` or job span and leave through
   Salt's exporter;
3. the global OpenTelemetry tracer provider, when the application set one;
4. with ``mode=True`` only: a private SDK provider without an exporter, so that
   requests still carry a valid ``traceparent`` the API side can log.

``mode="auto"`` (the default) traces only when 1, 2 or 3 applies, and then
imports nothing it does not need. Spans carry counts, batch numbers and HTTP
status; never a header, and never the token.
"""

import contextlib
import sys

INSTRUMENTATION_NAME = "saltext.spectrum_acl"
EXPORTERS = ("none", "console", "otlp")


class TracingUnavailable(Exception):
    """Tracing was asked for, but OpenTelemetry is not installed."""


def _import_api():
    try:

        from opentelemetry import propagate, trace  # optional: the [tracing] extra
    except ImportError:
        return None
    return propagate, trace


def _global_provider_is_set():
    """True when the application installed a tracer provider; imports nothing."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return False
    return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


_PRIVATE_PROVIDERS = {}


def _private_provider(exporter="none"):
    """An SDK provider of our own per exporter and process, never installed globally."""
    if exporter not in _PRIVATE_PROVIDERS:
        _PRIVATE_PROVIDERS[exporter] = _new_private_provider(exporter)
    return _PRIVATE_PROVIDERS[exporter]


def _new_private_provider(exporter):
    try:

        from opentelemetry.sdk.trace import TracerProvider  # optional: the [tracing] extra
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter  # optional: the [tracing] extra
    except ImportError:
        raise TracingUnavailable("opentelemetry-sdk is not installed (pip install 'saltext-spectrum-acl[tracing]')") from None
    provider = TracerProvider()
    if exporter == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        try:

            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # optional: the [tracing] extra
        except ImportError:
            raise TracingUnavailable("the otlp exporter needs opentelemetry-exporter-otlp-proto-http") from None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    elif exporter != "none":
        raise TracingUnavailable(f"unknown trace exporter {exporter!r} (one of {', '.join(EXPORTERS)})")
    return provider


class _OtelTracing:
    """Spans from an OpenTelemetry tracer; W3C trace context through the global propagator."""

    def __init__(self, provider=None):
        imported = _import_api()
        if imported is None:
            raise TracingUnavailable("opentelemetry-api is not installed (pip install 'saltext-spectrum-acl[tracing]')")
        self._propagate, self._trace = imported
        provider = provider or self._trace.get_tracer_provider()
        self._tracer = provider.get_tracer(INSTRUMENTATION_NAME)

    def _start(self, name, kind, attributes, context=None):
        return self._tracer.start_as_current_span(
            name, kind=getattr(self._trace.SpanKind, kind), attributes=attributes, context=context,
            record_exception=False, set_status_on_exception=False,
        )

    def _inject(self, headers):
        self._propagate.inject(headers)

    def fail(self, span, error_type, description):
        span.set_attribute("error.type", error_type)
        span.set_status(self._trace.Status(self._trace.StatusCode.ERROR, description))


class ClientTracing(_OtelTracing):
    """What :class:`~saltext.spectrum_acl.api.client.AddressingApiClient` uses."""

    @contextlib.contextmanager
    def request(self, name, attributes):
        """A CLIENT span around one HTTP request; yields ``(span, headers to send)``."""
        with self._start(name, "CLIENT", attributes) as span:
            headers = {}
            self._inject(headers)
            yield span, headers


class _SaltClientTracing(ClientTracing):
    """The same, through Salt's own tracing (``salt.utils.tracing``), when it is enabled."""

    def __init__(self, salt_tracing):
        imported = _import_api()
        if imported is None:
            raise TracingUnavailable("opentelemetry-api is not installed")
        self._propagate, self._trace = imported
        self._salt = salt_tracing

    @contextlib.contextmanager
    def request(self, name, attributes):
        with self._salt.start_span(name, kind=self._salt.SpanKind.CLIENT, attributes=attributes) as span:
            headers = {}
            self._salt.inject(headers)
            yield span, headers


class ServerTracing(_OtelTracing):
    """What the reference server uses: join the caller's trace from its headers."""

    @contextlib.contextmanager
    def request(self, headers, name, attributes):
        """A SERVER span whose parent is the incoming ``traceparent`` (if any); yields the span."""
        context = self._propagate.extract(headers)
        with self._start(name, "SERVER", attributes, context=context) as span:
            yield span

    @staticmethod
    def trace_id(span):
        context = span.get_span_context()
        return f"{context.trace_id:032x}" if context.is_valid else None


def normalise_mode(value):
    """``auto``, ``True`` or ``False`` from a config value; ``None`` means ``auto``."""
    if value is None or value == "auto":
        return "auto"
    if isinstance(value, bool):
        return value
    raise ValueError(f"must be auto, true or false (got {value!r})")


def client_tracing(mode="auto", salt_tracing=None, tracer_provider=None):
    """Tracing for the API client, or ``None`` when it is off (see the module docstring).

    ``salt_tracing`` is the ``salt.utils.tracing`` module when Salt's tracing is on.
    Raises :class:`TracingUnavailable` when ``mode`` is ``True`` and OpenTelemetry is missing.
    """
    mode = normalise_mode(mode)
    if mode is False:
        return None
    if tracer_provider is not None:
        return ClientTracing(tracer_provider)
    try:
        if salt_tracing is not None and salt_tracing.is_enabled():
            return _SaltClientTracing(salt_tracing)
        if _global_provider_is_set():
            return ClientTracing()
        if mode is True:
            if _import_api() is None:
                raise TracingUnavailable("opentelemetry-api is not installed (pip install 'saltext-spectrum-acl[tracing]')")
            return ClientTracing(_private_provider())
    except TracingUnavailable:
        if mode is True:
            raise
    return None


def server_tracing(enabled=True, exporter="none", tracer_provider=None):
    """Tracing for the reference server, or ``None`` when off or OpenTelemetry is missing.

    Uses ``tracer_provider``, else the global provider when one is set, else a
    private SDK provider exporting to ``exporter`` (``none``, ``console``, ``otlp``).
    """
    if not enabled:
        return None
    try:
        if tracer_provider is not None:
            return ServerTracing(tracer_provider)
        if _import_api() is None:
            return None
        if _global_provider_is_set() and exporter == "none":
            return ServerTracing()
        return ServerTracing(_private_provider(exporter))
    except TracingUnavailable:
        if exporter != "none":
            raise
        return None
