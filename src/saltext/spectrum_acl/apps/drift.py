"""Drift audit: judge the apps of a DEPLOYED edge config again, with today's prefix data and DNS.

The state ``spectrum_acl.app_config`` writes the edge config only when every origin passed,
so every app in the deployed file was allowed when it was written. A delegation revoked
since, a binding added, or a name that now resolves elsewhere makes a deployed app invalid
without anyone running the state again: the audit finds that.

The deployed file is the canonical JSON the state writes without ``source``
(``{"apps": {name: config}}``, :func:`saltext.spectrum_acl.apps.render.canonical_json`).
Each app is judged twice when DNS was pinned (``spectrum_acl:pin_dns``):

- **as deployed**: the pinned addresses, which are what the edge connects to;
- **as it would be re-applied**: the ``origin_dns`` name, resolved now.

The result (and the payload of the ``spectrum_acl/drift`` event) is documented in the
docs, "Drift audits". Causes are the lint's finding kinds (``not_delegated``, ``edge_ip``,
``app_edge_ip``, ``reserved``, ``unresolvable``, ``denied``, ``shape``, ``edge_ip_space``,
``edge_ip_collision``) plus :data:`DNS_CHANGED` and :data:`INFRASTRUCTURE`.

Salt-free: the beacon and the execution module hand in a
:class:`~saltext.spectrum_acl.runtime.Runtime` (anything with ``guard()`` and ``settings``).
"""

import json
import logging
import os
import re
from collections.abc import Mapping

from saltext.spectrum_acl.apps.check import check_apps, pinned_addresses
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.errors import SpectrumAclError

log = logging.getLogger(__name__)

#: The event both the beacon and ``spectrum_acl.audit_drift`` fire (one reactor tag for both).
DRIFT_TAG = "spectrum_acl/drift"
#: The beacon's own events are ``salt/beacon/<minion>/<beacon name>/`` plus this.
BEACON_TAG_SUFFIX = "drift"
#: The deployed config, the prefix data, the Addressing API or the settings could not be used.
INFRASTRUCTURE = "infrastructure"
#: A pinned ``origin_dns`` name now resolves to other addresses, all still allowed.
DNS_CHANGED = "dns_changed"
#: Where the beacon remembers what it fired, in its ``__context__``.
MEMORY_KEY = "spectrum_acl.drift.fired"
#: A deployed config larger than this is refused (the state writes one line per app).
MAX_DEPLOYED_BYTES = 64 * 1024 * 1024
#: Seconds before the beacon fires the same drift again.
DEFAULT_REALERT_INTERVAL = 3600
#: The beacon's own keys, and the ones Salt's beacon machinery reads.
BEACON_KEYS = ("config_path", "realert_interval")
SALT_BEACON_KEYS = ("interval", "enabled", "disable_during_state_run", "run_once", "beacon_module", "_beacon_name")


_EDGE_IP_FIELD = re.compile(r"edge_ips\.ips\[(\d+)\]")


class DeployedConfigError(SpectrumAclError):
    """The deployed edge config is missing, unreadable or not what the state writes."""


