"""Cutting nested CIDR entries into labelled segments, with numpy (the build of ``index.py``).

Entries are CIDRs, so any two nest or are disjoint. Entries with the same CIDR
are taken together as one node (in data order, so the last is the innermost).
Sorted by start (outer first), a node's depth is the number of nodes before it
that are still open where it starts, and its parent is the last node before it
one level up; nesting is at most 129 levels deep, however many duplicates there
are. Each node then gets the label that holds inside it: its parent's label with
its own entries added (a prefix, reserved block or delegation makes a new label;
bindings alone only mark the label as bound). Segment boundaries are where nodes
open (the innermost opener's label follows) and just past where they close (the
outermost closer's parent's label follows): the opens come in address order already,
so only the closes are sorted, and the two are merged. All of it is whole-array work,
level by level.

Addresses are kept as high and low ``uint64`` halves. Sorting is by radix passes
over their 16-bit digits (``columns.sorted_order``), linear in the number of entries.
Searched keys are ``uint32`` for IPv4 and big-endian ``S16`` bytes for IPv6, which
numpy sorts and searches in numeric order.
"""

from array import array

import numpy as np

from saltext.spectrum_acl.core.build.columns import Family, digits_of, sixteen_byte_keys, sorted_order

_MAX64 = np.uint64((1 << 64) - 1)


class LabelTable:
    """Label columns grown a level at a time; label 0 is "nothing covers it"."""

    def __init__(self):
        self.prefix = [np.array([-1], dtype=np.int64)]
        self.reserved = [np.array([-1], dtype=np.int64)]
        self.bound = [np.array([False])]
        self.delegation_start = [np.array([0], dtype=np.int64)]
        self.delegation_count = [np.array([0], dtype=np.int64)]
        self.delegations = [np.zeros(0, dtype=np.int64)]
        self.size, self.slots = 1, 0

    def column(self, name):
        chunks = getattr(self, name)
        if len(chunks) > 1:
            chunks[:] = [np.concatenate(chunks)]
        return chunks[0]

    def add_labels(self, parents, prefix, reserved, bound, delegation_counts, delegations):
        """New labels, one per row: the ``parents``' label with the row's ``prefix`` and ``reserved``
        entries on top (where not ``-1``), ``bound`` added, and the row's ``delegations``
        (``delegation_counts`` per row, flat) after the parent's. Returns the new label ids."""
        parent_counts = self.column("delegation_count")[parents]
        new_counts = parent_counts + delegation_counts
        new_starts = self.slots + np.cumsum(new_counts) - new_counts
        new_flat = np.zeros(int(new_counts.sum()), dtype=np.int64)
        base = new_starts - self.slots
        flat, starts = self.column("delegations"), self.column("delegation_start")
        for depth in range(int(parent_counts.max(initial=0))):
            copying = parent_counts > depth
            new_flat[base[copying] + depth] = flat[starts[parents[copying]] + depth]
        rows = np.repeat(np.arange(len(parents)), delegation_counts)
        nth = np.arange(len(delegations)) - np.repeat(np.cumsum(delegation_counts) - delegation_counts, delegation_counts)
        new_flat[base[rows] + parent_counts[rows] + nth] = delegations
        self.prefix.append(np.where(prefix >= 0, prefix, self.column("prefix")[parents]))
        self.reserved.append(np.where(reserved >= 0, reserved, self.column("reserved")[parents]))
        self.bound.append(self.column("bound")[parents] | bound)
        self.delegation_start.append(new_starts)
        self.delegation_count.append(new_counts)
        self.delegations.append(new_flat)
        made = np.arange(self.size, self.size + len(parents))
        self.size += len(parents)
        self.slots += len(new_flat)
        return made


