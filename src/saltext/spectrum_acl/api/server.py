"""``spectrum-acl serve``: a compatible Addressing API, answered by the core engine.

    spectrum-acl serve --data prefixes.yaml --token-file token [--host 127.0.0.1] [--port 8080]

It serves ``GET /edge_services/spectrum/validate_origin_ip_acl`` (``SPEC.md``,
"The Addressing API") from local prefix data, so engineers can run the API on a
laptop and tests get a real HTTP peer. It also lists that data as the provider's
public Addressing API does (:class:`Listings`), paged with ``page`` and ``per_page``,
which is what ``spectrum-acl snapshot`` reads: each owner account's prefixes, their
delegations and (Spectrum) bindings, and ``GET /ips``, the prefixes of
``--provider-account`` as the provider's published ranges (unauthenticated, as the
real ``/ips`` is). It is built on Tornado, the HTTP server Salt itself ships and
depends on: asynchronous, so concurrent clients (and the simulated ``--latency-ms``)
overlap instead of queueing.

- ``401`` without a valid bearer token (compared in constant time);
- ``400`` with the error envelope for a bad ``cidr`` (strict parsing, as the guard),
  no ``cidr``, more than ``--max-cidrs`` of them, or ``account_id`` given twice; for a
  listing, a ``page`` or ``per_page`` that is not a whole number in range, or given twice;
- ``404`` for a prefix id that the account does not own;
- ``503`` (with ``Retry-After``) when judging would take more than ``--judge-budget-ms``,
  or too many wide requests are already waiting;
- the caller's W3C trace context is joined when OpenTelemetry is installed;
- the access log has status, cidr count, time and trace id; never a header or the token.

No client can starve the others:

- every cidr is judged with numpy (``batch.judge``), however wide, the IPv4 it
  carries included; a request that reads few index segments is answered on the
  event loop, a wider one on a small thread pool, in chunks, within its time budget;
- at most ``--max-connections`` connections are open (by default fewer than the
  file descriptor limit); past it a new connection is closed at once;
- a connection that has not sent complete request headers within
  ``--idle-timeout`` seconds, or sits idle that long between requests, is closed;
- out of file descriptors (``EMFILE``), accepting pauses and backs off, and the
  warning is logged at most once per ``LOG_EVERY`` seconds.
"""

import asyncio
import errno
import hashlib
import hmac
import logging
import os
import signal
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from saltext.spectrum_acl.api import tracing
from saltext.spectrum_acl.api.protocol import (
    AUTH_ERROR,
    BAD_ACCOUNT,
    BAD_CIDR,
    BAD_METHOD,
    BAD_PAGE,
    BINDINGS_PATH,
    BUSY,
    DEFAULT_PER_PAGE,
    DELEGATIONS_PATH,
    ENDPOINT_PATH,
    IPS_PATH,
    MAX_CIDRS,
    MAX_PER_PAGE,
    NO_CIDR,
    NOT_FOUND,
    PREFIXES_PATH,
    TOO_MANY_CIDRS,
    envelope,
    page_bounds,
)
from saltext.spectrum_acl.core.embedded import embedded_spans
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.core.index import BINDING, DELEGATION, KIND_CODES, PREFIX
from saltext.spectrum_acl.core.parse import cidr_ints, parse_network
from saltext.spectrum_acl.core.ranges import HOSTMASKS, Span
from saltext.spectrum_acl.data import prefix_data, safe_files
from saltext.spectrum_acl.errors import OriginSyntaxError, SpectrumAclError
from saltext.spectrum_acl.settings import ENV_PREFIX_DATA

log = logging.getLogger(__name__)

#: Request line and headers: 1,000 long IPv6 cidrs fit.
MAX_HEADER_BYTES = 128 * 1024
#: Query fields Tornado parses before a handler runs (its default, 1,000, is below one
#: full request with ``account_id``); above this Tornado answers a bare 400 itself.
MAX_QUERY_FIELDS = 20000


