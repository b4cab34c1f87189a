"""A lookup index over nested CIDR entries that scales to millions of them.

Prefixes, delegations, bindings and reserved blocks are all CIDRs, so any two
of them either nest or are disjoint. The build (``segments.py``, whole-array numpy
work) cuts each address family into non-overlapping integer ranges
("segments"), each labelled with what covers it: the most specific prefix,
every covering delegation, the innermost binding and the innermost reserved
block. A query for any address or CIDR is a ``bisect`` plus a walk over the
segments it overlaps, so its cost does not grow with the size of the data;
many queries at once are located with ``numpy.searchsorted`` (``batch.py``).

Everything is stored in columns (``array`` and flat lists) so that an index of
10^6 entries stays small and can be written to and read from a compiled cache
file quickly (see ``compiled.py``); ``Entry`` objects are made only when a reason
needs one.
"""

import struct
from array import array
from bisect import bisect_left, bisect_right
from typing import NamedTuple

from saltext.spectrum_acl.core.ranges import FAMILIES, Span, cidr_text, network_of

PREFIX = "prefix"
DELEGATION = "delegation"
BINDING = "binding"
#: Bindings of this service are Spectrum edge IPs; ``service_name`` is matched case-insensitively.
SPECTRUM_SERVICE = "spectrum"


def is_spectrum_service(name):
    """Is a binding's ``service_name`` Spectrum (``Spectrum``, ``spectrum``, ``SPECTRUM``...)?"""
    return name.casefold() == SPECTRUM_SERVICE


RESERVED = "reserved"
KINDS = (PREFIX, DELEGATION, BINDING, RESERVED)
KIND_CODES = {kind: code for code, kind in enumerate(KINDS)}

MANAGED_FLAG, RESERVED_FLAG, BINDING_FLAG = 1, 2, 4
NO_ENTRY = -1
_MAX_ENTRIES = (1 << 26) - 1  # the build's sort keys leave 26 bits for a position
V4_BUCKETS = 1 << 16


class Entry:
    """One CIDR of the data: a prefix, a delegation, a binding or a reserved block.

    ``account`` is the owner of a prefix or the delegated account of a delegation;
    ``detail`` is a description for reasons; ``parent`` is a delegation's or binding's prefix.
    """

    __slots__ = ("kind", "version", "first", "last", "prefixlen", "account", "detail", "parent")

    def __init__(self, kind, network, account=None, detail="", parent=None):
        self.kind = kind
        self.version = network.version
        self.first = network.first
        self.last = network.last
        self.prefixlen = network.prefixlen
        self.account = account
        self.detail = detail
        self.parent = parent

    @property
    def cidr(self):
        return cidr_text(self.version, self.first, self.prefixlen)

    @property
    def network(self):
        return network_of(self.version, self.first, self.prefixlen)

    def __repr__(self):
        return f"Entry({self.kind}, {self.cidr}, account={self.account!r})"


class Coverage(NamedTuple):
    """What covers one segment of address space."""

    prefix: Entry = None
    delegations: tuple = ()
    binding: Entry = None
    reserved: Entry = None


_LOW64 = (1 << 64) - 1


class WideInts:
    """A column of ints up to 128 bits wide, kept as high and low 64-bit halves.

    The halves are ``array('Q')`` (or views of the compiled cache): 16 bytes an entry where
    a list of Python ints takes 36 to 52, and numpy reads them without a copy.
    """

    def __init__(self, high=None, low=None):
        self.high = array("Q") if high is None else high
        self.low = array("Q") if low is None else low

    def __len__(self):
        return len(self.low)

    def __getitem__(self, position):
        return (self.high[position] << 64) | self.low[position]

    def __iter__(self):
        return ((high << 64) | low for high, low in zip(self.high, self.low))

    def append(self, value):
        self.high.append(value >> 64)
        self.low.append(value & _LOW64)