class Nodes:
    """Entries with the same CIDR taken together, in data order: the last prefix, reserved
    block and binding among them (the innermost), and all their delegations."""

    def __init__(self, node_of, count, kinds, positions, codes):
        self.prefix = self._last(node_of, count, kinds == codes["prefix"], positions)
        self.reserved = self._last(node_of, count, kinds == codes["reserved"], positions)
        self.binding = self._last(node_of, count, kinds == codes["binding"], positions)
        is_delegation = kinds == codes["delegation"]
        self.delegation_counts = np.bincount(node_of[is_delegation], minlength=count)
        self.delegation_starts = np.cumsum(self.delegation_counts) - self.delegation_counts
        self.delegations = positions[is_delegation]  # grouped by node, in data order
        self.binding_only = (self.prefix < 0) & (self.reserved < 0) & (self.delegation_counts == 0)

    @staticmethod
    def _last(node_of, count, chosen, positions):
        which = np.flatnonzero(chosen)
        nodes = node_of[which]
        last = np.append(nodes[1:] != nodes[:-1], True) if len(nodes) else nodes.astype(bool)
        found = np.full(count, -1, dtype=np.int32)
        found[nodes[last]] = positions[which[last]]
        return found

    def delegations_of(self, nodes):
        """``(counts, flat delegations)`` of ``nodes`` (ascending node ids)."""
        counts = self.delegation_counts[nodes]
        picked = np.repeat(self.delegation_starts[nodes] - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())
        return counts, self.delegations[picked]


def _address_digits(version, high, low):
    """The 16-bit digits of addresses given as halves (IPv4's high halves, zero, are not read)."""
    return digits_of(low, 32) if version == 4 else digits_of(high, 64) + digits_of(low, 64)


def _keys(version, high, low):
    """Addresses as search keys: ``uint32`` for IPv4 (the high halves are not read), big-endian ``S16`` for IPv6."""
    return low.astype(np.uint32) if version == 4 else sixteen_byte_keys(high, low)


def cut(columns, version, table, codes):
    """Cut one family into segments: ``(start keys, segment labels, segment bindings)`` arrays.

    Runtime complexity: ``O(n · d)`` for ``n`` entries nested ``d`` levels deep (a few
    passes per level); the sorts are linear. Each step's work arrays go before the next.
    """
    found = _nodes(columns, version, codes)
    if found is None:
        return _root_segment(version)
    cidrs, nodes = found
    last_high, last_low = cidrs.last_halves()
    parent, depth = _nesting(version, cidrs, last_high, last_low)
    node_label, node_binding = _node_labels(nodes, parent, depth, table)
    del nodes, depth
    # just past each node; the top address has nothing past it
    carry = last_low == (_MAX64 if version == 6 else np.uint64((1 << 32) - 1))
    top = carry & (last_high == _MAX64) if version == 6 else carry
    after_high = last_high + carry if version == 6 else None  # IPv4's high halves are zero: not needed
    after = (after_high, last_low + np.uint64(1))  # the low half wraps when it carries
    del last_high, last_low, carry
    return _segments(version, (cidrs.high, cidrs.low), after, top, parent, node_label, node_binding)


def _nodes(columns, version, codes):
    """``(node CIDRs as a Family, Nodes)`` of one family, in order: by address, outer first;
    ``None`` when the family has no entry."""
    positions = np.flatnonzero(np.frombuffer(columns.version, dtype=np.uint8) == version).astype(np.int32)
    if not len(positions):
        return None
    kinds = np.frombuffer(columns.kind, dtype=np.uint8)[positions]
    prefixlens = np.frombuffer(columns.prefixlen, dtype=np.uint8)[positions]
    low = np.frombuffer(columns.first.low, dtype=np.uint64)[positions]
    high = np.frombuffer(columns.first.high, dtype=np.uint64)[positions] if version == 6 else None  # IPv4's are zero
    # the stable sort keeps equal CIDRs in data order
    order = sorted_order([*_address_digits(version, high, low), prefixlens])
    positions, kinds, prefixlens, low = (column[order] for column in (positions, kinds, prefixlens, low))
    # entries with the same CIDR are one node, so duplicates do not deepen the nesting
    new_node = np.ones(len(low), dtype=bool)
    new_node[1:] = (low[1:] != low[:-1]) | (prefixlens[1:] != prefixlens[:-1])
    if version == 6:
        high = high[order]
        new_node[1:] |= high[1:] != high[:-1]
        high = high[new_node]
    else:
        high = np.zeros(int(new_node.sum()), dtype=np.uint64)
    del order
    node_of = (np.cumsum(new_node) - 1).astype(np.int32)
    nodes = Nodes(node_of, int(node_of[-1]) + 1, kinds, positions, codes)
    return Family(version, None, high, low[new_node], prefixlens[new_node]), nodes  # no items: in node order


