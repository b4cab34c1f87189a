"""Check the apps of many minion ids without judging the same app twice.

The minions of a fleet share most of their apps. :func:`check_apps`
(:mod:`saltext.spectrum_acl.apps.check`) reports a pillar as its own part (the
default account's errors) followed by one part per app, in name order: the
app's entry, its denials and its findings. An app's part depends only on

- the app as written (compared exactly: by its pickle, so ``1``, ``1.0`` and
  ``true`` differ),
- the default account (pillar ``spectrum:account_id`` or ``--account-id``) and
  the authorised accounts, which are the same for the whole run,
- the static edge IPs that the pillar's valid apps claim, in name order: every
  origin is judged against them, and a second claim is a collision.

So :class:`AppReuse` keeps each part under ``(default account, claims, app)``
and builds a minion's report from parts already known. Apps not seen yet are
checked by ``check_apps`` itself (through the same
:class:`~saltext.spectrum_acl.runtime.Runtime` call as ``salt-call``), together
with every app that claims an edge IP, so that they meet the same bindings and
collisions as in the whole pillar. Reports built this way equal what
``check_apps`` returns for the whole pillar (tests/lint/test_reuse.py checks it
on pillars with loops, collisions and bad apps); when a report cannot be split
into parts, the whole pillar is checked instead.
"""

import pickle
from collections.abc import Mapping

from saltext.spectrum_acl.apps.model import app_key, normalise_pillar_app
from saltext.spectrum_acl.errors import PillarShapeError


class _Part:
    __slots__ = ("entry", "denials", "findings")

    def __init__(self, entry, denials, findings):
        self.entry, self.denials, self.findings = entry, denials, findings


def _ordered_names(raw_apps):
    """App names in the order ``check_apps`` reports them."""
    return sorted(raw_apps, key=lambda name: (str(name), type(name).__name__))


def split_report(report):
    """``(pillar errors, pillar findings, {app key: part})`` of a ``check_apps`` report, or ``None``."""
    apps = report.get("apps")
    if not isinstance(apps, dict):
        return None
    app_errors = sum(len(entry["errors"]) for entry in apps.values())
    pillar_errors = report["errors"][:len(report["errors"]) - app_errors]
    findings = report["findings"]
    position = 0
    while position < len(findings) and findings[position]["app"] is None:
        position += 1
    pillar_findings = findings[:position]
    parts, denials_at = {}, 0
    for key, entry in apps.items():
        end = position
        while end < len(findings) and findings[end]["app"] == key:
            end += 1
        denied = sum(1 for origin in entry["origins"] if not origin["allowed"])
        parts[key] = _Part(entry, report["denials"][denials_at:denials_at + denied], findings[position:end])
        position, denials_at = end, denials_at + denied
    if position != len(findings) or denials_at != len(report["denials"]):
        return None  # not the layout this module knows: check whole pillars
    return pillar_errors, pillar_findings, parts


def join_report(pillar_errors, pillar_findings, parts, warnings):
    """The report ``check_apps`` (and the Runtime) would return for these parts, in order."""
    report = {"allowed": False, "apps": {}, "errors": list(pillar_errors), "denials": [],
              "findings": list(pillar_findings)}
    for key, part in parts:
        report["apps"][key] = part.entry
        report["errors"].extend(part.entry["errors"])
        report["denials"].extend(part.denials)
        report["findings"].extend(part.findings)
    report["allowed"] = not pillar_errors and all(part.entry["allowed"] for _, part in parts)
    report["warnings"] = warnings
    return report


def _cannot_claim(raw):
    """True when the app surely claims no static edge IP (dynamic, or no ``edge_ips``)."""
    if not isinstance(raw, Mapping):
        return True
    edge = raw.get("edge_ips", None)
    return edge is None and "edge_ips" not in raw or isinstance(edge, Mapping) and edge.get("type") == "dynamic"