#: A request whose ranges cover at most this many index segments is judged on the event loop
#: (well under a millisecond); a wider one goes to the judging threads.
INLINE_SEGMENTS = 1 << 14
#: Threads that judge wide requests, and how many wide requests they may have at once (running or waiting).
JUDGE_THREADS, JUDGE_WAITING = 2, 8
#: Default time budget for judging one wide request, waiting for a thread included (seconds).
JUDGE_BUDGET = 2.0
#: Default cap on open connections, and the file descriptors always left for everything else.
MAX_CONNECTIONS, SPARE_DESCRIPTORS = 1000, 32
#: Default seconds a connection may take to send its request headers, or sit idle between requests.
IDLE_TIMEOUT = 10.0
#: Out of file descriptors, accepting pauses this long, doubling up to the maximum while it lasts.
ACCEPT_PAUSE, ACCEPT_PAUSE_MAX = 0.05, 1.0
#: A recurring warning (connections refused, accept failing) is logged at most once per this many seconds.
LOG_EVERY = 10.0
#: Whose prefixes ``GET /ips`` lists as the provider's own published ranges (``--provider-account``).
PROVIDER_ACCOUNT = "provider"
#: The largest ``page`` a listing request may ask for.
MAX_PAGE = 10**9


def judge_cidrs(guard, cidrs, account_id):
    """``{cidr: five flags}`` for each asked ``cidr`` text, judged by ``guard`` (see :class:`CidrJudgement`)."""
    return CidrJudgement(guard, cidrs, account_id).flags()


class JudgingRefused(SpectrumAclError):
    """A request the server will not judge now: over its time budget, or too many waiting (answered 503)."""


#: The per-account tables (``IndexVectors.tables_for``) are shared by the event loop and the judging threads.
_TABLES_LOCK = threading.Lock()


class CidrJudgement:
    """One request's cidrs, parsed strictly and located in the index, then judged with numpy.

    Each cidr is judged as one origin, carried IPv4 included, exactly as
    ``OriginGuard.check_origin`` judges it from the prefix index (``guard`` has no
    remote judge and no app bindings: the server's guard). Each cidr and each IPv4
    range it carries is a range; equal ranges are judged once, with ``batch.judge``,
    in chunks of at most ``batch.SEGMENTS_PER_CHUNK`` segments, however wide.

    ``segments`` is how many index segments the ranges cover: the cost of judging.
    Raises ``OriginSyntaxError`` for the first cidr that strict parsing refuses.
    """

    def __init__(self, guard, cidrs, account_id):
        from saltext.spectrum_acl.core import batch  # numpy only when serving

        self.cidrs = list(dict.fromkeys(cidrs))
        self.account = guard.prefix_index.account_id(account_id)
        self.vectors = batch.vectors_of(guard.prefix_index)
        self.families = {
            version: _RangesOfFamily(version, ranges, self.vectors)
            for version, ranges in _ranges_by_family(self.cidrs).items()
            if ranges
        }
        self.segments = sum(family.segments for family in self.families.values())

    def flags(self, deadline=None):
        """``{cidr: five flags}``; raises :class:`JudgingRefused` once ``time.monotonic()`` passes ``deadline``."""

        import numpy as np  # numpy: only when a batch is judged

        from saltext.spectrum_acl.core import batch  # numpy: only when serving or judging a batch
        from saltext.spectrum_acl.core.verdict import flags_of  # beside the numpy imports it serves

        with _TABLES_LOCK:
            tables = self.vectors.tables_for(self.account)
        found = np.zeros(len(self.cidrs), dtype=np.uint8)
        for version, family in self.families.items():
            range_bits = np.zeros(len(family.first), dtype=np.uint8)
            for chunk in family.chunks():
                if deadline is not None and time.monotonic() > deadline:
                    raise JudgingRefused("judging this request took longer than its time budget; ask for fewer or narrower cidrs")
                parsed = batch.ParsedBatch(chunk, family.first[chunk], family.last[chunk])
                range_bits[chunk] = batch.judge(self.vectors, version, parsed, tables)[0]
            np.bitwise_or.at(found, family.origin_items, range_bits[family.origin_ranges])
        return {text: flags_of(bits) for text, bits in zip(self.cidrs, found.tolist())}


