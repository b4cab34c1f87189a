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
Only bindings whose ``service_name`` is ``Spectrum`` (in any case) are edge IPs.

Loading refuses what would silently weaken the guard: a file with no prefixes
(unless it says ``allow_empty: true`` at the top), a key written twice in one
mapping (the last would win: a second ``account_id`` reassigns a prefix), YAML
aliases that expand past :data:`MAX_ALIAS_EXPANSION` nodes (an alias bomb), and
anything that is not a safe regular file (see :mod:`safe_files`).
"""

import hashlib
import json
import logging
import os
import re

import yaml

from saltext.spectrum_acl.core import index
from saltext.spectrum_acl.core.parse import cidr_ints, cidr_parts
from saltext.spectrum_acl.core.ranges import HOSTMASKS
from saltext.spectrum_acl.core.reserved import reserved_entries
from saltext.spectrum_acl.data import compiled, safe_files
from saltext.spectrum_acl.errors import OriginSyntaxError, PrefixDataError

log = logging.getLogger(__name__)

#: A YAML document may expand to at most this many more nodes than it writes out
#: through aliases: enough for any sensible reuse, far from an alias bomb.
MAX_ALIAS_EXPANSION = 10_000


class _DuplicateKey(Exception):
    def __init__(self, key, line):
        super().__init__(key, line)
        self.key, self.line = key, line


class _DataLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The safe YAML loader, refusing a key written twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                except TypeError:
                    continue  # unhashable: the base constructor explains it
                if duplicate:
                    raise _DuplicateKey(key, key_node.start_mark.line + 1)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _alias_expansion(root):
    """How many more nodes ``root`` expands to through aliases than it has: one pass, no expansion."""
    sizes, unique, stack = {}, 0, [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        if children_done or not children:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            unique += 1
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)] - unique


def _load_yaml(raw):
    loader = _DataLoader(raw)
    try:
        root = loader.get_single_node()
        if root is None:
            return None
        expansion = _alias_expansion(root)
        if expansion > MAX_ALIAS_EXPANSION:
            raise yaml.YAMLError(
                f"its aliases expand to {expansion} more nodes than it writes (at most {MAX_ALIAS_EXPANSION}): "
                "refused as an alias bomb"
            )
        return loader.construct_document(root)
    finally:
        loader.dispose()


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:]')


def _json_duplicate_line(text, key):
    """The line where ``key`` is written a second time in one JSON object (the error path only)."""
    stack, previous = [], None
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "{[":
            stack.append(set() if token == "{" else None)
        elif token in "}]":
            if stack:
                stack.pop()
        elif token == ":" and previous is not None and stack and stack[-1] is not None:
            name = json.loads(previous.group())
            if name in stack[-1] and name == key:
                return text.count("\n", 0, previous.start()) + 1
            stack[-1].add(name)
        previous = match if token.startswith('"') else None
    return None


_LEAF_KEYS = ("service_name", "delegated_account_id")


def _compact_leaves():
    """A JSON ``object_pairs_hook`` that turns ``{cidr, service_name}`` and
    ``{cidr, delegated_account_id}`` objects into ``(key, version, first, prefixlen, value)``
    tuples as they are parsed: 10^6 bindings then take a third of the memory.
    Anything else (and any cidr the fast parser declines) stays a dict."""
    values = {}

    def hook(pairs):
        if len({key for key, _ in pairs}) != len(pairs):
            seen = set()
            key = next(key for key, _ in pairs if key in seen or seen.add(key))
            raise _DuplicateKey(key, None)
        if len(pairs) == 2:
            (cidr_key, cidr), (value_key, value) = pairs if pairs[0][0] == "cidr" else pairs[::-1]
            if (
                cidr_key == "cidr" and value_key in _LEAF_KEYS and type(cidr) is str
                and type(value) is str and value
            ):
                parts = cidr_ints(cidr)
                if parts is not None:
                    return (value_key, *parts, values.setdefault(value, value))
        return dict(pairs)

    return hook


def _parse_document(raw, path):
    kind = "JSON" if path.endswith(".json") else "YAML"
    try:
        if kind == "JSON":
            return json.loads(raw, object_pairs_hook=_compact_leaves())
        return _load_yaml(raw)
    except _DuplicateKey as exc:
        line = exc.line or _json_duplicate_line(raw.decode("utf-8", "replace"), exc.key)
        where = f" at line {line}" if line else ""
        raise PrefixDataError(
            f"prefix data file {path!r}: key {exc.key!r} is written twice in one mapping{where}; "
            "the last would silently win: remove one"
        ) from None
    except UnicodeDecodeError as exc:
        raise PrefixDataError(f"prefix data file {path!r} cannot be read: {exc}") from None
    except (ValueError, yaml.YAMLError) as exc:
        raise PrefixDataError(f"prefix data file {path!r} is not valid {kind}: {exc}") from None
    except RecursionError:
        raise PrefixDataError(f"prefix data file {path!r} is not valid {kind}: nested too deeply") from None


def _read_bytes(path):
    """The data file's bytes, read only when it is a safe regular file (never a FIFO: no hang)."""
    try:
        return safe_files.read_trusted(path, "prefix data file")
    except FileNotFoundError:
        raise PrefixDataError(f"prefix data file {path!r} does not exist") from None
    except safe_files.UnsafePath as exc:
        raise PrefixDataError(str(exc)) from None
    except OSError as exc:
        raise PrefixDataError(f"prefix data file {path!r} cannot be read: {exc.strerror or exc}") from None


