"""The Addressing API client: the guard's remote judge (``spectrum_acl:backend: api``).

Wire format (``SPEC.md``, "The Addressing API")::

    GET {url}/edge_services/spectrum/validate_origin_ip_acl?cidr=A&cidr=B[&account_id=X]
    Authorization: Bearer <token>

:class:`AddressingApiClient` implements the ``remote`` seam of
:class:`~saltext.spectrum_acl.core.verdict.OriginGuard`:

- ``prefetch(pairs)`` asks for every distinct ``(account_id, cidr)`` pair of a run,
  ``batch_size`` cidrs per request, over one pooled ``requests`` session: the first
  batch alone, then up to ``concurrency`` (default 8, at most ``MAX_CONCURRENCY``)
  batches in flight together;
- ``judge(network, account_id)`` answers from those results (asking on demand
  for a pair nobody prefetched) or raises :class:`ApiError`, which the guard
  turns into a denial.

Every failure fails closed: transport errors and timeouts, non-2xx statuses,
``success: false``, a body of the wrong shape (duplicate keys and nesting deeper
than ``MAX_DEPTH`` included), a missing ``cidr`` key, a flag that is not a
boolean. The error names what went wrong and the URL asked. After the first
failure the rest of the run is denied without more requests: no batch is sent
once a failure is known, batches already in flight keep their own answer or error,
and every origin whose batch was not answered is denied. The first batch of a
prefetch goes alone, so a wrong token or URL costs one request, not ``concurrency``.
Concurrent requests run in worker threads, each in a copy of the caller's
``contextvars`` context, so their spans have the caller's span as parent.

Time is bounded twice: ``connect_timeout`` and ``read_timeout`` limit each
connect and each socket read, and ``deadline`` (default 30 s) limits one whole
request, its retries, waits and every read included, so a server that drips
its answer a byte at a time fails closed (``timeout``) once the deadline passes.

Proxies are never taken from the environment (``HTTP_PROXY``, ``HTTPS_PROXY``,
``ALL_PROXY``, ``NO_PROXY``), and neither are ``~/.netrc`` and ``REQUESTS_CA_BUNDLE``
(a CA bundle is given as ``verify``): the request, bearer token included, goes
straight to ``url``, or through ``spectrum_acl:api:proxy`` only when that is set
(``http://proxy.example:3128``, used for http and https alike).

The token is a secret: it only ever goes into the ``Authorization`` header.
It is not in any ``repr``, log line, span, error or exception. Text coming back
from the server is redacted before it is cut short and quoted: the token and
every piece of it of ``SECRET_PIECE`` or more characters become ``<redacted>``.
"""

import contextvars
import json
import logging
import math
import os
import re
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlencode, urlsplit

import netaddr
import requests
import urllib3.connection
import urllib3.connectionpool
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from saltext.spectrum_acl import __version__
from saltext.spectrum_acl.api.protocol import ENDPOINT_PATH, MAX_CIDRS
from saltext.spectrum_acl.api.tracing import normalise_mode
from saltext.spectrum_acl.core.parse import parse_network
from saltext.spectrum_acl.core.ranges import cidr_text
from saltext.spectrum_acl.core.verdict import FLAGS
from saltext.spectrum_acl.data import safe_files
from saltext.spectrum_acl.errors import BackendError, OriginSyntaxError, SpectrumAclError
from saltext.spectrum_acl.settings import ENV_TOKEN

log = logging.getLogger(__name__)

#: Statuses worth retrying: rate limited, or a gateway in front of the API is unwell.
RETRY_STATUSES = frozenset((429, 502, 503, 504))
#: Upper bound of ``batch_size``: what the reference server accepts per request.
MAX_BATCH_SIZE = MAX_CIDRS
#: Bodies larger than this are refused rather than read into memory.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Longest piece of server text quoted in an error.
MAX_QUOTED = 200
#: Server text is redacted this far (well past what is quoted) before it is cut to ``MAX_QUOTED``.
REDACTED_SPAN = 4 * MAX_QUOTED
#: Any piece of the token this long or longer is redacted too (a shorter token only as a whole).
SECRET_PIECE = 8
REDACTED = "<redacted>"
#: Deepest nesting accepted in an answer; the documented envelope is four levels deep.
MAX_DEPTH = 32
#: A ``Retry-After`` longer than this is cut short: a run fails closed rather than hang.
RETRY_AFTER_MAX = 30
#: Upper bound of ``concurrency``: batches of one prefetch in flight together.
MAX_CONCURRENCY = 32

