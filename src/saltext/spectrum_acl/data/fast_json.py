"""The fast way in for large JSON prefix data: msgspec structs, then numpy columns.

It builds exactly the :class:`~saltext.spectrum_acl.core.index.Columns` that
``prefix_data.columns_from_document`` builds from the same document, entry for
entry, in the same order, but it only recognises regular data: for anything
irregular (a wrong type, a CIDR the bulk parser declines, a child outside its
prefix, a duplicate prefix with another owner) it returns ``None``, and the
standard path, which explains every problem, runs instead.
"""

from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from saltext.spectrum_acl.core import index
from saltext.spectrum_acl.core.build.columns import Family, parse_many
from saltext.spectrum_acl.core.parse import cidr_ints


class _Child(msgspec.Struct, gc=False):
    cidr: Any = None
    service_name: Any = None
    delegated_account_id: Any = None


class _Prefix(msgspec.Struct, gc=False):
    cidr: Any = None
    account_id: Any = None
    description: Any = None
    delegations: list[_Child] | None = None
    bindings: list[_Child] | None = None


class _Document(msgspec.Struct, gc=False):
    prefixes: list[_Prefix]
    allow_empty: Any = None


_DECODER = msgspec.json.Decoder(_Document)
_PREFIX, _DELEGATION, _BINDING = (index.KIND_CODES[kind] for kind in (index.PREFIX, index.DELEGATION, index.BINDING))


def _nonempty_str(value):
    return type(value) is str and value


def _all_nonempty_str(values):
    """Are all ``values`` non-empty strings? Each distinct value is looked at once."""
    try:
        distinct = set(values)
    except TypeError:  # a list or mapping
        return False
    return all(_nonempty_str(value) for value in distinct)


class _Layout:
    """Where each entry goes: prefixes as they come, each followed by its kept children.

    Strings are interned into ``columns`` in the order the standard path interns them.
    """

    def __init__(self, columns):
        self.columns = columns
        self.prefix_positions, self.prefix_parts, self.prefix_strings = [], [], []
        self.child_texts, self.child_accounts, self.child_kinds, self.child_parents = [], [], [], []
        self.kept = []
        self.size = 0

    def add_prefix(self, parts, owner, description):
        self.prefix_positions.append(self.size)
        self.prefix_parts.append(parts)
        self.prefix_strings.append((self.columns.string_id(owner), self.columns.string_id(description)))
        self.size += 1
        return self.size - 1

    def add_children(self, children, kind, parent):
        """Lay out one list of children; ``False`` when a value is not a non-empty string."""
        if kind == _DELEGATION:
            values = [child.delegated_account_id for child in children]
            if not _all_nonempty_str(values):
                return False
            accounts = [self.columns.string_id(value) for value in values]
            kept = [True] * len(values)
        else:
            values = [child.service_name for child in children]
            if not _all_nonempty_str(values):
                return False
            accounts = [0] * len(values)
            kept = [index.is_spectrum_service(value) for value in values]
        self.child_texts.extend([child.cidr for child in children])
        self.child_accounts.extend(accounts)
        self.child_kinds.extend([kind] * len(values))
        self.child_parents.extend([parent] * len(values))
        self.kept.extend(kept)
        self.size += sum(kept)
        return True


@dataclass
class Decoded:
    """A decoded document: its prefixes (structs), ``allow_empty``, and how many keys its text has."""

    prefixes: list
    allow_empty: Any
    key_count: int


def decode(raw):
    """The JSON document as structs, or ``None`` when it does not have the expected shape.

    msgspec keeps the last of duplicate keys silently, so the document is declined unless
    its key count (every ``":`` that ends a key) is exactly what the structs account for:
    then no key was repeated, and no unknown or null key is there. The standard path
    explains anything declined.
    """
    try:
        document = _DECODER.decode(raw)
    except (msgspec.MsgspecError, RecursionError):
        return None
    # every key ends '":'; so does the opening quote of an IPv6 value like "::1/128", counted apart
    return Decoded(document.prefixes, document.allow_empty, raw.count(b'":') - raw.count(b'"::'))


