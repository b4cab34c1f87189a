"""A lookup index over nested CIDR entries that scales to millions of them.

Prefixes, delegations, bindings and reserved blocks are all CIDRs, so any two
of them either nest or are disjoint. One sweep over them, sorted by start,
cuts each address family into non-overlapping integer ranges ("segments"),
each labelled with what covers it: the most specific prefix, every covering
delegation, the innermost binding and the innermost reserved block. A query
for any address or CIDR is a ``bisect`` plus a walk over the segments it
overlaps, so its cost does not grow with the size of the data.
"""

from bisect import bisect_right
from typing import NamedTuple

import netaddr

PREFIX = "prefix"
DELEGATION = "delegation"
BINDING = "binding"
RESERVED = "reserved"

_ADDRESS_MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}


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
        return str(netaddr.IPNetwork((self.first, self.prefixlen), version=self.version))

    @property
    def network(self):
        return netaddr.IPNetwork((self.first, self.prefixlen), version=self.version)

    def __repr__(self):
        return f"Entry({self.kind}, {self.cidr}, account={self.account!r})"


class Coverage(NamedTuple):
    """What covers one segment of address space."""

    prefix: Entry = None
    delegations: tuple = ()
    binding: Entry = None
    reserved: Entry = None

    def permits(self, account_id):
        """True when ``account_id`` owns the most specific prefix or holds a covering delegation."""
        if account_id is None:
            return False
        if self.prefix is not None and self.prefix.account == account_id:
            return True
        return any(delegation.account == account_id for delegation in self.delegations)


def _coverage_of(open_entries):
    prefix = binding = reserved = None
    delegations = []
    for entry in open_entries:
        kind = entry.kind
        if kind is PREFIX:
            prefix = entry
        elif kind is DELEGATION:
            delegations.append(entry)
        elif kind is BINDING:
            binding = entry
        else:
            reserved = entry
    if prefix is None and binding is None and reserved is None and not delegations:
        return None
    return Coverage(prefix, tuple(delegations), binding, reserved)


def _build_segments(entries):
    starts = [0]
    labels = [None]

    def change(position, label):
        if starts[-1] == position:
            labels[-1] = label
            if len(labels) > 1 and labels[-2] == label:
                starts.pop()
                labels.pop()
        elif labels[-1] != label:
            starts.append(position)
            labels.append(label)

    open_entries = []
    for entry in sorted(entries, key=lambda e: (e.first, -e.last)):
        while open_entries and open_entries[-1].last < entry.first:
            closed = open_entries.pop()
            change(closed.last + 1, _coverage_of(open_entries))
        open_entries.append(entry)
        change(entry.first, _coverage_of(open_entries))
    while open_entries:
        closed = open_entries.pop()
        change(closed.last + 1, _coverage_of(open_entries))
    return starts, labels


class PrefixIndex:
    """Segments per address family, answering "what covers this range?" with ``bisect``."""

    def __init__(self, entries=()):
        by_version = {4: [], 6: []}
        self.counts = {PREFIX: 0, DELEGATION: 0, BINDING: 0, RESERVED: 0}
        for entry in entries:
            by_version[entry.version].append(entry)
            self.counts[entry.kind] += 1
        self._segments = {version: _build_segments(items) for version, items in by_version.items()}

    def __len__(self):
        return sum(self.counts.values())

    def coverage(self, network):
        """Yield ``(first, last, Coverage)`` for each covered segment overlapping ``network``."""
        starts, labels = self._segments[network.version]
        first, last = network.first, network.last
        end = _ADDRESS_MAX[network.version]
        position = bisect_right(starts, first) - 1
        count = len(starts)
        while position < count and starts[position] <= last:
            label = labels[position]
            if label is not None:
                segment_last = starts[position + 1] - 1 if position + 1 < count else end
                yield max(starts[position], first), min(segment_last, last), label
            position += 1
