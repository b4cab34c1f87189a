"""Prefix data taken from the provider's public Addressing API, once, for every minion.

    spectrum-acl snapshot --api-url URL --account-id ID [--account-id ID ...] --token-file F --output prefixes.json
    salt-run spectrum_acl.snapshot          (settings: spectrum_acl:snapshot in the master config)

What is read (:data:`~saltext.spectrum_acl.api.protocol.PREFIXES_PATH` and its neighbours):

- ``GET /accounts/{account_id}/addressing/prefixes`` for each configured account: the
  prefixes it owns (``id``, ``cidr``, ``account_id``, ``description``);
- ``GET .../prefixes/{prefix_id}/delegations`` and ``.../bindings`` for each of them:
  ``cidr`` and ``delegated_account_id``; ``cidr`` and ``service_name`` (only Spectrum
  bindings are edge IPs for the guard; the others are kept, and ignored when loaded);
- ``GET /ips`` (unless ``provider_account`` is off): the provider's published ranges,
  written as prefixes owned by ``provider_account``. A range that a listed account
  also lists as its own prefix must be that same account's, or the snapshot fails.

Listings are paged (``page``, ``per_page``) until ``result_info`` says they end
(``total_pages``, else ``total_count``, else a short page), at most ``max_pages`` pages
each. Requests go ``concurrency`` at a time over one pooled session, built by the
Addressing API client (:mod:`~saltext.spectrum_acl.api.client`): retries of 429 and
5xx gateways, a deadline per request, no proxy or CA bundle from the environment, and
the token only ever in the ``Authorization`` header. Requests: one per page of
each account's prefixes, at least two per prefix, and one for ``/ips``.

**Fail closed.** Nothing is written, and the file in place stays byte-identical,
when anything is wrong: a transport error or timeout, a non-2xx status,
``success: false``, a body that is not the envelope (no ``result`` list), a field of
the wrong type, a CIDR strict parsing refuses, a child outside its prefix, a prefix
listed twice or owned by two accounts, pages that do not add up (``result_info``
changing, a missing page, more than ``max_pages``), no prefix at all, or a snapshot
that shrank: more than ``max_shrink`` (default half) of the prefixes, or of all
entries, gone since the last one, or an account that had prefixes having none
(``allow_shrink`` lets an intended shrink through once). Each failure is a
:class:`SnapshotError` with a ``reason`` (its class) and words naming what went wrong
where; the token is never in them.

**The file** is prefix data as :mod:`~saltext.spectrum_acl.data.prefix_data` loads
it: JSON, prefixes sorted by address, each with its delegations and bindings, and
nothing else, so it takes the loader's fast path (which declines unknown keys). It
is written to a temporary file beside the target (mode 0644, fsync), loaded with the
loader itself, and only then renamed over the target; a byte-identical result is
not rewritten. Its sha256, size, time taken, source and counts go to a sidecar
``<file>.meta.json``, written the same way after it (:func:`read_meta` checks that the
sidecar describes the file beside it).
"""

import datetime
import hashlib
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote

from saltext.spectrum_acl.api.protocol import BINDINGS_PATH, DELEGATIONS_PATH, IPS_PATH, MAX_PER_PAGE, PREFIXES_PATH
from saltext.spectrum_acl.core.parse import cidr_parts
from saltext.spectrum_acl.core.ranges import HOSTMASKS, cidr_text
from saltext.spectrum_acl.data import prefix_data, safe_files
from saltext.spectrum_acl.errors import OriginSyntaxError, SpectrumAclError


def _client():
    """The Addressing API client module, imported when a snapshot is taken: it imports requests."""
    from saltext.spectrum_acl.api import client  # requests and urllib3: only for a snapshot (keeps the CLI light)

    return client


DEFAULTS = {
    "provider_account": "provider",
    "per_page": 100,
    "max_pages": 10_000,
    "max_shrink": 0.5,
    "concurrency": 8,
}
#: Settings checked as the client checks ``spectrum_acl:api`` (:class:`~saltext.spectrum_acl.api.client.ApiSettings`).
TRANSPORT_KEYS = ("url", "token", "token_file", "token_env", "connect_timeout", "read_timeout", "deadline",
                  "proxy", "verify", "retries", "backoff_factor")