def columns_from_document(document):
    """:class:`~saltext.spectrum_acl.core.index.Columns` from a decoded document, or ``None`` when it is irregular.

    Its list of prefixes is emptied as it is read, so that its structs are freed before the columns are made.
    """
    prefixes = document.prefixes
    keys = 1 + (document.allow_empty is not None)
    layout = _Layout(index.Columns())
    seen = {}
    for record in prefixes:
        keys += 2 + (record.description is not None) + (record.delegations is not None) + (record.bindings is not None)
        keys += 2 * (len(record.delegations or ()) + len(record.bindings or ()))
        description = record.description
        if not _nonempty_str(record.account_id) or not (description is None or _nonempty_str(description)):
            return None
        parts = cidr_ints(record.cidr) if type(record.cidr) is str else None
        if parts is None:
            return None
        parent = seen.get(parts)
        if parent is None:
            parent = seen[parts] = (layout.add_prefix(parts, record.account_id, description or ""), record.account_id)
        elif parent[1] != record.account_id:
            return None
        for kind, children in ((_DELEGATION, record.delegations), (_BINDING, record.bindings)):
            if children and not layout.add_children(children, kind, parent[0]):
                return None
    prefixes.clear()
    if keys != document.key_count:  # a repeated or unknown key, or a value that spells '":'
        return None
    return _assemble(layout)


def _assemble(layout):
    children = _parse_children(layout)
    if children is None:
        return None
    child_version, child_first, child_prefixlen = children
    kept = np.array(layout.kept, dtype=bool)
    size = layout.size
    is_prefix = np.zeros(size, dtype=bool)
    is_prefix[layout.prefix_positions] = True
    prefix_parts = layout.prefix_parts
    columns = layout.columns
    kinds = np.full(size, _PREFIX, dtype=np.uint8)
    kinds[~is_prefix] = np.array(layout.child_kinds, dtype=np.uint8)[kept]
    versions = np.empty(size, dtype=np.uint8)
    versions[is_prefix] = [parts[0] for parts in prefix_parts]
    versions[~is_prefix] = child_version[kept]
    prefixlens = np.empty(size, dtype=np.uint8)
    prefixlens[is_prefix] = [parts[2] for parts in prefix_parts]
    prefixlens[~is_prefix] = child_prefixlen[kept]
    firsts = np.empty(size, dtype=object)
    firsts[is_prefix] = [parts[1] for parts in prefix_parts]
    firsts[~is_prefix] = child_first[kept]
    accounts = np.zeros(size, dtype=np.int32)
    details = np.zeros(size, dtype=np.int32)
    accounts[is_prefix] = [owner for owner, _ in layout.prefix_strings]
    details[is_prefix] = [description for _, description in layout.prefix_strings]
    accounts[~is_prefix] = np.array(layout.child_accounts, dtype=np.int32)[kept]
    parents = np.full(size, index.NO_ENTRY, dtype=np.int32)
    parents[~is_prefix] = np.array(layout.child_parents, dtype=np.int32)[kept]
    columns.kind, columns.version, columns.prefixlen = bytearray(kinds), bytearray(versions), bytearray(prefixlens)
    columns.first = firsts.tolist()
    columns.account.frombytes(accounts.tobytes())
    columns.detail.frombytes(details.tobytes())
    columns.parent.frombytes(parents.tobytes())
    return columns


def _parse_children(layout):
    """``(versions, firsts as objects, prefix lengths)`` of every child, or ``None`` if one is irregular."""
    count = len(layout.child_texts)
    v4, v6, declined = parse_many(layout.child_texts)
    layout.child_texts = None  # frees a million strings before the columns are made
    if declined:
        return None
    versions = np.empty(count, dtype=np.uint8)
    prefixlens = np.empty(count, dtype=np.uint8)
    firsts = np.empty(count, dtype=object)
    parent_rows = {position: row for row, position in enumerate(layout.prefix_positions)}
    parent_of = np.array([parent_rows[parent] for parent in layout.child_parents], dtype=np.int64)
    for family in (v4, v6):
        if not _inside_parents(family, parent_of[family.items], layout.prefix_parts):
            return None
        versions[family.items] = family.version
        prefixlens[family.items] = family.prefixlen
        firsts[family.items] = family.first_ints()
    return versions, firsts, prefixlens


def _inside_parents(family, parent_rows, prefix_parts):
    """Is every range of ``family`` of its parent prefix's family and inside it?"""
    if not len(family):
        return True
    unique_rows, inverse = np.unique(parent_rows, return_inverse=True)
    parents = [prefix_parts[row] for row in unique_rows.tolist()]
    if any(version != family.version for version, _, _ in parents):
        return False
    prefixes = Family.of_ints(family.version, [first for _, first, _ in parents], [length for _, _, length in parents])
    first_high, first_low = prefixes.high[inverse], prefixes.low[inverse]
    last_high, last_low = (half[inverse] for half in prefixes.last_halves())
    child_last_high, child_last_low = family.last_halves()
    starts_inside = (family.high > first_high) | ((family.high == first_high) & (family.low >= first_low))
    ends_inside = (child_last_high < last_high) | ((child_last_high == last_high) & (child_last_low <= last_low))
    return bool(np.all(starts_inside & ends_inside))
