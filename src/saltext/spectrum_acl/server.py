"""``spectrum-acl serve``: a compatible Addressing API, answered by the core engine.

    spectrum-acl serve --data prefixes.yaml --token-file token [--host 127.0.0.1] [--port 8080]

It serves ``GET /edge_services/spectrum/validate_origin_ip_acl`` (``SPEC.md``,
"The Addressing API") from local prefix data, so engineers can run the API on a
laptop and tests get a real HTTP peer. It is built on Tornado, the HTTP server
Salt itself ships and depends on: asynchronous, so concurrent clients (and the
simulated ``--latency-ms``) overlap instead of queueing.

- ``401`` without a valid bearer token (compared in constant time);
- ``400`` with the error envelope for a bad ``cidr`` (strict parsing, as the guard),
  no ``cidr``, more than ``--max-cidrs`` of them, or ``account_id`` given twice;
- the caller's W3C trace context is joined when OpenTelemetry is installed;
- the access log has status, cidr count, time and trace id; never a header or the token.
"""

import hmac
import logging
import os
import threading
import time

from saltext.spectrum_acl.addressing import parse_network
from saltext.spectrum_acl.errors import OriginSyntaxError, SpectrumAclError

log = logging.getLogger(__name__)

ENDPOINT_PATH = "/edge_services/spectrum/validate_origin_ip_acl"
MAX_CIDRS = 1000
#: Request line and headers: 1,000 long IPv6 cidrs fit.
MAX_HEADER_BYTES = 128 * 1024
#: Query fields Tornado parses before a handler runs (its default, 1,000, is below one
#: full request with ``account_id``); above this Tornado answers a bare 400 itself.
MAX_QUERY_FIELDS = 20000

#: Error codes in the envelope.
AUTH_ERROR, BAD_CIDR, TOO_MANY_CIDRS, NO_CIDR, BAD_ACCOUNT, NOT_FOUND, BAD_METHOD = 10000, 1001, 1002, 1003, 1004, 1005, 1006


def envelope(result=None, errors=()):
    """The API's JSON envelope."""
    return {"success": not errors, "errors": list(errors), "messages": [], "result": result}


def judge_cidrs(guard, cidrs, account_id):
    """``{cidr: five flags}`` for each asked ``cidr`` text, judged by ``guard``.

    Each cidr is parsed strictly (``OriginSyntaxError`` for bad ones) and judged
    as one origin, carried IPv4 included, exactly as the local backend would.
    """
    for text in cidrs:
        if "://" in text:
            parse_network(text)  # refuses it: the API takes addresses and CIDRs, not URLs
    asked = list(dict.fromkeys(cidrs))
    verdicts = guard.check_batch(asked, account_id)
    return {text: verdicts.flags(item) for item, text in enumerate(asked)}


class ServerState:
    """What the handlers share: the guard, the token, limits, tracing and counters."""

    def __init__(self, guard, token, *, max_cidrs=MAX_CIDRS, latency=0.0, tracing=None):
        if not token:
            raise SpectrumAclError("the server needs a non-empty token")
        self.guard = guard
        self.token = token.encode("utf-8")
        self.max_cidrs = max_cidrs
        self.latency = latency
        self.tracing = tracing
        self.requests = 0
        self.cidrs = 0
        self.in_flight = 0
        self.max_in_flight = 0


