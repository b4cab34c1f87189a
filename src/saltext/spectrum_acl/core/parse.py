"""Strict parsing of origins: addresses, CIDRs, ports and ``origin_direct`` URLs.

Parsing never fixes a spelling up. Anything that an OS resolver or ``inet_aton``
might read differently from a person (``127.1``, ``0x7f.0.0.1``, ``010.0.0.1``,
zone ids, netmasks, host bits, stray whitespace, non-ASCII digits) is refused
with an :class:`OriginSyntaxError` that names the input and says why.
"""

import re
from socket import AF_INET, AF_INET6, inet_pton
from typing import NamedTuple

import netaddr

from saltext.spectrum_acl.core.ranges import FAMILIES, V4, V6, Span
from saltext.spectrum_acl.errors import OriginSyntaxError

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4_STRICT = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_IPV6_CHARS = re.compile(r"[0-9A-Fa-f:.]+")
_PREFIXLEN = re.compile(r"0|[1-9][0-9]{0,2}")
_WHITESPACE = re.compile(r"\s")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
#: An origin URL as tools write it: the fast path (the host and ports are still checked strictly).
_CANONICAL_URL = re.compile(r"(tcp|udp)://(?:([0-9.]+)|\[([0-9a-fA-F:.]+)\]):([1-9][0-9]{0,4})(?:-([1-9][0-9]{0,4}))?")
_ORIGIN_URL = re.compile(r"(?P<scheme>[^:/]*)://(?P<host>\[[^\]]*\]|[^:\[\]]*)(?::(?P<ports>.*))?")


_new_tuple = tuple.__new__


class Origin(NamedTuple):
    """A parsed origin: the text as given, its range (a :class:`Span`) and, for URLs, scheme and ports."""

    text: str
    span: Span
    scheme: str = None
    ports: tuple = None

    @property
    def network(self):
        """The range as a ``netaddr.IPNetwork``."""
        return self.span.network


def _refuse(text, why):
    error = OriginSyntaxError(f"{text!r} is not a valid origin: {why}")
    error.reason = why
    raise error


def _address_part(text, part):
    """Parse the address inside a CIDR or URL; an error names the whole input."""
    try:
        return parse_address(part)
    except OriginSyntaxError as exc:
        _refuse(text, f"address {part!r}: {getattr(exc, 'reason', exc)}")


def _check_plain_text(text, what):
    if not isinstance(text, str):
        _refuse(text, f"{what} must be a string")
    if not text:
        _refuse(text, f"empty {what}")
    if _WHITESPACE.search(text):
        _refuse(text, "whitespace is not allowed")
    if not text.isascii():
        _refuse(text, "non-ASCII characters are not allowed")


def _explain_bad_ipv4(text):
    parts = text.split(".")
    if any(p.lower().startswith("0x") for p in parts):
        return "hexadecimal forms are not accepted; write four decimal octets"
    if len(parts) == 1:
        return "integer forms are not accepted; write four decimal octets"
    if len(parts) != 4:
        return "an IPv4 address needs exactly four decimal octets (short forms like 127.1 are refused)"
    for part in parts:
        if not part.isdigit():
            return f"octet {part!r} is not a decimal number"
        if len(part) > 1 and part.startswith("0"):
            return f"octet {part!r} has a leading zero (octal forms are refused)"
        if int(part) > 255:
            return f"octet {part!r} is out of range 0-255"
    return "not a dotted-quad IPv4 address"


def parse_address(text):
    """Parse one IPv4 or IPv6 address strictly and return a ``netaddr.IPAddress``."""
    parts = cidr_ints(text) if type(text) is str and "/" not in text else None
    if parts is not None:
        return netaddr.IPAddress(parts[1], parts[0])
    _check_plain_text(text, "address")
    if "%" in text:
        _refuse(text, "zone ids (%...) are not allowed")
    if ":" in text:
        if not _IPV6_CHARS.fullmatch(text):
            _refuse(text, "not an IPv6 address")
        if "." in text:
            tail = text.rsplit(":", 1)[1]
            if not _IPV4_STRICT.fullmatch(tail):
                _refuse(text, f"embedded IPv4 part {tail!r}: {_explain_bad_ipv4(tail)}")
        try:
            return netaddr.IPAddress(text, version=6)
        except (netaddr.AddrFormatError, ValueError):
            _refuse(text, "not an IPv6 address")
    if not _IPV4_STRICT.fullmatch(text):
        _refuse(text, _explain_bad_ipv4(text))
    return netaddr.IPAddress(text, version=4)


