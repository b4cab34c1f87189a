"""Load and check local prefix data (YAML or JSON), the embedded default backend.

Field names follow the provider's public Addressing API objects::

    prefixes:
      - cidr: 104.16.0.0/13
        account_id: provider
        description: CDN edge
        delegations:
          - {cidr: 104.16.5.0/24, delegated_account_id: crossbow}
        bindings:
          - {cidr: 104.16.5.10/32, service_name: Spectrum}

Unknown keys are ignored so that real Addressing API exports load as they are.
Only bindings whose ``service_name`` is ``Spectrum`` are edge IPs.
"""

import hashlib
import json
import os

import yaml

from saltext.spectrum_acl import compiled_cache, index
from saltext.spectrum_acl.addressing import fast_span, parse_network
from saltext.spectrum_acl.errors import OriginSyntaxError, PrefixDataError
from saltext.spectrum_acl.index import Span
from saltext.spectrum_acl.special_purpose import reserved_entries

SPECTRUM_SERVICE = "Spectrum"

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_document(raw, path):
    kind = "JSON" if path.endswith(".json") else "YAML"
    try:
        if kind == "JSON":
            return json.loads(raw)
        return yaml.load(raw, Loader=_YAML_LOADER)  # nosec: safe loader
    except UnicodeDecodeError as exc:
        raise PrefixDataError(f"prefix data file {path!r} cannot be read: {exc}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise PrefixDataError(f"prefix data file {path!r} is not valid {kind}: {exc}") from None


def _read_bytes(path):
    if not os.path.isfile(path):
        raise PrefixDataError(f"prefix data file {path!r} does not exist")
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise PrefixDataError(f"prefix data file {path!r} cannot be read: {exc}") from None


def read_document(path):
    """Read a prefix data file: JSON when it ends in ``.json``, YAML otherwise."""
    return _parse_document(_read_bytes(path), path)


def _text_field(record, key, where, required=True):
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise PrefixDataError(f"{where()}: field {key!r} must be a non-empty string (got {value!r})")
    return value


def _cidr_field(record, where):
    value = record.get("cidr")
    span = fast_span(value) if isinstance(value, str) and "://" not in value else None
    if span is not None:
        return span
    try:
        return Span.of(parse_network(value))
    except OriginSyntaxError as exc:
        raise PrefixDataError(f"{where()}: field 'cidr': {exc}") from None


def _list_field(record, key, where):
    value = record.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PrefixDataError(f"{where()}: field {key!r} must be a list (got {type(value).__name__})")
    return value


def _children(prefix, record, key, where):
    for position, child in enumerate(_list_field(record, key, where)):
        def child_where(position=position):
            return f"{where()}.{key}[{position}]"

        if not isinstance(child, dict):
            raise PrefixDataError(f"{child_where()}: must be a mapping (got {child!r})")
        span = _cidr_field(child, child_where)
        if span.version != prefix.version or not (prefix.first <= span.first and span.last <= prefix.last):
            raise PrefixDataError(f"{child_where()}: cidr {span.cidr!r} is outside its parent prefix {prefix.cidr}")
        yield child, child_where, span


def columns_from_document(document, source="prefix data"):
    """Check a prefix data document and return its entries as :class:`~index.Columns`.

    Reserved blocks are not included (see :func:`load_index`).
    """
    if not isinstance(document, dict) or not isinstance(document.get("prefixes"), list):
        raise PrefixDataError(f"{source}: expected a mapping with a 'prefixes' list at the top")
    columns = index.Columns()
    add = columns.add
    seen = {}
    for position, record in enumerate(document["prefixes"]):
        def where(position=position, record=record):
            cidr = record.get("cidr") if isinstance(record, dict) else None
            return f"{source}: prefixes[{position}]" + (f" ({cidr})" if isinstance(cidr, str) else "")

        if not isinstance(record, dict):
            raise PrefixDataError(f"{where()}: must be a mapping (got {record!r})")
        span = _cidr_field(record, where)
        owner = _text_field(record, "account_id", where)
        description = _text_field(record, "description", where, required=False)
        key = (span.version, span.first, span.prefixlen)
        parent = seen.get(key)
        if parent is None:
            parent = seen[key] = add(index.PREFIX, span.version, span.first, span.prefixlen, owner, description)
        elif columns.strings[columns.account[parent]] != owner:
            raise PrefixDataError(
                f"{where()}: duplicate prefix with a different owner "
                f"({columns.strings[columns.account[parent]]!r} and {owner!r})"
            )
        if "delegations" in record:
            for child, child_where, child_span in _children(span, record, "delegations", where):
                delegated = _text_field(child, "delegated_account_id", child_where)
                add(index.DELEGATION, child_span.version, child_span.first, child_span.prefixlen, delegated, "", parent)
        if "bindings" in record:
            for child, child_where, child_span in _children(span, record, "bindings", where):
                if _text_field(child, "service_name", child_where) == SPECTRUM_SERVICE:
                    add(index.BINDING, child_span.version, child_span.first, child_span.prefixlen, None, "", parent)
    return columns


def entries_from_document(document, source="prefix data"):
    """Check a prefix data document and return its ``Entry`` objects (without reserved blocks)."""
    return columns_from_document(document, source).entries()


def load_index(path, cache_dir=None):
    """Load prefix data from ``path`` into a :class:`~saltext.spectrum_acl.index.PrefixIndex`.

    With ``cache_dir``, a compiled index keyed by the file's content hash is read
    from there when it is present and sound, and written there after a build.
    """
    raw = _read_bytes(path)
    digest = hashlib.sha256(raw).hexdigest()
    if cache_dir:
        cached = compiled_cache.load(cache_dir, digest)
        if cached is not None:
            return cached
    columns = columns_from_document(_parse_document(raw, path), source=path)
    del raw
    for entry in reserved_entries():
        columns.add_entry(entry)
    built = index.PrefixIndex.from_columns(columns)
    if cache_dir:
        compiled_cache.save(cache_dir, digest, built)
    return built
