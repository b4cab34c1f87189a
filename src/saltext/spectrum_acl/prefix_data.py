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

import json
import os

import yaml

from saltext.spectrum_acl import index
from saltext.spectrum_acl.addressing import parse_network
from saltext.spectrum_acl.errors import OriginSyntaxError, PrefixDataError
from saltext.spectrum_acl.special_purpose import reserved_entries

SPECTRUM_SERVICE = "Spectrum"

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_document(path):
    """Read a prefix data file: JSON when it ends in ``.json``, YAML otherwise."""
    if not os.path.isfile(path):
        raise PrefixDataError(f"prefix data file {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as handle:
            if path.endswith(".json"):
                return json.load(handle)
            return yaml.load(handle, Loader=_YAML_LOADER)  # nosec: safe loader
    except (OSError, UnicodeDecodeError) as exc:
        raise PrefixDataError(f"prefix data file {path!r} cannot be read: {exc}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise PrefixDataError(f"prefix data file {path!r} is not valid {'JSON' if path.endswith('.json') else 'YAML'}: {exc}") from None


def _text_field(record, key, where, required=True):
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise PrefixDataError(f"{where}: field {key!r} must be a non-empty string (got {value!r})")
    return value


def _cidr_field(record, where):
    value = record.get("cidr")
    try:
        return parse_network(value)
    except OriginSyntaxError as exc:
        raise PrefixDataError(f"{where}: field 'cidr': {exc}") from None


def _list_field(record, key, where):
    value = record.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PrefixDataError(f"{where}: field {key!r} must be a list (got {type(value).__name__})")
    return value


def _children(prefix, record, key, where):
    for position, child in enumerate(_list_field(record, key, where)):
        child_where = f"{where}.{key}[{position}]"
        if not isinstance(child, dict):
            raise PrefixDataError(f"{child_where}: must be a mapping (got {child!r})")
        network = _cidr_field(child, child_where)
        if network.version != prefix.version or not (prefix.first <= network.first and network.last <= prefix.last):
            raise PrefixDataError(f"{child_where}: cidr {str(network)!r} is outside its parent prefix {prefix.cidr}")
        yield child, child_where, network


def entries_from_document(document, source="prefix data"):
    """Check a prefix data document and return its index entries (without reserved blocks)."""
    if not isinstance(document, dict) or not isinstance(document.get("prefixes"), list):
        raise PrefixDataError(f"{source}: expected a mapping with a 'prefixes' list at the top")
    entries = []
    owners = {}
    for position, record in enumerate(document["prefixes"]):
        where = f"{source}: prefixes[{position}]"
        if not isinstance(record, dict):
            raise PrefixDataError(f"{where}: must be a mapping (got {record!r})")
        network = _cidr_field(record, where)
        where = f"{where} ({network})"
        owner = _text_field(record, "account_id", where)
        description = _text_field(record, "description", where, required=False)
        key = (network.version, network.first, network.prefixlen)
        if key in owners:
            if owners[key].account != owner:
                raise PrefixDataError(
                    f"{where}: duplicate prefix with a different owner "
                    f"({owners[key].account!r} and {owner!r})"
                )
            prefix = owners[key]
        else:
            prefix = owners[key] = index.Entry(index.PREFIX, network, owner, description)
            entries.append(prefix)
        for child, child_where, child_network in _children(prefix, record, "delegations", where):
            delegated = _text_field(child, "delegated_account_id", child_where)
            entries.append(index.Entry(index.DELEGATION, child_network, delegated, "", prefix))
        for child, child_where, child_network in _children(prefix, record, "bindings", where):
            service = _text_field(child, "service_name", child_where)
            if service == SPECTRUM_SERVICE:
                detail = f"a Spectrum edge IP (binding {child_network} in prefix {prefix.cidr})"
                entries.append(index.Entry(index.BINDING, child_network, None, detail, prefix))
    return entries


def load_index(path, cache_dir=None):
    """Load prefix data from ``path`` into a :class:`~saltext.spectrum_acl.index.PrefixIndex`.

    ``cache_dir``: where a compiled index keyed by the file's content hash is kept.
    """
    entries = entries_from_document(read_document(path), source=path)
    return index.PrefixIndex(entries + reserved_entries())