def parse_network(text):
    """Parse an address or CIDR strictly and return a ``netaddr.IPNetwork``.

    A bare address becomes a /32 or /128. Netmask forms and host bits are refused.
    """
    _check_plain_text(text, "address or CIDR")
    if text.count("/") > 1:
        _refuse(text, "more than one '/'")
    address_text, slash, length_text = text.partition("/")
    address = _address_part(text, address_text) if slash else parse_address(address_text)
    width = FAMILIES[address.version].width
    if not slash:
        return netaddr.IPNetwork(f"{address}/{width}")
    if "." in length_text or ":" in length_text:
        _refuse(text, "netmask forms are not accepted; write a prefix length")
    if not _PREFIXLEN.fullmatch(length_text) or int(length_text) > width:
        _refuse(text, f"prefix length {length_text!r} is not a number from 0 to {width}")
    network = netaddr.IPNetwork(f"{address}/{length_text}")
    if network.ip != network.network:
        _refuse(text, f"host bits are set; the network is {network.cidr}")
    return network


def parse_port_range(text):
    """Parse ``22`` or ``1000-2000`` (an int is accepted too) into ``(first, last)``."""
    if isinstance(text, bool):
        raise OriginSyntaxError(f"{text!r} is not a valid port: expected 1-65535 or a range like 1000-2000")
    if isinstance(text, int):
        text = str(text)
    if not isinstance(text, str) or not text:
        raise OriginSyntaxError(f"{text!r} is not a valid port: expected 1-65535 or a range like 1000-2000")
    first_text, dash, last_text = text.partition("-")
    bounds = []
    for part in (first_text, last_text) if dash else (first_text,):
        if not _PORT.fullmatch(part) or int(part) > 65535:
            raise OriginSyntaxError(f"{text!r} is not a valid port: {part!r} is not a port from 1 to 65535")
        bounds.append(int(part))
    first, last = bounds[0], bounds[-1]
    if last < first:
        raise OriginSyntaxError(f"{text!r} is not a valid port range: {last} is below {first}")
    return first, last


def parse_origin_url(text):
    """Parse an ``origin_direct`` URL: ``tcp://192.0.2.1:22``, ``udp://[2001:db8::1]:1000-2000``.

    Runtime complexity: ``O(len(text))``. A URL as tools write it takes a fast path (a regex,
    ``inet_pton``); anything else takes the strict path, which explains what is wrong.

    >>> parse_origin_url("tcp://192.0.2.1:22").span.cidr
    '192.0.2.1/32'
    """
    fast = _fast_origin_url(text)
    if fast is not None:
        return fast
    _check_plain_text(text, "origin URL")
    match = _ORIGIN_URL.fullmatch(text)
    if not match:
        _refuse(text, "expected tcp://ADDRESS:PORT or tcp://[IPV6]:PORT")
    scheme, host, ports = match.group("scheme", "host", "ports")
    if scheme not in ("tcp", "udp"):
        _refuse(text, f"scheme {scheme!r} is not tcp or udp")
    if host.startswith("["):
        host = host[1:-1]
        if ":" not in host:
            _refuse(text, "brackets are only for IPv6 addresses")
    elif ":" in host:
        _refuse(text, "IPv6 addresses must be in brackets")
    if not host:
        _refuse(text, "no address")
    if "/" in host:
        _refuse(text, "a URL origin takes one address, not a CIDR")
    if ports is None or ports == "":
        _refuse(text, "no port")
    if not host.startswith("[") and host.count(":") == 0 and text.split("://", 1)[1].count(":") > 1:
        _refuse(text, "IPv6 addresses must be in brackets")
    if re.search(r"[g-zG-Z_@]", host) and ":" not in host and not _NUMERIC_HOST.fullmatch(host):
        _refuse(text, "a URL origin takes an IP address, not a hostname (use origin_dns for names)")
    address = _address_part(text, host)
    try:
        port_range = parse_port_range(ports)
    except OriginSyntaxError as exc:
        _refuse(text, str(exc))
    return Origin(text, Span.from_prefix(address.version, int(address), FAMILIES[address.version].width), scheme, port_range)


