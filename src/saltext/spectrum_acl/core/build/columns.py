"""Many addresses and CIDRs at once, as numpy columns: parsing and 128-bit search keys.

:func:`parse_many` takes exactly what :func:`~saltext.spectrum_acl.core.parse.cidr_ints`
takes (``inet_pton``, a canonically written prefix length, no host bits) and
declines the rest, which the strict parser then explains. It runs one Python
pass of ``inet_pton`` and leaves the arithmetic to numpy, so the prefix data
loader and the batch judge share it. 128-bit values are kept as high and low
``uint64`` halves; :func:`sixteen_byte_keys` makes them big-endian ``S16`` keys,
which numpy sorts and searches in numeric order.
"""

from socket import AF_INET, AF_INET6, inet_pton

import numpy as np

from saltext.spectrum_acl.core.ranges import HOSTMASKS, V4, V6

_LOW64 = (1 << 64) - 1
#: Host masks by prefix length: IPv4 as ``uint32``, IPv6 as high and low ``uint64`` halves.
V4_HOSTMASKS = np.array(HOSTMASKS[4], dtype=np.uint32)
V6_HOSTMASKS_HIGH = np.array([mask >> 64 for mask in HOSTMASKS[6]], dtype=np.uint64)
V6_HOSTMASKS_LOW = np.array([mask & _LOW64 for mask in HOSTMASKS[6]], dtype=np.uint64)


class Family:
    """One family's parsed texts: their item numbers, first addresses and prefix lengths.

    IPv4 addresses are in ``low`` (``high`` is zero); IPv6 ones are split in halves.
    """

    def __init__(self, version, items, high, low, prefixlen):
        self.version, self.items, self.high, self.low, self.prefixlen = version, items, high, low, prefixlen

    @classmethod
    def of_ints(cls, version, values, prefixlen):
        """Ranges given as Python ints (first addresses) and prefix lengths; items are their positions."""
        count = len(values)
        if version == 4:
            high, low = np.zeros(count, dtype=np.uint64), np.fromiter(values, dtype=np.uint64, count=count)
        else:
            high = np.fromiter((value >> 64 for value in values), dtype=np.uint64, count=count)
            low = np.fromiter((value & _LOW64 for value in values), dtype=np.uint64, count=count)
        return cls(version, np.arange(count), high, low, np.asarray(prefixlen, dtype=np.uint8))

    def __len__(self):
        return len(self.items)

    def select(self, mask):
        return Family(self.version, self.items[mask], self.high[mask], self.low[mask], self.prefixlen[mask])

    def hostmask_halves(self):
        if self.version == 4:
            return np.zeros(len(self.items), dtype=np.uint64), V4_HOSTMASKS[self.prefixlen].astype(np.uint64)
        return V6_HOSTMASKS_HIGH[self.prefixlen], V6_HOSTMASKS_LOW[self.prefixlen]

    def last_halves(self):
        """The last address of each range, as ``(high, low)``."""
        mask_high, mask_low = self.hostmask_halves()
        return self.high | mask_high, self.low | mask_low

    def first_ints(self):
        """The first addresses as Python ints."""
        if self.version == 4:
            return self.low.tolist()
        return [(high << 64) | low for high, low in zip(self.high.tolist(), self.low.tolist())]


def parse_many(texts):
    """``(IPv4 Family, IPv6 Family, declined item numbers)`` for a list of address or CIDR texts."""
    found = {4: ([], [], []), 6: ([], [], [])}  # items, packed addresses, prefix lengths
    forms = {False: (AF_INET, V4.prefixlens, V4.width, found[4]), True: (AF_INET6, V6.prefixlens, V6.width, found[6])}
    declined = []
    for item, text in enumerate(texts):
        if type(text) is str:
            address, slash, length = text.partition("/")
            family, lengths, width, (items, packed, prefixlens) = forms[":" in address]
            prefixlen = lengths.get(length) if slash else width
            if prefixlen is not None:
                try:
                    packed.append(inet_pton(family, address))
                except (OSError, ValueError, UnicodeError):
                    pass
                else:
                    items.append(item)
                    prefixlens.append(prefixlen)
                    continue
        declined.append(item)
    families = []
    for version in (4, 6):
        items, packed, prefixlens = found[version]
        family = _columns(version, np.array(items, dtype=np.int64), b"".join(packed), np.array(prefixlens, dtype=np.uint8))
        mask_high, mask_low = family.hostmask_halves()
        host_bits = ((family.high & mask_high) | (family.low & mask_low)) != 0
        declined.extend(family.items[host_bits].tolist())
        families.append(family.select(~host_bits))
    return families[0], families[1], declined


def _columns(version, items, packed, prefixlens):
    if version == 4:
        low = np.frombuffer(packed, dtype=">u4").astype(np.uint64)
        return Family(4, items, np.zeros(len(low), dtype=np.uint64), low, prefixlens)
    halves = np.frombuffer(packed, dtype=">u8").astype(np.uint64).reshape(-1, 2)
    return Family(6, items, halves[:, 0].copy(), halves[:, 1].copy(), prefixlens)


def sixteen_byte_keys(high, low):
    """128-bit values, given as halves, as big-endian ``S16`` keys."""
    pairs = np.empty((len(high), 2), dtype=">u8")
    pairs[:, 0], pairs[:, 1] = high, low
    return pairs.reshape(-1).view("S16")
