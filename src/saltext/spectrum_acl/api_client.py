"""The Addressing API client: the guard's remote judge (``spectrum_acl:backend: api``).

Wire format (``SPEC.md``, "The Addressing API")::

    GET {url}/edge_services/spectrum/validate_origin_ip_acl?cidr=A&cidr=B[&account_id=X]
    Authorization: Bearer <token>

:class:`AddressingApiClient` implements the ``remote`` seam of
:class:`~saltext.spectrum_acl.policy.OriginGuard`:

- ``prefetch(pairs)`` asks for every distinct ``(account_id, cidr)`` pair of a run,
  ``batch_size`` cidrs per request, over one pooled ``requests`` session;
- ``judge(network, account_id)`` answers from those results (asking on demand
  for a pair nobody prefetched) or raises :class:`ApiError`, which the guard
  turns into a denial.

Every failure fails closed: transport errors and timeouts, non-2xx statuses,
``success: false``, a body of the wrong shape, a missing ``cidr`` key, a flag
that is not a boolean. The error names what went wrong and the URL asked.
After the first failure the rest of the run is denied without more requests.

The token is a secret: it only ever goes into the ``Authorization`` header.
It is not in any ``repr``, log line, span, error or exception, and text
coming back from the server is scrubbed of it before it is shown.
"""

import json
import logging
import math
import os
import re
import stat
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import netaddr
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from saltext.spectrum_acl import __version__
from saltext.spectrum_acl.addressing import parse_network
from saltext.spectrum_acl.errors import BackendError, OriginSyntaxError, SpectrumAclError
from saltext.spectrum_acl.policy import FLAGS
from saltext.spectrum_acl.server import ENDPOINT_PATH, MAX_CIDRS
from saltext.spectrum_acl.tracing import normalise_mode

log = logging.getLogger(__name__)

ENV_TOKEN = "SPECTRUM_ACL_API_TOKEN"
#: Statuses worth retrying: rate limited, or a gateway in front of the API is unwell.
RETRY_STATUSES = frozenset((429, 502, 503, 504))
#: Upper bound of ``batch_size``: what the reference server accepts per request.
MAX_BATCH_SIZE = MAX_CIDRS
#: Bodies larger than this are refused rather than read into memory.
MAX_BODY_BYTES = 16 * 1024 * 1024
#: Longest piece of server text quoted in an error.
MAX_QUOTED = 200
#: A ``Retry-After`` longer than this is cut short: a run fails closed rather than hang.
RETRY_AFTER_MAX = 30

DEFAULTS = {
    "connect_timeout": 3.05,
    "read_timeout": 10.0,
    "verify": True,
    "batch_size": 100,
    "retries": 3,
    "backoff_factor": 0.5,
    "cache_ttl": 60.0,
    "tracing": "auto",
}
KNOWN_KEYS = frozenset(DEFAULTS) | {"url", "token", "token_file", "token_env"}