def _fast_origin_url(text):
    """The :class:`Origin` of a canonically written URL, or ``None`` for the strict path to judge."""
    match = _CANONICAL_URL.fullmatch(text) if type(text) is str else None
    if match is None:
        return None
    scheme, v4, v6, first_port, last_port = match.groups()
    try:  # inet_pton refuses what cidr_ints refuses
        if v4 is not None:
            value = int.from_bytes(inet_pton(AF_INET, v4), "big")
            span = _new_tuple(Span, (4, value, value, V4.width))  # one address (a NamedTuple, made without its __new__)
        elif ":" in v6:
            value = int.from_bytes(inet_pton(AF_INET6, v6), "big")
            span = _new_tuple(Span, (6, value, value, V6.width))
        else:
            return None
    except (OSError, ValueError, UnicodeError):
        return None
    first = int(first_port)
    last = int(last_port) if last_port is not None else first
    if last > 65535 or last < first:
        return None
    return _new_tuple(Origin, (text, span, scheme, (first, last)))


def parse_origin(text):
    """Parse any of the three origin forms: an address, a CIDR, or an origin URL."""
    if isinstance(text, str) and "://" in text:
        return parse_origin_url(text)
    return Origin(text, Span.of(parse_network(text)))


def cidr_ints(text):
    """``(version, first, prefixlen)`` of an address or CIDR string, or ``None``: the fast path.

    It accepts only what :func:`parse_network` accepts: ``inet_pton`` refuses short,
    integer, hex and leading-zero forms, zone ids and whitespace, and a prefix length
    must be written canonically. Anything else, every error included, is for the
    strict parser, which explains it.
    """
    address, slash, length = text.partition("/")
    try:
        if ":" in address:
            value, family = int.from_bytes(inet_pton(AF_INET6, address), "big"), V6
        else:
            value, family = int.from_bytes(inet_pton(AF_INET, address), "big"), V4
    except (OSError, ValueError, UnicodeError):
        return None
    prefixlen = family.prefixlens.get(length) if slash else family.width
    if prefixlen is None or value & family.hostmasks[prefixlen]:
        return None
    return family.version, value, prefixlen


def cidr_parts(value):
    """``(version, first, prefixlen)`` of an address or CIDR: :func:`cidr_ints`, else the
    strict :func:`parse_network`, whose :class:`OriginSyntaxError` explains what is wrong."""
    parts = cidr_ints(value) if type(value) is str else None
    if parts is not None:
        return parts
    network = parse_network(value)
    return network.version, network.first, network.prefixlen


_HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
#: Labels joined by dots, the last one starting with a letter (so not a number), an optional root dot.
_COMMON_HOSTNAME = re.compile(rf"(?:{_HOST_LABEL.pattern}\.)*[A-Za-z](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.?")
_SERVICE_LABEL = re.compile(r"_[A-Za-z0-9](?:[A-Za-z0-9-]{0,60}[A-Za-z0-9])?")  # RFC 2782: _service._proto
_NUMERIC_HOST = re.compile(r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)(?:\.(?:0[xX][0-9A-Fa-f]*|[0-9]+)){0,3}\.?")


def parse_hostname(text, service=False):
    """Check an ``origin_dns`` name: letters, digits and hyphens in dot-separated labels.

    Names an OS resolver would read as a number (``127.1``, ``0x7f000001``) and
    address literals are refused, so no bad spelling ever reaches the resolver.
    With ``service`` (an SRV name), leading ``_service._proto`` labels are allowed too.
    """
    if not service and type(text) is str and len(text) <= 254 and _COMMON_HOSTNAME.fullmatch(text):
        name = text[:-1] if text.endswith(".") else text
        if len(name) <= 253:  # the checks below pass: labels, a last label starting with a letter (not numeric)
            return name.lower()
    _check_plain_text(text, "hostname")
    if _NUMERIC_HOST.fullmatch(text) or ":" in text:
        _refuse(text, "an address or numeric spelling is not a hostname; use origin_direct for addresses")
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    while service and len(labels) > 1 and _SERVICE_LABEL.fullmatch(labels[0]):
        labels = labels[1:]
    if len(name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in labels):
        _refuse(text, "not a hostname (letters, digits and hyphens in dot-separated labels)")
    if name.rsplit(".", 1)[-1].isdigit():
        _refuse(text, "the last label of a hostname cannot be all digits")
    return name.lower()