def load_deployed(path):
    """The apps of the deployed edge config at ``path``: ``{name: config}``.

    Raises :class:`DeployedConfigError` naming the path and what is wrong (never the
    file's content).
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_DEPLOYED_BYTES + 1)
    except OSError as exc:
        raise DeployedConfigError(f"deployed edge config {path}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_DEPLOYED_BYTES:
        raise DeployedConfigError(f"deployed edge config {path}: larger than {MAX_DEPLOYED_BYTES} bytes")
    try:
        document = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DeployedConfigError(f"deployed edge config {path}: not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DeployedConfigError(
            f"deployed edge config {path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            "the audit reads the canonical JSON that spectrum_acl.app_config writes without source"
        ) from None
    except RecursionError:
        raise DeployedConfigError(f"deployed edge config {path}: nested too deeply") from None
    apps = document.get("apps") if isinstance(document, Mapping) else None
    if not isinstance(apps, Mapping):
        raise DeployedConfigError(f'deployed edge config {path}: field "apps" must be a mapping of app name to app')
    for name, config in apps.items():
        if not isinstance(config, Mapping):
            raise DeployedConfigError(f"deployed edge config {path}: app {name!r} must be a mapping (got {type(config).__name__})")
    return dict(apps)


def _item(app, field, origin, cause, message, allowed=False, decided_by=None, changed=None):
    """One drifted origin (or app field, or the whole audit for ``infrastructure``)."""
    return {"app": app, "field": field, "origin": origin, "cause": cause, "allowed": allowed,
            "message": message, "decided_by": decided_by, "changed": changed or {}}


def infrastructure(message):
    """The one drift item of an audit that could not judge: ``cause: infrastructure``."""
    return _item(None, None, None, INFRASTRUCTURE, message)


def _unjudged(verdict):
    """The Addressing API could not be asked (or answered badly): no flag of its own is set."""
    return bool(verdict) and "remote" in verdict.get("denied_by", ()) and not any(
        verdict.get(flag) for flag in ("is_managed", "is_reserved", "has_binding")
    )


def _split_pins(deployed):
    """``(apps with names, {app: pinned list})``: ``origin_dns.pinned`` taken out of plain copies."""
    named, pins = {}, {}
    for name, config in deployed.items():
        app = json.loads(json.dumps(config))  # a plain, deep copy
        origin_dns = app.get("origin_dns")
        if isinstance(origin_dns, dict) and "pinned" in origin_dns:
            pins[name] = origin_dns.pop("pinned")
        named[name] = app
    return named, pins


def _host(address):
    return f"[{address}]" if ":" in address else address


def _as_deployed(named, pins):
    """The apps as the edge runs them: each pinned app gets its pinned addresses as ``origin_direct``.

    The URL carries the protocol's own ports: a verdict is about addresses, and the port
    span then always matches.
    """
    apps = {}
    for name, app in named.items():
        pinned = pins.get(name)
        protocol = app.get("protocol")
        if pinned is None or not isinstance(pinned, list) or not isinstance(protocol, str) or "/" not in protocol:
            apps[name] = app
            continue
        transport, ports = protocol.split("/", 1)
        direct = {key: value for key, value in app.items() if key not in ("origin_dns", "origin_port")}
        addresses = [entry.get("address") if isinstance(entry, Mapping) else entry for entry in pinned]
        direct["origin_direct"] = [f"{transport}://{_host(str(address))}:{ports}" for address in addresses]
        apps[name] = direct
    return apps


def _resolved_now(guard, app):
    """What the app's ``origin_dns`` name resolves to now, in the pinned form (``[]`` when nothing)."""
    origin_dns = app.get("origin_dns") or {}
    resolution, _ = guard.resolve(origin_dns.get("name"), origin_dns.get("type", ""))
    return pinned_addresses(resolution) if resolution is not None else []


def _verdict_changed():
    # The state writes only when every origin passed: what is deployed was allowed.
    return {"verdict": {"was": "allowed", "now": "denied"}}