def usable_cache_dir(cache_dir):
    """``cache_dir`` when it is safe to trust (created 0700 when missing), else ``None``.

    An unsafe directory is neither read nor written: the index is built in memory and
    one warning names the path and the reason.
    """
    if not cache_dir:
        return None
    try:
        os.makedirs(cache_dir, mode=0o700, exist_ok=True)
        safe_files.check_directory(cache_dir, "cache directory")
    except safe_files.UnsafePath as exc:
        log.warning("spectrum_acl: not using the compiled index cache: %s; building the index in memory", exc)
        return None
    except OSError as exc:
        log.warning("spectrum_acl: not using the compiled index cache %s: %s; building the index in memory",
                    cache_dir, exc.strerror or exc)
        return None
    return cache_dir


def _text_field(record, key, where, required=True):
    value = record.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value:
        raise PrefixDataError(f"{where()}: field {key!r} must be a non-empty string (got {value!r})")
    return value


def _cidr_parts(record, where):
    """``(version, first, prefixlen)`` of the record's ``cidr``; a clear error when it is bad."""
    try:
        return cidr_parts(record.get("cidr"))
    except OriginSyntaxError as exc:
        raise PrefixDataError(f"{where()}: field 'cidr': {exc}") from None


def _list_field(record, key, where):
    value = record.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise PrefixDataError(f"{where()}: field {key!r} must be a list (got {type(value).__name__})")
    return value


def _add_children(columns, record, key, parent, parent_parts, where):
    """Append a prefix's delegations or bindings; the hot loop of loading 10^6 entries."""
    delegations = key == "delegations"
    value_key = "delegated_account_id" if delegations else "service_name"
    kind_code = index.KIND_CODES[index.DELEGATION if delegations else index.BINDING]
    parent_version, parent_first, parent_prefixlen = parent_parts
    masks = HOSTMASKS[parent_version]
    parent_last = parent_first | masks[parent_prefixlen]
    string_id = columns.string_id
    kinds, versions, prefixlens, firsts = columns.kind, columns.version, columns.prefixlen, columns.first
    accounts, details, parents = columns.account, columns.detail, columns.parent
    for position, child in enumerate(_list_field(record, key, where)):
        if type(child) is tuple and child[0] == value_key:
            _, version, first, prefixlen, value = child  # parsed while the JSON was read
        else:
            version, first, prefixlen, value = _checked_child(child, value_key, lambda p=position: f"{where()}.{key}[{p}]")
        if version != parent_version or first < parent_first or first | masks[prefixlen] > parent_last:
            raise PrefixDataError(
                f"{where()}.{key}[{position}]: cidr {index.cidr_text(version, first, prefixlen)!r} is outside "
                f"its parent prefix {index.cidr_text(*parent_parts)}"
            )
        if not delegations and not index.is_spectrum_service(value):
            continue
        kinds.append(kind_code)
        versions.append(version)
        prefixlens.append(prefixlen)
        firsts.append(first)
        accounts.append(string_id(value) if delegations else 0)
        details.append(0)
        parents.append(parent)


def _checked_child(child, value_key, where):
    """``(version, first, prefixlen, value)`` of a delegation or binding given as a mapping."""
    if type(child) is tuple:
        leaf_key, version, first, prefixlen, value = child  # a compact leaf of the other kind
        child = {"cidr": index.cidr_text(version, first, prefixlen), leaf_key: value}
    if type(child) is not dict:
        raise PrefixDataError(f"{where()}: must be a mapping (got {child!r})")
    version, first, prefixlen = _cidr_parts(child, where)
    value = child.get(value_key)
    if type(value) is not str or not value:
        raise PrefixDataError(f"{where()}: field {value_key!r} must be a non-empty string (got {value!r})")
    return version, first, prefixlen, value


