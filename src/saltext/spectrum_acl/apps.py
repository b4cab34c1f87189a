"""Spectrum apps from pillar: shape checks, normalisation, and the all-apps check.

Field names follow the provider's public Spectrum app object. Every shape
error is a :class:`PillarShapeError` naming the app, the field and the value.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import netaddr

from saltext.spectrum_acl import index
from saltext.spectrum_acl.addressing import parse_address, parse_hostname, parse_origin_url, parse_port_range
from saltext.spectrum_acl.errors import OriginSyntaxError, PillarShapeError, PillarShapeErrors
from saltext.spectrum_acl.resolver import RECORD_TYPES

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

#: Apps are a few levels of mappings and lists; deeper is refused before anything walks it recursively.
MAX_APP_DEPTH = 16

_PROTOCOL = re.compile(r"(?P<transport>tcp|udp)/(?P<ports>.+)")
_APP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class NestingTooDeep(ValueError):
    """A value nested deeper than allowed; ``path`` is where, from the top."""

    def __init__(self, path, limit):
        super().__init__(f"nested more than {limit} levels deep at {':'.join(str(step) for step in path)}")
        self.path, self.limit = path, limit


def plain(value, limit=None):
    """A plain copy of pillar data (Salt 3008 hands in masking dict/list types), made without recursion.

    With ``limit``, a value nested deeper raises :class:`NestingTooDeep` instead.
    """
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
    if not isinstance(value, Mapping):
        raise PillarShapeError(app, key, value, "must be a mapping")
    return value


def _unknown_keys(app, key, value, known):
    extra = sorted((k for k in value if k not in known), key=str)
    if extra:
        field_name = extra[0]
        message = f"unknown field (known: {', '.join(sorted(known))})"
        raise PillarShapeError(app, f"{key}.{field_name}", value[field_name], message)


def _protocol(app, value):
    text = _require_str(app, "protocol", value)
    match = _PROTOCOL.fullmatch(text)
    if not match:
        raise PillarShapeError(app, "protocol", value, "must look like tcp/22, tcp/1000-2000 or udp/53")
    try:
        ports = parse_port_range(match.group("ports"))
    except OriginSyntaxError as exc:
        raise PillarShapeError(app, "protocol", value, str(exc)) from None
    return match.group("transport"), ports


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
    dns = _mapping(app, "dns", value)
    _unknown_keys(app, "dns", dns, {"type", "name"})
    _choice(app, "dns.type", dns.get("type"), DNS_TYPES)
    try:
        name = parse_hostname(dns.get("name"))
    except OriginSyntaxError as exc:
        raise PillarShapeError(app, "dns.name", dns.get("name"), str(exc)) from None
    return {"type": dns["type"], "name": name}


def _edge_ips(app, value):
    edge = _mapping(app, "edge_ips", value)
    kind = _choice(app, "edge_ips.type", edge.get("type"), ("static", "dynamic"))
    if kind == "dynamic":
        _unknown_keys(app, "edge_ips", edge, {"type", "connectivity"})
        connectivity = _choice(app, "edge_ips.connectivity", edge.get("connectivity", "all"), EDGE_CONNECTIVITY)
        return {"type": "dynamic", "connectivity": connectivity}, []
    _unknown_keys(app, "edge_ips", edge, {"type", "ips"})
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
    for position, text in enumerate(value):
        key = f"origin_direct[{position}]"
        try:
            origin = parse_origin_url(text)
        except OriginSyntaxError as exc:
            raise PillarShapeError(app, key, text, str(exc)) from None
        if origin.scheme != transport:
            raise PillarShapeError(app, key, text, f"scheme {origin.scheme} does not match protocol {transport}")
        _ports_match(app, key, text, protocol_ports, origin.ports)
        origins.append(origin)
    return origins


def _origin_dns(app, value, port_value, protocol_ports):
    dns = _mapping(app, "origin_dns", value)
    _unknown_keys(app, "origin_dns", dns, {"name", "ttl", "type"})
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
    for key in sorted((k for k in raw if k not in KNOWN_FIELDS), key=str):
        problems.errors.append(
            PillarShapeError(name, f"(app).{key}", raw[key], f"unknown field (known: {', '.join(sorted(KNOWN_FIELDS))})")
        )
    account_id = raw.get("account_id", default_account_id)
    if account_id is None:
        problems.errors.append(PillarShapeError(
            name, "account_id", None, "missing, and no default (spectrum:account_id or spectrum_acl:account_id)"
        ))
    elif problems.run(_require_str, name, "account_id", account_id) is not None:
        problems.run(_authorised, name, account_id, accounts, "account_id" not in raw)
    protocol = problems.run(_protocol, name, raw.get("protocol"))
    transport, protocol_ports = protocol or (None, None)
    config = {"account_id": account_id, "protocol": raw.get("protocol"), "dns": problems.run(_dns, name, raw.get("dns"))}
    edge = problems.run(_edge_ips, name, raw.get("edge_ips", {"type": "dynamic", "connectivity": "all"}))
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
        config[key] = problems.run(_choice, name, key, raw.get(key, DEFAULTS[key]), choices)
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


def _edge_ip_index(apps):
    """Index the static edge IPs of ``apps`` as bindings; also return ``(app, field, message)`` collisions."""
    claimed = {}
    collisions = []
    entries = []
    for app in apps:
        for position, address in enumerate(app.edge_ips):
            if address in claimed:
                message = f"{address} is also a static edge IP of app {claimed[address]!r}"
                field_name = f"edge_ips.ips[{position}]"
                collisions.append((app.name, field_name, str(PillarShapeError(app.name, field_name, str(address), message))))
                continue
            claimed[address] = app.name
            detail = f"the static edge IP of app {app.name!r}"
            entries.append(index.Entry(index.BINDING, netaddr.IPNetwork(address), app.name, detail))
    return index.PrefixIndex(entries), collisions


def _networks_to_judge(guard, app):
    if app.hostname is None:
        return [origin.network for origin in app.origins]
    resolution, _ = guard.resolve(app.hostname, app.record_type)
    return [netaddr.IPNetwork(address) for address in (resolution.addresses if resolution else ())]


def _check_app(guard, app):
    if app.hostname is not None:
        return [guard.check_hostname(app.hostname, app.account_id, app.record_type)]
    return [guard.check_origin(origin, app.account_id) for origin in app.origins]


def pinned_addresses(resolution):
    """The judged addresses of a name, for the edge config: sorted, so the file is byte-stable.

    ``[{"address": ...}]``, and for SRV ``[{"target", "port", "address"}]``: the edge then
    connects only to what the guard judged, whatever DNS says later.
    """
    def order(address):
        parsed = netaddr.IPAddress(address)
        return parsed.version, int(parsed)

    if not resolution.targets:
        return [{"address": address} for address in sorted(set(resolution.addresses), key=order)]
    pinned = {
        (target.target, target.port, address)
        for target in resolution.targets
        for address in target.addresses
    }
    return [
        {"target": target, "port": port, "address": address}
        for target, port, address in sorted(pinned, key=lambda item: (item[0], item[1], order(item[2])))
    ]


def _edge_ip_problem(guard, app, address):
    """Why a static edge IP cannot be one of ``app``'s (reserved, or space its account does not hold), or ``None``."""
    verdict = guard.check_origin(str(address), app.account_id)
    if "remote" in verdict.denied_by and not (verdict.is_managed or verdict.is_reserved or verdict.has_binding):
        return "could not be checked, so it is refused (fail closed): " + "; ".join(verdict.denying_reasons)
    if verdict.is_reserved:
        return "is reserved space, not on the public Internet, so it cannot be an edge IP: " + "; ".join(verdict.reasons)
    if not verdict.is_managed:
        return f"is outside every managed prefix, so it cannot be an edge IP of account {app.account_id}"
    if not verdict.is_delegated:
        return f"is in managed space account {app.account_id} neither owns nor holds a delegation for"
    return None