DEFAULTS = {
    "connect_timeout": 3.05,
    "read_timeout": 10.0,
    "deadline": 30.0,
    "verify": True,
    "batch_size": 100,
    "concurrency": 8,
    "retries": 3,
    "backoff_factor": 0.5,
    "cache_ttl": 60.0,
    "tracing": "auto",
}
KNOWN_KEYS = frozenset(DEFAULTS) | {"url", "token", "token_file", "token_env", "proxy"}

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: header-safe
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ONLY_BOOL = frozenset((bool,))
_PLAIN_CIDR = re.compile(r"[0-9A-Za-z.:/]+")  # what cidr_key spells: all of it query characters


class ApiConfigError(SpectrumAclError):
    """``spectrum_acl:api:*`` settings that are missing or wrong. Never contains the token."""


class ApiError(BackendError):
    """One failed exchange with the Addressing API; the guard denies with this message.

    ``kind`` names the failure class (``connect``, ``timeout``, ``tls``, ``http_status``,
    ``not_json``, ``bad_shape``, ``success_false``, ``missing_cidr``, ``bad_flag``,
    ``too_large``, ``skipped``); ``status`` is the HTTP status when there was one.
    """

    def __init__(self, message, kind, status=None):
        super().__init__(message)
        self.kind = kind
        self.status = status


class BearerAuth(requests.auth.AuthBase):
    """Sets ``Authorization: Bearer``; its ``repr`` never shows the token."""

    def __init__(self, token):
        self._token = token

    def __call__(self, request):
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self):
        return "BearerAuth(<redacted>)"


# --------------------------------------------------------------------------- settings


def _number(key, value, low, high=None, integer=False):
    kind = "a whole number" if integer else "a number"
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int))
    if bad or math.isnan(value) or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ApiConfigError(f"spectrum_acl:api:{key} must be {kind} {bounds} (got {value!r})")
    return value


def _is_loopback(host):
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return netaddr.IPAddress(host).is_loopback()
    except (netaddr.AddrFormatError, ValueError):
        return False


def _check_url(url):
    if not isinstance(url, str) or not url:
        raise ApiConfigError("spectrum_acl:api:url is required for the api backend (e.g. https://api.example.net/client/v4)")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # raises on a bad port
    except ValueError as exc:
        raise ApiConfigError(f"spectrum_acl:api:url {url!r} is not a valid URL: {exc}") from None
    if parts.username is not None or parts.password is not None:
        # The credentials would be logged with the URL: refuse, and do not echo them.
        raise ApiConfigError(
            "spectrum_acl:api:url must not contain user:password@; give the token as "
            "spectrum_acl:api:token_file, spectrum_acl:api:token or an environment variable"
        )
    if parts.scheme not in ("https", "http") or not host:
        raise ApiConfigError(f"spectrum_acl:api:url {url!r} must be an https:// URL with a host")
    if parts.query or parts.fragment:
        raise ApiConfigError(f"spectrum_acl:api:url {url!r} must not have a query string or fragment")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ApiConfigError(
            f"spectrum_acl:api:url {url!r} is plain http to a host that is not loopback; "
            "the token would cross the network in clear text: use https"
        )
    return url.rstrip("/")


def _check_proxy(proxy):
    """``None``, or an explicit ``http://`` or ``https://`` proxy URL without credentials."""
    if proxy is None:
        return None
    if not isinstance(proxy, str) or not proxy:
        raise ApiConfigError(f"spectrum_acl:api:proxy must be a URL such as http://proxy.example:3128 (got {type(proxy).__name__})")
    try:
        parts = urlsplit(proxy)
        _ = parts.port  # raises on a bad port
    except ValueError as exc:
        raise ApiConfigError(f"spectrum_acl:api:proxy {proxy!r} is not a valid URL: {exc}") from None
    if parts.username is not None or parts.password is not None:
        raise ApiConfigError("spectrum_acl:api:proxy must not contain user:password@")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ApiConfigError(f"spectrum_acl:api:proxy {proxy!r} must be http:// or https:// and a host, with an optional port")
    return proxy


def _check_token(token, source):
    if not isinstance(token, str):
        raise ApiConfigError(f"the API token from {source} must be a string")
    token = token.strip()
    if not token:
        raise ApiConfigError(f"the API token from {source} is empty")
    if not _TOKEN_CHARS.fullmatch(token):
        raise ApiConfigError(f"the API token from {source} contains spaces, control or non-ASCII characters")
    return token


def _read_token_file(path):
    if not isinstance(path, str) or not path:
        raise ApiConfigError(f"spectrum_acl:api:token_file must be a path (got {type(path).__name__})")
    path = os.path.expanduser(path)
    source = f"token_file {path}"
    try:
        token = safe_files.read_secret(path, "spectrum_acl:api:token_file")
    except FileNotFoundError:
        raise ApiConfigError(f"spectrum_acl:api:token_file {path!r} does not exist") from None
    except safe_files.UnsafePath as exc:
        raise ApiConfigError(str(exc)) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ApiConfigError(f"spectrum_acl:api:token_file {path!r} cannot be read: {reason}") from None
    return _check_token(token, source), source