def columns_from_document(document, source="prefix data"):
    """Check a prefix data document and return its entries as :class:`~index.Columns`.

    Reserved blocks are not included (see :func:`load_index`).
    """
    if not isinstance(document, dict) or not isinstance(document.get("prefixes"), list):
        raise PrefixDataError(f"{source}: expected a mapping with a 'prefixes' list at the top")
    _check_not_empty(len(document["prefixes"]), document.get("allow_empty"), source)
    columns = index.Columns()
    seen = {}
    for position, record in enumerate(document["prefixes"]):

        def where(position=position, record=record):
            cidr = record.get("cidr") if isinstance(record, dict) else None
            return f"{source}: prefixes[{position}]" + (f" ({cidr})" if isinstance(cidr, str) else "")

        if not isinstance(record, dict):
            raise PrefixDataError(f"{where()}: must be a mapping (got {record!r})")
        parts = _cidr_parts(record, where)
        owner = _text_field(record, "account_id", where)
        description = _text_field(record, "description", where, required=False)
        parent = seen.get(parts)
        if parent is None:
            parent = seen[parts] = columns.add(index.PREFIX, *parts, owner, description)
        elif columns.strings[columns.account[parent]] != owner:
            raise PrefixDataError(
                f"{where()}: duplicate prefix with a different owner "
                f"({columns.strings[columns.account[parent]]!r} and {owner!r})"
            )
        if "delegations" in record:
            _add_children(columns, record, "delegations", parent, parts, where)
        if "bindings" in record:
            _add_children(columns, record, "bindings", parent, parts, where)
    return columns


def _check_not_empty(count, allow_empty, source):
    """Empty prefix data allows every managed address and binding: only when the file says so."""
    if allow_empty not in (None, True, False):
        raise PrefixDataError(f"{source}: allow_empty must be true or false (got {allow_empty!r})")
    if count == 0 and allow_empty is not True:
        raise PrefixDataError(
            f"{source}: no prefixes, so no managed space and no binding would be known and every origin "
            "outside reserved space allowed; write 'allow_empty: true' at the top if that is really meant"
        )


def entries_from_document(document, source="prefix data"):
    """Check a prefix data document and return its ``Entry`` objects (without reserved blocks)."""
    return columns_from_document(document, source).entries()


def load_index(path, cache_dir=None):
    """Load prefix data from ``path`` into a :class:`~saltext.spectrum_acl.core.index.PrefixIndex`.

    With ``cache_dir``, a compiled index keyed by the file's content hash is read
    from there when it is present and sound, and written there after a build. The
    hash of an unchanged file (same inode, size, mtime and ctime) is remembered, not
    recomputed. An unsafe cache directory or file (see :mod:`safe_files`) is not used.
    """
    cache_dir = usable_cache_dir(cache_dir)
    if cache_dir and os.path.isfile(path):
        digest = compiled.known_digest(cache_dir, path)
        cached = compiled.load(cache_dir, digest) if digest else None
        if cached is not None:
            return cached
    raw = _read_bytes(path)
    digest = hashlib.sha256(raw).hexdigest() if cache_dir else None
    if cache_dir:
        cached = compiled.load(cache_dir, digest)
        if cached is not None:
            compiled.remember_digest(cache_dir, path, digest)
            return cached
    columns = None
    if path.endswith(".json"):
        from saltext.spectrum_acl.data import fast_json  # msgspec: builds only

        document = fast_json.decode(raw)
        if document is not None:
            raw = None  # freed while the columns are made
            count = len(document.prefixes)
            columns = fast_json.columns_from_document(document)
            if columns is not None:
                _check_not_empty(count, document.allow_empty, path)
        del document
    if columns is None:  # YAML, or irregular JSON: the standard path, which explains any problem
        if raw is None:
            raw = _read_bytes(path)
            digest = hashlib.sha256(raw).hexdigest() if cache_dir else None
        document = _parse_document(raw, path)
        del raw
        columns = columns_from_document(document, source=path)
        del document
    for entry in reserved_entries():
        columns.add_entry(entry)
    built = index.PrefixIndex.from_columns(columns)
    if cache_dir:
        compiled.save(cache_dir, digest, built)
        compiled.remember_digest(cache_dir, path, digest)
    return built