class Columns:
    """Entries as columns: the input of an index build and the payload of the cache.

    Strings (accounts and details) are interned into ``strings``; column values
    refer to them by position. ``parent`` is an entry position or ``NO_ENTRY``.
    """

    def __init__(self):
        self.kind = bytearray()
        self.version = bytearray()
        self.prefixlen = bytearray()
        self.first = WideInts()
        self.account = array("i")
        self.detail = array("i")
        self.parent = array("i")
        self.strings = [""]
        self._string_ids = {"": 0, None: 0}

    def __len__(self):
        return len(self.kind)

    def string_id(self, text):
        found = self._string_ids.get(text)
        if found is None:
            found = self._string_ids[text] = len(self.strings)
            self.strings.append(text)
        return found

    def add(self, kind, version, first, prefixlen, account=None, detail="", parent=NO_ENTRY):
        """Append one entry and return its position."""
        self.kind.append(KIND_CODES[kind])
        self.version.append(version)
        self.prefixlen.append(prefixlen)
        self.first.append(first)
        self.account.append(self.string_id(account))
        self.detail.append(self.string_id(detail))
        self.parent.append(parent)
        return len(self.kind) - 1

    def add_entry(self, entry, parent=NO_ENTRY):
        return self.add(entry.kind, entry.version, entry.first, entry.prefixlen, entry.account, entry.detail, parent)

    def entries(self):
        """All entries as ``Entry`` objects, parents linked."""
        made = []
        for position in range(len(self.kind)):
            parent = self.parent[position]
            made.append(self.make_entry(position, made[parent] if parent != NO_ENTRY else None))
        return made

    def make_entry(self, position, parent):
        """The ``Entry`` at ``position``, with ``parent`` (an ``Entry`` or ``None``) as its parent."""
        span = Span(self.version[position], self.first[position], self.last_address(position), self.prefixlen[position])
        return Entry(KINDS[self.kind[position]], span, self.strings[self.account[position]] or None,
                     self.strings[self.detail[position]], parent)

    def last_address(self, position):
        width = FAMILIES[self.version[position]].width
        return self.first[position] | ((1 << (width - self.prefixlen[position])) - 1)


class Labels:
    """The distinct segment labels: per label, entry positions and a flag mask.

    A label names the most specific prefix, the innermost reserved block and every
    covering delegation; ``BINDING_FLAG`` says a binding covers the segment, and the
    segment itself says which (so the 10^6 bindings do not each need a label).
    """

    def __init__(self):
        self.prefix = array("i", [NO_ENTRY])
        self.reserved = array("i", [NO_ENTRY])
        self.flags = bytearray([0])
        self.delegation_start = array("i", [0])
        self.delegation_end = array("i", [0])
        self.delegations = array("i")


class Segments(dict):
    """Segment columns by IP version: ``segments[version]`` is ``(starts, labels, bindings)``.

    IPv4 starts are an ``array('I')`` (or a view of the cache). IPv6 starts are kept as
    16-byte big-endian keys (``v6_keys``, which ``batch.py`` searches as they are); the
    128-bit ints that ``bisect`` needs are made from them on first use, since most runs
    judge no IPv6 origin one at a time.
    """

    def __init__(self, v4_starts, v4_labels, v4_bindings, v6_keys, v6_labels, v6_bindings):
        super().__init__({4: (v4_starts, v4_labels, v4_bindings)})
        self.v6_keys, self.v6_labels, self.v6_bindings = v6_keys, v6_labels, v6_bindings

    @classmethod
    def empty(cls):
        root = (array("i", [0]), array("i", [NO_ENTRY]))
        return cls(array("I", [0]), *root, bytes(16), *root)

    def __missing__(self, version):
        if version != 6:
            raise KeyError(version)
        starts = [(high << 64) | low for high, low in struct.iter_unpack(">QQ", self.v6_keys)]
        made = self[6] = (starts, self.v6_labels, self.v6_bindings)
        return made