_LOOPBACK_NAMES = ("localhost", "localhost.localdomain")
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII, no spaces: header-safe
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


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
        parts.port  # pylint: disable=pointless-statement  # raises on a bad port
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
        with open(path, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            token = handle.read()
    except FileNotFoundError:
        raise ApiConfigError(f"spectrum_acl:api:token_file {path!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ApiConfigError(f"spectrum_acl:api:token_file {path!r} cannot be read: {reason}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("spectrum_acl: API token file %s is accessible to other users; chmod 600 it", path)
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
    verify: object = True
    batch_size: int = DEFAULTS["batch_size"]
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
            verify=_check_verify(get("verify", DEFAULTS["verify"])),
            batch_size=_number("batch_size", get("batch_size", DEFAULTS["batch_size"]), 1, MAX_BATCH_SIZE, integer=True),
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
    """The canonical ``cidr`` value sent for a network: ``104.16.5.20/32``, ``2606:4700::/32``."""
    return str(network.cidr)


def parse_answer(body, asked):
    """Check a 2xx body and return ``{cidr: flags}`` for every asked cidr; raise :class:`ApiError`.

    ``body`` is the raw bytes. Keys are matched exactly, then by the network they
    spell (so ``104.16.5.20`` answers ``104.16.5.20/32``).
    """
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(f"answered with a body that is not JSON ({_quote(body)})", "not_json") from None
    if not isinstance(document, dict) or "success" not in document:
        raise ApiError("answered JSON without the envelope ('success', 'errors', 'result')", "bad_shape")
    if document["success"] is not True:
        if document["success"] is False:
            raise ApiError(f"answered success: false ({_api_errors(document)})", "success_false")
        raise ApiError(f"answered 'success': {_quote(json.dumps(document['success']))}, not a boolean", "bad_shape")
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
            raise ApiError(f"answered {_quote(json.dumps(entry))} for cidr {cidr!r}, not an object of flags", "bad_shape")
        flags = {}
        for name in FLAGS:
            value = entry.get(name)
            if not isinstance(value, bool):
                shown = "nothing" if name not in entry else _quote(json.dumps(value))
                raise ApiError(f"answered {name}={shown} for cidr {cidr!r}; flags must be true or false", "bad_flag")
            flags[name] = value
        answers[cidr] = flags
    return answers


def _keys_by_network(origins):
    """Answer keys by the network they spell, parsed as strictly as origins are."""
    found = {}
    for key, value in origins.items():
        try:
            found.setdefault(cidr_key(parse_network(key)), value)
        except OriginSyntaxError:
            continue
    return found


def _api_errors(document):
    """``code 1001: message; ...`` from an error envelope, or a short quote of it."""
    errors = document.get("errors") if isinstance(document, dict) else None
    if isinstance(errors, list) and errors:
        parts = []
        for error in errors[:3]:
            if isinstance(error, dict):
                parts.append(f"code {error.get('code')}: {error.get('message')}")
            else:
                parts.append(str(error))
        return _scrub("; ".join(parts))
    return "no errors given"


def _scrub(text):
    """Server text made fit to quote: one line, bounded. (The client also redacts its token.)"""
    text = _CONTROL.sub(" ", str(text))
    return text if len(text) <= MAX_QUOTED else text[:MAX_QUOTED] + "..."


def _quote(data):
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    return repr(_scrub(data)) if data else "empty"


# --------------------------------------------------------------------------- the client


class AddressingApiClient:
    """The remote judge over HTTP. One instance is one pooled session for one run.

    :param settings: :class:`ApiSettings`.
    :param tracing: a :mod:`~saltext.spectrum_acl.tracing` client tracing object, or ``None``.
    :param clock: monotonic clock (tests).
    """

    def __init__(self, settings, tracing=None, clock=time.monotonic):
        self.settings = settings
        self.tracing = tracing
        self.clock = clock
        self.requests_sent = 0
        self._answers = {}  # (account_id, cidr) -> (time, flags | ApiError)
        self._failure = None  # (time, ApiError): the first failure stops the rest of the run
        self._lock = threading.RLock()
        self._session = self._new_session()

    def __repr__(self):
        return f"AddressingApiClient({self.settings.endpoint!r})"

    def _redacted(self, error):
        """``error`` with the token cut out of its text: server text is quoted in it."""
        text = str(error)
        if self.settings.token not in text:
            return error
        return ApiError(text.replace(self.settings.token, "<redacted>"), error.kind, error.status)

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
        session.mount("https://", HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=2))
        session.mount("http://", HTTPAdapter(max_retries=retry, pool_connections=1, pool_maxsize=2))
        session.auth = BearerAuth(settings.token)  # also keeps ~/.netrc from replacing the header
        session.headers.update({"Accept": "application/json", "User-Agent": f"saltext-spectrum-acl/{__version__}"})
        return session

    def close(self):
        self._session.close()

    # ------------------------------------------------------------------ the remote seam

    def prefetch(self, pairs):
        """Ask about every distinct, not yet answered ``(account_id, network)`` pair, in batches."""
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
            for number, (account_id, cidrs) in enumerate(batches, 1):
                self._ask(account_id, cidrs, number, len(batches))
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
                self._ask(account_id, [key[1]], 1, 1)
            answer = self._answers[key][1]
        if isinstance(answer, ApiError):
            raise answer
        return dict(answer)

    def _fresh(self, key, now):
        known = self._answers.get(key)
        return known is not None and now - known[0] < self.settings.cache_ttl

    # ------------------------------------------------------------------ one request

    def _ask(self, account_id, cidrs, number, total):
        now = self.clock()
        if self._failure is not None and now - self._failure[0] < self.settings.cache_ttl:
            error = ApiError(f"not asked after an earlier failure: {self._failure[1]}", "skipped", self._failure[1].status)
            results = dict.fromkeys(cidrs, error)
        else:
            where = self._where(account_id, number, total, len(cidrs))
            try:
                results = self._exchange(account_id, cidrs, number, total, where)
            except ApiError as exc:
                self._failure = (now, exc)
                log.warning("spectrum_acl: %s; origins that need this answer are denied", exc)
                results = dict.fromkeys(cidrs, exc)
        for cidr, answer in results.items():
            self._answers[(account_id, cidr)] = (now, answer)

    def _where(self, account_id, number, total, count):
        account = "no account_id" if account_id is None else f"account_id {account_id}"
        return f"GET {self.settings.endpoint}, {account}, batch {number} of {total}, {count} cidr"

    def _exchange(self, account_id, cidrs, number, total, where):
        params = [("cidr", cidr) for cidr in cidrs]
        if account_id is not None:
            params.append(("account_id", account_id))
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
        """One GET (urllib3 retries inside); ``(status, answers)`` or :class:`ApiError`."""
        settings = self.settings
        started = self.clock()
        self.requests_sent += 1
        try:
            response = self._session.get(
                settings.endpoint,
                params=params,
                headers=headers,
                timeout=(settings.connect_timeout, settings.read_timeout),
                verify=settings.verify,
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as exc:
            kind, problem = _transport_problem(exc, settings)
            raise ApiError(f"Addressing API request failed: {problem} ({where})", kind) from None
        try:
            retries = len(response.raw.retries.history) if getattr(response.raw, "retries", None) else 0
            if span is not None:
                span.set_attribute("spectrum_acl.retries", retries)
            body = _read_body(response, where, settings)
        finally:
            response.close()
        status = response.status_code
        log.debug(
            "spectrum_acl: Addressing API %s -> HTTP %s, %d retries, %.0f ms",
            where, status, retries, (self.clock() - started) * 1000,
        )
        if not 200 <= status < 300:
            raise ApiError(f"Addressing API answered {_status_problem(response, body, retries, settings)} ({where})", "http_status", status)
        try:
            return status, parse_answer(body, cidrs)
        except ApiError as exc:
            raise ApiError(f"Addressing API {exc} ({where})", exc.kind, status) from None


def _retry(**kwargs):
    """urllib3 ``Retry``; ``retry_after_max`` only where urllib3 has it (2.4+)."""
    try:
        return Retry(**kwargs)
    except TypeError:
        kwargs.pop("retry_after_max")
        return Retry(**kwargs)


def _read_body(response, where, settings):
    chunks, size = [], 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise ApiError(f"Addressing API answered more than {MAX_BODY_BYTES} bytes ({where})", "too_large", response.status_code)
            chunks.append(chunk)
    except requests.RequestException as exc:
        kind, problem = _transport_problem(exc, settings)
        raise ApiError(f"Addressing API request failed while reading the answer: {problem} ({where})", kind, response.status_code) from None
    return b"".join(chunks)


def _status_problem(response, body, retries, settings):
    reason = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
    if retries:
        reason += f" after {retries} retries"
    try:
        detail = _api_errors(json.loads(body))
    except (ValueError, UnicodeDecodeError):
        detail = _quote(body)
    if response.status_code in (401, 403):
        return f"{reason}: the token from {settings.token_source} was refused ({detail})"
    if 300 <= response.status_code < 400:
        location = _scrub(response.headers.get("Location", "nowhere"))
        return f"{reason}: a redirect to {location}; set spectrum_acl:api:url to the final URL"
    return f"{reason} ({detail})"


def _reason(exc):
    """The innermost urllib3 reason behind a requests exception."""
    inner = exc.args[0] if exc.args else None
    return getattr(inner, "reason", inner)


def _transport_problem(exc, settings):
    """``(kind, words)`` for a transport failure, built without the request (its headers hold the token)."""
    reason = _reason(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls", f"TLS error: {_scrub(reason)}"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timeout", f"connect timeout after {settings.connect_timeout} s"
    if isinstance(exc, requests.exceptions.ReadTimeout) or isinstance(reason, ReadTimeoutError):
        return "timeout", f"read timeout: no answer within {settings.read_timeout} s"
    text = str(reason or exc)
    if "Connection refused" in text:
        return "connect", "connection refused"
    # urllib3 prefixes its pool and connection objects: keep the human part.
    text = re.sub(r"^.*?(?:Connection|Pool)\([^)]*\): ", "", text)
    return "connect", f"{type(exc).__name__}: {_scrub(text)}"
