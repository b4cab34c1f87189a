"""Address ranges as integers, and the facts of each address family in one home.

This module imports nothing from the package: everything else builds on it.

>>> V4.width, V6.width
(32, 128)
>>> Span(4, 0x0A000000, 0x0AFFFFFF, 8).cidr
'10.0.0.0/8'
"""

from socket import AF_INET, AF_INET6, inet_ntop
from typing import NamedTuple

import netaddr


class Family(NamedTuple):
    """One address family: its version, width in bits, host masks and prefix length spellings."""

    version: int
    width: int
    address_max: int
    hostmasks: tuple  # by prefix length: the bits a CIDR of that length leaves free
    prefixlens: dict  # canonical spelling -> prefix length ("24" -> 24; "024" is not there)


def _family(version, width):
    return Family(
        version, width, (1 << width) - 1,
        tuple((1 << (width - n)) - 1 for n in range(width + 1)),
        {str(n): n for n in range(width + 1)},
    )


V4, V6 = _family(4, 32), _family(6, 128)
FAMILIES = {4: V4, 6: V6}
#: Host masks by version and prefix length: ``HOSTMASKS[4][24] == 0xFF``.
HOSTMASKS = {version: family.hostmasks for version, family in FAMILIES.items()}


def network_of(version, first, prefixlen):
    """The ``netaddr.IPNetwork`` of an integer range."""
    return netaddr.IPNetwork((first, prefixlen), version=version)


def cidr_text(version, first, prefixlen):
    """The CIDR of an integer range as text, spelt as ``netaddr`` spells it (RFC 5952), but faster.

    >>> cidr_text(6, 0x20010DB8 << 96, 32)
    '2001:db8::/32'
    """
    if version == 4:
        return f"{inet_ntop(AF_INET, first.to_bytes(4, 'big'))}/{prefixlen}"
    return f"{inet_ntop(AF_INET6, first.to_bytes(16, 'big'))}/{prefixlen}"


class Span(NamedTuple):
    """An address range as integers: what the index works with."""

    version: int
    first: int
    last: int
    prefixlen: int

    @classmethod
    def of(cls, network):
        """A ``Span`` from a ``netaddr.IPNetwork`` (or anything with the same four attributes)."""
        return cls(network.version, network.first, network.last, network.prefixlen)

    @classmethod
    def from_prefix(cls, version, first, prefixlen):
        """The span of a CIDR given by its first address and prefix length."""
        return cls(version, first, first | HOSTMASKS[version][prefixlen], prefixlen)

    @property
    def network(self):
        return network_of(self.version, self.first, self.prefixlen)

    @property
    def cidr(self):
        return cidr_text(self.version, self.first, self.prefixlen)

    def shown(self):
        """An address for a single host, a CIDR otherwise."""
        if self.first == self.last:
            return str(netaddr.IPAddress(self.first, self.version))
        return self.cidr