#: Every key of ``spectrum_acl:snapshot`` (``saltenv`` is the runner's: where ``salt://`` output goes).
KNOWN_KEYS = frozenset(DEFAULTS) | {"accounts", "output", "saltenv"} | frozenset(TRANSPORT_KEYS)
META_SUFFIX = ".meta.json"
#: Description of a ``GET /ips`` range that no listed account lists as its prefix.
IPS_DESCRIPTION = "provider range (GET /ips)"

#: What an account id or a prefix id may be: it goes into a URL path (no ``/``, and never ``.`` or ``..``).
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")

#: The failure classes of :class:`SnapshotError` besides the transport ones of ``api.client.ApiError``.
CONFIG, BAD_FIELD, DUPLICATE, INCONSISTENT, TOO_MANY_PAGES, EMPTY, SHRINK, INVALID, UNSAFE_PATH, WRITE = (
    "config", "bad_field", "duplicate", "inconsistent", "too_many_pages", "empty", "shrink", "invalid",
    "unsafe_path", "write",
)


class SnapshotError(SpectrumAclError):
    """A snapshot that was not taken; ``reason`` is its class, ``where`` the request or item at fault."""

    def __init__(self, message, reason, where=None):
        super().__init__(message)
        self.reason = reason
        self.where = where

    def as_dict(self):
        return {"reason": self.reason, "comment": str(self), "where": self.where}


# --------------------------------------------------------------------------- settings


def _whole(value, key, low, high, name):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SnapshotError(f"{name(key)} must be a whole number from {low} to {high} (got {value!r})", CONFIG)
    return value


@dataclass(frozen=True)
class SnapshotSettings:
    """Checked snapshot settings; ``api`` holds the URL, the token (never shown) and the transport limits."""

    api: object  # api.client.ApiSettings
    accounts: tuple
    output: str
    provider_account: object = DEFAULTS["provider_account"]  # None: GET /ips is not read
    per_page: int = DEFAULTS["per_page"]
    max_pages: int = DEFAULTS["max_pages"]
    max_shrink: float = DEFAULTS["max_shrink"]
    concurrency: int = DEFAULTS["concurrency"]

    @classmethod
    def from_mapping(cls, values, name=lambda key: f"spectrum_acl:snapshot:{key}", environ=None):
        """Check ``values`` (the ``spectrum_acl:snapshot`` keys, ``output`` an absolute ``.json`` path).

        ``name(key)`` is how a key is called in errors (a config key, or a command-line flag).
        Raises :class:`SnapshotError` (``config``); the token is never in it.
        """
        if not isinstance(values, Mapping):
            raise SnapshotError(f"the snapshot settings must be a mapping (got {type(values).__name__})", CONFIG)
        unknown = sorted(str(key) for key in values if key not in KNOWN_KEYS)
        if unknown:
            raise SnapshotError(
                f"{name(unknown[0])} is not a setting (known: {', '.join(sorted(KNOWN_KEYS))}); "
                "a misspelt setting would silently not apply", CONFIG,
            )
        accounts = values.get("accounts")
        if not isinstance(accounts, (list, tuple)) or not accounts or not all(
            isinstance(account, str) and IDENTIFIER.fullmatch(account) for account in accounts
        ):
            raise SnapshotError(f"{name('accounts')} must be a non-empty list of account ids (got {accounts!r})", CONFIG)
        output = values.get("output")
        if not isinstance(output, str) or not os.path.isabs(output) or not output.endswith(".json"):
            raise SnapshotError(f"{name('output')} must be the absolute path of a .json file (got {output!r})", CONFIG)
        provider = values.get("provider_account", DEFAULTS["provider_account"])
        if provider is not False and not (isinstance(provider, str) and provider):
            raise SnapshotError(f"{name('provider_account')} must be an account id, or false to skip GET /ips (got {provider!r})", CONFIG)
        max_shrink = values.get("max_shrink", DEFAULTS["max_shrink"])
        if isinstance(max_shrink, bool) or not isinstance(max_shrink, (int, float)) or not 0 < max_shrink <= 1:
            raise SnapshotError(f"{name('max_shrink')} must be a fraction above 0, at most 1 (got {max_shrink!r})", CONFIG)
        api_client = _client()
        concurrency = _whole(values.get("concurrency", DEFAULTS["concurrency"]), "concurrency", 1,
                             api_client.MAX_CONCURRENCY, name)
        transport = {key: values[key] for key in TRANSPORT_KEYS if key in values}
        transport["concurrency"] = concurrency  # the session's pool: one connection per request in flight
        try:
            api = api_client.ApiSettings.from_config(lambda key, default: transport.get(key, default), environ=environ)
        except api_client.ApiConfigError as exc:
            message = re.sub(r"spectrum_acl:api:(\w+)", lambda match: name(match.group(1)), str(exc))
            raise SnapshotError(message, CONFIG) from None
        return cls(
            api=api,
            accounts=tuple(dict.fromkeys(accounts)),
            output=os.path.normpath(output),
            provider_account=provider or None,
            per_page=_whole(values.get("per_page", DEFAULTS["per_page"]), "per_page", 1, MAX_PER_PAGE, name),
            max_pages=_whole(values.get("max_pages", DEFAULTS["max_pages"]), "max_pages", 1, 10**7, name),
            max_shrink=float(max_shrink),
            concurrency=concurrency,
        )