def audit(deployed, guard, accounts):
    """Judge the ``deployed`` apps (``{name: config}``) again; ``(drifted, checked)``.

    ``guard`` is an :class:`~saltext.spectrum_acl.core.guard.OriginGuard`: its prefix index
    (or Addressing API client) is used, with a fresh DNS cache, so every audit asks DNS
    anew. ``accounts`` is the set the minion config authorises. ``drifted`` is a list of
    items sorted by app, field and cause; ``checked`` the number of apps judged.

    Runtime complexity: one state run's check per audit, twice over when DNS is pinned.
    """
    fresh = OriginGuard(guard.prefix_index, resolver=guard.resolver, remote=guard.remote)
    named, pins = _split_pins(deployed)
    now_report, _ = check_apps(named, fresh, None, accounts=accounts, details=True)
    findings = now_report["findings"]
    if pins:
        deployed_report, _ = check_apps(_as_deployed(named, pins), fresh, None, accounts=accounts, details=True)
        findings = [
            _pinned_finding(finding, pins) for finding in deployed_report["findings"]
        ] + [finding for finding in findings if finding["app"] in pins and finding["field"] == "origin_dns.name"]
    drifted, unjudged, seen = [], {}, set()
    for finding in findings:
        app = named.get(finding["app"], {})
        origin = finding.get("origin")
        verdict = finding.get("verdict")
        edge_ip = _EDGE_IP_FIELD.fullmatch(finding["field"] or "")
        if edge_ip:
            ips = (app.get("edge_ips") or {}).get("ips") or []
            origin = ips[int(edge_ip.group(1))] if int(edge_ip.group(1)) < len(ips) else None
            if finding["kind"] == "edge_ip_space" and isinstance(origin, str):
                # placing a static edge IP asks the same judge: was it answered at all?
                verdict = fresh.check_origin(origin, app.get("account_id")).as_dict()
        if _unjudged(verdict):
            unjudged.setdefault((finding["app"], finding["field"]), verdict)
            continue
        key = (finding["app"], finding["field"], finding["kind"], finding["message"])
        if key in seen:
            continue
        seen.add(key)
        changed = _verdict_changed()
        if edge_ip:
            verdict = None  # the edge IP's own verdict decided nothing about an origin
        elif finding["field"] == "origin_dns.name":
            origin = (app.get("origin_dns") or {}).get("name")
            changed["addresses"] = {"was": pins.get(finding["app"]), "now": _resolved_now(fresh, app)}
        drifted.append(_item(
            finding["app"], finding["field"], origin, finding["kind"], finding["message"],
            decided_by=(verdict or {}).get("decided_by"), changed=changed,
        ))
    denied_apps = {item["app"] for item in drifted} | {app for app, _ in unjudged}
    for name, pinned in sorted(pins.items()):
        if name in denied_apps or name not in now_report["apps"]:
            continue
        resolved = _resolved_now(fresh, named[name])
        if resolved != pinned:
            hostname = named[name]["origin_dns"]["name"]
            drifted.append(_item(
                name, "origin_dns.pinned", hostname, DNS_CHANGED,
                f"{hostname} now resolves to other addresses than the pinned ones; all are still allowed "
                "(apply the state again to pin them)",
                allowed=True, changed={"addresses": {"was": pinned, "now": resolved}},
            ))
    if unjudged:
        apps = sorted({app for app, _ in unjudged})
        reasons = next(iter(unjudged.values())).get("reasons") or ["no reason given"]
        item = infrastructure(f"the Addressing API could not judge {len(unjudged)} fields of {', '.join(apps)}: {reasons[-1]}")
        item["changed"] = {"apps": apps}
        drifted.append(item)
    drifted.sort(key=lambda item: (item["app"] or "", item["field"] or "", item["cause"]))
    return drifted, len(now_report["apps"])


def _pinned_finding(finding, pins):
    """A finding about a pinned app's stand-in ``origin_direct[i]``, named as ``origin_dns.pinned[i]``."""
    field = finding["field"] or ""
    if finding["app"] not in pins or not field.startswith("origin_direct["):
        return finding
    position = int(field[len("origin_direct["):-1])
    entry = pins[finding["app"]][position]
    address = entry.get("address") if isinstance(entry, Mapping) else entry
    return dict(finding, field=f"origin_dns.pinned[{position}]", origin=address)


def report(config_path, drifted, checked, source):
    """The audit's result and the event payload: plain data, the same for the beacon and the module."""
    return {
        "source": source,
        "config_path": config_path,
        "checked": checked,
        "drifted": drifted,
        "causes": sorted({item["cause"] for item in drifted}),
    }


def run(config_path, runtime, source):
    """Audit the deployed config at ``config_path`` with ``runtime``'s guard and settings.

    Never raises for what an operator must fix: a missing, unreadable or corrupt deployed
    config, bad settings, prefix data that cannot be loaded or an Addressing API that does
    not answer become one ``infrastructure`` item.
    """
    config_path = os.path.abspath(config_path)
    try:
        deployed = load_deployed(config_path)
        accounts = runtime.settings.authorised_accounts()
        guard = runtime.guard()
        drifted, checked = audit(deployed, guard, accounts)
    except (SpectrumAclError, OSError) as exc:
        log.warning("spectrum_acl drift audit of %s could not judge: %s", config_path, exc)
        return report(config_path, [infrastructure(str(exc))], 0, source)
    return report(config_path, drifted, checked, source)


