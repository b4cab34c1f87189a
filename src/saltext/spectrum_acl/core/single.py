"""One origin at a time, fast: the ``FOUND_*`` bits of an address, a CIDR or a span, and nothing else.

:meth:`~saltext.spectrum_acl.core.guard.OriginGuard.check_origin` asks a :class:`SingleJudge`
first (on a guard without a remote judge; the guard adds app edge IPs). It answers with the bits only,
which is all that ``allowed`` and the five flags need; the evidence behind the reasons is
made when a verdict's reasons or deciding entry are read, by judging the origin again the
full way, which finds the same bits. It declines (``None``) what the full way must judge:
text the fast parser refuses (errors are explained there), and IPv6 that may carry IPv4.

Everything a lookup reads is bound once per index as locals of the closures below, so
a lookup is ``inet_pton``, one ``bisect`` (IPv4: inside the /20 of the address; IPv6:
inside its /40, found among the 16-byte keys as they are (:class:`V6Keys`), whose starts
become ints when first asked) and a memo read: the bits
each label adds for an account are worked out once. No numpy: its per-call cost is
larger than a whole lookup.
"""

import mmap
import threading
import weakref
from bisect import bisect_left, bisect_right
from socket import AF_INET, AF_INET6, inet_pton

from saltext.spectrum_acl.core.embedded import EMBEDDING_TOP16
from saltext.spectrum_acl.core.index import MANAGED_FLAG, NO_ENTRY, RESERVED_FLAG, V4_BUCKETS
from saltext.spectrum_acl.core.ranges import V4, V6
from saltext.spectrum_acl.core.verdict import FOUND_OF_LABEL_FLAGS, FOUND_UNPERMITTED

_SENSITIVE = MANAGED_FLAG | RESERVED_FLAG
#: Accounts whose memo (the bits of each label seen, for that account) is kept; the oldest goes first.
ACCOUNTS_KEPT = 64
#: IPv6 /40s whose segment starts are kept as ints (a /40 holds a few segments; all of them, at most, every segment).
V6_BLOCKS_KEPT = 1 << 16
_LAST_BLOCK = (1 << 40) - 1  # the last IPv6 /40
_KNOWN = 64  # set in every memo value, so that a learnt 0 is true; the FOUND_* bits are below it
_BITS = _KNOWN - 1


class SingleJudge:
    """The bits of one origin against one ``PrefixIndex``: ``found_of_text`` and ``found_of_span``.

    Both take the origin and the account id, and return ``None`` for what they leave to the full path.

    >>> from saltext.spectrum_acl.core.index import PrefixIndex
    >>> SingleJudge(PrefixIndex()).found_of_text("192.0.2.1", "crossbow")
    0
    """

    def __init__(self, prefix_index):
        self.found_of_text, self.found_of_span = _lookups(prefix_index)


class V6Keys:
    """The 16-byte big-endian IPv6 segment starts as a sequence ``bisect`` can search: their
    byte order is their numeric order, so nothing is converted up front (200,000 starts at
    10^6 entries); a lookup reads the few it probes.

    >>> from bisect import bisect_right
    >>> keys = V6Keys(bytes(16) + (1 << 120).to_bytes(16, "big"))
    >>> len(keys), bisect_right(keys, (5 << 112).to_bytes(16, "big"))
    (2, 1)
    """

    __slots__ = ("keys", "count")

    def __init__(self, keys):
        self.keys, self.count = keys, len(keys) // 16

    def __len__(self):
        return self.count

    def __getitem__(self, position):
        start = position * 16
        return bytes(self.keys[start:start + 16])

    def value(self, position):
        """The start of segment ``position`` as an int."""
        start = position * 16
        return int.from_bytes(self.keys[start:start + 16], "big")


