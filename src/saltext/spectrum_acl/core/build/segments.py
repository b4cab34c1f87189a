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
outermost closer's parent's label follows). All of it is whole-array work, level
by level.

IPv4 keys are ``uint64``; IPv6 keys are big-endian ``S16`` bytes, which numpy
sorts and searches in numeric order.
"""

from array import array

import numpy as np

from saltext.spectrum_acl.core.build.columns import Family, sixteen_byte_keys

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


def family_keys(firsts, prefixlens, version):
    """``(first keys, last keys, last-is-the-top-address mask, last + 1 keys)`` of one family."""
    family = Family.of_ints(version, firsts, prefixlens)
    last_high, last_low = family.last_halves()
    if version == 4:
        return family.low, last_low, last_low == np.uint64((1 << 32) - 1), last_low + np.uint64(1)
    carry = last_low == _MAX64
    next_high, next_low = last_high + carry.astype(np.uint64), last_low + np.uint64(1)  # wraps when it carries
    top = carry & (last_high == _MAX64)
    return (sixteen_byte_keys(family.high, family.low), sixteen_byte_keys(last_high, last_low), top,
            sixteen_byte_keys(next_high, next_low))


def cut(columns, version, table, codes):
    """Cut one family into segments: ``(start keys, segment labels, segment bindings)`` arrays."""
    positions = np.flatnonzero(np.frombuffer(bytes(columns.version), dtype=np.uint8) == version).astype(np.int32)
    if not len(positions):
        return _root_segment(version)
    kinds = np.frombuffer(columns.kind, dtype=np.uint8)[positions]
    prefixlens = np.frombuffer(columns.prefixlen, dtype=np.uint8)[positions]
    first, last, top, after = family_keys(np.array(columns.first, dtype=object)[positions], prefixlens, version)
    # outer first; a stable sort keeps equal CIDRs in data order
    order = np.argsort(_ranks(first) << np.uint64(8) | prefixlens.astype(np.uint64), kind="stable")
    positions, kinds, prefixlens, first, last, top, after = (
        column[order] for column in (positions, kinds, prefixlens, first, last, top, after)
    )
    del order
    # entries with the same CIDR are one node, so duplicates do not deepen the nesting
    new_node = np.ones(len(first), dtype=bool)
    new_node[1:] = (first[1:] != first[:-1]) | (prefixlens[1:] != prefixlens[:-1])
    node_of = (np.cumsum(new_node) - 1).astype(np.int32)
    nodes = Nodes(node_of, int(node_of[-1]) + 1, kinds, positions, codes)
    first, last, top, after = (column[new_node] for column in (first, last, top, after))
    del positions, kinds, prefixlens, node_of, new_node
    count = len(first)
    depth = (np.arange(count) - np.searchsorted(np.sort(last), first, side="left")).astype(np.int32)
    del last
    parent = np.full(count, -1, dtype=np.int64)
    for level in range(1, int(depth.max()) + 1):
        here, above = np.flatnonzero(depth == level), np.flatnonzero(depth == level - 1)
        parent[here] = above[np.searchsorted(above, here) - 1]
    # one slot more than there are nodes: the root (label 0, no binding), which parent -1 picks
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
            unbound, inverse = np.unique(parent_label[needs_bound], return_inverse=True)
            none = np.full(len(unbound), -1, dtype=np.int64)
            made = table.add_labels(unbound, none, none, True, np.zeros(len(unbound), dtype=np.int64), none[:0])
            labels[needs_bound] = made[inverse.reshape(-1)]
        node_label[here] = labels
    return _segments(version, first, after, top, depth, parent, node_label, node_binding)


def _ranks(keys):
    """Order-preserving small ints for keys: IPv4 keys are ints already; IPv6 ``S16`` keys are ranked."""
    if keys.dtype == np.uint64:
        return keys
    return np.unique(keys, return_inverse=True)[1].reshape(-1).astype(np.uint64)


def _root_segment(version):
    zero = np.zeros(1, dtype=np.uint64) if version == 4 else sixteen_byte_keys(np.zeros(1, np.uint64), np.zeros(1, np.uint64))
    return zero, np.zeros(1, dtype=np.int64), np.full(1, -1, dtype=np.int64)


def _segments(version, first, after, top, depth, parent, node_label, node_binding):
    """Boundaries from opens and closes; at one address the last event wins, then equal neighbours merge.

    ``node_label`` and ``node_binding`` end with the root's slot, which parent ``-1`` picks.
    """
    count = len(first)
    closing = np.flatnonzero(~top)
    close_label, close_binding = node_label[parent[closing]], node_binding[parent[closing]]
    entry_label, entry_binding = node_label[:count], node_binding[:count]
    root_key, root_label, root_binding = _root_segment(version)
    keys = np.concatenate((root_key, after[closing], first))
    # at one address: the root, then closes (outermost last), then opens (innermost last)
    rank = _ranks(keys)
    del keys
    priority = np.concatenate((
        np.zeros(1, dtype=np.uint64),
        (np.uint64(1) << np.uint64(27)) | (np.uint64(1 << 26) - depth[closing].astype(np.uint64)),
        (np.uint64(2) << np.uint64(27)) | np.arange(count, dtype=np.uint64),
    ))
    order = np.argsort(rank << np.uint64(29) | priority)
    del priority
    ranks = rank[order]
    winners = order[np.append(ranks[1:] != ranks[:-1], True)]
    del order, ranks
    labels = np.concatenate((root_label, close_label, entry_label))[winners]
    bindings = np.concatenate((root_binding, close_binding, entry_binding))[winners]
    starts = np.concatenate((root_key, after[closing], first))[winners]
    changed = np.ones(len(winners), dtype=bool)
    changed[1:] = (labels[1:] != labels[:-1]) | (bindings[1:] != bindings[:-1])
    return starts[changed], labels[changed], bindings[changed]


def index_segments(cut_family):
    """One family's segments as the index keeps them: IPv4 starts as ``array('I')``,
    IPv6 starts as 16-byte big-endian keys; labels and bindings as ``array('i')``."""
    keys, labels, bindings = cut_family
    starts = array("I", keys.astype(np.uint32).tobytes()) if keys.dtype == np.uint64 else keys.tobytes()
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