def file_roots_path(relative, roots):
    """The path under the first of ``roots`` (a saltenv's ``file_roots``) of ``relative``, a ``salt://`` path.

    Refuses what could leave the root: an absolute path, ``..``, empty parts.
    """
    parts = relative.split("/")
    if not relative or relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise SnapshotError(f"salt://{relative} is not a plain path below the file roots", CONFIG)
    if not roots or not isinstance(roots, (list, tuple)) or not isinstance(roots[0], str):
        raise SnapshotError(f"salt://{relative}: the master has no file_roots directory for it", CONFIG)
    return os.path.join(os.path.abspath(roots[0]), *parts)


# --------------------------------------------------------------------------- reading the API


def _quoted(value, secret):
    """A field value fit to quote in an error: one line, bounded, the token redacted."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return _client().quote_in_error(text, secret)


class _Reader:
    """GETs of the Addressing API over the client's pooled session, counted, each checked as an envelope.

    Transport is the client's, not a copy of it: its session, its per-request deadline,
    and its words for transport failures and statuses, all with the token redacted.
    """

    def __init__(self, settings):
        self.settings = settings
        self.api = settings.api
        # The client builds the session: retries, deadline-aware connections, bearer auth, no environment.
        self._client = _client().AddressingApiClient(settings.api)
        self.requests = 0
        self._lock = threading.Lock()

    def close(self):
        self._client.close()

    def fail(self, message, reason, where=None):
        """A :class:`SnapshotError`, the token cut out of its words whatever they quote (a last guard)."""
        token, redact = self.api.token, _client().redact
        return SnapshotError(redact(message, token), reason, where and redact(where, token))

    def get(self, path, params, where):
        """The envelope of one ``GET {url}{path}``, with ``success: true``; :class:`SnapshotError` otherwise."""
        api, api_client = self.api, _client()
        with self._lock:
            self.requests += 1
        try:
            _, body = self._client.get(api.url + path, params, where)
        except api_client.ApiError as exc:
            raise self.fail(str(exc), exc.kind, where) from None
        try:
            document = api_client.load_json(body, api.token)
        except api_client.ApiError as exc:
            raise self.fail(f"Addressing API {exc} ({where})", exc.kind, where) from None
        if not isinstance(document, dict) or "success" not in document:
            raise self.fail(f"Addressing API answered JSON without the envelope ('success', 'errors', 'result') ({where})",
                            "bad_shape", where)
        if document["success"] is not True:
            if document["success"] is False:
                errors = api_client._api_errors(document, api.token)
                raise self.fail(f"Addressing API answered success: false ({errors}) ({where})", "success_false", where)
            raise self.fail(f"Addressing API answered 'success': {_quoted(document['success'], api.token)}, "
                            f"not a boolean ({where})", "bad_shape", where)
        return document

    def list_all(self, path, take, stop=None):
        """Read every page of the listing at ``path``, handing each item to ``take(item, where)``; the item count.

        Pages are read until ``result_info`` says the listing ends: ``page`` reaches
        ``total_pages``, else the items reach ``total_count``, else a page comes back
        short. ``stop`` (an ``Event``) ends the reading early, once another request failed.
        """
        per_page, count, total_seen = self.settings.per_page, 0, None
        for page in range(1, self.settings.max_pages + 1):
            if stop is not None and stop.is_set():
                return count
            where = f"GET {path}?page={page}&per_page={per_page}"
            document = self.get(path, {"page": page, "per_page": per_page}, where)
            result = document.get("result")
            if not isinstance(result, list):
                raise self.fail(f"Addressing API answered without a result list ({where})", "bad_shape", where)
            info = self._result_info(document, where)
            if info.get("page", page) != page:
                raise self.fail(f"Addressing API answered page {info['page']} when page {page} was asked ({where})",
                                INCONSISTENT, where)
            total = info.get("total_count")
            if total is not None and total_seen is not None and total != total_seen:
                raise self.fail(f"the listing changed while it was read: total_count went from {total_seen} to {total} "
                                f"({where}); try again", INCONSISTENT, where)
            total_seen = total if total is not None else total_seen
            for position, item in enumerate(result):
                take(item, f"{where}, item {position}")
            count += len(result)
            if "total_pages" in info:
                more = page < info["total_pages"]
            elif total is not None:
                more = count < total
            else:
                more = bool(result) and len(result) >= info.get("per_page", per_page)
            if more and not result:
                raise self.fail(f"Addressing API answered an empty page, but result_info says more follow ({where})",
                                INCONSISTENT, where)
            if not more:
                if total_seen is not None and count != total_seen:
                    raise self.fail(f"the listing has {count} items, but its total_count says {total_seen} ({where})",
                                    INCONSISTENT, where)
                return count
        raise self.fail(f"GET {path} has more than {self.settings.max_pages} pages (max_pages); "
                        "a listing that does not end is refused", TOO_MANY_PAGES, f"GET {path}")

    def _result_info(self, document, where):
        info = document.get("result_info")
        if info is None:
            return {}
        if not isinstance(info, dict):
            raise self.fail(f"Addressing API answered a result_info that is not an object ({where})", "bad_shape", where)
        checked = {}
        for key in ("page", "per_page", "count", "total_count", "total_pages"):
            value = info.get(key)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 0:
                raise self.fail(f"Addressing API answered result_info.{key}={_quoted(value, self.api.token)}, "
                                f"not a whole number ({where})", "bad_shape", where)
            checked[key] = int(value)
        if checked.get("per_page") == 0:
            raise self.fail(f"Addressing API answered result_info.per_page=0 ({where})", "bad_shape", where)
        return checked


# --------------------------------------------------------------------------- API objects -> prefix data


@dataclass
class PrefixRecord:
    """One prefix as the snapshot writes it: parts of its CIDR, owner, description, children as tuples."""

    version: int
    first: int
    prefixlen: int
    owner: str
    description: str = None
    prefix_id: str = None
    from_ips: bool = False
    delegations: list = None
    bindings: list = None

    @property
    def key(self):
        return self.version, self.first, self.prefixlen

    @property
    def cidr(self):
        return cidr_text(self.version, self.first, self.prefixlen)


class Converter:
    """Checks API objects field by field and turns them into :class:`PrefixRecord` s (one home for the rules).

    Each method raises :class:`SnapshotError` (``bad_field``, ``duplicate``) naming the item
    (``where``), the field and the value, quoted with the token redacted.
    """

    def __init__(self, secret=None):
        self.secret = secret

    def _bad(self, where, field, value, problem):
        return SnapshotError(
            _client().redact(f"{where}: field {field!r} {problem} (got {_quoted(value, self.secret)})", self.secret),
            BAD_FIELD, where,
        )

    def _mapping(self, item, where):
        if not isinstance(item, dict):
            raise SnapshotError(f"{where}: must be an object (got {_quoted(item, self.secret)})", BAD_FIELD, where)
        return item

    def _text(self, item, field, where, required=True):
        value = item.get(field)
        if value is None and not required:
            return None
        if not isinstance(value, str) or not value:
            raise self._bad(where, field, value, "must be a non-empty string")
        return value

    def cidr(self, item, where):
        """``(version, first, prefixlen)`` of ``item['cidr']``, strictly parsed."""
        value = item.get("cidr")
        try:
            return cidr_parts(value)
        except OriginSyntaxError as exc:
            raise self._bad(where, "cidr", value, f"is not a CIDR: {exc}") from None

    def prefix(self, item, account, where):
        """A prefix listed for ``account``: its ``account_id`` (when given) must be that account."""
        item = self._mapping(item, where)
        version, first, prefixlen = self.cidr(item, where)
        owner = self._text(item, "account_id", where, required=False)
        if owner is not None and owner != account:
            raise self._bad(where, "account_id", owner, f"is not the account whose prefixes were listed ({account!r})")
        description = item.get("description")
        if description is not None and not isinstance(description, str):
            raise self._bad(where, "description", description, "must be a string")
        prefix_id = self._text(item, "id", where)
        if not IDENTIFIER.fullmatch(prefix_id):
            raise self._bad(where, "id", prefix_id, "is not an identifier (letters, digits, '_', '.', ':', '-')")
        return PrefixRecord(version, first, prefixlen, account, description or None,
                            prefix_id=prefix_id, delegations=[], bindings=[])

    def _inside(self, parts, record, item, where):
        version, first, prefixlen = parts
        if (version != record.version or first < record.first
                or first | HOSTMASKS[version][prefixlen] > record.first | HOSTMASKS[version][record.prefixlen]):
            raise self._bad(where, "cidr", item.get("cidr"), f"is outside its prefix {record.cidr}")

    def delegation(self, item, record, where):
        """``(version, first, prefixlen, delegated_account_id)`` of a delegation of ``record``."""
        item = self._mapping(item, where)
        parts = self.cidr(item, where)
        self._inside(parts, record, item, where)
        parent = item.get("parent_prefix_id")
        if parent is not None and parent != record.prefix_id:
            raise self._bad(where, "parent_prefix_id", parent, f"is not the prefix listed ({record.prefix_id!r})")
        return (*parts, self._text(item, "delegated_account_id", where))

    def binding(self, item, record, where):
        """``(version, first, prefixlen, service_name)`` of a binding of ``record`` (provisioning or active)."""
        item = self._mapping(item, where)
        parts = self.cidr(item, where)
        self._inside(parts, record, item, where)
        provisioning = item.get("provisioning")
        if provisioning is not None and not isinstance(provisioning, dict):
            raise self._bad(where, "provisioning", provisioning, "must be an object")
        return (*parts, self._text(item, "service_name", where))

    def ips(self, result, where):
        """The ``(version, first, prefixlen)`` of every range ``GET /ips`` lists."""
        if not isinstance(result, dict):
            raise SnapshotError(f"{where}: result must be an object with ipv4_cidrs and ipv6_cidrs", "bad_shape", where)
        ranges = []
        for field, version in (("ipv4_cidrs", 4), ("ipv6_cidrs", 6)):
            values = result.get(field)
            if not isinstance(values, list):
                raise self._bad(where, field, values, "must be a list of CIDRs")
            for position, value in enumerate(values):
                parts = self.cidr({"cidr": value}, f"{where}, {field}[{position}]")
                if parts[0] != version:
                    raise self._bad(f"{where}, {field}[{position}]", "cidr", value, f"is not IPv{version}")
                ranges.append(parts)
        if not ranges:
            raise SnapshotError(f"{where}: no provider ranges at all", EMPTY, where)
        return ranges


def assemble(records, ips_ranges=(), provider_account=None):
    """The prefix data document and its counts from :class:`PrefixRecord` s and ``GET /ips`` ranges.

    A CIDR may be a prefix once: listed twice, or by two accounts, is ``duplicate``. A
    ``GET /ips`` range is ``provider_account``'s: if a listed account lists it, that
    must be the same account. Children are checked for repeats (a delegation given
    twice, an address bound twice). Everything is sorted, so the same data always
    gives the same bytes.
    """
    by_key = {}
    for record in records:
        known = by_key.get(record.key)
        if known is not None:
            both = "listed twice" if known.owner == record.owner else f"owned by both {known.owner!r} and {record.owner!r}"
            raise SnapshotError(f"prefix {record.cidr} is {both}: the API's data is inconsistent", DUPLICATE, record.cidr)
        by_key[record.key] = record
        for kind in ("delegations", "bindings"):
            children = getattr(record, kind)
            children.sort()
            for before, after in zip(children, children[1:]):
                if before[:3] == after[:3] and (before == after or kind == "bindings"):
                    what = "bound twice" if kind == "bindings" else f"delegated twice to {after[3]!r}"
                    cidr = cidr_text(*after[:3])
                    raise SnapshotError(f"prefix {record.cidr}: {cidr} is {what}", DUPLICATE, record.cidr)
    provider_ranges = 0
    for key in dict.fromkeys(ips_ranges):
        provider_ranges += 1
        known = by_key.get(key)
        if known is None:
            by_key[key] = PrefixRecord(*key, provider_account, IPS_DESCRIPTION, from_ips=True, delegations=[], bindings=[])
        elif known.owner != provider_account:
            raise SnapshotError(
                f"prefix {known.cidr} is published by GET /ips as the provider's ({provider_account!r}), "
                f"but account {known.owner!r} lists it as its own", DUPLICATE, known.cidr,
            )
    prefixes, counts = [], {"prefixes": 0, "provider_ranges": provider_ranges, "delegations": 0, "bindings": 0,
                            "spectrum_bindings": 0, "accounts": {}}
    for key in sorted(by_key):
        record = by_key[key]
        out = {"cidr": record.cidr, "account_id": record.owner}
        if record.description:
            out["description"] = record.description
        if record.delegations:
            out["delegations"] = [{"cidr": cidr_text(*child[:3]), "delegated_account_id": child[3]}
                                  for child in record.delegations]
        if record.bindings:
            out["bindings"] = [{"cidr": cidr_text(*child[:3]), "service_name": child[3]} for child in record.bindings]
        prefixes.append(out)
        counts["prefixes"] += 1
        counts["delegations"] += len(record.delegations)
        counts["bindings"] += len(record.bindings)
        counts["spectrum_bindings"] += sum(child[3].casefold() == "spectrum" for child in record.bindings)
        counts["accounts"][record.owner] = counts["accounts"].get(record.owner, 0) + 1
    counts["entries"] = counts["prefixes"] + counts["delegations"] + counts["bindings"]
    return {"prefixes": prefixes}, counts


def fetch_records(reader, settings, converter):
    """``(records, ips_ranges)``: every configured account's prefixes with their children, and ``GET /ips``.

    Accounts are listed first, then the prefixes' delegations and bindings, each phase
    ``concurrency`` requests at a time; the first failure stops every further request
    and is raised.
    """
    stop, lock = threading.Event(), threading.Lock()
    failures = []

    def run_all(tasks):
        def guarded(task):
            if stop.is_set():
                return
            try:
                task()
            except BaseException as exc:
                with lock:
                    failures.append(exc)
                stop.set()

        if settings.concurrency == 1 or len(tasks) <= 1:
            for task in tasks:
                guarded(task)
        else:
            with ThreadPoolExecutor(min(settings.concurrency, len(tasks)), thread_name_prefix="spectrum-acl-snapshot") as pool:
                list(pool.map(guarded, tasks))
        if failures:
            raise failures[0]

    by_account = {account: [] for account in settings.accounts}
    ips = []

    def list_account(account):
        path = PREFIXES_PATH.format(account_id=quote(account, safe=""))
        reader.list_all(path, lambda item, where: by_account[account].append(converter.prefix(item, account, where)), stop)

    def read_ips():
        document = reader.get(IPS_PATH, None, f"GET {IPS_PATH}")
        ips.extend(converter.ips(document.get("result"), f"GET {IPS_PATH}"))

    tasks = [lambda account=account: list_account(account) for account in settings.accounts]
    if settings.provider_account:
        tasks.append(read_ips)
    run_all(tasks)
    records = [record for account in settings.accounts for record in by_account[account]]

    def list_children(record, kind):
        template, convert = (DELEGATIONS_PATH, converter.delegation) if kind == "delegations" else (BINDINGS_PATH, converter.binding)
        path = template.format(account_id=quote(record.owner, safe=""), prefix_id=quote(record.prefix_id, safe=""))
        children = getattr(record, kind)
        reader.list_all(path, lambda item, where: children.append(convert(item, record, where)), stop)

    run_all([lambda record=record, kind=kind: list_children(record, kind)
             for record in records for kind in ("delegations", "bindings")])
    return records, ips


# --------------------------------------------------------------------------- the file


def encode(document):
    """The snapshot's bytes: compact JSON, keys in the order written."""
    import msgspec  # only for a snapshot (keeps the CLI light)

    return msgspec.json.encode(document)