def _check_verify(value):
    if isinstance(value, bool):
        if not value:
            log.warning("spectrum_acl: TLS certificate verification of the Addressing API is OFF (spectrum_acl:api:verify: false)")
        return value
    if isinstance(value, str) and value:
        path = os.path.expanduser(value)
        if not os.path.exists(path):
            raise ApiConfigError(f"spectrum_acl:api:verify: CA bundle {path!r} does not exist")
        return path
    raise ApiConfigError(f"spectrum_acl:api:verify must be true, false or the path of a CA bundle (got {value!r})")


@dataclass(frozen=True)
class ApiSettings:
    """Checked ``spectrum_acl:api:*`` settings. ``token`` is left out of ``repr``."""

    url: str
    token: str = field(repr=False)
    token_source: str = "spectrum_acl:api:token"
    connect_timeout: float = DEFAULTS["connect_timeout"]
    read_timeout: float = DEFAULTS["read_timeout"]
    deadline: float = DEFAULTS["deadline"]
    proxy: object = None
    verify: object = True
    batch_size: int = DEFAULTS["batch_size"]
    concurrency: int = DEFAULTS["concurrency"]
    retries: int = DEFAULTS["retries"]
    backoff_factor: float = DEFAULTS["backoff_factor"]
    cache_ttl: float = DEFAULTS["cache_ttl"]
    tracing: object = "auto"

    @property
    def endpoint(self):
        return self.url + ENDPOINT_PATH

    @classmethod
    def from_config(cls, get, environ=None):
        """Build from ``get(key, default)``, which reads ``spectrum_acl:api:<key>``.

        Token order: ``token``, then ``token_file`` (setting both is an error), then
        the environment variable named by ``token_env`` (default ``SPECTRUM_ACL_API_TOKEN``).
        """
        environ = os.environ if environ is None else environ
        url = _check_url(get("url", None))
        token, token_file = get("token", None), get("token_file", None)
        if token is not None and token_file is not None:
            raise ApiConfigError("set only one of spectrum_acl:api:token and spectrum_acl:api:token_file")
        if token is not None:
            token, source = _check_token(token, "spectrum_acl:api:token"), "spectrum_acl:api:token"
        elif token_file is not None:
            token, source = _read_token_file(token_file)
        else:
            variable = get("token_env", None) or ENV_TOKEN
            if not isinstance(variable, str):
                raise ApiConfigError(f"spectrum_acl:api:token_env must be the name of an environment variable (got {variable!r})")
            source = f"environment variable {variable}"
            if not environ.get(variable):
                raise ApiConfigError(
                    "no Addressing API token: set spectrum_acl:api:token_file (recommended), "
                    f"spectrum_acl:api:token, or the {variable} environment variable"
                )
            token = _check_token(environ[variable], source)
        try:
            tracing = normalise_mode(get("tracing", DEFAULTS["tracing"]))
        except ValueError as exc:
            raise ApiConfigError(f"spectrum_acl:api:tracing {exc}") from None
        return cls(
            url=url,
            token=token,
            token_source=source,
            connect_timeout=_number("connect_timeout", get("connect_timeout", DEFAULTS["connect_timeout"]), 0.001, 600),
            read_timeout=_number("read_timeout", get("read_timeout", DEFAULTS["read_timeout"]), 0.001, 3600),
            deadline=_number("deadline", get("deadline", DEFAULTS["deadline"]), 0.1, 3600),
            proxy=_check_proxy(get("proxy", None)),
            verify=_check_verify(get("verify", DEFAULTS["verify"])),
            batch_size=_number("batch_size", get("batch_size", DEFAULTS["batch_size"]), 1, MAX_BATCH_SIZE, integer=True),
            concurrency=_number("concurrency", get("concurrency", DEFAULTS["concurrency"]), 1, MAX_CONCURRENCY, integer=True),
            retries=_number("retries", get("retries", DEFAULTS["retries"]), 0, 10, integer=True),
            backoff_factor=_number("backoff_factor", get("backoff_factor", DEFAULTS["backoff_factor"]), 0, 60),
            cache_ttl=_number("cache_ttl", get("cache_ttl", DEFAULTS["cache_ttl"]), 1),
            tracing=tracing,
        )


def unknown_keys(mapping):
    """Keys under ``spectrum_acl:api`` that are not settings (typos), sorted."""
    return sorted(str(key) for key in mapping if key not in KNOWN_KEYS)


# --------------------------------------------------------------------------- answers


def cidr_key(network):
    """The canonical ``cidr`` value sent for a network: ``104.16.5.20/32``, ``2606:4700::/32``.

    ``network`` is a ``netaddr.IPNetwork`` or anything with its ``version``, ``first`` and
    ``prefixlen`` (a :class:`~saltext.spectrum_acl.core.ranges.Span`); spelt as netaddr
    spells ``network.cidr``, without making one.
    """
    return cidr_text(network.version, network.first, network.prefixlen)