def _handlers():
    """The Tornado handler classes, imported only when a server is built."""
    # pylint: disable=import-outside-toplevel
    import asyncio

    import tornado.web

    class ApiHandler(tornado.web.RequestHandler):
        """Answers every error, 404 and 405 included, with the envelope."""

        def initialize(self, state):
            self.state = state  # pylint: disable=attribute-defined-outside-init
            self.cidr_count = 0  # pylint: disable=attribute-defined-outside-init
            self.trace_id = None  # pylint: disable=attribute-defined-outside-init

        def set_default_headers(self):
            self.set_header("Content-Type", "application/json; charset=utf-8")
            self.set_header("Cache-Control", "no-store")

        def reply(self, status, result=None, errors=()):
            self.set_status(status)
            if status == 401:
                self.set_header("WWW-Authenticate", 'Bearer realm="spectrum-acl"')
            self.finish(envelope(result, errors))

        def write_error(self, status_code, **kwargs):
            code = {404: NOT_FOUND, 405: BAD_METHOD}.get(status_code, status_code)
            self.reply(status_code, errors=[{"code": code, "message": self._reason}])

    class NotFound(ApiHandler):
        def prepare(self):
            raise tornado.web.HTTPError(404, reason=f"Not Found: the API serves GET {ENDPOINT_PATH}")

    class ValidateHandler(ApiHandler):
        async def get(self):
            state = self.state
            state.requests += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                if state.tracing is None:
                    await self._answer()
                    return
                attributes = {"http.request.method": "GET", "url.path": ENDPOINT_PATH}
                with state.tracing.request(self.request.headers, f"GET {ENDPOINT_PATH}", attributes) as span:
                    self.trace_id = state.tracing.trace_id(span)  # pylint: disable=attribute-defined-outside-init
                    await self._answer()
                    span.set_attribute("spectrum_acl.cidr_count", self.cidr_count)
                    span.set_attribute("http.response.status_code", self.get_status())
            finally:
                state.in_flight -= 1

        def _authorised(self):
            scheme, _, credentials = self.request.headers.get("Authorization", "").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode("utf-8"), self.state.token)

        def _query(self, name):
            try:
                return [value.decode("utf-8") for value in self.request.query_arguments.get(name, [])]
            except UnicodeDecodeError:
                return None

        async def _answer(self):
            state = self.state
            cidrs = self._query("cidr")
            self.cidr_count = len(cidrs or ())  # pylint: disable=attribute-defined-outside-init
            if not self._authorised():
                self.reply(401, errors=[{"code": AUTH_ERROR, "message": "Authentication error: a valid bearer token is required"}])
                return
            accounts = self._query("account_id")
            if accounts is None or len(accounts) > 1:
                self.reply(400, errors=[{"code": BAD_ACCOUNT, "message": "account_id must be given at most once, in UTF-8"}])
                return
            if cidrs is None:
                self.reply(400, errors=[{"code": BAD_CIDR, "message": "cidr values must be UTF-8"}])
                return
            if not cidrs:
                self.reply(400, errors=[{"code": NO_CIDR, "message": "at least one cidr is required"}])
                return
            if len(cidrs) > state.max_cidrs:
                message = f"too many cidr values: {len(cidrs)} in one request, at most {state.max_cidrs}"
                self.reply(400, errors=[{"code": TOO_MANY_CIDRS, "message": message}])
                return
            if state.latency > 0:
                await asyncio.sleep(state.latency)
            try:
                answers = judge_cidrs(state.guard, cidrs, accounts[0] if accounts else None)
            except OriginSyntaxError as exc:
                self.reply(400, errors=[{"code": BAD_CIDR, "message": f"invalid cidr: {exc}"}])
                return
            state.cidrs += len(cidrs)
            self.reply(200, result={"allowed_origins": answers})

    return ValidateHandler, NotFound


def _access_log(handler):
    request = handler.request
    status = handler.get_status()
    level = logging.INFO if status < 500 else logging.ERROR
    trace = getattr(handler, "trace_id", None)
    log.log(
        level,
        "%d %s %s %s cidr=%d %.1fms%s",
        status, request.method, request.path, request.remote_ip,
        getattr(handler, "cidr_count", 0), 1000.0 * request.request_time(),
        f" trace_id={trace}" if trace else "",
    )


def _allow_query_fields(count):
    """Raise (never lower) Tornado's process-wide limit on parsed query fields."""
    import tornado.httputil  # pylint: disable=import-outside-toplevel

    current = getattr(tornado.httputil, "_DEFAULT_PARSE_BODY_CONFIG", None)
    if current is None or not hasattr(current, "urlencoded"):
        return  # a Tornado without the limit
    if current.urlencoded.max_arguments < count:
        config = tornado.httputil.ParseBodyConfig(
            multipart=current.multipart, urlencoded=tornado.httputil.ParseUrlEncodedConfig(max_arguments=count)
        )
        tornado.httputil.set_parse_body_config(config)


def make_app(state):
    """The Tornado application for ``state``."""
    import tornado.web  # pylint: disable=import-outside-toplevel

    # Our own bound (``max_cidrs``, answered with the envelope) must be the one that applies.
    _allow_query_fields(max(MAX_QUERY_FIELDS, 2 * state.max_cidrs + 10))

    validate, not_found = _handlers()
    return tornado.web.Application(
        [(ENDPOINT_PATH, validate, {"state": state})],
        default_handler_class=not_found,
        default_handler_args={"state": state},
        log_function=_access_log,
    )


def _listen(state, host, port, ssl_context):
    """Bind and start serving on the running loop; return ``(server, port)``."""
    # pylint: disable=import-outside-toplevel
    import tornado.httpserver
    import tornado.netutil

    sockets = tornado.netutil.bind_sockets(port, address=host)
    server = tornado.httpserver.HTTPServer(
        make_app(state), ssl_options=ssl_context, max_header_size=MAX_HEADER_BYTES, max_body_size=1024 * 1024,
        idle_connection_timeout=60, xheaders=False,
    )
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]


def base_url(host, port, tls):
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


class ReferenceServer:
    """The server on its own thread and event loop (tests, benchmarks, embedding).

    ``with ReferenceServer(guard, token) as server:`` binds ``127.0.0.1`` on a free
    port; ``server.url`` is the base URL for ``spectrum_acl:api:url``.
    """

    def __init__(self, guard, token, host="127.0.0.1", port=0, *, max_cidrs=MAX_CIDRS, latency=0.0,
                 ssl_context=None, tracing=None):
        self.state = ServerState(guard, token, max_cidrs=max_cidrs, latency=latency, tracing=tracing)
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self._loop = self._stop = self._thread = self._error = None
        self._ready = threading.Event()

    @property
    def url(self):
        return base_url(self.host, self.port, self.ssl_context is not None)

    def start(self):
        import asyncio  # pylint: disable=import-outside-toplevel

        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="spectrum-acl-serve", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    async def _main(self):
        import asyncio  # pylint: disable=import-outside-toplevel

        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        try:
            server, self.port = _listen(self.state, self.host, self.port, self.ssl_context)
        except OSError as exc:
            self._error = SpectrumAclError(f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}")
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        server.stop()
        await server.close_all_connections()

    def stop(self):
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(30)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


