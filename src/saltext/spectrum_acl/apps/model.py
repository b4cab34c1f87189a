"""The Spectrum app model: one app's shape, checked and normalised.

Field names follow the provider's public Spectrum app object. Every shape
error is a :class:`PillarShapeError` naming the app, the field and the value.
The all-apps check (origins, edge IPs, accounts) is :mod:`saltext.spectrum_acl.apps.check`.
"""

import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

from saltext.spectrum_acl.core.parse import parse_address, parse_hostname, parse_origin_url, parse_port_range
from saltext.spectrum_acl.core.resolver import RECORD_TYPES
from saltext.spectrum_acl.errors import OriginSyntaxError, PillarShapeError, PillarShapeErrors

CHOICES = {
    "proxy_protocol": ("off", "v1", "v2", "simple"),
    "tls": ("off", "flexible", "full", "strict"),
    "traffic_type": ("direct", "http", "https"),
}
DEFAULTS = {"proxy_protocol": "off", "tls": "off", "traffic_type": "direct", "ip_firewall": False}
DNS_TYPES = ("CNAME", "ADDRESS")
ORIGIN_DNS_TYPES = RECORD_TYPES
EDGE_CONNECTIVITY = ("all", "ipv4", "ipv6")
KNOWN_FIELDS = frozenset(
    ("account_id", "protocol", "dns", "edge_ips", "origin_direct", "origin_dns", "origin_port", "ip_firewall")
) | frozenset(CHOICES)

_DNS_FIELDS = frozenset(("type", "name"))
_DYNAMIC_EDGE_FIELDS = frozenset(("type", "connectivity"))
_STATIC_EDGE_FIELDS = frozenset(("type", "ips"))
_ORIGIN_DNS_FIELDS = frozenset(("name", "ttl", "type"))
_DEFAULT_EDGE_IPS = {"type": "dynamic", "connectivity": "all"}
_PLAIN_MAPPINGS = frozenset((dict, OrderedDict))  # what YAML and JSON renderers give

#: Apps are a few levels of mappings and lists; deeper is refused before anything walks it recursively.
MAX_APP_DEPTH = 16

_PROTOCOL = re.compile(r"(?P<transport>tcp|udp)/(?P<ports>.+)")
_APP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class NestingTooDeep(ValueError):
    """A value nested deeper than allowed; ``path`` is where, from the top."""

    def __init__(self, path, limit):
        super().__init__(f"nested more than {limit} levels deep at {':'.join(str(step) for step in path)}")
        self.path, self.limit = path, limit


class _TooDeep(Exception):
    """Raised inside :func:`_bounded_copy`; :func:`plain` then names the place."""


_SCALARS = frozenset((str, int, bool, float, type(None)))


def _bounded_copy(item, depth):
    """A plain copy of ``item`` with at most ``depth`` levels of containers, by recursion (bounded by ``depth``)."""
    kind = type(item)
    if kind in _SCALARS:
        return item
    if isinstance(item, dict) or (kind is not list and isinstance(item, Mapping)):  # Salt's YAML gives OrderedDict
        if not depth:
            raise _TooDeep
        depth -= 1
        return {key: child if type(child) in _SCALARS else _bounded_copy(child, depth) for key, child in item.items()}
    if kind is list or kind is tuple or isinstance(item, (list, tuple)):
        if not depth:
            raise _TooDeep
        depth -= 1
        return [child if type(child) in _SCALARS else _bounded_copy(child, depth) for child in item]
    return item


def plain(value, limit=None):
    """A plain copy of pillar data (Salt 3008 hands in masking dict/list types), made without unbounded recursion.

    With ``limit``, a value nested deeper raises :class:`NestingTooDeep` instead.
    """
    if limit is not None:
        try:
            return _bounded_copy(value, limit)
        except _TooDeep:
            pass  # the walk below finds the place, in its order, and raises
    holder = {}
    stack = [(value, holder, "value", 0, ())]
    while stack:
        item, parent, key, depth, path = stack.pop()
        if isinstance(item, Mapping):
            copy, children = {}, list(item.items())
        elif isinstance(item, (list, tuple)):
            copy, children = [None] * len(item), list(enumerate(item))
        else:
            parent[key] = item
            continue
        if limit is not None and depth >= limit:
            raise NestingTooDeep(path, limit)
        parent[key] = copy
        stack.extend((child, copy, child_key, depth + 1, path + (child_key,)) for child_key, child in children)
    return holder["value"]


def app_key(name):
    """The report's key for an app: its name, or a spelling that cannot collide for a name that is not a string."""
    return name if isinstance(name, str) else f"{name!r} ({type(name).__name__})"