def _static_edge_ip_errors(guard, apps):
    """``(app, field, message)`` for every static edge IP outside the space its app's account holds."""
    errors = []
    for app in apps:
        for position, address in enumerate(app.edge_ips):
            problem = _edge_ip_problem(guard, app, address)
            if problem:
                field_name = f"edge_ips.ips[{position}]"
                errors.append((app.name, field_name, str(PillarShapeError(app.name, field_name, str(address), problem))))
    return errors


def check_apps(raw_apps, guard, default_account_id=None, only=None, accounts=None, pin_dns=False):
    """Check the apps of ``raw_apps`` (the ``spectrum:apps`` pillar mapping).

    Static edge IPs of all apps are bindings for every origin, so app A pointing
    at app B's edge IP is denied; each must lie in space its app's account holds.
    ``only`` limits the report to one app name. ``accounts`` is the set of
    authorised account ids (``None``: any). With ``pin_dns``, each ``origin_dns``
    app that passes gets the addresses it was judged on as ``origin_dns.pinned``.
    Returns ``(report, valid_apps)``: a plain dict report (docs, "Report format")
    and the ``App`` objects that passed, by name. Each app is copied plainly from
    ``raw_apps`` (which may hold Salt's masking types); one nested deeper than
    :data:`MAX_APP_DEPTH` is a shape error.
    """
    report = {"allowed": False, "apps": {}, "errors": [], "denials": []}
    if not isinstance(raw_apps, Mapping):
        report["errors"].append(f"spectrum:apps must be a mapping of app name to app (got {type(raw_apps).__name__})")
        return report, {}
    if accounts is not None and default_account_id is not None and default_account_id not in accounts:
        report["errors"].append(
            f"pillar spectrum:account_id: account {default_account_id!r} is not authorised on this minion "
            f"(spectrum_acl:accounts allows {', '.join(sorted(accounts))})"
        )
    pillar_errors = list(report["errors"])
    valid = {}
    for name in sorted(raw_apps, key=lambda n: (str(n), type(n).__name__)):
        key = app_key(name)
        entry = report["apps"][key] = {
            "allowed": False, "account_id": None, "errors": [], "error_fields": [], "error_kinds": [], "origins": []
        }
        try:
            try:
                raw = plain(raw_apps[name], MAX_APP_DEPTH)
            except NestingTooDeep as exc:
                field_name = str(exc.path[0]) if exc.path else "(app)"
                raise PillarShapeError(key, field_name, f"<over {exc.limit} levels>",
                                       "nested too deeply: an app is a few levels of mappings and lists") from None
            app = valid[key] = normalise_app(name, raw, default_account_id, accounts)
            entry["account_id"] = app.account_id
        except PillarShapeError as exc:
            for error in getattr(exc, "errors", [exc]):
                entry["errors"].append(str(error))
                entry["error_fields"].append(error.field if isinstance(error.field, str) else None)
                entry["error_kinds"].append("shape")
    bindings, collisions = _edge_ip_index(valid.values())
    app_guard = guard.with_app_bindings(bindings)
    to_check = [app for name, app in valid.items() if only is None or name == only]
    # one prefetch for the run: every origin, and every static edge IP to place
    app_guard.prefetch(
        [(app.account_id, network) for app in to_check for network in _networks_to_judge(app_guard, app)]
        + [(app.account_id, netaddr.IPNetwork(address)) for app in to_check for address in app.edge_ips]
    )
    for kind, errors in (("edge_ip_collision", collisions), ("edge_ip_space", _static_edge_ip_errors(guard, to_check))):
        for name, field_name, message in errors:
            report["apps"][name]["errors"].append(message)
            report["apps"][name]["error_fields"].append(field_name)
            report["apps"][name]["error_kinds"].append(kind)
    if only is not None:
        report["apps"] = {only: report["apps"][only]} if only in report["apps"] else {}
    for name, entry in report["apps"].items():
        if name in valid:
            verdicts = _check_app(app_guard, valid[name])
            entry["origins"] = [verdict.as_dict() for verdict in verdicts]
            entry["allowed"] = not entry["errors"] and all(verdict.allowed for verdict in verdicts)
            report["denials"].extend(f"{name}: {verdict.summary()}" for verdict in verdicts if not verdict.allowed)
            if pin_dns and entry["allowed"] and valid[name].hostname is not None:
                app = valid[name]
                resolution, _ = app_guard.resolve(app.hostname, app.record_type)
                app.config["origin_dns"]["pinned"] = pinned_addresses(resolution)
        report["errors"].extend(entry["errors"])
    report["allowed"] = (
        not pillar_errors and (only is None or bool(report["apps"])) and all(e["allowed"] for e in report["apps"].values())
    )
    return report, {name: valid[name] for name, entry in report["apps"].items() if entry["allowed"]}