def fingerprint(result):
    """What makes one drift the same as another, for not firing it again: order, and the prose
    of a verdict, left out (an ``infrastructure`` item has only its message to tell it apart)."""
    keys = ("app", "field", "origin", "cause", "allowed", "changed")
    items = sorted(
        json.dumps({key: item[key] for key in keys + (("message",) if item["cause"] == INFRASTRUCTURE else ())}, sort_keys=True)
        for item in result["drifted"]
    )
    return json.dumps([result["config_path"], items])


def due(memory, result, now, realert_interval, name="spectrum_acl"):
    """Fire ``result``? Updates ``memory`` (a dict kept between runs, e.g. ``__context__``).

    Yes when something drifted and it differs from what beacon ``name`` fired last, or the
    same drift was fired ``realert_interval`` seconds ago or more (``0``: never again). No
    drift clears the memory, so a drift that comes back fires at once.
    """
    key = f"{MEMORY_KEY}.{name}"
    if not result["drifted"]:
        memory.pop(key, None)
        return False
    current = fingerprint(result)
    last = memory.get(key)
    if last is not None and last[0] == current and (realert_interval <= 0 or now - last[1] < realert_interval):
        return False
    memory[key] = (current, now)
    return True


def beacon_settings(config):
    """A beacon config (Salt's list of one-key mappings, or a mapping) as one plain dict."""
    if isinstance(config, Mapping):
        return dict(config)
    merged = {}
    for entry in config if isinstance(config, list) else ():
        if isinstance(entry, Mapping):
            merged.update(entry)
    return merged


def beacon_config_problem(config):
    """Why a ``spectrum_acl`` beacon config is wrong, naming the key; ``None`` when it is right."""
    if not isinstance(config, list) or not all(isinstance(entry, Mapping) for entry in config):
        return "the spectrum_acl beacon config must be a list of one-key mappings, like [{config_path: /etc/spectrum/apps.json}]"
    settings = beacon_settings(config)
    unknown = sorted(str(key) for key in settings if key not in BEACON_KEYS + SALT_BEACON_KEYS)
    if unknown:
        return f"spectrum_acl beacon: {unknown[0]} is not a setting (known: {', '.join(BEACON_KEYS + SALT_BEACON_KEYS[:-1])})"
    path = settings.get("config_path")
    if not isinstance(path, str) or not path.startswith("/"):
        return f"spectrum_acl beacon: config_path must be the absolute path of the deployed edge config (got {path!r})"
    realert = settings.get("realert_interval", DEFAULT_REALERT_INTERVAL)
    if isinstance(realert, bool) or not isinstance(realert, (int, float)) or realert < 0:
        return f"spectrum_acl beacon: realert_interval must be a number of seconds, 0 or more (got {realert!r})"
    return None


def trusted_beacon_settings(config, opts_beacons):
    """The beacon's settings from the MINION CONFIG, or ``(None, why)``.

    Salt merges pillar's ``beacons`` (and pillar's ``master:beacons``) over the minion
    config's before it calls a beacon, so ``config`` may come from pillar. The entry of the
    same name in ``opts_beacons`` (``__opts__["beacons"]``: the minion config, and
    ``beacons.add``) is the trusted one; a beacon found only in pillar, or whose
    ``config_path`` pillar changed, does not run.
    """
    given = beacon_settings(config)
    name = given.get("_beacon_name", "spectrum_acl")
    trusted = (opts_beacons or {}).get(name) if isinstance(opts_beacons, Mapping) else None
    if trusted is None:
        return None, f"beacon {name!r} is not in the minion config (pillar cannot configure the drift audit)"
    settings = beacon_settings(trusted)
    problem = beacon_config_problem(trusted if isinstance(trusted, list) else [settings])
    if problem:
        return None, problem
    for key in BEACON_KEYS:
        if key in given and given[key] != settings.get(key):
            return None, f"beacon {name!r}: {key} differs from the minion config's (pillar cannot configure the drift audit)"
    return dict(settings, _beacon_name=name), None


def default_config_path(opts_beacons):
    """The ``config_path`` of the ``spectrum_acl`` beacon in the minion config, or ``None``."""
    for name, config in (opts_beacons or {}).items() if isinstance(opts_beacons, Mapping) else ():
        if not isinstance(config, (list, Mapping)):
            continue
        settings = beacon_settings(config)
        if (settings.get("beacon_module") or name) == "spectrum_acl" and isinstance(settings.get("config_path"), str):
            return settings["config_path"]
    return None
