"""Hostname resolution for ``origin_dns`` origins: A and AAAA, injectable for tests.

A resolver is any callable ``name -> list of address strings`` that raises
:class:`ResolutionError` (or ``OSError``) when the name does not resolve.
"""

import socket


class ResolutionError(Exception):
    """The name did not resolve."""


def system_resolver(name):
    """Resolve ``name`` with the system resolver, returning its IPv4 and IPv6 addresses."""
    try:
        answers = socket.getaddrinfo(name, None, family=socket.AF_UNSPEC, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise ResolutionError(str(exc)) from None
    addresses = []
    for family, _, _, _, sockaddr in answers:
        if family in (socket.AF_INET, socket.AF_INET6) and sockaddr[0] not in addresses:
            addresses.append(sockaddr[0])
    return addresses


class StaticResolver:
    """Answer from a fixed ``{name: [addresses]}`` map first, then fall back (or fail)."""

    def __init__(self, hosts, fallback=system_resolver):
        self.hosts = {name.lower().rstrip("."): list(addresses) for name, addresses in (hosts or {}).items()}
        self.fallback = fallback

    def __call__(self, name):
        if name in self.hosts:
            return self.hosts[name]
        if self.fallback is None:
            raise ResolutionError(f"{name!r} is not in the static host map")
        return self.fallback(name)