def _nesting(version, cidrs, last_high, last_low):
    """``(parent, depth)`` of each node (``int32``; parent ``-1`` for a top-level node)."""
    count = len(cidrs)
    # a node's depth: the nodes before it still open where it starts (the last addresses are
    # nearly sorted already, which a stable sort is quick at)
    last_keys = np.sort(_keys(version, last_high, last_low), kind="stable")
    closed_before = np.searchsorted(last_keys, _keys(version, cidrs.high, cidrs.low), side="left")
    del last_keys
    depth = (np.arange(count, dtype=np.int32) - closed_before.astype(np.int32))
    del closed_before
    parent = np.full(count, -1, dtype=np.int32)
    for level in range(1, int(depth.max()) + 1):
        here, above = np.flatnonzero(depth == level), np.flatnonzero(depth == level - 1)
        parent[here] = above[np.searchsorted(above, here) - 1]
    return parent, depth


def _node_labels(nodes, parent, depth, table):
    """``(label, binding)`` of each node, level by level, with one more slot for the root (label 0,
    no binding), which parent ``-1`` picks."""
    count = len(parent)
    node_label, node_binding = np.zeros(count + 1, dtype=np.int32), np.full(count + 1, -1, dtype=np.int32)
    for level in range(int(depth.max()) + 1):
        here = np.flatnonzero(depth == level)
        parent_label, parent_binding = node_label[parent[here]], node_binding[parent[here]]
        node_binding[here] = np.where(nodes.binding[here] >= 0, nodes.binding[here], parent_binding)
        labels = parent_label.copy()
        adding = ~nodes.binding_only[here]
        rows = here[adding]
        labels[adding] = table.add_labels(parent_label[adding], nodes.prefix[rows], nodes.reserved[rows],
                                          nodes.binding[rows] >= 0, *nodes.delegations_of(rows))
        needs_bound = ~adding & ~table.column("bound")[parent_label]
        if needs_bound.any():
            # one bound copy of each such parent label (labels are small ints: a dense map, no sort)
            wanted = parent_label[needs_bound]
            present = np.zeros(table.size, dtype=bool)
            present[wanted] = True
            unbound = np.flatnonzero(present)
            none = np.full(len(unbound), -1, dtype=np.int64)
            made = np.zeros(table.size, dtype=np.int32)
            made[unbound] = table.add_labels(unbound, none, none, True, np.zeros(len(unbound), dtype=np.int64), none[:0])
            labels[needs_bound] = made[wanted]
        node_label[here] = labels
    return node_label, node_binding


def _root_segment(version):
    zero = np.zeros(1, dtype=np.uint32) if version == 4 else sixteen_byte_keys(np.zeros(1, np.uint64), np.zeros(1, np.uint64))
    return zero, np.zeros(1, dtype=np.int32), np.full(1, -1, dtype=np.int32)