def _counts_of_document(document):
    prefixes = document.get("prefixes") if isinstance(document, dict) else None
    if not isinstance(prefixes, list):
        return None
    counts = {"prefixes": len(prefixes), "delegations": 0, "bindings": 0, "accounts": {}}
    for record in prefixes:
        if not isinstance(record, dict):
            return None
        counts["delegations"] += len(record.get("delegations") or ())
        counts["bindings"] += len(record.get("bindings") or ())
        owner = record.get("account_id")
        if isinstance(owner, str):
            counts["accounts"][owner] = counts["accounts"].get(owner, 0) + 1
    counts["entries"] = counts["prefixes"] + counts["delegations"] + counts["bindings"]
    return counts


def meta_path(path):
    return path + META_SUFFIX


def read_meta(path):
    """The sidecar of the snapshot at ``path`` and whether it describes that file: ``(meta, current)``.

    ``(None, False)`` when there is no readable sidecar. ``current`` is true only when the
    sidecar's ``sha256`` is the file's.
    """
    try:
        with open(meta_path(path), "rb") as handle:
            meta = json.loads(handle.read())
        with open(path, "rb") as handle:
            digest = hashlib.sha256(handle.read()).hexdigest()
    except (OSError, ValueError):
        return None, False
    if not isinstance(meta, dict):
        return None, False
    return meta, meta.get("sha256") == digest