def encode_query(cidrs, account_id=None):
    """``cidr=A&cidr=B[&account_id=X]``: the pairs ``urlencode`` would encode, with ``:`` and ``/`` of a
    CIDR left as they are (both are query characters, RFC 3986 3.4). A query with no ``%`` in it takes
    urllib3's quick path; percent-escapes make urllib3 re-check the URL a character at a time, three
    times a request."""
    parts = ["cidr=" + cidr if _PLAIN_CIDR.fullmatch(cidr) else urlencode([("cidr", cidr)]) for cidr in cidrs]
    if account_id is not None:
        parts.append(urlencode([("account_id", account_id)]))
    return "&".join(parts)


def parse_answer(body, asked, secret=None):
    """Check a 2xx body and return ``{cidr: flags}`` for every asked cidr; raise :class:`ApiError`.

    ``body`` is the raw bytes. Keys are matched exactly, then by the network they
    spell (so ``104.16.5.20`` answers ``104.16.5.20/32``). ``secret`` (the token) is
    redacted from any server text quoted in the error.
    """
    document = load_json(body, secret)
    if not isinstance(document, dict) or "success" not in document:
        raise ApiError("answered JSON without the envelope ('success', 'errors', 'result')", "bad_shape")
    if document["success"] is not True:
        if document["success"] is False:
            raise ApiError(f"answered success: false ({_api_errors(document, secret)})", "success_false")
        raise ApiError(f"answered 'success': {quote_in_error(json.dumps(document['success']), secret)}, not a boolean", "bad_shape")
    result = document.get("result")
    origins = result.get("allowed_origins") if isinstance(result, dict) else None
    if not isinstance(origins, dict):
        raise ApiError("answered without a result.allowed_origins mapping", "bad_shape")
    by_network = None
    answers = {}
    for cidr in asked:
        entry = origins.get(cidr)
        if entry is None:
            if by_network is None:
                by_network = _keys_by_network(origins)
            entry = by_network.get(cidr)
        if entry is None:
            raise ApiError(f"answered without cidr {cidr!r} that was asked", "missing_cidr")
        if not isinstance(entry, dict):
            raise ApiError(f"answered {quote_in_error(json.dumps(entry), secret)} for cidr {cidr!r}, not an object of flags", "bad_shape")
        values = tuple(map(entry.get, FLAGS))
        if _ONLY_BOOL.issuperset(map(type, values)):  # the common case, in one go
            answers[cidr] = dict(zip(FLAGS, values))
            continue
        flags = {}
        for name in FLAGS:
            value = entry.get(name)
            if not isinstance(value, bool):
                shown = "nothing" if name not in entry else quote_in_error(json.dumps(value), secret)
                raise ApiError(f"answered {name}={shown} for cidr {cidr!r}; flags must be true or false", "bad_flag")
            flags[name] = value
        answers[cidr] = flags
    return answers


class _DuplicateKey(ValueError):
    """A JSON object with the same key twice."""


