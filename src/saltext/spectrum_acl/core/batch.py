"""Judging many origins at once: parse in bulk, look up with numpy.

A batch is cut in three. Addresses and CIDRs that the fast parser takes
(:func:`~saltext.spectrum_acl.core.parse.cidr_ints` rules: ``inet_pton``, a
canonical prefix length, no host bits) become columns of integers, read in bulk
(:func:`~saltext.spectrum_acl.core.build.columns.parse_many`); IPv6 that may carry
IPv4 and anything else (URLs, spellings for the strict parser) is left to the
single-origin path. The columns are sorted by address, located in the index's
segments with ``numpy.searchsorted`` (a sorted search walks the segments in order)
and judged with table lookups: per label, what it finds and which entry decides,
for the asking account.

The result for each origin is its ``FOUND_*`` bits (see ``verdict.py``) and the
position of the deciding entry, exactly what ``Verdict.found`` and
``Verdict.deciding_entry`` give for the same origin.
"""

import weakref

import numpy as np

from saltext.spectrum_acl.core.build.columns import digits_of, parse_many, sixteen_byte_keys, sorted_order, top_halves
from saltext.spectrum_acl.core.embedded import EMBEDDING_TOP16
from saltext.spectrum_acl.core.index import BINDING_FLAG, MANAGED_FLAG, NO_ENTRY, RESERVED_FLAG
from saltext.spectrum_acl.core.verdict import FOUND_BINDING, FOUND_OF_LABEL_FLAGS, FOUND_UNPERMITTED

_DENYING = FOUND_BINDING | FOUND_UNPERMITTED

_FOUND_OF_FLAGS = np.array(FOUND_OF_LABEL_FLAGS, dtype=np.uint8)
_EMBEDDING_TOP16 = np.array(sorted(EMBEDDING_TOP16), dtype=np.uint64)
_NONE = np.iinfo(np.int64).max
#: How many segments the origins that span several are expanded to at a time.
SEGMENTS_PER_CHUNK = 1 << 18
#: Tables are a few bytes per label (about 1 MB at 10^6 entries): a server keeps them for this many accounts.
ACCOUNT_TABLES_KEPT = 32


class ParsedBatch:
    """One family's origins as columns: their item numbers and their first and last addresses as search keys.

    In address order (as :func:`split` makes them), the searches and lookups walk the index in order.
    """

    def __init__(self, items, first, last):
        self.items, self.first, self.last = items, first, last


def split(origins):
    """``(IPv4 ParsedBatch, IPv6 ParsedBatch, items for the single-origin path)``.

    The single-origin path gets every item the bulk parser declines and every IPv6
    range that may carry IPv4.
    """
    v4, v6, single = parse_many(origins)
    v4 = v4.select(sorted_order(digits_of(v4.low, 32)))
    _, v4_last_low = v4.last_halves()
    parsed_v4 = ParsedBatch(v4.items, v4.low.astype(np.uint32), v4_last_low.astype(np.uint32))
    may_carry_ipv4 = (v6.prefixlen < 16) | np.isin(v6.high >> np.uint64(48), _EMBEDDING_TOP16)
    single.extend(v6.items[may_carry_ipv4].tolist())
    v6 = v6.select(~may_carry_ipv4)
    v6 = v6.select(np.argsort(v6.high))  # by the top 64 bits: in order enough for the searches
    parsed_v6 = ParsedBatch(v6.items, sixteen_byte_keys(v6.high, v6.low), sixteen_byte_keys(*v6.last_halves()))
    return parsed_v4, parsed_v6, single


