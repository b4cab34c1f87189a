"""Every app of a pillar at once: shape, accounts, static edge IPs and every origin.

Static edge IPs of all apps are bindings for every origin, so app A pointing at
app B's edge IP is denied before either exists anywhere else.
"""

from collections.abc import Mapping

import netaddr

from saltext.spectrum_acl.apps.model import app_key, normalise_pillar_app
from saltext.spectrum_acl.core import index
from saltext.spectrum_acl.errors import PillarShapeError


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
        return [origin.span for origin in app.origins]
    resolution, _ = guard.resolve(app.hostname, app.record_type)
    return [netaddr.IPNetwork(address) for address in (resolution.addresses if resolution else ())]


def _check_app(guard, app):
    """The app's verdicts. Reasons are written when read: a state run reads them only for denials."""
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


def _finding(app, field, kind, message, cause=None, origin=None, verdict=None):
    """One problem a person acts on: which app and field, what kind, why (structured; ``message`` for people)."""
    return {"app": app, "field": field, "kind": kind, "cause": cause, "origin": origin, "message": message,
            "verdict": verdict}


def _origin_field(app, position):
    return "origin_dns.name" if app.hostname is not None else f"origin_direct[{position}]"


def check_apps(raw_apps, guard, default_account_id=None, only=None, accounts=None, pin_dns=False, details=True):
    """Check the apps of ``raw_apps`` (the ``spectrum:apps`` pillar mapping).

    Static edge IPs of all apps are bindings for every origin, so app A pointing
    at app B's edge IP is denied; each must lie in space its app's account holds.
    ``only`` limits the report to one app name. ``accounts`` is the set of
    authorised account ids (``None``: any). With ``pin_dns``, each ``origin_dns``
    app that passes gets the addresses it was judged on as ``origin_dns.pinned``.
    Returns ``(report, valid_apps)``: a plain dict report (docs, "Report format")
    and the ``App`` objects that passed, by name. Each app is read into fresh plain
    values (``raw_apps`` may hold Salt's masking types); one nested deeper than
    :data:`~saltext.spectrum_acl.apps.model.MAX_APP_DEPTH` is a shape error. With
    ``details`` false (a state run), an allowed origin's entry is only ``origin``,
    ``account_id`` and ``allowed``: reasons and the deciding prefix are written for denials
    and for what is shown, not for every origin.
    """
    report = {"allowed": False, "apps": {}, "errors": [], "denials": [], "findings": []}
    if not isinstance(raw_apps, Mapping):
        message = f"spectrum:apps must be a mapping of app name to app (got {type(raw_apps).__name__})"
        report["errors"].append(message)
        report["findings"].append(_finding(None, "spectrum:apps", "shape", message))
        return report, {}
    if accounts is not None and default_account_id is not None and default_account_id not in accounts:
        message = (
            f"pillar spectrum:account_id: account {default_account_id!r} is not authorised on this minion "
            f"(spectrum_acl:accounts allows {', '.join(sorted(accounts))})"
        )
        report["errors"].append(message)
        report["findings"].append(_finding(None, "spectrum:account_id", "shape", message))
    pillar_errors = list(report["errors"])
    valid = {}
    entries = report["apps"]
    names = list(raw_apps)
    # by name, then by type name (a key YAML read as a number): for string names alone, plain sorted
    names.sort(key=None if all(type(name) is str for name in names) else lambda n: (str(n), type(n).__name__))
    for name in names:
        key = name if type(name) is str else app_key(name)
        entry = entries[key] = {
            "allowed": False, "account_id": None, "errors": [], "error_fields": [], "error_kinds": [], "origins": []
        }
        try:
            app = valid[key] = normalise_pillar_app(name, raw_apps[name], default_account_id, accounts)
            entry["account_id"] = app.account_id
        except PillarShapeError as exc:
            for error in getattr(exc, "errors", [exc]):
                entry["errors"].append(str(error))
                entry["error_fields"].append(error.field if isinstance(error.field, str) else None)
                entry["error_kinds"].append("shape")
    bindings, collisions = _edge_ip_index(valid.values())
    app_guard = guard.with_app_bindings(bindings)
    to_check = [app for name, app in valid.items() if only is None or name == only]
    if app_guard.remote is not None:  # one prefetch for the run: every origin, and every static edge IP to place
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
        app = valid.get(name)
        if app is not None:
            verdicts = _check_app(app_guard, app)
            shown = [origin.text for origin in app.origins] if app.hostname is None else [f"{app.hostname} (origin_dns)"]
            entry["origins"] = [
                {"origin": text, "account_id": app.account_id, "allowed": True} if verdict.allowed and not details
                else verdict.as_dict()
                for verdict, text in zip(verdicts, shown)
            ]
            denied = [position for position, verdict in enumerate(verdicts) if not verdict.allowed]
            entry["allowed"] = not entry["errors"] and not denied
            if denied:
                report["denials"].extend(f"{name}: {verdicts[position].summary()}" for position in denied)
                for position in denied:
                    verdict = verdicts[position]
                    report["findings"].append(_finding(
                        name, _origin_field(app, position), verdict.kind, verdict.summary(),
                        cause=verdict.cause.value, origin=verdict.origin, verdict=entry["origins"][position],
                    ))
            if pin_dns and entry["allowed"] and app.hostname is not None:
                resolution, _ = app_guard.resolve(app.hostname, app.record_type)
                app.config["origin_dns"]["pinned"] = pinned_addresses(resolution)
        if entry["errors"]:
            report["errors"].extend(entry["errors"])
            prefix = f"app {name!r}: "  # the finding names its app: its message need not
            report["findings"].extend(
                _finding(name, field_name, kind, message[len(prefix):] if message.startswith(prefix) else message)
                for message, field_name, kind in zip(entry["errors"], entry["error_fields"], entry["error_kinds"])
            )
    report["allowed"] = (
        not pillar_errors and (only is None or bool(report["apps"])) and all(e["allowed"] for e in report["apps"].values())
    )
    return report, {name: valid[name] for name, entry in report["apps"].items() if entry["allowed"]}