def _unique_keys(pairs):
    """``json`` ``object_pairs_hook``: a dict, refusing a key given twice (else the last one would win)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        seen = set()
        raise _DuplicateKey(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return document


def _too_deep(document):
    """Does ``document`` nest containers deeper than ``MAX_DEPTH``? One level at a time, containers only."""
    level = [document] if isinstance(document, (dict, list)) else []
    for _ in range(MAX_DEPTH):
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
        if not level:
            return False
    return True


def load_json(body, secret=None):
    """Parse an answer body; :class:`ApiError` ``not_json`` or ``bad_shape`` (duplicate keys, too deep)."""
    try:
        document = json.loads(body, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise ApiError(f"answered JSON with the key {quote_in_error(exc.args[0], secret)} twice in one object", "bad_shape") from None
    except RecursionError:
        too_deep = True  # so deep that the parser gave up
    except (ValueError, UnicodeDecodeError):
        raise ApiError(f"answered with a body that is not JSON ({quote_in_error(body, secret)})", "not_json") from None
    else:
        too_deep = _too_deep(document)
    if too_deep:
        raise ApiError(f"answered JSON nested more than {MAX_DEPTH} levels deep", "bad_shape")
    return document


def _keys_by_network(origins):
    """Answer keys by the network they spell, parsed as strictly as origins are."""
    found = {}
    for key, value in origins.items():
        try:
            found.setdefault(cidr_key(parse_network(key)), value)
        except OriginSyntaxError:
            continue
    return found


def _api_errors(document, secret):
    """``code 1001: message; ...`` from an error envelope, or a short quote of it."""
    errors = document.get("errors") if isinstance(document, dict) else None
    if isinstance(errors, list) and errors:
        parts = []
        for error in errors[:3]:
            if isinstance(error, dict):
                parts.append(f"code {error.get('code')}: {error.get('message')}")
            else:
                parts.append(str(error))
        return _scrub("; ".join(parts), secret)
    return "no errors given"


@lru_cache(maxsize=4)
def _secret_pieces(secret):
    """Every piece of ``secret`` of ``SECRET_PIECE`` characters (the whole of a shorter one)."""
    width = min(len(secret), SECRET_PIECE)
    return width, frozenset(secret[start : start + width] for start in range(len(secret) - width + 1))


def redact(text, secret):
    """``text`` with ``secret``, and every piece of it of ``SECRET_PIECE`` or more characters, as ``<redacted>``."""
    if not secret or not text:
        return text
    width, pieces = _secret_pieces(secret)
    kept, shown_from, covered_to = [], 0, -1
    for start in range(len(text) - width + 1):
        if text[start : start + width] not in pieces:
            continue
        if start > covered_to:  # a new run of overlapping pieces
            kept.append(text[shown_from:start])
            kept.append(REDACTED)
        covered_to = shown_from = start + width
    kept.append(text[shown_from:])
    return "".join(kept)


def _scrub(text, secret):
    """Server text made fit to quote: one line, redacted, then cut to ``MAX_QUOTED`` characters."""
    text = str(text)
    redacted = redact(_CONTROL.sub(" ", text[:REDACTED_SPAN]), secret)
    if len(redacted) <= MAX_QUOTED and len(text) <= REDACTED_SPAN:
        return redacted
    return redacted[:MAX_QUOTED] + "..."


def quote_in_error(data, secret):
    """``data`` (text, or the start of a body) fit to quote in an error: bounded, ``secret`` redacted.

    >>> quote_in_error("token abc123 rejected", "abc123")
    "'token <redacted> rejected'"
    """
    if isinstance(data, bytes):
        data = data[: 4 * REDACTED_SPAN].decode("utf-8", "replace")  # at most 4 bytes a character: enough to redact
    return repr(_scrub(data, secret)) if data else "empty"


# --------------------------------------------------------------------------- the client


class AddressingApiClient:
    """The remote judge over HTTP. One instance is one pooled session for one run.

    :param settings: :class:`ApiSettings`.
    :param tracing: a :mod:`~saltext.spectrum_acl.api.tracing` client tracing object, or ``None``.
    :param clock: monotonic clock (tests).
    """

    def __init__(self, settings, tracing=None, clock=time.monotonic):
        self.settings = settings
        self.tracing = tracing
        self.clock = clock
        self.requests_sent = 0
        self._answers = {}  # (account_id, cidr) -> (time, flags | ApiError); touched only under _lock
        self._failure = None  # (time, ApiError): the first failure stops the rest of the run
        self._lock = threading.RLock()
        self._sent_lock = threading.Lock()  # requests_sent, counted by the worker threads too
        self._session = self._new_session()

    def __repr__(self):
        return f"AddressingApiClient({self.settings.endpoint!r})"

    def _redacted(self, error):
        """``error`` with the token cut out of its text, a last guard: its quotes of server text were redacted already."""
        text = str(error)
        if self.settings.token not in text:
            return error
        return ApiError(text.replace(self.settings.token, REDACTED), error.kind, error.status)

    def _new_session(self):
        settings = self.settings
        retry = _retry(
            total=settings.retries,
            connect=settings.retries,
            read=False,  # a timeout after connecting is not retried: it fails closed at once
            status=settings.retries,
            other=0,
            redirect=0,
            allowed_methods=frozenset(("GET",)),
            status_forcelist=RETRY_STATUSES,
            backoff_factor=settings.backoff_factor,
            raise_on_status=False,  # keep the last response, to report its status and errors
            raise_on_redirect=False,
            respect_retry_after_header=True,
            retry_after_max=RETRY_AFTER_MAX,
        )
        session = requests.Session()
        session.trust_env = False  # no proxy, CA bundle or ~/.netrc from the environment
        if settings.proxy:
            session.proxies = {"http": settings.proxy, "https": settings.proxy}
        # one connection per batch in flight, so concurrent batches reuse kept-alive connections
        pool_maxsize = max(2, settings.concurrency)
        session.mount("https://", _DeadlineAdapter(max_retries=retry, pool_connections=1, pool_maxsize=pool_maxsize))
        session.mount("http://", _DeadlineAdapter(max_retries=retry, pool_connections=1, pool_maxsize=pool_maxsize))
        session.auth = BearerAuth(settings.token)
        session.headers.update({"Accept": "application/json", "User-Agent": f"saltext-spectrum-acl/{__version__}"})
        return session

    def close(self):
        self._session.close()

    # ------------------------------------------------------------------ the remote seam

    def prefetch(self, pairs):
        """Ask about every distinct, not yet answered ``(account_id, network)`` pair, in batches.

        The first batch goes alone; the rest go up to ``concurrency`` at once. The first
        failure stops further sends, and every cidr not answered holds an :class:`ApiError`.
        """
        with self._lock:
            now = self.clock()
            pending = {}
            for account_id, network in pairs:
                cidr = cidr_key(network)
                if not self._fresh((account_id, cidr), now):
                    pending.setdefault(account_id, {})[cidr] = None
            batches = [
                (account_id, cidrs[start : start + self.settings.batch_size])
                for account_id, ordered in pending.items()
                for cidrs in [list(ordered)]
                for start in range(0, len(cidrs), self.settings.batch_size)
            ]
            self._ask(batches, self.settings.concurrency)
            # a run's answers date from the end of its prefetch, however long the API took
            done = self.clock()
            for account_id, cidrs in batches:
                for cidr in cidrs:
                    self._answers[(account_id, cidr)] = (done, self._answers[(account_id, cidr)][1])

    def judge(self, network, account_id):
        """The five flags for ``network`` as ``account_id``; raises :class:`ApiError` (deny)."""
        key = (account_id, cidr_key(network))
        with self._lock:
            if not self._fresh(key, self.clock()):
                self._ask([(account_id, [key[1]])], 1)
            answer = self._answers[key][1]
        if isinstance(answer, ApiError):
            raise answer
        return dict(answer)

    def _fresh(self, key, now):
        known = self._answers.get(key)
        return known is not None and now - known[0] < self.settings.cache_ttl

    # ------------------------------------------------------------------ batches

    def _ask(self, batches, concurrency):
        """Ask ``batches`` (``(account_id, cidrs)``), at most ``concurrency`` in flight; record every cidr.

        Called with ``_lock`` held. Worker threads only send: they take the next batch
        under ``taking`` and stop as soon as any failure is known. Only this thread
        writes ``_answers`` and ``_failure``. Each worker runs in its own copy of this
        thread's ``contextvars`` context, so the current span is its spans' parent.
        """
        if not batches:
            return
        total = len(batches)
        queue = list(enumerate(batches, 1))[::-1]  # popped from the end: batch 1 first
        outcomes = []  # (account_id, cidrs, asked at, {cidr: flags} | ApiError)
        taking = threading.Lock()
        stop = []  # the first failure known, (time, ApiError); or True after an unexpected exception
        if self._failure is not None and self.clock() - self._failure[0] < self.settings.cache_ttl:
            stop.append(self._failure)  # an earlier failure still stands: send nothing

        def send(limit=None):
            try:
                while limit is None or limit > 0:
                    with taking:
                        if stop or not queue:
                            return
                        number, (account_id, cidrs) = queue.pop()
                    asked, answers = self._answer(account_id, cidrs, number, total)
                    with taking:
                        outcomes.append((account_id, cidrs, asked, answers))
                        if isinstance(answers, ApiError) and not stop:
                            stop.append((asked, answers))
                    limit = None if limit is None else limit - 1
            except BaseException:
                with taking:
                    stop.append(True)  # a bug, or an interrupt: no more sends, and the caller sees it
                raise

        try:
            send(limit=1)  # the first batch alone: a wrong token or URL costs one request
            workers = min(concurrency, len(queue))
            if workers <= 1:
                send()
            else:
                contexts = [contextvars.copy_context() for _ in range(workers)]
                with ThreadPoolExecutor(workers, thread_name_prefix="spectrum-acl-api") as pool:
                    futures = [pool.submit(context.run, send) for context in contexts]
                for future in futures:
                    future.result()  # an unexpected exception in a worker is raised here
        finally:
            with taking:
                failure = stop[0] if stop and stop[0] is not True else None
                stop.append(True)  # workers still running (an interrupt) take nothing more
                self._record(outcomes, queue, failure)

    def _record(self, outcomes, unsent, failure):
        """Keep every answer and error, ``failure`` (what stopped the sends), and a ``skipped`` error for each batch not sent."""
        for account_id, cidrs, asked, answers in outcomes:
            failed = isinstance(answers, ApiError)
            for cidr in cidrs:
                self._answers[(account_id, cidr)] = (asked, answers if failed else answers[cidr])
        if failure is None:
            return  # every batch was sent, or an unexpected exception is on its way to the caller
        self._failure = failure  # this run's first failure, or the earlier one that still stands
        error = ApiError(f"not asked after an earlier failure: {failure[1]}", "skipped", failure[1].status)
        now = self.clock()
        for _number, (account_id, cidrs) in unsent:
            for cidr in cidrs:
                self._answers[(account_id, cidr)] = (now, error)

    # ------------------------------------------------------------------ one request

    def _answer(self, account_id, cidrs, number, total):
        """``(time asked, {cidr: flags})``, or ``(time asked, ApiError)`` when the exchange failed."""
        asked = self.clock()
        where = self._where(account_id, number, total, len(cidrs))
        try:
            return asked, self._exchange(account_id, cidrs, number, total, where)
        except ApiError as exc:
            log.warning("spectrum_acl: %s; origins that need this answer are denied", exc)
            return asked, exc

    def _where(self, account_id, number, total, count):
        account = "no account_id" if account_id is None else f"account_id {account_id}"
        return f"GET {self.settings.endpoint}, {account}, batch {number} of {total}, {count} cidr"

    def _exchange(self, account_id, cidrs, number, total, where):
        params = encode_query(cidrs, account_id)
        if self.tracing is None:
            try:
                return self._send(params, {}, cidrs, where)[1]
            except ApiError as exc:
                raise self._redacted(exc) from None
        attributes = {
            "http.request.method": "GET",
            "url.full": self.settings.endpoint,
            "server.address": urlsplit(self.settings.url).hostname,
            "spectrum_acl.cidr_count": len(cidrs),
            "spectrum_acl.batch": number,
            "spectrum_acl.batch_count": total,
        }
        if account_id is not None:
            attributes["spectrum_acl.account_id"] = account_id
        with self.tracing.request(f"GET {ENDPOINT_PATH}", attributes) as (span, headers):
            try:
                status, answers = self._send(params, headers, cidrs, where, span)
            except ApiError as exc:
                exc = self._redacted(exc)
                if exc.status is not None:
                    span.set_attribute("http.response.status_code", exc.status)
                self.tracing.fail(span, exc.kind, str(exc))
                raise exc from None
            span.set_attribute("http.response.status_code", status)
            return answers

    def _send(self, params, headers, cidrs, where, span=None):
        """One validate-endpoint GET: ``(status, answers)`` or :class:`ApiError`."""
        status, body = self.get(self.settings.endpoint, params, where, headers, span)
        try:
            return status, parse_answer(body, cidrs, self.settings.token)
        except ApiError as exc:
            raise ApiError(f"Addressing API {exc} ({where})", exc.kind, status) from None

    def get(self, url, params, where, headers=None, span=None):
        """One GET of ``url`` (urllib3 retries inside) within the deadline: ``(status, body)``.

        A transport failure, an unreadable body or a status other than 2xx is an
        :class:`ApiError` (not yet redacted). The snapshot reads its listings with it.
        """
        settings = self.settings
        started = self.clock()
        with self._sent_lock:
            self.requests_sent += 1
        with _Deadline(settings.deadline) as deadline:
            try:
                response = self._session.get(
                    url,
                    params=params,
                    headers=headers or {},
                    timeout=(deadline.bound(settings.connect_timeout), deadline.bound(settings.read_timeout)),
                    verify=settings.verify,
                    allow_redirects=False,
                    stream=True,
                )
            except (requests.RequestException, _DeadlinePassed) as exc:
                kind, problem = _transport_problem(exc, settings, deadline)
                raise ApiError(f"Addressing API request failed: {problem} ({where})", kind) from None
            try:
                retries = len(response.raw.retries.history) if getattr(response.raw, "retries", None) else 0
                if span is not None:
                    span.set_attribute("spectrum_acl.retries", retries)
                body = _read_body(response, where, settings, deadline)
            finally:
                response.close()
        status = response.status_code
        log.debug(
            "spectrum_acl: Addressing API %s -> HTTP %s, %d retries, %.0f ms",
            where, status, retries, (self.clock() - started) * 1000,
        )
        if not 200 <= status < 300:
            raise ApiError(f"Addressing API answered {_status_problem(response, body, retries, settings)} ({where})", "http_status", status)
        return status, body


# --------------------------------------------------------------------------- the deadline

#: The deadline of the request this thread is sending, for the urllib3 hooks below.
_CURRENT_DEADLINE = contextvars.ContextVar("spectrum_acl_api_deadline", default=None)


class _DeadlinePassed(Exception):
    """The request's deadline passed: raised by the hooks below, through urllib3 and requests."""