# --------------------------------------------------------------------------- the CLI command


def _read_token(path):
    try:
        with open(path, encoding="utf-8") as handle:
            token = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SpectrumAclError(f"token file {path!r} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    if not token:
        raise SpectrumAclError(f"token file {path!r} is empty")
    return token


def _ssl_context(cert, key):
    import ssl  # pylint: disable=import-outside-toplevel

    if not cert and not key:
        return None
    if not (cert and key):
        raise SpectrumAclError("--tls-cert and --tls-key go together")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise SpectrumAclError(f"cannot load the TLS certificate {cert!r} and key {key!r}: {exc}") from None
    return context


def _summary(index):
    counts = index.counts
    return (
        f"{counts['prefix']} prefixes, {counts['delegation']} delegations, "
        f"{counts['binding']} bindings, {counts['reserved']} reserved blocks"
    )


def _serve(args, out):
    # pylint: disable=import-outside-toplevel
    import asyncio

    from saltext.spectrum_acl import prefix_data, tracing
    from saltext.spectrum_acl.policy import OriginGuard

    if not args.data:
        raise SpectrumAclError("no prefix data: pass --data FILE or set SPECTRUM_ACL_PREFIX_DATA")
    if args.max_cidrs < 1 or args.latency_ms < 0:
        raise SpectrumAclError("--max-cidrs must be at least 1 and --latency-ms at least 0")
    token = _read_token(args.token_file)
    ssl_context = _ssl_context(args.tls_cert, args.tls_key)
    index = prefix_data.load_index(args.data)
    try:
        trace = tracing.server_tracing(enabled=not args.no_tracing, exporter=args.trace_exporter)
    except tracing.TracingUnavailable as exc:
        raise SpectrumAclError(f"--trace-exporter {args.trace_exporter}: {exc}") from None
    state = ServerState(OriginGuard(index), token, max_cidrs=args.max_cidrs, latency=args.latency_ms / 1000.0, tracing=trace)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(levelname)s %(message)s")
    return asyncio.run(_serve_forever(state, args, ssl_context, index, out))


async def _serve_forever(state, args, ssl_context, index, out):
    # pylint: disable=import-outside-toplevel
    import asyncio
    import signal

    try:
        server, port = _listen(state, args.host, args.port, ssl_context)
    except OSError as exc:
        raise SpectrumAclError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    url = base_url(args.host, port, ssl_context is not None)
    out.write(f"spectrum-acl serve: listening on {url}{ENDPOINT_PATH}\n")
    out.write(f"  prefix data {args.data}: {_summary(index)}\n")
    out.write(f"  bearer token from {args.token_file}; at most {state.max_cidrs} cidr per request")
    out.write(f"; {args.latency_ms:g} ms added latency\n" if args.latency_ms else "\n")
    out.write(f"  tracing: {'joins the caller trace (W3C traceparent)' if state.tracing else 'off'}\n")
    if ssl_context is None and args.host not in ("127.0.0.1", "::1", "localhost"):
        out.write("  warning: plain http on a non-loopback address; clients send the token in clear text\n")
    out.flush()
    started = time.monotonic()
    await stop.wait()
    server.stop()
    await server.close_all_connections()
    out.write(f"spectrum-acl serve: stopped after {state.requests} requests ({state.cidrs} cidr) in {time.monotonic() - started:.0f} s\n")
    out.flush()
    return 0


def add_command(commands):
    """Register ``spectrum-acl serve``."""
    serve = commands.add_parser(
        "serve",
        help="run a compatible Addressing API from local prefix data",
        description="Serve GET /edge_services/spectrum/validate_origin_ip_acl from local prefix data.",
    )
    serve.set_defaults(func=_serve)
    serve.add_argument("--data", default=os.environ.get("SPECTRUM_ACL_PREFIX_DATA"), help="prefix data file (or $SPECTRUM_ACL_PREFIX_DATA)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    serve.add_argument("--token-file", required=True, help="file holding the bearer token clients must send")
    serve.add_argument("--max-cidrs", type=int, default=MAX_CIDRS, help=f"most cidr values per request (default {MAX_CIDRS})")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added latency per answer, to model the real API")
    serve.add_argument("--tls-cert", help="serve https with this certificate (PEM)")
    serve.add_argument("--tls-key", help="the certificate's private key (PEM)")
    serve.add_argument("--trace-exporter", choices=("none", "console", "otlp"), default="none",
                       help="where server spans go (default none; trace ids still appear in the access log)")
    serve.add_argument("--no-tracing", action="store_true", help="do not join callers' traces")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info",
                       help="access log level (default info: one line per request, on stderr)")