class AccountTables:
    """Per label, for one account: the ``FOUND_*`` bits it yields and the entry that decides.

    The deciding entry of a label is the owned prefix or the first delegation that
    grants the account, when permitted; else the prefix or reserved block that is not
    permitted. Segments with a binding are decided by the binding instead.
    """

    def __init__(self, vectors, account):
        labels = vectors.labels
        flags, prefix, reserved = labels["flags"], labels["prefix"], labels["reserved"]
        owners = vectors.entry_accounts
        has_prefix = prefix != NO_ENTRY
        permit_entry = np.full(len(prefix), NO_ENTRY, dtype=np.int32)
        if account >= 0:
            owner_of_prefix = np.append(owners, -1)[prefix]  # NO_ENTRY picks the -1 at the end: no owner
            permit_entry = np.where(owner_of_prefix == account, prefix, NO_ENTRY).astype(np.int32)
            self._add_delegations(labels, owners, account, permit_entry)
        sensitive = (flags & (MANAGED_FLAG | RESERVED_FLAG)) != 0
        permitted = permit_entry != NO_ENTRY
        self.found = _FOUND_OF_FLAGS[flags] | np.where(sensitive & ~permitted, FOUND_UNPERMITTED, 0).astype(np.uint8)
        refused_entry = np.where(has_prefix, prefix, reserved)
        self.decider = np.where(sensitive, np.where(permitted, permit_entry, refused_entry), NO_ENTRY)
        self.bound = (flags & BINDING_FLAG) != 0

    @staticmethod
    def _add_delegations(labels, owners, account, permit_entry):
        slots = labels["delegations"]
        matching = np.flatnonzero(owners[slots] == account) if len(slots) else slots[:0]
        if not len(matching):
            return
        # each label's delegations are one run of slots, in label order
        slot_labels = np.searchsorted(labels["delegation_start"], matching, side="right") - 1
        granted, first_slot = np.unique(slot_labels, return_index=True)
        permit_entry[granted] = np.where(permit_entry[granted] != NO_ENTRY, permit_entry[granted], slots[matching[first_slot]])


_VECTORS = weakref.WeakKeyDictionary()


def vectors_of(prefix_index):
    """The :class:`IndexVectors` of ``prefix_index``, made on first use and kept while it lives."""
    vectors = _VECTORS.get(prefix_index)
    if vectors is None:
        vectors = _VECTORS[prefix_index] = IndexVectors(prefix_index)
    return vectors


class IndexVectors:
    """numpy views of a ``PrefixIndex``: segment columns per family, label columns, entry accounts."""

    def __init__(self, prefix_index):
        labels, columns = prefix_index.labels, prefix_index.columns
        self.labels = {
            "flags": np.frombuffer(labels.flags, dtype=np.uint8),
            "prefix": np.asarray(labels.prefix, dtype=np.int32),
            "reserved": np.asarray(labels.reserved, dtype=np.int32),
            "delegation_start": np.asarray(labels.delegation_start, dtype=np.int32),
            "delegations": np.asarray(labels.delegations, dtype=np.int32),
        }
        self.entry_accounts = np.asarray(columns.account, dtype=np.int32)
        segments = prefix_index.segments
        v4_starts, v4_labels, v4_bindings = segments[4]
        self.segments = {
            4: (np.frombuffer(v4_starts, dtype=np.uint32), np.asarray(v4_labels, dtype=np.int32),
                np.asarray(v4_bindings, dtype=np.int32)),
            6: (np.frombuffer(segments.v6_keys, dtype="S16"), np.asarray(segments.v6_labels, dtype=np.int32),
                np.asarray(segments.v6_bindings, dtype=np.int32)),
        }
        self._v6_tops = top_halves(self.segments[6][0])
        self._accounts = {}

    def segments_holding(self, version, addresses):
        """The segment that holds each address (given as search keys, like the segment starts).

        Runtime complexity: ``O(n log s)`` for ``n`` addresses and ``s`` segments, and much
        less when the addresses are in order: each search then starts near the last.
        IPv6 is searched by the top 64 bits as ``uint64``, several times faster than ``S16``
        keys; only an address whose top half a segment start shares needs its whole key.
        """
        keys = self.segments[version][0]
        if version == 4:
            return np.searchsorted(keys, addresses, side="right") - 1
        tops = top_halves(addresses)
        found = np.searchsorted(self._v6_tops, tops, side="right") - 1  # the first key is 0: never -1
        shared = np.flatnonzero(self._v6_tops[found] == tops)
        found[shared] = np.searchsorted(keys, addresses[shared], side="right") - 1
        return found

    def tables_for(self, account):
        """The :class:`AccountTables` of ``account``; the most recently used few are kept."""
        tables = self._accounts.pop(account, None)
        if tables is None:
            tables = AccountTables(self, account)
            if len(self._accounts) >= ACCOUNT_TABLES_KEPT:
                del self._accounts[next(iter(self._accounts))]
        self._accounts[account] = tables
        return tables