def _ranges_by_family(cidrs):
    """``{version: {(first, prefixlen): [origin items]}}``: each cidr's range and the IPv4 ranges it carries."""
    ranges = {4: {}, 6: {}}
    for item, text in enumerate(cidrs):
        parts = cidr_ints(text)
        if parts is None:
            network = parse_network(text)  # explains why it refuses; URLs are refused too
            parts = (network.version, network.first, network.prefixlen)
        version, first, prefixlen = parts
        ranges[version].setdefault((first, prefixlen), []).append(item)
        if version == 6:
            for _, carried in embedded_spans(Span(6, first, first | HOSTMASKS[6][prefixlen], prefixlen)):
                ranges[4].setdefault((carried.first, carried.prefixlen), []).append(item)
    return ranges


class _RangesOfFamily:
    """One family's ranges as search keys, located in the index's segments."""

    def __init__(self, version, ranges, vectors):

        import numpy as np  # numpy: only when a batch is judged

        from saltext.spectrum_acl.core.build.columns import Family, sixteen_byte_keys  # numpy: only when serving or judging a batch

        family = Family.of_ints(version, [first for first, _ in ranges], [prefixlen for _, prefixlen in ranges])
        last_high, last_low = family.last_halves()
        if version == 4:
            self.first, self.last = family.low.astype(np.uint32), last_low.astype(np.uint32)
        else:
            self.first, self.last = sixteen_byte_keys(family.high, family.low), sixteen_byte_keys(last_high, last_low)
        self.origin_ranges = np.repeat(np.arange(len(ranges)), [len(items) for items in ranges.values()])
        self.origin_items = np.fromiter((item for items in ranges.values() for item in items), dtype=np.int64)
        keys = vectors.segments[version][0]
        self.counts = np.searchsorted(keys, self.last, side="right") - np.searchsorted(keys, self.first, side="right") + 1
        self.segments = int(self.counts.sum())

    def chunks(self):
        """Range numbers in runs of at most ``batch.SEGMENTS_PER_CHUNK`` segments (a wider range is a run of its own)."""

        import numpy as np  # numpy: only when a batch is judged

        from saltext.spectrum_acl.core.batch import SEGMENTS_PER_CHUNK  # numpy: only when serving or judging a batch

        before = np.cumsum(self.counts) - self.counts
        return np.split(np.arange(len(self.counts)), np.flatnonzero(np.diff(before // SEGMENTS_PER_CHUNK)) + 1)


class Judging:
    """Where requests are judged: narrow ones on the event loop, wide ones on a few threads, within a budget."""

    def __init__(self, budget=JUDGE_BUDGET, threads=JUDGE_THREADS, waiting=JUDGE_WAITING):

        self.budget, self.max_waiting, self.waiting = budget, waiting, 0
        self._threads = ThreadPoolExecutor(threads, thread_name_prefix="spectrum-acl-judge")

    async def flags(self, judgement):
        """``judgement.flags()``, off the event loop when it is wide; raises :class:`JudgingRefused`."""

        if judgement.segments <= INLINE_SEGMENTS:
            return judgement.flags()
        if self.waiting >= self.max_waiting:
            raise JudgingRefused(f"the server is busy: {self.waiting} wide requests are being judged; try again shortly")
        self.waiting += 1  # only the event loop thread counts
        try:
            deadline = time.monotonic() + self.budget
            return await asyncio.wrap_future(self._threads.submit(judgement.flags, deadline))
        finally:
            self.waiting -= 1

    def close(self):
        self._threads.shutdown(wait=False, cancel_futures=True)


def object_id(*parts):
    """A stable identifier of 32 hex digits, as the API's identifiers look."""
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:32]


class Listings:
    """The prefix data as the Addressing API lists it: each owner's prefixes, with their
    delegations and bindings, and the provider's published ranges (``GET /ips``).

    Built once from the index's columns, with numpy; a page then costs only its own items.
    The index keeps only Spectrum bindings, so only those are listed. Identifiers are
    stable: a hash of what the object is (:func:`object_id`).
    """

    def __init__(self, prefix_index, provider_account=PROVIDER_ACCOUNT):
        import numpy as np  # numpy: only when listing

        self.index = prefix_index
        columns = prefix_index.columns
        kinds = np.frombuffer(bytes(columns.kind), dtype=np.uint8)
        owners = np.asarray(columns.account, dtype=np.int64)
        parents = np.asarray(columns.parent, dtype=np.int64)
        self.by_account, self.prefix_ids, self.positions = {}, {}, {}
        prefixes = np.flatnonzero(kinds == KIND_CODES[PREFIX])
        for position, owner in zip(prefixes.tolist(), owners[prefixes].tolist()):
            account = columns.strings[owner]
            self.by_account.setdefault(account, []).append(position)
            prefix_id = object_id("prefix", account, prefix_index.cidr(position))
            self.prefix_ids[position], self.positions[prefix_id] = prefix_id, position
        self.children = {}
        for kind in (DELEGATION, BINDING):
            positions = np.flatnonzero(kinds == KIND_CODES[kind])
            order = np.argsort(parents[positions], kind="stable")
            self.children[kind] = (parents[positions][order], positions[order])
        self.provider_account = provider_account

    def prefix_position(self, account_id, prefix_id):
        """The position of the prefix ``prefix_id`` when ``account_id`` owns it, else ``None``."""
        position = self.positions.get(prefix_id)
        columns = self.index.columns
        if position is None or columns.strings[columns.account[position]] != account_id:
            return None
        return position

    def child_positions(self, kind, parent):
        """Positions of the delegations or bindings of the prefix at ``parent``, in data order."""
        import numpy as np  # numpy: only when listing

        parents, positions = self.children[kind]
        start, stop = np.searchsorted(parents, [parent, parent + 1])
        return positions[start:stop].tolist()

    def prefix(self, position):
        columns = self.index.columns
        description = columns.strings[columns.detail[position]]
        return {
            "id": self.prefix_ids[position],
            "account_id": columns.strings[columns.account[position]],
            "cidr": self.index.cidr(position),
            "description": description or None,
            "approved": "V",
        }

    def delegation(self, position):
        columns = self.index.columns
        parent = columns.parent[position]
        account, cidr = columns.strings[columns.account[position]], self.index.cidr(position)
        return {
            "id": object_id("delegation", self.prefix_ids[parent], cidr, account),
            "cidr": cidr,
            "delegated_account_id": account,
            "parent_prefix_id": self.prefix_ids[parent],
        }

    def binding(self, position):
        cidr = self.index.cidr(position)
        return {
            "id": object_id("binding", self.prefix_ids[self.index.columns.parent[position]], cidr),
            "cidr": cidr,
            "service_id": object_id("service", "Spectrum"),
            "service_name": "Spectrum",
            "provisioning": {"state": "active"},
        }

    def ips(self):
        """``GET /ips``: the provider account's prefixes, by family, with an etag of them."""
        ranges = {4: [], 6: []}
        for position in self.by_account.get(self.provider_account, ()):
            ranges[self.index.columns.version[position]].append(self.index.cidr(position))
        etag = hashlib.sha256(" ".join(ranges[4] + ranges[6]).encode("ascii")).hexdigest()[:32]
        return {"ipv4_cidrs": ranges[4], "ipv6_cidrs": ranges[6], "etag": etag}


class ServerState:
    """What the handlers share: the guard, the token, limits, tracing and counters.

    ``requests`` counts validation requests, ``listing_requests`` the listing and ``/ips``
    requests (answered or refused).
    """

    def __init__(self, guard, token, *, max_cidrs=MAX_CIDRS, latency=0.0, tracing=None, judge_budget=JUDGE_BUDGET,
                 max_connections=None, idle_timeout=IDLE_TIMEOUT, provider_account=PROVIDER_ACCOUNT):
        if not token:
            raise SpectrumAclError("the server needs a non-empty token")
        self.guard = guard
        self.token = token.encode("utf-8")
        self.max_cidrs = max_cidrs
        self.latency = latency
        self.tracing = tracing
        self.judging = Judging(judge_budget)
        self.max_connections = max_connections or default_max_connections()
        self.idle_timeout = idle_timeout
        self.requests = 0
        self.listing_requests = 0
        self.cidrs = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.provider_account = provider_account
        self._listings = None

    @property
    def listings(self):
        """The :class:`Listings` of the guard's data, built on the first listing request."""
        if self._listings is None:
            self._listings = Listings(self.guard.prefix_index, self.provider_account)
        return self._listings


def _handlers():
    """The Tornado handler classes, imported only when a server is built."""


    import tornado.web  # tornado: only when serving (keeps spectrum-acl check light)

    class ApiHandler(tornado.web.RequestHandler):
        """Answers every error, 404 and 405 included, with the envelope."""

        def initialize(self, state):
            self.state = state
            self.cidr_count = 0
            self.trace_id = None

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

        def _authorised(self):
            scheme, _, credentials = self.request.headers.get("Authorization", "").partition(" ")
            return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode("utf-8"), self.state.token)

        def refuse_unauthorised(self):
            """Answer 401 and return ``True`` unless the request has the bearer token."""
            if self._authorised():
                return False
            self.reply(401, errors=[{"code": AUTH_ERROR, "message": "Authentication error: a valid bearer token is required"}])
            return True

    class NotFound(ApiHandler):
        def prepare(self):
            raise tornado.web.HTTPError(
                404, reason=f"Not Found: the API serves GET {ENDPOINT_PATH}, the prefix listings and {IPS_PATH}"
            )

    class ListingHandler(ApiHandler):
        """One paged listing: ``items(*path_args)`` gives the positions and the maker of an item, or ``None`` (404)."""

        def prepare(self):
            self.state.listing_requests += 1
            self.cidr_count = None  # the access log has no cidr count for a listing

        def get(self, *path_args):
            if self.refuse_unauthorised():
                return
            paging = self._paging()
            if paging is None:
                return
            listings = self.state.listings
            found = self.items(listings, *path_args)
            if found is None:
                self.reply(404, errors=[{"code": NOT_FOUND, "message": "Not Found: no such prefix in this account"}])
                return
            positions, make = found
            start, stop, info = page_bounds(len(positions), *paging)
            self.set_status(200)
            self.finish(envelope([make(position) for position in positions[start:stop]], result_info=info))

        def _paging(self):
            """``(page, per_page)`` from the query; answers 400 and returns ``None`` when they are bad."""
            values = []
            for name, default, highest in (("page", 1, MAX_PAGE), ("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)):
                given = self.request.query_arguments.get(name, [])
                text = given[0].decode("ascii", "replace") if len(given) == 1 else None
                if not given:
                    values.append(default)
                elif text is not None and text.isascii() and text.isdigit() and 1 <= int(text) <= highest:
                    values.append(int(text))
                else:
                    message = f"{name} must be given at most once, as a whole number from 1 to {highest}"
                    self.reply(400, errors=[{"code": BAD_PAGE, "message": message}])
                    return None
            return tuple(values)

    class PrefixesHandler(ListingHandler):
        def items(self, listings, account_id):
            return listings.by_account.get(account_id, []), listings.prefix

    class DelegationsHandler(ListingHandler):
        def items(self, listings, account_id, prefix_id):
            parent = listings.prefix_position(account_id, prefix_id)
            if parent is None:
                return None
            return listings.child_positions(DELEGATION, parent), listings.delegation

    class BindingsHandler(ListingHandler):
        def items(self, listings, account_id, prefix_id):
            parent = listings.prefix_position(account_id, prefix_id)
            if parent is None:
                return None
            return listings.child_positions(BINDING, parent), listings.binding

    class IpsHandler(ApiHandler):
        """``GET /ips``: public, as the provider's is."""

        def prepare(self):
            self.state.listing_requests += 1
            self.cidr_count = None

        def get(self):
            self.reply(200, result=self.state.listings.ips())

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
                    self.trace_id = state.tracing.trace_id(span)
                    await self._answer()
                    span.set_attribute("spectrum_acl.cidr_count", self.cidr_count)
                    span.set_attribute("http.response.status_code", self.get_status())
            finally:
                state.in_flight -= 1

        def _query(self, name):
            try:
                return [value.decode("utf-8") for value in self.request.query_arguments.get(name, [])]
            except UnicodeDecodeError:
                return None

        async def _answer(self):
            state = self.state
            cidrs = self._query("cidr")
            self.cidr_count = len(cidrs or ())
            if self.refuse_unauthorised():
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
                judgement = CidrJudgement(state.guard, cidrs, accounts[0] if accounts else None)
            except OriginSyntaxError as exc:
                self.reply(400, errors=[{"code": BAD_CIDR, "message": f"invalid cidr: {exc}"}])
                return
            try:
                answers = await state.judging.flags(judgement)
            except JudgingRefused as exc:
                self.set_header("Retry-After", "1")
                self.reply(503, errors=[{"code": BUSY, "message": str(exc)}])
                return
            state.cidrs += len(cidrs)
            self.reply(200, result={"allowed_origins": answers})

    segment = "([^/]+)"
    routes = [
        (ENDPOINT_PATH, ValidateHandler),
        (PREFIXES_PATH.format(account_id=segment), PrefixesHandler),
        (DELEGATIONS_PATH.format(account_id=segment, prefix_id=segment), DelegationsHandler),
        (BINDINGS_PATH.format(account_id=segment, prefix_id=segment), BindingsHandler),
        (IPS_PATH, IpsHandler),
    ]
    return routes, NotFound


def _access_log(handler):
    request = handler.request
    status = handler.get_status()
    level = logging.INFO if status < 500 else logging.WARNING if status == 503 else logging.ERROR
    trace = getattr(handler, "trace_id", None)
    count = getattr(handler, "cidr_count", 0)
    log.log(
        level,
        "%d %s %s %s%s %.1fms%s",
        status, request.method, request.path, request.remote_ip,
        "" if count is None else f" cidr={count}", 1000.0 * request.request_time(),
        f" trace_id={trace}" if trace else "",
    )


def _allow_query_fields(count):
    """Raise (never lower) Tornado's process-wide limit on parsed query fields."""
    import tornado.httputil  # tornado: only when serving (keeps spectrum-acl check light)

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
    import tornado.web  # tornado: only when serving (keeps spectrum-acl check light)

    # Our own bound (``max_cidrs``, answered with the envelope) must be the one that applies.
    _allow_query_fields(max(MAX_QUERY_FIELDS, 2 * state.max_cidrs + 10))

    routes, not_found = _handlers()
    return tornado.web.Application(
        [(path, handler, {"state": state}) for path, handler in routes],
        default_handler_class=not_found,
        default_handler_args={"state": state},
        log_function=_access_log,
    )


def default_max_connections():
    """``MAX_CONNECTIONS``, or fewer: ``SPARE_DESCRIPTORS`` below the soft limit on open files."""
    try:
        import resource  # Unix only
    except ImportError:  # not on Unix
        return MAX_CONNECTIONS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MAX_CONNECTIONS
    return max(1, min(MAX_CONNECTIONS, soft - SPARE_DESCRIPTORS))


class _EveryFewSeconds:
    """A recurring warning, logged at most once per ``LOG_EVERY`` seconds with a count of the ones held back."""

    def __init__(self, message):
        self.message, self.held_back, self.last = message, 0, None

    def __call__(self, *args):
        now = time.monotonic()
        if self.last is not None and now - self.last < LOG_EVERY:
            self.held_back += 1
            return
        suffix = f" ({self.held_back} more since the last report)" if self.held_back else ""
        log.warning(self.message + suffix, *args)
        self.last, self.held_back = now, 0


class _Acceptor:
    """Accepts connections for ``server`` on ``sock``, as ``tornado.netutil.add_accept_handler`` does.

    Past ``server.max_connections`` a new connection is closed at once. When accept fails
    (out of file descriptors: ``EMFILE``), it stops listening for a pause that doubles while
    the failure lasts, instead of spinning and logging a traceback each time.
    """

    ACCEPTS_PER_WAKE = 128

    def __init__(self, server, sock):
        from tornado.ioloop import IOLoop  # tornado: only when serving (keeps spectrum-acl check light)

        self.server, self.sock, self.loop = server, sock, IOLoop.current()
        self.pause, self.paused = ACCEPT_PAUSE, None
        self.refused = _EveryFewSeconds("spectrum-acl serve: %d connections open, at the cap (--max-connections): closing new ones")
        self.failing = _EveryFewSeconds("spectrum-acl serve: cannot accept connections (%s); pausing %.2f s")
        self.loop.add_handler(sock, self._ready, self.loop.READ)

    def _ready(self, fd, events):
        server = self.server
        for _ in range(self.ACCEPTS_PER_WAKE):
            try:
                connection, address = self.sock.accept()
            except BlockingIOError:
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._back_off(exc)
                return
            self.pause = ACCEPT_PAUSE
            open_now = len(server._connections)
            if open_now >= server.max_connections:
                connection.close()
                self.refused(open_now)
                continue
            server._handle_connection(connection, address)

    def _back_off(self, exc):
        self.failing(errno.errorcode.get(exc.errno, exc.strerror or exc), self.pause)
        self.loop.remove_handler(self.sock)
        self.paused = self.loop.call_later(self.pause, self._resume)
        self.pause = min(self.pause * 2, ACCEPT_PAUSE_MAX)

    def _resume(self):
        self.paused = None
        self.loop.add_handler(self.sock, self._ready, self.loop.READ)

    def stop(self):
        if self.paused is not None:
            self.loop.remove_timeout(self.paused)
            self.paused = None
        else:
            self.loop.remove_handler(self.sock)


def _listen(state, host, port, ssl_context):
    """Bind and start serving on the running loop; return ``(server, port)``."""

    import tornado.httpserver  # tornado: only when serving (keeps spectrum-acl check light)
    import tornado.netutil  # tornado: only when serving (keeps spectrum-acl check light)

    class GuardedHTTPServer(tornado.httpserver.HTTPServer):
        """Tornado's HTTP server, accepting through :class:`_Acceptor`."""

        max_connections = state.max_connections

        def add_sockets(self, sockets):
            for sock in sockets:
                # the TCPServer bookkeeping that stop() reads
                self._sockets[sock.fileno()] = sock
                self._handlers[sock.fileno()] = _Acceptor(self, sock).stop

    sockets = tornado.netutil.bind_sockets(port, address=host)
    server = GuardedHTTPServer(
        make_app(state), ssl_options=ssl_context, max_header_size=MAX_HEADER_BYTES, max_body_size=1024 * 1024,
        idle_connection_timeout=state.idle_timeout, body_timeout=state.idle_timeout, xheaders=False,
    )
    server.add_sockets(sockets)
    return server, sockets[0].getsockname()[1]


def base_url(host, port, tls):
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


class ReferenceServer:
    """The server on its own thread and event loop (tests, benchmarks, embedding).

    ``with ReferenceServer(guard, token) as server:`` binds ``127.0.0.1`` on a free
    port; ``server.url`` is the base URL for ``spectrum_acl:api:url``. ``limits`` are
    :class:`ServerState`'s keywords (``max_cidrs``, ``latency``, ``judge_budget``, ...).
    """

    def __init__(self, guard, token, host="127.0.0.1", port=0, *, ssl_context=None, **limits):
        self.state = ServerState(guard, token, **limits)
        self.host, self.port, self.ssl_context = host, port, ssl_context
        self._loop = self._stop = self._thread = self._error = None
        self._ready = threading.Event()

    @property
    def url(self):
        return base_url(self.host, self.port, self.ssl_context is not None)

    def start(self):

        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="spectrum-acl-serve", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    async def _main(self):

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
        self.state.judging.close()

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
        token = safe_files.read_secret(path, "token file")
    except safe_files.UnsafePath as exc:
        raise SpectrumAclError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpectrumAclError(f"token file {path!r} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
    if not token:
        raise SpectrumAclError(f"token file {path!r} is empty")
    return token


def _ssl_context(cert, key):

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



    if not args.data:
        raise SpectrumAclError(f"no prefix data: pass --data FILE or set {ENV_PREFIX_DATA}")
    if args.max_cidrs < 1 or args.latency_ms < 0:
        raise SpectrumAclError("--max-cidrs must be at least 1 and --latency-ms at least 0")
    if (args.max_connections is not None and args.max_connections < 1) or args.idle_timeout <= 0 or args.judge_budget_ms <= 0:
        raise SpectrumAclError("--max-connections must be at least 1, --idle-timeout and --judge-budget-ms above 0")
    token = _read_token(args.token_file)
    ssl_context = _ssl_context(args.tls_cert, args.tls_key)
    index = prefix_data.load_index(args.data)
    try:
        trace = tracing.server_tracing(enabled=not args.no_tracing, exporter=args.trace_exporter)
    except tracing.TracingUnavailable as exc:
        raise SpectrumAclError(f"--trace-exporter {args.trace_exporter}: {exc}") from None
    state = ServerState(
        OriginGuard(index), token, max_cidrs=args.max_cidrs, latency=args.latency_ms / 1000.0, tracing=trace,
        judge_budget=args.judge_budget_ms / 1000.0, max_connections=args.max_connections, idle_timeout=args.idle_timeout,
        provider_account=args.provider_account,
    )
    if not logging.getLogger().handlers:
        logging.basicConfig(level=getattr(logging, args.log_level.upper()), format="%(asctime)s %(levelname)s %(message)s")
    return asyncio.run(_serve_forever(state, args, ssl_context, index, out))


async def _serve_forever(state, args, ssl_context, index, out):


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
    out.write(f"  at most {state.max_connections} connections, {state.idle_timeout:g} s to send a request; "
              f"{state.judging.budget * 1000:g} ms to judge one\n")
    out.write(f"  tracing: {'joins the caller trace (W3C traceparent)' if state.tracing else 'off'}\n")
    if ssl_context is None and args.host not in ("127.0.0.1", "::1", "localhost"):
        out.write("  warning: plain http on a non-loopback address; clients send the token in clear text\n")
    out.flush()
    started = time.monotonic()
    await stop.wait()
    server.stop()
    await server.close_all_connections()
    state.judging.close()
    listed = f", {state.listing_requests} listing requests" if state.listing_requests else ""
    out.write(f"spectrum-acl serve: stopped after {state.requests} requests ({state.cidrs} cidr){listed} "
              f"in {time.monotonic() - started:.0f} s\n")
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
    serve.add_argument("--data", default=os.environ.get(ENV_PREFIX_DATA), help=f"prefix data file (or ${ENV_PREFIX_DATA})")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    serve.add_argument("--token-file", required=True, help="file holding the bearer token clients must send")
    serve.add_argument("--max-cidrs", type=int, default=MAX_CIDRS, help=f"most cidr values per request (default {MAX_CIDRS})")
    serve.add_argument("--latency-ms", type=float, default=0.0, help="added latency per answer, to model the real API")
    serve.add_argument("--max-connections", type=int,
                       help=f"most open connections (default {MAX_CONNECTIONS}, or {SPARE_DESCRIPTORS} below the open files limit)")
    serve.add_argument("--idle-timeout", type=float, default=IDLE_TIMEOUT,
                       help=f"seconds a connection may take to send its request headers or stay idle (default {IDLE_TIMEOUT:g})")
    serve.add_argument("--judge-budget-ms", type=float, default=JUDGE_BUDGET * 1000,
                       help=f"most time to judge one wide request; past it the answer is 503 (default {JUDGE_BUDGET * 1000:g})")
    serve.add_argument("--tls-cert", help="serve https with this certificate (PEM)")
    serve.add_argument("--tls-key", help="the certificate's private key (PEM)")
    serve.add_argument("--trace-exporter", choices=("none", "console", "otlp"), default="none",
                       help="where server spans go (default none; trace ids still appear in the access log)")
    serve.add_argument("--no-tracing", action="store_true", help="do not join callers' traces")
    serve.add_argument("--provider-account", default=PROVIDER_ACCOUNT,
                       help=f"the account whose prefixes GET /ips lists as the provider's ranges (default {PROVIDER_ACCOUNT})")
    serve.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default="info",
                       help="access log level (default info: one line per request, on stderr)")