def previous_snapshot(path):
    """``(bytes, counts, warning)`` of the file at ``path`` now: ``(None, None, None)`` when there is none.

    Counts come from the sidecar when it describes the file, else from the file itself;
    a file that cannot be read as prefix data gives ``counts`` ``None`` and a warning.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None, None, None
    except OSError as exc:
        return None, None, f"the previous snapshot {path!r} cannot be read ({exc.strerror or exc}); it is replaced"
    import msgspec  # only for a snapshot (keeps the CLI light)

    meta, current = read_meta(path)
    if current and isinstance(meta.get("counts"), dict) and isinstance(meta["counts"].get("accounts"), dict):
        return raw, meta["counts"], None
    try:
        counts = _counts_of_document(msgspec.json.decode(raw))
    except (msgspec.MsgspecError, RecursionError):
        counts = None
    if counts is None:
        return raw, None, f"the previous snapshot {path!r} is not prefix data; it is replaced"
    return raw, counts, None


def shrink_problem(before, after, max_shrink):
    """Why ``after`` (counts) shrank too much from ``before``, or ``None``."""
    for name in ("prefixes", "entries"):
        old, new = before.get(name) or 0, after.get(name) or 0
        if old and new < old * (1 - max_shrink):
            return (f"{name}: {old} before, {new} now: more than {max_shrink:.0%} gone at once "
                    "(allow_shrink, or --allow-shrink, lets an intended shrink through)")
    for account, old in sorted((before.get("accounts") or {}).items()):
        if old and not after["accounts"].get(account):
            return (f"account {account!r} had {old} prefixes and has none now "
                    "(allow_shrink, or --allow-shrink, lets an intended shrink through)")
    return None


def _write_beside(path, data, mode=0o644):
    """A temporary file in ``path``'s directory holding ``data``, flushed to disk; its path."""
    directory, name = os.path.split(path)
    descriptor, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp.json")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
    except BaseException:
        _remove(temporary)
        raise
    return temporary


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_directory(directory):
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def install(path, data, meta):
    """Put ``data`` at ``path`` and ``meta`` beside it, each atomically, after the loader loaded ``data``.

    Returns the loader's counts (``index.counts``). Raises :class:`SnapshotError`
    (``unsafe_path``, ``invalid``, ``write``); the file in place is then untouched.
    """
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        safe_files.check_directory(directory, "snapshot directory")
    except safe_files.UnsafePath as exc:
        raise SnapshotError(f"{exc}; the snapshot is not written there", UNSAFE_PATH, path) from None
    except OSError as exc:
        raise SnapshotError(f"cannot create the snapshot directory {directory!r}: {exc.strerror or exc}", WRITE, path) from None
    temporary = None
    try:
        temporary = _write_beside(path, data)
        try:
            loaded = prefix_data.load_index(temporary).counts
        except SpectrumAclError as exc:
            raise SnapshotError(f"the snapshot does not load as prefix data, so it is not written: {exc}", INVALID, path) from None
        os.replace(temporary, path)
        temporary = None
        meta_temporary = _write_beside(meta_path(path), meta)
        os.replace(meta_temporary, meta_path(path))
        _sync_directory(directory)
    except OSError as exc:
        raise SnapshotError(f"cannot write the snapshot {path!r}: {exc.strerror or exc}", WRITE, path) from None
    finally:
        if temporary is not None:
            _remove(temporary)
    return loaded