def judge_origins(prefix_index, origins, account, app_bindings=None):
    """``(found bits, deciding entry positions, items left for the single-origin path)``.

    ``account`` is the interned account id (``PrefixIndex.account_id``). With
    ``app_bindings`` (an index of the pillar's static edge IPs), origins that overlap
    one are left for the single-origin path too, which explains them.
    """
    vectors = vectors_of(prefix_index)
    tables = vectors.tables_for(account)
    found = np.zeros(len(origins), dtype=np.uint8)
    deciding = np.full(len(origins), NO_ENTRY, dtype=np.int64)
    v4, v6, single = split(origins)
    for version, parsed in ((4, v4), (6, v6)):
        if app_bindings is not None:
            at_edge = bound_anywhere(vectors_of(app_bindings), version, parsed)
            single.extend(parsed.items[at_edge].tolist())
            away = ParsedBatch(parsed.items[~at_edge], parsed.first[~at_edge], parsed.last[~at_edge])
        else:
            away = parsed
        found[away.items], deciding[away.items] = judge(vectors, version, away, tables)
    return found, deciding, sorted(single)


def judge(vectors, version, parsed, tables):
    """``(found bits, deciding entry position)`` arrays for the origins of one family."""
    _, segment_labels, segment_bindings = vectors.segments[version]
    low, high = _locate(vectors, version, parsed)
    found = np.zeros(len(low), dtype=np.uint8)
    deciding = np.full(len(low), NO_ENTRY, dtype=np.int64)

    def decider(segments):
        labels = segment_labels[segments]
        return np.where(tables.bound[labels], segment_bindings[segments], tables.decider[labels])

    single = low == high
    segments = low[single]
    found[single] = tables.found[segment_labels[segments]]
    deciding[single] = decider(segments)
    spanning = np.flatnonzero(~single)
    for chunk in _chunks(spanning, high[spanning] - low[spanning] + 1):
        found[chunk], deciding[chunk] = _judge_spanning(low[chunk], high[chunk], segment_labels, tables, decider)
    return found, deciding


def _chunks(items, counts):
    """Cut ``items`` into runs covering at most SEGMENTS_PER_CHUNK segments (an origin wider than
    that is a run of its own), so that memory stays bounded however wide the CIDRs are."""
    ends = np.cumsum(counts)
    start = 0
    while start < len(items):
        covered_before = int(ends[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(ends, covered_before + SEGMENTS_PER_CHUNK, side="right")))
        yield items[start:stop]
        start = stop


def _judge_spanning(low, high, segment_labels, tables, decider):
    """Origins that span several segments: OR their bits; the first segment that denies decides, else the first that permits."""
    counts = high - low + 1
    offsets = np.cumsum(counts) - counts
    order = np.arange(counts.sum())
    segments = np.repeat(low - offsets, counts) + order
    bits = tables.found[segment_labels[segments]]
    found = np.bitwise_or.reduceat(bits, offsets)
    first_denying = np.minimum.reduceat(np.where(bits & _DENYING, order, _NONE), offsets)
    first_judged = np.minimum.reduceat(np.where(bits != 0, order, _NONE), offsets)
    pick = np.where(first_denying != _NONE, first_denying, first_judged)
    judged = pick != _NONE
    deciding = np.full(len(low), NO_ENTRY, dtype=np.int64)
    deciding[judged] = decider(segments[pick[judged]])
    return found, deciding


def bound_anywhere(vectors, version, parsed):
    """A mask: does any binding segment of ``vectors`` overlap each origin's range?"""
    segment_bindings = vectors.segments[version][2]
    if not len(parsed.items):
        return np.zeros(0, dtype=bool)
    bound_before = np.concatenate(([0], np.cumsum(segment_bindings != NO_ENTRY)))
    low, high = _locate(vectors, version, parsed)
    return bound_before[high + 1] - bound_before[low] > 0


def _locate(vectors, version, parsed):
    """The segments holding each origin's first and last address (one search for a single address)."""
    low = vectors.segments_holding(version, parsed.first)
    high = low.copy()
    ranges = np.flatnonzero(parsed.last != parsed.first)
    high[ranges] = vectors.segments_holding(version, parsed.last[ranges])
    return low, high

