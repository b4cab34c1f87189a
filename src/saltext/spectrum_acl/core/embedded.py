"""IPv4 carried inside IPv6: one table of the forms, and the ranges an IPv6 range carries.

An IPv6 origin can reach an IPv4 address it carries (IPv4-mapped, NAT64, 6to4,
Teredo...); the guard judges the carried IPv4 range as well, and denies the
origin if either is denied.

>>> [(form, span.cidr) for form, span in embedded_spans(Span(6, 0xFFFF7F000001, 0xFFFF7F000001, 128))]
[('IPv4-mapped', '127.0.0.1/32')]
"""

import netaddr

from saltext.spectrum_acl.core.ranges import Span

#: IPv6 blocks that carry an IPv4 address: (name, block, bit offset of the IPv4 address, inverted).
EMBEDDED_IPV4_FORMS = (
    ("IPv4-mapped", "::ffff:0:0/96", 96, False),
    ("IPv4-compatible", "::/96", 96, False),
    ("NAT64", "64:ff9b::/96", 96, False),
    ("local-use NAT64", "64:ff9b:1::/48", 96, False),
    ("6to4", "2002::/16", 16, False),
    ("Teredo server", "2001::/32", 32, False),
    ("Teredo client", "2001::/32", 96, True),
)


def _embedding_table():
    table = []
    for name, block, offset, inverted in EMBEDDED_IPV4_FORMS:
        network = netaddr.IPNetwork(block)
        table.append((name, network.first, network.prefixlen, offset, inverted))
    return tuple(table)


_EMBEDDINGS = _embedding_table()
#: The top 16 bits of every embedding block: a quick way to rule most IPv6 out.
EMBEDDING_TOP16 = frozenset(first >> 112 for _, first, _, _, _ in _EMBEDDINGS)


def may_carry_ipv4(version, first, prefixlen):
    """False when a range surely carries no IPv4 address: a quick test before :func:`embedded_spans`."""
    return version == 6 and (prefixlen < 16 or first >> 112 in EMBEDDING_TOP16)


def embedded_spans(span):
    """Return ``[(form name, IPv4 Span)]`` for every IPv4 range an IPv6 span carries.

    A CIDR that covers a whole embedding block carries all of IPv4 (0.0.0.0/0).
    """
    if not may_carry_ipv4(span.version, span.first, span.prefixlen):
        return ()
    carried = []
    for name, block_first, block_prefixlen, offset, inverted in _EMBEDDINGS:
        if span.prefixlen >= block_prefixlen:
            if span.first >> (128 - block_prefixlen) != block_first >> (128 - block_prefixlen):
                continue
            inner_first, inner_prefixlen = span.first, span.prefixlen
        elif block_first >> (128 - span.prefixlen) == span.first >> (128 - span.prefixlen):
            inner_first, inner_prefixlen = block_first, block_prefixlen
        else:
            continue
        v4_prefixlen = min(max(inner_prefixlen - offset, 0), 32)
        v4_mask = (0xFFFFFFFF << (32 - v4_prefixlen)) & 0xFFFFFFFF
        v4_value = (inner_first >> (96 - offset)) & 0xFFFFFFFF
        if inverted:
            v4_value = ~v4_value
        v4_value &= v4_mask
        carried.append((name, Span(4, v4_value, v4_value | (~v4_mask & 0xFFFFFFFF), v4_prefixlen)))
    return carried


def embedded_ipv4(network):
    """Return ``[(form name, netaddr.IPNetwork)]`` for every IPv4 range an IPv6 network carries."""
    return [(name, span.network) for name, span in embedded_spans(Span.of(network))]