def _lookups(prefix_index):
    """The two lookups as closures over the index's columns (not the index: a cache keyed weakly by it holds them)."""
    index_ref = weakref.ref(prefix_index)
    segments = prefix_index.segments
    v4_starts, v4_labels, _ = segments[4]
    v4_count = len(v4_starts)
    buckets = prefix_index.v4_buckets
    # where each IPv4 /20 begins in the starts (a /16 holds thousands of segments at 10^6 entries),
    # worked out when first needed (one bisect in the /16); 0 until then, which only the first /20
    # is (segment 0 starts at 0.0.0.0). Anonymous memory: a page takes RSS only once written.
    fine = memoryview(mmap.mmap(-1, 4 * ((V4_BUCKETS << 4) + 1))).cast("I")
    v6_labels = segments.v6_labels
    v6_keys = V6Keys(segments.v6_keys)
    v6_count = len(v6_keys)
    v6_blocks = {}  # top 40 bits -> (position of the block's first start, its starts as ints), made when first asked
    labels = prefix_index.labels
    label_flags, label_prefix = labels.flags, labels.prefix
    delegation_start, delegation_end, delegations = labels.delegation_start, labels.delegation_end, labels.delegations
    entry_accounts = prefix_index.columns.account
    v4_prefixlens, v4_hostmasks = V4.prefixlens, V4.hostmasks
    v6_prefixlens, v6_hostmasks = V6.prefixlens, V6.hostmasks
    carrying = EMBEDDING_TOP16
    from_bytes = int.from_bytes
    memos = {}  # account_id -> {label: the FOUND_* bits it adds for that account | _KNOWN}
    account_keys = {}  # account_id -> its interned id in the index (-1: no entry names it), for the memos kept
    memos_lock = threading.Lock()

    def memo_of(account_id):
        with memos_lock:  # once per account: threads sharing a guard drop and add memos one at a time
            memo = memos.get(account_id)
            if memo is None:
                if len(memos) >= ACCOUNTS_KEPT:
                    oldest = next(iter(memos))
                    del memos[oldest], account_keys[oldest]
                account_keys[account_id] = index_ref().account_id(account_id)
                memo = memos[account_id] = {}
            return memo

    def learn(memo, label, account_id):
        """The bits a segment of ``label`` adds: what covers it, and whether the account may use it."""
        flags = label_flags[label]
        found = FOUND_OF_LABEL_FLAGS[flags] | _KNOWN
        if flags & _SENSITIVE:
            account = account_keys.get(account_id)
            if account is None:  # dropped by another thread since this one took the memo
                account = index_ref().account_id(account_id)
            permitted = False
            if account >= 0:
                prefix = label_prefix[label]
                permitted = prefix != NO_ENTRY and entry_accounts[prefix] == account
                for slot in range(delegation_start[label], delegation_end[label]):
                    if permitted:
                        break
                    permitted = entry_accounts[delegations[slot]] == account
            if not permitted:
                found |= FOUND_UNPERMITTED
        memo[label] = found
        return found

    def fill(part):
        """Where the /20 ``part`` begins in the starts."""
        begins = fine[part]
        if not begins:
            top = part >> 4
            begins = fine[part] = bisect_left(v4_starts, part << 12, buckets[top], buckets[top + 1]) if part & 15 else buckets[top]
        return begins

    def v4_position(first):
        part = first >> 12
        return bisect_right(v4_starts, first, fill(part), fill(part + 1)) - 1

    def v4_scan(position, last, memo, account_id):
        """The bits of the segments from ``position`` up to the one holding ``last``."""
        found = 0
        while True:
            label = v4_labels[position]
            found |= memo.get(label) or learn(memo, label, account_id)
            position += 1
            if position >= v4_count or v4_starts[position] > last:
                return found & _BITS

    def v6_block(top):
        """The segments that start in one /40: the first one's position and their starts as ints."""
        if len(v6_blocks) >= V6_BLOCKS_KEPT:
            v6_blocks.clear()
        first = bisect_left(v6_keys, (top << 88).to_bytes(16, "big"))
        end = bisect_left(v6_keys, ((top + 1) << 88).to_bytes(16, "big"), first) if top < _LAST_BLOCK else v6_count
        block = v6_blocks[top] = (first, [v6_keys.value(position) for position in range(first, end)])
        return block

    def v6_position(first):
        """The position of the segment holding ``first``: a ``bisect`` in its /40 (or the segment before it)."""
        block_first, starts = v6_blocks.get(first >> 88) or v6_block(first >> 88)
        return block_first + bisect_right(starts, first) - 1

    def v6_scan(position, last, memo, account_id):
        """As ``v4_scan``, over the IPv6 segments."""
        found = 0
        while True:
            label = v6_labels[position]
            found |= memo.get(label) or learn(memo, label, account_id)
            position += 1
            if position >= v6_count or v6_keys.value(position) > last:
                return found & _BITS

    def found_of_text(text, account_id):
        """The bits of an address or CIDR string (the rules of ``parse.cidr_ints``), or ``None``.

        One address, the common case, is judged here with no further Python call.
        """
        if "/" in text:
            address, slash, length = text.partition("/")
        else:
            address = text
            slash = length = None
        try:
            if ":" in address:
                first, version = from_bytes(inet_pton(AF_INET6, address), "big"), 6
            else:
                first, version = from_bytes(inet_pton(AF_INET, address), "big"), 4
        except (OSError, ValueError, UnicodeError):
            return None
        memo = memos.get(account_id)
        if memo is None:
            memo = memo_of(account_id)
        if version == 4:
            part = first >> 12
            low, high = fine[part], fine[part + 1]
            if not low or not high:  # the first ask in this /20
                low, high = fill(part), fill(part + 1)
            position = bisect_right(v4_starts, first, low, high) - 1
            label = v4_labels[position]
            if slash:
                prefixlen = v4_prefixlens.get(length)
                if prefixlen is None or first & v4_hostmasks[prefixlen]:
                    return None
                last = first | v4_hostmasks[prefixlen]
                if position + 1 < v4_count and v4_starts[position + 1] <= last:  # more than one segment
                    return v4_scan(position, last, memo, account_id)
        else:
            if slash:
                prefixlen = v6_prefixlens.get(length)
                if prefixlen is None or first & v6_hostmasks[prefixlen] or prefixlen < 16:
                    return None
            if first >> 112 in carrying:
                return None
            block_first, starts = v6_blocks.get(first >> 88) or v6_block(first >> 88)
            position = block_first + bisect_right(starts, first) - 1
            if slash:
                last = first | v6_hostmasks[prefixlen]
                if prefixlen < 40:  # wider than its /40
                    return v6_scan(position, last, memo, account_id)
                stop = block_first + bisect_right(starts, last)  # after the last segment of the block it overlaps
                if stop - position > 1:
                    return v6_scan(position, last, memo, account_id)
            label = v6_labels[position]
        return (memo.get(label) or learn(memo, label, account_id)) & _BITS

    def found_of_span(span, account_id):
        """The bits of a ``(version, first, last, prefixlen)`` span, or ``None`` for IPv6 that may carry IPv4."""
        version, first, last, prefixlen = span
        memo = memos.get(account_id)
        if memo is None:
            memo = memo_of(account_id)
        if version == 4:
            position = v4_position(first)
            if first == last:  # one address: one segment
                label = v4_labels[position]
                return (memo.get(label) or learn(memo, label, account_id)) & _BITS
            return v4_scan(position, last, memo, account_id)
        if prefixlen < 16 or first >> 112 in carrying:
            return None
        return v6_scan(v6_position(first), last, memo, account_id)

    return found_of_text, found_of_span