@dataclass
class App:
    """A shape-checked app: ``config`` is its plain, normalised pillar block."""

    name: str
    account_id: str
    config: dict
    origins: list = field(default_factory=list)  # parsed Origin objects (origin_direct)
    hostname: str = None  # origin_dns name
    record_type: str = ""  # origin_dns type: "" (A and AAAA), A, AAAA or SRV
    edge_ips: list = field(default_factory=list)  # netaddr.IPAddress


def _require_str(app, key, value):
    if not isinstance(value, str) or not value:
        raise PillarShapeError(app, key, value, "must be a non-empty string")
    return value


def _choice(app, key, value, choices):
    if isinstance(value, bool) and value is False and "off" in choices:
        raise PillarShapeError(app, key, value, 'YAML reads an unquoted off as false; write "off" in quotes')
    if value not in choices:
        raise PillarShapeError(app, key, value, f"must be one of {', '.join(repr(c) for c in choices)}")
    return value


def _mapping(app, key, value):
    if type(value) is not dict and not isinstance(value, Mapping):
        raise PillarShapeError(app, key, value, "must be a mapping")
    return value


def _unknown_keys(app, key, value, known):
    if known.issuperset(value):  # the common case, without sorting
        return
    extra = sorted((k for k in value if k not in known), key=str)
    if extra:
        field_name = extra[0]
        message = f"unknown field (known: {', '.join(sorted(known))})"
        raise PillarShapeError(app, f"{key}.{field_name}", value[field_name], message)


_PROTOCOLS = {}  # protocol text -> (transport, ports), for the valid ones seen (a pillar repeats a few)
_PROTOCOLS_KEPT = 1024


def _protocol(app, value):
    if type(value) is str:
        known = _PROTOCOLS.get(value)
        if known is not None:
            return known
    text = _require_str(app, "protocol", value)
    match = _PROTOCOL.fullmatch(text)
    if not match:
        raise PillarShapeError(app, "protocol", value, "must look like tcp/22, tcp/1000-2000 or udp/53")
    try:
        ports = parse_port_range(match.group("ports"))
    except OriginSyntaxError as exc:
        raise PillarShapeError(app, "protocol", value, str(exc)) from None
    parsed = match.group("transport"), ports
    if type(value) is str and len(_PROTOCOLS) < _PROTOCOLS_KEPT:
        _PROTOCOLS[value] = parsed
    return parsed


def _ports_match(app, key, value, protocol_ports, origin_ports):
    protocol_span = protocol_ports[1] - protocol_ports[0]
    origin_span = origin_ports[1] - origin_ports[0]
    if protocol_span != origin_span:
        raise PillarShapeError(
            app,
            key,
            value,
            f"port range {origin_ports[0]}-{origin_ports[1]} does not match the protocol's "
            f"{protocol_ports[0]}-{protocol_ports[1]} (same number of ports needed)",
        )


def _dns(app, value):
    if type(value) in _PLAIN_MAPPINGS and _DNS_FIELDS.issuperset(value) and value.get("type") in DNS_TYPES:
        try:  # the common case, checked without the calls below
            return {"type": value["type"], "name": parse_hostname(value.get("name"))}
        except OriginSyntaxError:
            pass  # explained below
    dns = _mapping(app, "dns", value)
    _unknown_keys(app, "dns", dns, _DNS_FIELDS)
    _choice(app, "dns.type", dns.get("type"), DNS_TYPES)
    try:
        name = parse_hostname(dns.get("name"))
    except OriginSyntaxError as exc:
        raise PillarShapeError(app, "dns.name", dns.get("name"), str(exc)) from None
    return {"type": dns["type"], "name": name}


def _edge_ips(app, value):
    if value is _DEFAULT_EDGE_IPS:
        return {"type": "dynamic", "connectivity": "all"}, []
    if type(value) in _PLAIN_MAPPINGS and value.get("type") == "dynamic" and _DYNAMIC_EDGE_FIELDS.issuperset(value):
        connectivity = value.get("connectivity", "all")
        if connectivity in EDGE_CONNECTIVITY:  # the common case, checked without the calls below
            return {"type": "dynamic", "connectivity": connectivity}, []
    edge = _mapping(app, "edge_ips", value)
    kind = _choice(app, "edge_ips.type", edge.get("type"), ("static", "dynamic"))
    if kind == "dynamic":
        _unknown_keys(app, "edge_ips", edge, _DYNAMIC_EDGE_FIELDS)
        connectivity = _choice(app, "edge_ips.connectivity", edge.get("connectivity", "all"), EDGE_CONNECTIVITY)
        return {"type": "dynamic", "connectivity": connectivity}, []
    _unknown_keys(app, "edge_ips", edge, _STATIC_EDGE_FIELDS)
    ips = edge.get("ips")
    if not isinstance(ips, list) or not ips:
        raise PillarShapeError(app, "edge_ips.ips", ips, "static edge IPs need a non-empty list of addresses")
    addresses = []
    for position, text in enumerate(ips):
        try:
            address = parse_address(text)
        except OriginSyntaxError as exc:
            raise PillarShapeError(app, f"edge_ips.ips[{position}]", text, str(exc)) from None
        if address.version == 6 and address.is_ipv4_mapped():
            address = address.ipv4()  # one canonical form: ::ffff:192.0.2.1 is 192.0.2.1
        if address in addresses:
            raise PillarShapeError(app, f"edge_ips.ips[{position}]", text, "listed twice")
        addresses.append(address)
    return {"type": "static", "ips": [str(a) for a in addresses]}, addresses