def _segments(version, first, after, top, parent, node_label, node_binding):
    """Boundaries where nodes open and just past where they close: at one address the innermost
    opener wins (its label follows), else the outermost closer (its parent's label follows);
    equal neighbours merge.

    ``first`` and ``after`` are ``(high, low)`` halves of each node's first address and of
    the one just past it. ``node_label`` and ``node_binding`` end with the root's slot,
    which parent ``-1`` picks.
    """
    # opens come in node order, by address, outer first: the last at an address is the innermost
    open_keys = _keys(version, *first)
    opens = np.flatnonzero(_last_of_runs(open_keys)).astype(np.int32)
    open_keys = open_keys[opens]
    # closes by address, innermost first (a stable sort of them in reverse node order): the last is the outermost
    closing = np.flatnonzero(~top)[::-1].astype(np.int32)
    after = tuple(None if half is None else half[closing] for half in after)
    order = sorted_order(_address_digits(version, *after))
    closes, close_keys = closing[order], _keys(version, *(None if half is None else half[order] for half in after))
    del closing, after, order
    outermost = _last_of_runs(close_keys)
    closes, close_keys = closes[outermost], close_keys[outermost]
    # merge the two: a stable sort of them, both in address order already, is one linear merge
    # (timsort), and puts the opener first where both are at one address: the opener wins
    keys = np.concatenate((open_keys, close_keys))
    labels = np.concatenate((node_label[opens], node_label[parent[closes]]))
    bindings = np.concatenate((node_binding[opens], node_binding[parent[closes]]))
    del open_keys, close_keys, opens, closes
    order = np.argsort(keys, kind="stable")
    starts = keys[order]
    winners = np.flatnonzero(_first_of_runs(starts))
    starts, winners = starts[winners], order[winners]
    labels, bindings = labels[winners], bindings[winners]
    del order, winners
    root_key, root_label, root_binding = _root_segment(version)
    if starts[0] != root_key[0]:  # nothing opens at address 0: the root's segment starts there
        starts, labels, bindings = (np.concatenate(pair) for pair in ((root_key, starts), (root_label, labels),
                                                                        (root_binding, bindings)))
    changed = np.ones(len(starts), dtype=bool)
    changed[1:] = (labels[1:] != labels[:-1]) | (bindings[1:] != bindings[:-1])
    changed = np.flatnonzero(changed)
    return starts[changed], labels[changed], bindings[changed]


def _first_of_runs(keys):
    """Is each key (in order) the first of its run of equal keys? A mask."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def _last_of_runs(keys):
    """Is each key (in order) the last of its run of equal keys? A mask."""
    last = np.ones(len(keys), dtype=bool)
    last[:-1] = keys[1:] != keys[:-1]
    return last


def index_segments(cut_family):
    """One family's segments as the index keeps them: IPv4 starts as ``array('I')``,
    IPv6 starts as 16-byte big-endian keys; labels and bindings as ``array('i')``."""
    keys, labels, bindings = cut_family
    starts = array("I", keys.tobytes()) if keys.dtype == np.uint32 else keys.tobytes()
    return starts, array("i", labels.astype(np.int32).tobytes()), array("i", bindings.astype(np.int32).tobytes())


def label_columns(table, flag_bits):
    """``(prefix, reserved, flags, delegation_start, delegation_end, delegations)`` as the index keeps them.

    ``flag_bits`` is ``(managed, reserved, binding)``: the label flag values of ``index.py``.
    """
    def as_ints(values):
        return array("i", values.astype(np.int32).tobytes())

    managed_bit, reserved_bit, binding_bit = flag_bits
    prefix, reserved = table.column("prefix"), table.column("reserved")
    flags = (np.where(prefix >= 0, managed_bit, 0) | np.where(reserved >= 0, reserved_bit, 0)
             | np.where(table.column("bound"), binding_bit, 0)).astype(np.uint8)
    starts, counts = table.column("delegation_start"), table.column("delegation_count")
    return (as_ints(prefix), as_ints(reserved), bytearray(flags.tobytes()),
            as_ints(starts), as_ints(starts + counts), as_ints(table.column("delegations")))