class _Deadline:
    """The wall-clock budget of one request, retries and every read included.

    Timeouts and waits between retries are cut to what is left of it. A connection
    in use when it passes is shut down by a timer, which ends any blocked read, so a
    server that drips headers or body a byte at a time cannot hold the request.
    """

    def __init__(self, seconds):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        self.passed = False
        self._connection = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self):
        self._context = _CURRENT_DEADLINE.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        self._timer.cancel()
        _CURRENT_DEADLINE.reset(self._context)

    def remaining(self):
        return self.end - time.monotonic()

    def bound(self, seconds):
        """``seconds``, or what is left of the deadline when that is less."""
        return max(min(seconds, self.remaining()), 0.001)

    def expired(self):
        return self.passed or self.remaining() <= 0

    def check(self):
        """Raise :class:`_DeadlinePassed` once the deadline has passed."""
        if self.expired():
            raise _DeadlinePassed()

    def watch(self, connection):
        """Shut ``connection`` down when the deadline passes; raise :class:`_DeadlinePassed` if it has."""
        with self._lock:
            self.check()
            self._connection = connection

    def _expire(self):
        with self._lock:
            self.passed = True
            sock = getattr(self._connection, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


class _DeadlineConnectionMixin:
    """A urllib3 connection that the current request's deadline watches, with a connect timeout cut to it."""

    def connect(self):
        deadline = _CURRENT_DEADLINE.get()
        if deadline is not None:
            deadline.watch(self)
            if isinstance(self.timeout, (int, float)):
                self.timeout = deadline.bound(self.timeout)
        super().connect()

    def request(self, *args, **kwargs):
        deadline = _CURRENT_DEADLINE.get()
        if deadline is not None:
            deadline.watch(self)  # a pooled connection is not connected again
        return super().request(*args, **kwargs)


class _HTTPConnection(_DeadlineConnectionMixin, urllib3.connection.HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineConnectionMixin, urllib3.connection.HTTPSConnection):
    pass


class _HTTPConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOL_CLASSES = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter with connections the deadline can watch, through a proxy too."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOL_CLASSES

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOL_CLASSES
        return manager


class _DeadlineRetry(Retry):
    """urllib3 ``Retry`` that never waits past the current request's deadline."""

    def sleep(self, response=None):
        deadline = _CURRENT_DEADLINE.get()
        if deadline is not None:
            wait = self.get_retry_after(response) if response is not None and self.respect_retry_after_header else None
            wait = min(self.get_backoff_time() if wait is None else wait, RETRY_AFTER_MAX)
            if wait >= deadline.remaining():
                raise _DeadlinePassed()
        super().sleep(response)


def _retry(**kwargs):
    """urllib3 ``Retry`` bounded by the deadline; ``retry_after_max`` only where urllib3 has it (2.4+)."""
    try:
        return _DeadlineRetry(**kwargs)
    except TypeError:
        kwargs.pop("retry_after_max")
        return _DeadlineRetry(**kwargs)


def _read_body(response, where, settings, deadline):
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ApiError(f"Addressing API answered more than {MAX_BODY_BYTES} bytes ({where})", "too_large", response.status_code)
            chunks.append(chunk)
            deadline.check()
        deadline.check()  # a body cut short by the deadline can look complete
    except (requests.RequestException, _DeadlinePassed) as exc:
        kind, problem = _transport_problem(exc, settings, deadline)
        raise ApiError(f"Addressing API request failed while reading the answer: {problem} ({where})", kind, response.status_code) from None
    return b"".join(chunks)


def _status_problem(response, body, retries, settings):
    secret = settings.token
    reason = f"HTTP {response.status_code} {_scrub(response.reason or '', secret)}".rstrip()
    if retries:
        reason += f" after {retries} retries"
    try:
        detail = _api_errors(load_json(body), secret)
    except ApiError:
        detail = quote_in_error(body, secret)
    if response.status_code in (401, 403):
        return f"{reason}: the token from {settings.token_source} was refused ({detail})"
    if 300 <= response.status_code < 400:
        location = _scrub(response.headers.get("Location", "nowhere"), secret)
        return f"{reason}: a redirect to {location}; set spectrum_acl:api:url to the final URL"
    return f"{reason} ({detail})"


def _reason(exc):
    """The innermost urllib3 reason behind a requests exception."""
    inner = exc.args[0] if exc.args else None
    return getattr(inner, "reason", inner)


def _transport_problem(exc, settings, deadline):
    """``(kind, words)`` for a transport failure, built without the request (its headers hold the token)."""
    if isinstance(exc, _DeadlinePassed) or deadline.expired():
        return "timeout", f"no complete answer within the deadline of {settings.deadline:g} s (spectrum_acl:api:deadline)"
    reason = _reason(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls", f"TLS error: {_scrub(reason, settings.token)}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timeout", f"connect timeout after {settings.connect_timeout} s"
    if isinstance(exc, requests.exceptions.ReadTimeout) or isinstance(reason, ReadTimeoutError):
        return "timeout", f"read timeout: no answer within {settings.read_timeout} s"
    text = str(reason or exc)
    if "Connection refused" in text:
        return "connect", "connection refused"
    # urllib3 prefixes its pool and connection objects: keep the human part.
    text = re.sub(r"^.*?(?:Connection|Pool)\([^)]*\): ", "", text)
    return "connect", f"{type(exc).__name__}: {_scrub(text, settings.token)}"