def _origin_direct(app, value, transport, protocol_ports):
    if not isinstance(value, list) or not value:
        raise PillarShapeError(app, "origin_direct", value, "must be a non-empty list of URLs like tcp://192.0.2.1:22")
    origins = []
    ports_span = protocol_ports[1] - protocol_ports[0]
    for position, text in enumerate(value):
        try:
            origin = parse_origin_url(text)
        except OriginSyntaxError as exc:
            raise PillarShapeError(app, f"origin_direct[{position}]", text, str(exc)) from None
        if origin.scheme != transport:
            raise PillarShapeError(app, f"origin_direct[{position}]", text,
                                   f"scheme {origin.scheme} does not match protocol {transport}")
        if origin.ports[1] - origin.ports[0] != ports_span:
            _ports_match(app, f"origin_direct[{position}]", text, protocol_ports, origin.ports)
        origins.append(origin)
    return origins


def _origin_dns(app, value, port_value, protocol_ports):
    dns = _mapping(app, "origin_dns", value)
    _unknown_keys(app, "origin_dns", dns, _ORIGIN_DNS_FIELDS)
    record_type = _choice(app, "origin_dns.type", dns.get("type", ""), ORIGIN_DNS_TYPES)
    try:
        name = parse_hostname(dns.get("name"), service=record_type == "SRV")
    except OriginSyntaxError as exc:
        raise PillarShapeError(app, "origin_dns.name", dns.get("name"), str(exc)) from None
    normalised = {"name": name, "type": record_type}
    if "ttl" in dns:
        ttl = dns["ttl"]
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 < ttl <= 86400:
            raise PillarShapeError(app, "origin_dns.ttl", ttl, "must be a whole number of seconds from 1 to 86400")
        normalised["ttl"] = ttl
    if port_value is None:
        if normalised["type"] == "SRV":
            return name, normalised  # the SRV records carry the ports
        raise PillarShapeError(app, "origin_port", port_value, "origin_dns needs origin_port (22 or 1000-2000)")
    if isinstance(port_value, int) and not isinstance(port_value, bool) and port_value > 65535:
        raise PillarShapeError(
            app, "origin_port", port_value,
            "not a port from 1 to 65535; YAML 1.1 reads an unquoted 22:22 as the base-60 number 1342: "
            'write a range as "1000-2000", in quotes',
        )
    try:
        origin_ports = parse_port_range(port_value)
    except OriginSyntaxError as exc:
        raise PillarShapeError(app, "origin_port", port_value, str(exc)) from None
    _ports_match(app, "origin_port", port_value, protocol_ports, origin_ports)
    return name, normalised


class _Problems:
    """Collects an app's shape errors so that one run reports all of them."""

    def __init__(self):
        self.errors = []

    def run(self, check, *args):
        """``check(*args)``, or ``None`` after recording its error."""
        try:
            return check(*args)
        except PillarShapeError as exc:
            self.errors.append(exc)
            return None


def _authorised(app, account_id, accounts, from_default):
    if accounts is not None and account_id not in accounts:
        source = " (the default from pillar spectrum:account_id)" if from_default else ""
        raise PillarShapeError(
            app, "account_id", account_id,
            f"account{source} is not authorised on this minion; spectrum_acl:accounts in the minion config "
            f"allows {', '.join(sorted(accounts))}",
        )
    return account_id


def normalise_pillar_app(name, raw, default_account_id=None, accounts=None):
    """:func:`normalise_app` of an app as pillar holds it (Salt's types, any depth), with no copy first.

    A valid app is read in place: everything its ``App`` keeps is built afresh from checked
    values, so nothing of pillar's types, or deeper than a few levels, gets in. Anything else,
    whatever went wrong, is judged again on a :func:`plain` copy bounded by :data:`MAX_APP_DEPTH`,
    which explains it: a ``PillarShapeError`` (``PillarShapeErrors``), ``<over N levels>`` for
    an app nested too deeply.
    """
    try:
        return normalise_app(name, raw, default_account_id, accounts)
    except Exception:
        pass  # the careful path below gives the error
    try:
        copy = plain(raw, MAX_APP_DEPTH)
    except NestingTooDeep as exc:
        field_name = str(exc.path[0]) if exc.path else "(app)"
        raise PillarShapeError(app_key(name), field_name, f"<over {exc.limit} levels>",
                               "nested too deeply: an app is a few levels of mappings and lists") from None
    return normalise_app(name, copy, default_account_id, accounts)


