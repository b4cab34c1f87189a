"""Hostname resolution for ``origin_dns`` origins: what the proxy will connect to.

:class:`Resolver` answers, in this order:

1. ``static_hosts`` from trusted configuration, for offline use and pinned names;
2. ``localhost`` and names under it, which RFC 6761 reserves for loopback
   (``127.0.0.1`` and ``::1``) whatever a DNS server says;
3. DNS, through dnspython, with one deadline for all of a name's queries
   (``getaddrinfo`` has no timeout and can stall a state run).

Record types follow the Spectrum app's ``origin_dns.type``: ``""`` asks A and
AAAA, ``"A"`` and ``"AAAA"`` ask one of them, and ``"SRV"`` asks the SRV records
and then every target's A and AAAA, because those are what the proxy connects to.
A name that resolves to nothing raises :class:`ResolutionError`; the guard then
denies (fails closed). ``/etc/hosts`` is not read: see the docs on DNS trust.
"""

import time
from dataclasses import dataclass

#: Record types an ``origin_dns`` may name.
RECORD_TYPES = ("", "A", "AAAA", "SRV")
#: SRV targets beyond this many are refused: a name must stay judgeable in bounded time.
MAX_SRV_TARGETS = 32
#: RFC 6761 section 6.3: localhost names are loopback.
LOCALHOST_ADDRESSES = ("127.0.0.1", "::1")


class ResolutionError(Exception):
    """The name did not resolve, or not in time."""


@dataclass(frozen=True)
class SrvTarget:
    """One SRV record and the addresses of its target."""

    target: str
    port: int
    priority: int
    weight: int
    addresses: tuple


@dataclass(frozen=True)
class Resolution:
    """What a name resolved to: every address to judge, and for SRV the targets behind them."""

    name: str
    record_type: str
    addresses: tuple
    targets: tuple = ()
    source: str = "dns"  # dns, static_hosts or localhost


def _is_localhost(name):
    return name == "localhost" or name.endswith(".localhost")


class Resolver:
    """Static hosts, then RFC 6761 localhost, then DNS (unless ``use_dns`` is false: offline).

    :param static_hosts: ``{name: [addresses]}`` from trusted configuration.
    :param timeout: seconds for all queries of one name together.
    :param nameservers: addresses to ask instead of the system's ``resolv.conf`` ones.
    :param port: the nameservers' port.
    """

    def __init__(self, static_hosts=None, timeout=5.0, nameservers=None, port=53, use_dns=True):
        self.static_hosts = {name.lower().rstrip("."): list(addresses) for name, addresses in (static_hosts or {}).items()}
        self.timeout = timeout
        self.nameservers = list(nameservers) if nameservers else None
        self.port = port
        self.use_dns = use_dns
        self._dns = None

    def lookup(self, name, record_type=""):
        """Resolve ``name`` for ``record_type``; a :class:`Resolution` or :class:`ResolutionError`."""
        if record_type not in RECORD_TYPES:
            raise ResolutionError(f"record type {record_type!r} is not one of A, AAAA, SRV or empty")
        name = name.lower().rstrip(".")
        deadline = time.monotonic() + self.timeout
        known = self._known(name)
        if known is not None:
            addresses, source = known
            return Resolution(name, record_type, tuple(addresses), source=source)
        if record_type != "SRV":
            return Resolution(name, record_type, tuple(self._addresses(name, record_type, deadline)))
        targets = []
        records = sorted(self._query(name, "SRV", deadline), key=lambda r: (r.priority, -r.weight, str(r.target), r.port))
        for record in records:
            target = record.target.to_text(omit_final_dot=True).lower()
            if target in ("", "."):
                continue  # RFC 2782: "." says the service is not available here
            known = self._known(target)
            addresses = known[0] if known is not None else self._addresses(target, "", deadline)
            targets.append(SrvTarget(target, record.port, record.priority, record.weight, tuple(addresses)))
            if len(targets) > MAX_SRV_TARGETS:
                raise ResolutionError(f"{name} has more than {MAX_SRV_TARGETS} SRV targets")
        if not targets:
            raise ResolutionError(f"{name} has no SRV target")
        addresses = tuple(dict.fromkeys(address for target in targets for address in target.addresses))
        return Resolution(name, record_type, addresses, tuple(targets))

    def _known(self, name):
        if name in self.static_hosts:
            return self.static_hosts[name], "static_hosts"
        if _is_localhost(name):
            return LOCALHOST_ADDRESSES, "localhost"
        return None

    def _addresses(self, name, record_type, deadline):
        addresses = []
        for rdtype in ("A", "AAAA") if record_type == "" else (record_type,):
            addresses.extend(record.address for record in self._query(name, rdtype, deadline))
        if not addresses:
            raise ResolutionError(f"{name} has no {record_type or 'A or AAAA'} record")
        return addresses

    def _query(self, name, rdtype, deadline):
        """The answer records of one query; empty when the name has none of that type."""
        if not self.use_dns:
            raise ResolutionError(f"{name} is not in spectrum_acl:static_hosts, and DNS is off (offline)")
        import dns.exception  # dnspython: only when DNS is asked
        import dns.resolver  # dnspython: only when DNS is asked

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ResolutionError(f"{name}: no answer within {self.timeout:g} s")
        try:
            answer = self._resolver().resolve(
                name + ".", rdtype, search=False, lifetime=remaining, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            raise ResolutionError(f"{name} does not exist (NXDOMAIN)") from None
        except dns.resolver.LifetimeTimeout:
            raise ResolutionError(f"{name}: no answer within {self.timeout:g} s") from None
        except dns.resolver.NoNameservers:
            raise ResolutionError(f"{name}: no nameserver gave an answer (SERVFAIL or refused)") from None
        except dns.resolver.NoResolverConfiguration:
            raise ResolutionError("no DNS nameservers are configured (resolv.conf, or spectrum_acl:nameservers)") from None
        except dns.exception.DNSException as exc:
            raise ResolutionError(f"{name}: {type(exc).__name__}: {exc}") from None
        return list(answer.rrset or ())

    def _resolver(self):
        if self._dns is None:
            import dns.resolver  # dnspython: only when DNS is asked

            if self.nameservers is None:
                resolver = dns.resolver.Resolver(configure=True)
            else:
                resolver = dns.resolver.Resolver(configure=False)
                resolver.nameservers = self.nameservers
                resolver.port = self.port
            resolver.cache = None  # each run judges what DNS says now
            self._dns = resolver
        return self._dns