class PrefixIndex:
    """Segments per address family, answering "what covers this range?" with ``bisect``.

    Build it from ``Entry`` objects (``PrefixIndex(entries)``), from ``Columns``
    (``PrefixIndex.from_columns``), or load it from the compiled cache.
    """

    def __init__(self, entries=()):
        columns = Columns()
        positions = {}
        for entry in entries:
            parent = positions.get(id(entry.parent), NO_ENTRY) if entry.parent is not None else NO_ENTRY
            positions[id(entry)] = columns.add_entry(entry, parent)
        self._build(columns)

    @classmethod
    def from_columns(cls, columns):
        index = cls.__new__(cls)
        index._build(columns)
        return index

    @classmethod
    def from_parts(cls, columns, labels, segments):
        """Reassemble an index from its stored parts (used by the cache): see :class:`Segments`."""
        index = cls.__new__(cls)
        index._assemble(columns, labels, segments)
        return index

    def _build(self, columns):
        if len(columns) > _MAX_ENTRIES:
            raise ValueError(f"an index holds at most {_MAX_ENTRIES} entries (got {len(columns)})")
        if not len(columns):  # nothing covers anything: no need for numpy
            self._assemble(columns, Labels(), Segments.empty())
            return
        from saltext.spectrum_acl.core.build import segments  # numpy only for builds

        table = segments.LabelTable()
        cut = {version: segments.cut(columns, version, table, KIND_CODES) for version in (4, 6)}
        labels = Labels()
        (labels.prefix, labels.reserved, labels.flags, labels.delegation_start, labels.delegation_end,
         labels.delegations) = segments.label_columns(table, (MANAGED_FLAG, RESERVED_FLAG, BINDING_FLAG))
        self._assemble(columns, labels, Segments(*segments.index_segments(cut[4]), *segments.index_segments(cut[6])))

    def _assemble(self, columns, labels, segments):
        self.columns = columns
        self.labels = labels
        self.segments = segments
        self.counts = {kind: bytes(columns.kind).count(code) for code, kind in enumerate(KINDS)}
        self._entries = {}
        self._account_ids = {}
        self._v4_buckets = None

    @property
    def v4_buckets(self):
        """Where each IPv4 /16 begins in the segment starts: a lookup then bisects a few
        segments, not 10^6. Made on first use (the cache stores it too)."""
        if self._v4_buckets is None:
            starts = self.segments[4][0]
            buckets, top = array("I"), 0
            while top <= V4_BUCKETS:  # one step per /16 where segments start, not per /16
                position = bisect_left(starts, top << 16)
                # every /16 from top to the one of the next start begins at that segment
                next_top = starts[position] >> 16 if position < len(starts) else V4_BUCKETS
                buckets.extend(array("I", [position]) * (next_top - top + 1))
                top = next_top + 1
            self._v4_buckets = buckets
        return self._v4_buckets

    def locate(self, version, address):
        """The position of the segment that holds ``address``."""
        starts = self.segments[version][0]
        if version == 4:
            top = address >> 16
            buckets = self._v4_buckets or self.v4_buckets
            return bisect_right(starts, address, buckets[top], buckets[top + 1]) - 1
        return bisect_right(starts, address) - 1

    def __len__(self):
        return len(self.columns)

    # -- materialising entries for reasons -------------------------------------------

    def entry(self, position):
        """The ``Entry`` at ``position`` (made once, then kept)."""
        found = self._entries.get(position)
        if found is None:
            parent = self.columns.parent[position]
            found = self.columns.make_entry(position, self.entry(parent) if parent != NO_ENTRY else None)
            self._entries[position] = found
        return found

    def cidr(self, position):
        """The CIDR text of the entry at ``position``, without making an ``Entry``."""
        columns = self.columns
        return cidr_text(columns.version[position], columns.first[position], columns.prefixlen[position])

    def coverage_of_label(self, label, binding=NO_ENTRY):
        labels = self.labels

        def maybe(position):
            return self.entry(position) if position != NO_ENTRY else None

        delegations = tuple(
            self.entry(p) for p in labels.delegations[labels.delegation_start[label]:labels.delegation_end[label]]
        )
        return Coverage(maybe(labels.prefix[label]), delegations, maybe(binding), maybe(labels.reserved[label]))

    # -- queries ---------------------------------------------------------------------

    def account_id(self, account):
        """The interned id of an account name, or -1 when no entry names it."""
        if not self._account_ids:
            self._account_ids = {text: position for position, text in enumerate(self.columns.strings) if text}
        return self._account_ids.get(account, -1)

    def permits(self, label, account):
        """Does ``account`` (an interned id) own the most specific prefix or hold a covering delegation?"""
        if account < 0:
            return False
        labels, accounts = self.labels, self.columns.account
        prefix = labels.prefix[label]
        if prefix != NO_ENTRY and accounts[prefix] == account:
            return True
        for delegation in labels.delegations[labels.delegation_start[label]:labels.delegation_end[label]]:
            if accounts[delegation] == account:
                return True
        return False

    def labels_in(self, version, first, last):
        """Yield ``(first, last, label, binding)`` for each covered segment overlapping ``first..last``."""
        starts, segment_labels, segment_bindings = self.segments[version]
        position = self.locate(version, first)
        count = len(starts)
        end = FAMILIES[version].address_max
        while position < count and starts[position] <= last:
            label = segment_labels[position]
            if label:
                segment_last = starts[position + 1] - 1 if position + 1 < count else end
                yield max(starts[position], first), min(segment_last, last), label, segment_bindings[position]
            position += 1

    def coverage(self, network):
        """Yield ``(first, last, Coverage)`` for each covered segment overlapping ``network``."""
        for first, last, label, binding in self.labels_in(network.version, network.first, network.last):
            yield first, last, self.coverage_of_label(label, binding)