class AppReuse:
    """Reports of many minions' pillars, each app judged once per context (see the module)."""

    def __init__(self):
        self._parts = {}  # (default account, claims, app fingerprint) -> _Part
        self._pillar_parts = {}  # default account -> (pillar errors, pillar findings)
        self._claims = {}  # (default account, app fingerprint) -> static edge IPs the app claims
        self._prints = {}  # id(app as written) -> (it, its name, its fingerprint)
        self.enabled = True
        self.checked = self.reused = 0

    def report(self, runtime, raw_apps, default_account_id, account_id):
        """What ``runtime.check_apps(account_id=...)`` returns for ``raw_apps``, from known parts where it can."""
        if not self.enabled or not isinstance(raw_apps, Mapping):
            return runtime.check_apps(account_id=account_id)[0]
        names = _ordered_names(raw_apps)
        keys = [app_key(name) for name in names]
        try:
            prints = [self._fingerprint(name, raw_apps[name]) for name in names]
        except Exception:  # anything that cannot be pickled is checked whole
            return runtime.check_apps(account_id=account_id)[0]
        if len(set(keys)) != len(keys):
            return runtime.check_apps(account_id=account_id)[0]
        accounts = runtime.settings.authorised_accounts()
        claimed, claimers = {}, []
        for name, key, fingerprint in zip(names, keys, prints):
            claims = self._claims_of(name, raw_apps[name], fingerprint, default_account_id, accounts)
            if claims:
                claimers.append(name)
            for address in claims:
                claimed.setdefault(address, key)
        context = (default_account_id, tuple(claimed.items()))
        missing = [name for name, fingerprint in zip(names, prints) if (context, fingerprint) not in self._parts]
        if missing or default_account_id not in self._pillar_parts:
            wanted = set(missing) | set(claimers)
            whole = len(wanted) == len(names)
            subset = raw_apps if whole else {name: raw_apps[name] for name in names if name in wanted}
            checked = runtime.check_apps(apps=subset, account_id=account_id)[0]
            split = split_report(checked)
            if split is None:
                self.enabled = False
                return checked if whole else runtime.check_apps(account_id=account_id)[0]
            pillar_errors, pillar_findings, parts = split
            self._pillar_parts[default_account_id] = (pillar_errors, pillar_findings)
            for name, fingerprint in zip(names, prints):
                if name in wanted:
                    self._parts[(context, fingerprint)] = parts[app_key(name)]
            self.checked += len(wanted)
            self.reused += len(names) - len(wanted)
            if whole:
                return checked
        else:
            self.reused += len(names)
        pillar_errors, pillar_findings = self._pillar_parts[default_account_id]
        notice = runtime.ignored_pillar_settings()
        parts = [(key, self._parts[(context, fingerprint)]) for key, fingerprint in zip(keys, prints)]
        return join_report(pillar_errors, pillar_findings, parts, [notice] if notice else [])

    def _fingerprint(self, name, raw):
        """The app exactly as written; the very same object (pillar shared by minion ids) is not pickled again."""
        known = self._prints.get(id(raw))
        if known is not None and known[0] is raw and known[1] == (type(name), name):
            return known[2]
        fingerprint = (type(name).__name__, str(name), pickle.dumps(raw, protocol=5))
        if isinstance(raw, Mapping):  # scalars may be shared by unrelated apps; their pickle is cheap anyway
            self._prints[id(raw)] = (raw, (type(name), name), fingerprint)
        return fingerprint

    def _claims_of(self, name, raw, fingerprint, default_account_id, accounts):
        """The static edge IPs an app claims: those of a valid app (``check_apps`` indexes only those)."""
        if _cannot_claim(raw):
            return ()
        known = self._claims.get((default_account_id, fingerprint))
        if known is None:
            try:
                app = normalise_pillar_app(name, raw, default_account_id, accounts)
                known = tuple(str(address) for address in app.edge_ips)
            except PillarShapeError:
                known = ()
            self._claims[(default_account_id, fingerprint)] = known
        return known