def check_loads(data):
    """Load ``data`` with the prefix data loader, from a private temporary file; :class:`SnapshotError` ``invalid``."""
    with tempfile.TemporaryDirectory(prefix="spectrum-acl-snapshot-") as directory:
        path = os.path.join(directory, "prefixes.json")
        with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as handle:
            handle.write(data)
        try:
            return prefix_data.load_index(path).counts
        except SpectrumAclError as exc:
            raise SnapshotError(f"the snapshot does not load as prefix data, so it is not written: {exc}", INVALID) from None


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def take_snapshot(settings, allow_shrink=False, dry_run=False, clock=time.monotonic):
    """Fetch, convert, check and write one snapshot; a report ``dict`` (never raises for a failed snapshot).

    ``result`` is true when the snapshot was taken: ``changed`` says whether the file was
    replaced (false when it was byte-identical already, or for ``dry_run``, which
    writes nothing). A failure has ``result`` false, ``reason``, ``comment`` and ``where``.
    Both have ``path``, ``requests`` and ``seconds``.
    """
    started = clock()
    report = {"result": False, "changed": False, "path": settings.output, "requests": 0, "warnings": []}
    reader = None
    try:
        reader = _Reader(settings)
        records, ips = fetch_records(reader, settings, Converter(settings.api.token))
        report["requests"] = reader.requests
        document, counts = assemble(records, ips, settings.provider_account)
        if not counts["prefixes"]:
            raise SnapshotError("the API listed no prefix at all for the accounts asked; an empty snapshot would "
                                "allow every managed address and binding, so it is refused", EMPTY)
        data = encode(document)
        del document, records
        previous, before, warning = previous_snapshot(settings.output)
        if warning:
            report["warnings"].append(warning)
        if before is not None and not allow_shrink:
            problem = shrink_problem(before, counts, settings.max_shrink)
            if problem:
                raise SnapshotError(f"the snapshot shrank: {problem}", SHRINK, settings.output)
        digest = hashlib.sha256(data).hexdigest()
        report.update(sha256=digest, bytes=len(data), counts=counts, taken_at=_now(),
                      previous=None if before is None else {key: before.get(key) for key in ("prefixes", "entries")})
        meta = {
            "sha256": digest, "bytes": len(data), "taken_at": report["taken_at"], "source": settings.api.url,
            "accounts": list(settings.accounts), "provider_account": settings.provider_account,
            "requests": reader.requests, "counts": counts,
        }
        if dry_run:
            check_loads(data)
            report["comment"] = f"would write {settings.output} (dry run: nothing written)"
        elif previous == data:
            install_meta_only(settings.output, json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n")
            report["comment"] = f"{settings.output} is unchanged"
        else:
            install(settings.output, data, json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n")
            report["changed"] = True
            report["comment"] = f"wrote {settings.output}"
        report["result"] = True
    except SnapshotError as exc:
        report.update(exc.as_dict())
    finally:
        if reader is not None:
            report["requests"] = reader.requests
            reader.close()
        report["seconds"] = round(clock() - started, 3)
    return report


def install_meta_only(path, meta):
    """Refresh the sidecar of an unchanged snapshot (its ``taken_at``), atomically."""
    try:
        temporary = _write_beside(meta_path(path), meta)
        os.replace(temporary, meta_path(path))
    except OSError as exc:
        raise SnapshotError(f"cannot write the snapshot's sidecar {meta_path(path)!r}: {exc.strerror or exc}", WRITE, path) from None