def normalise_app(name, raw, default_account_id=None, accounts=None):
    """Check one app's shape and return an :class:`App`.

    ``accounts``, when given, is the set of account ids trusted configuration
    authorises; an app naming, or defaulting to, any other is refused.

    Raises ``PillarShapeErrors`` (a ``PillarShapeError`` for the first problem, with
    ``errors`` holding all of them) when anything is wrong. Checks that depend on a
    field which is itself wrong (port ranges on a bad protocol) are skipped.
    """
    if not isinstance(name, str):
        raise PillarShapeError(
            app_key(name), "name", name,
            f"app names must be strings, and YAML read this one as {type(name).__name__}: quote it ('{name}':)",
        )
    if not _APP_NAME.fullmatch(name):
        raise PillarShapeError(name, "name", name, "app names are letters, digits, '.', '_' and '-'")
    raw = _mapping(name, "(app)", raw)
    problems = _Problems()
    for key in () if KNOWN_FIELDS.issuperset(raw) else sorted((k for k in raw if k not in KNOWN_FIELDS), key=str):
        problems.errors.append(
            PillarShapeError(name, f"(app).{key}", raw[key], f"unknown field (known: {', '.join(sorted(KNOWN_FIELDS))})")
        )
    account_id = raw.get("account_id", default_account_id)
    if account_id is None:
        problems.errors.append(PillarShapeError(
            name, "account_id", None, "missing, and no default (spectrum:account_id or spectrum_acl:account_id)"
        ))
    elif type(account_id) is str and account_id and (accounts is None or account_id in accounts):
        pass  # the common case, checked without the calls below
    elif problems.run(_require_str, name, "account_id", account_id) is not None:
        problems.run(_authorised, name, account_id, accounts, "account_id" not in raw)
    protocol_value = raw.get("protocol")
    protocol = _PROTOCOLS.get(protocol_value) if type(protocol_value) is str else None
    if protocol is None:
        protocol = problems.run(_protocol, name, protocol_value)
    transport, protocol_ports = protocol or (None, None)
    config = {"account_id": account_id, "protocol": protocol_value, "dns": problems.run(_dns, name, raw.get("dns"))}
    edge = problems.run(_edge_ips, name, raw.get("edge_ips", _DEFAULT_EDGE_IPS))
    config["edge_ips"], edge_addresses = edge or (None, [])
    app = App(name, account_id, config, edge_ips=edge_addresses)
    has_direct, has_dns = "origin_direct" in raw, "origin_dns" in raw
    if has_direct == has_dns:
        problem = "both origin_direct and origin_dns are set" if has_direct else "neither origin_direct nor origin_dns is set"
        present = sorted(key for key in ("origin_direct", "origin_dns") if key in raw)
        problems.errors.append(
            PillarShapeError(name, "origin_direct/origin_dns", present, f"an app needs exactly one origin kind: {problem}")
        )
    elif protocol is not None and has_direct:
        if "origin_port" in raw:
            problems.errors.append(PillarShapeError(
                name, "origin_port", raw["origin_port"], "origin_port goes with origin_dns; origin_direct URLs carry their port"
            ))
        app.origins = problems.run(_origin_direct, name, raw["origin_direct"], transport, protocol_ports) or []
        config["origin_direct"] = [origin.text for origin in app.origins]
    elif protocol is not None:
        app.hostname, config["origin_dns"] = problems.run(
            _origin_dns, name, raw["origin_dns"], raw.get("origin_port"), protocol_ports
        ) or (None, None)
        if config["origin_dns"] is not None:
            app.record_type = config["origin_dns"]["type"]
        config["origin_port"] = raw.get("origin_port")
    for key, choices in CHOICES.items():
        value = raw.get(key, DEFAULTS[key])
        config[key] = value if value in choices else problems.run(_choice, name, key, value, choices)
    firewall = raw.get("ip_firewall", DEFAULTS["ip_firewall"])
    if not isinstance(firewall, bool):
        problems.errors.append(PillarShapeError(name, "ip_firewall", firewall, "must be true or false"))
    config["ip_firewall"] = firewall
    if config["traffic_type"] not in (None, "direct") and transport not in (None, "tcp"):
        problems.errors.append(
            PillarShapeError(name, "traffic_type", config["traffic_type"], "http and https traffic need a tcp protocol")
        )
    if problems.errors:
        raise PillarShapeErrors(problems.errors)
    return app
