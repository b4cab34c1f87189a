"""Turn ``check_apps`` reports of compiled pillars into lint findings and checks.

The verdicts are the engine's own (:func:`saltext.spectrum_acl.apps.model.check_apps`,
called through the same :class:`~saltext.spectrum_acl.runtime.Runtime` as
``salt-call spectrum_acl.check_apps``); this module only classifies them,
finds where they come from and merges what several minions share.

A **finding** is one problem a reviewer acts on (``severity`` ``error`` fails
the lint, ``warning`` does not). A **check** is one test case for JUnit: per
app one ``definition`` check (shape, edge IP collisions, duplicate definitions)
and one check per judged origin.
"""


import hashlib
import json
import re

from saltext.spectrum_acl.apps.model import app_key
from saltext.spectrum_acl.lint.compile import display_path
from saltext.spectrum_acl.lint.locate import Locator, field_steps
from saltext.spectrum_acl.settings import ignored_settings_notice

#: Every finding kind, in the order reports list them. See the README's lint section.
KINDS = {
    "render": "a pillar file the change under check touched does not render (with --changed-files or --changed)",
    "shape": "the app's shape is wrong, or an origin is not written in a form strict parsing accepts",
    "edge_ip_collision": "one static edge IP is claimed by two apps",
    "edge_ip_space": "a static edge IP is in reserved space, or in space the app's account neither owns nor holds",
    "duplicate_app": "the same app is defined in two SLS files; pillar merge lets one override the other",
    "app_edge_ip": "an origin is the static edge IP of an app in this pillar (the proxy would loop; 'cycle' lists the loop)",
    "edge_ip": "an origin is a Spectrum edge IP (a binding in the prefix data or the Addressing API)",
    "not_delegated": "an origin is in managed space the app's account neither owns nor holds a delegation for",
    "reserved": "an origin is in reserved space (IANA special-purpose, multicast, non-global IPv6)",
    "unresolvable": "an origin_dns name does not resolve, so it cannot be judged (fails closed)",
    "denied": "an origin is denied for another reason (e.g. the Addressing API refused or failed)",
    "pillar_settings": "pillar sets the guard's own spectrum_acl settings, which only the minion config may set (ignored)",
    "no_apps": "a linted minion's pillar has no apps key (warning)",
    "not_linted": "an SLS file that mentions the apps key is in no linted minion's pillar (warning)",
}
#: Kinds that are warnings: they never fail the lint.
WARNING_KINDS = frozenset(("no_apps", "not_linted"))

_ABSENT = object()
_POSITION = re.compile(r"\[\d+\]")
#: An unquoted YAML 1.1 base-60 number: ``22:22`` is read as 1342, ``1:00:00`` as 3600.
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+")
#: Fields a person writes as a number, where a base-60 reading silently changes the value.
_NUMBER_FIELDS = ("origin_port", "origin_dns.ttl")


def _strip_app_prefix(app, message):
    for prefix in (f"app {app!r}: ",):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


class Collector:
    """Findings and checks over all linted minions, merged when minions share them."""

    def __init__(self, key_parts, lines_for_passing=True):
        self.key_parts = key_parts
        self.lines_for_passing = lines_for_passing
        self.sources = {}
        self._findings = {}
        self._checks = {}
        self._recording = None  # the keys an app's findings and checks use, while it is added
        self._memo = {}  # (app, id(entry)) -> (entry, where it is defined, keys): the same app on another minion
        self._own = {}  # id(apps mapping of an SLS) -> (it, {app name: its block})

    # -- adding ---------------------------------------------------------------

    def _finding(self, minion_id, severity, kind, message, app=None, field=None, origin=None,
                 file=None, line=None, reasons=None, account_id=None, cycle=None, column=None):
        key = (severity, kind, app, field, origin, message, file, line)
        finding = self._findings.get(key)
        if finding is None:
            if column is None and file and line:
                column = self._column(file, line, app, field, origin)
            finding = self._findings[key] = {
                "severity": severity,
                "kind": kind,
                "app": app,
                "field": field,
                "origin": origin,
                "account_id": account_id,
                "file": display_path(file) if file else None,
                "line": line,
                "column": column,
                "message": message,
                "reasons": list(reasons or []),
                "cycle": cycle,
                "minions": [],
            }
        for minion in [minion_id] if isinstance(minion_id, str) else minion_id:
            if minion not in finding["minions"]:
                finding["minions"].append(minion)
        if self._recording is not None:
            self._recording.append((self._findings, key))

    def _check(self, minion_id, app, name, file, line, failure=None, kind=None, where=None):
        key = (app, name, file)
        check = self._checks.get(key)
        if check is None:
            check = self._checks[key] = {
                "app": app, "name": name, "file": display_path(file) if file else None, "line": line,
                "failures": [], "minions": [],
            }
        if minion_id not in check["minions"]:
            check["minions"].append(minion_id)
        if failure is not None and (kind, failure, where) not in check["failures"]:
            check["failures"].append((kind, failure, where))
        if self._recording is not None:
            self._recording.append((self._checks, key))

    def _column(self, path, line, app, field, origin):
        """1-based column of what a finding is about on its line: the origin, the field's key, the app."""
        lines = Locator(self.key_parts, self.sources).source(path).lines
        if not 0 < line <= len(lines):
            return None
        text = lines[line - 1]
        keys = [step for step in field_steps(field) if isinstance(step, str)]
        needles = []
        if origin:
            needles.append(origin[:-len(" (origin_dns)")] if origin.endswith(" (origin_dns)") else origin)
        if keys:
            needles += [f"{keys[-1]}:", keys[-1]]
        if app:
            needles.append(f"{app}:")
        for needle in needles:
            found = text.find(needle)
            if found >= 0:
                return found + 1
        return len(text) - len(text.lstrip()) + 1

    def render(self, minion_id, error):
        """A ``render`` error at the file (line, column) Salt names: a file the change under check touched."""
        self._finding(minion_id, "error", "render", error.detail, file=error.file, line=error.line, column=error.column)

    def _replay(self, minion_id, keys):
        """Add ``minion_id`` to findings and checks another minion's identical app already made."""
        for table, key in keys:
            minions = table[key]["minions"]
            if minion_id not in minions:
                minions.append(minion_id)

    def _defined_at(self, records, written, all_records):
        """What decides where an app's findings point: its SLS files and what each defines for it."""
        if records:
            return tuple((record.path, self.own_app(record.data, written)) for record in records)
        return ("by name", tuple(record.path for record in all_records))

    def own_app(self, data, app):
        """What the SLS ``data`` itself defines as ``app`` under the pillar key, or ``None``."""
        node = data
        for part in self.key_parts:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return None
        known = self._own.get(id(node))  # by the apps mapping, which minion ids rendering the same text share
        if known is None or known[0] is not node:
            apps = {}
            for name, value in node.items():
                apps.setdefault(str(name), value)  # the first spelling, as a scan would find it
            known = self._own[id(node)] = (node, apps)
        return known[1].get(app)

    def _key_location(self, locator, records):
        """File and line of the last SLS that sets the pillar key itself (e.g. ``apps: [...]``)."""
        for record in reversed(records):
            node = record.data
            for part in self.key_parts:
                node = node.get(part, _ABSENT) if isinstance(node, dict) else _ABSENT
            if node is not _ABSENT and record.path:
                return record.path, locator.source(record.path).line_by_name(self.key_parts[-1])
        return None, None

    def pillar_settings(self, compiled, key):
        """An error at the SLS (and line) that sets ``key`` (``spectrum_acl`` or ``master:spectrum_acl``)."""
        path = line = None
        parts = key.split(":")
        for record in reversed(compiled.records):
            node = record.data
            for part in parts:
                node = node.get(part, _ABSENT) if isinstance(node, dict) else _ABSENT
            if node is not _ABSENT and record.path:
                path = record.path
                line = Locator(self.key_parts, self.sources).source(path).line_by_name(parts[-1])
                break
        self._finding(compiled.minion_id, "error", "pillar_settings", ignored_settings_notice([key]),
                      field=key, file=path, line=line)

    def warn(self, minion_id, kind, message, file=None):
        self._finding(minion_id, "warning", kind, message, file=file)

    def add_minion(self, compiled, raw_apps, report, default_account_id):
        """Add the findings and checks of one minion's ``check_apps`` report."""
        minion_id = compiled.minion_id
        locator = Locator(self.key_parts, self.sources)
        definitions = locator.definitions(compiled.records)
        pillar_key = ":".join(self.key_parts)

        denied = {}  # (app, origin field) -> the engine's finding for a denied origin
        for found in report.get("findings", ()):
            if found["app"] is None:  # about the pillar as a whole, not one app
                file, line = self._key_location(locator, compiled.records)
                self._finding(minion_id, "error", found["kind"], found["message"], field=found["field"] or pillar_key,
                              file=file, line=line)
                self._check(minion_id, None, pillar_key, file, line, found["message"], found["kind"], _location(file, line))
            elif found["origin"] is not None:
                denied[(found["app"], found["field"])] = found

        originals = {app_key(name): name for name in raw_apps} if isinstance(raw_apps, dict) else {}
        edges = {}
        pending = []
        added = {}  # app -> the keys of its findings and checks, kept for the same app on other minions
        for app, entry in report["apps"].items():
            raw = raw_apps.get(originals.get(app, app)) if originals else None
            written = str(originals.get(app, app))  # how the name is spelt in the source
            defined_at = self._defined_at(definitions.get(written), written, compiled.records)
            memo = self._memo.get((app, id(entry)))
            if memo is not None and memo[0] is entry and _same(memo[1], defined_at):
                self._replay(minion_id, memo[2])
                continue
            keys = self._recording = []
            added[app] = (entry, defined_at, keys)
            where = _Where(locator, written, definitions.get(written), compiled.records, self)
            definition_failures = []
            for field, text, line in _base60_numbers(where, raw):
                message = (
                    f"field {field!r}: YAML 1.1 reads the unquoted {text} as the base-60 number {_nested(raw, field)}; "
                    'write a port range as "1000-2000" and a number in plain digits'
                )
                self._finding(minion_id, "error", "shape", message, app=app, field=field, file=where.path_of(field),
                              line=line)
                definition_failures.append(("shape", message, where.path_of(field), line))
            fields, kinds = entry.get("error_fields") or [], entry.get("error_kinds") or []
            for message, field, kind in zip(entry["errors"], fields + [None] * len(entry["errors"]),
                                            kinds + ["shape"] * len(entry["errors"])):
                file, line = where.of(field)
                self._finding(minion_id, "error", kind, _strip_app_prefix(app, message), app=app, field=field,
                              file=file, line=line, account_id=entry.get("account_id"))
                definition_failures.append((kind, message, file, line))
            records = definitions.get(written) or []
            if len(records) > 1:
                files = [display_path(r.path) or r.sls for r in records]
                for record in records:
                    others = ", ".join(f for f in files if f != (display_path(record.path) or record.sls))
                    line = locator.source(record.path).line(app) if record.path else None
                    message = (
                        f"app {app!r} is also defined in {others}; Salt merges the definitions field by field "
                        f"in this order: {', '.join(files)} (the last one wins on every field both set), "
                        "so one silently overrides the other: define each app in one SLS file"
                    )
                    self._finding(minion_id, "error", "duplicate_app", message, app=app, file=record.path, line=line)
                    definition_failures.append(("duplicate_app", message, record.path, line))
            file, line = where.of(None, self.lines_for_passing or bool(definition_failures))
            if definition_failures:
                for kind, message, fail_file, fail_line in definition_failures:
                    self._check(minion_id, app, f"{app} definition", file, line, message, kind,
                                _location(fail_file, fail_line))
            else:
                self._check(minion_id, app, f"{app} definition", file, line)

            for position, verdict in enumerate(entry["origins"]):
                field = _origin_field(raw, position)
                ofile, oline = where.of(field, self.lines_for_passing or not verdict["allowed"])
                name = f"{app} {verdict['origin']}"
                if verdict["allowed"]:
                    self._check(minion_id, app, name, ofile, oline)
                    continue
                found = denied[(app, field)]
                message, kind = found["message"], found["kind"]
                targets = list(verdict.get("edge_ip_of") or []) if kind == "app_edge_ip" else []
                for target in targets:
                    edges.setdefault(app, set()).add(target)
                pending.append((app, field, verdict, ofile, oline, message, kind, targets, name))
            self._recording = None
        cycles = _cycles(edges)
        for app, field, verdict, ofile, oline, message, kind, targets, name in pending:
            cycle = next((cycles[(app, t)] for t in targets if (app, t) in cycles), None)
            shown = message + (f" [cycle: {' -> '.join(cycle)}]" if cycle else "")
            self._recording = added[app][2]
            self._finding(minion_id, "error", kind, shown, app=app, field=field, origin=verdict["origin"],
                          file=ofile, line=oline, reasons=verdict["reasons"], account_id=verdict.get("account_id"),
                          cycle=cycle)
            self._check(minion_id, app, name, ofile, oline, shown, kind, _location(ofile, oline))
        self._recording = None
        for app, (entry, defined_at, keys) in added.items():
            if app not in edges:  # an origin at an app's edge IP: its loop depends on the other apps
                self._memo[(app, id(entry))] = (entry, defined_at, keys)

    # -- reading --------------------------------------------------------------

    def findings(self):
        """Findings sorted by file, line, app; ``minions`` lists where they apply."""
        found = sorted(self._findings.values(), key=finding_order)
        for finding in found:
            finding["fingerprint"] = fingerprint(finding)
            finding["baseline"] = None
        return found

    def checks(self):
        result = []
        for check in self._checks.values():
            item = dict(check)
            item["failures"] = [{"kind": kind, "message": message, "where": where}
                                for kind, message, where in check["failures"]]
            item["passed"] = not check["failures"]
            result.append(item)
        result.sort(key=lambda c: (c["file"] or "~", c["line"] or 0, c["app"] or "", c["name"]))
        return result


def fingerprint(finding):
    """A stable id of a finding: kind, app, field, account and origin (else message); no file or line.

    >>> fingerprint({"kind": "reserved", "app": "db", "field": "origin_direct[2]", "account_id": "acme",
    ...              "origin": "tcp://10.0.0.1:5432", "message": "..."}) == fingerprint(
    ...     {"kind": "reserved", "app": "db", "field": "origin_direct[0]", "account_id": "acme",
    ...      "origin": "tcp://10.0.0.1:5432", "message": "another wording", "line": 9})
    True
    """
    if finding.get("origin") is not None:
        value = finding["origin"]
    elif finding.get("kind") == "render":
        value = finding.get("file")
    else:
        value = _POSITION.sub("[]", str(finding.get("message")))
    field = finding.get("field")
    parts = [finding.get("kind"), finding.get("app"), _POSITION.sub("[]", field) if field else field,
             finding.get("account_id"), value]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def finding_order(finding):
    """Errors first, then by file, line, app and field."""
    return (finding["severity"] != "error", finding["file"] or "~", finding["line"] or 0, finding["app"] or "",
            finding["field"] or "")


class _Where:
    """Where an app's fields come from: the last SLS (in merge order) that sets the field."""

    def __init__(self, locator, app, records, all_records, collector):
        self.locator = locator
        self.app = app
        self.collector = collector
        self.records = records or []
        if not self.records:
            paths = locator.find_by_name(app, all_records)
            self.fallback = paths[0] if len(paths) == 1 else None
        else:
            self.fallback = None

    def _record_for(self, field):
        steps = [s for s in (field or "").split("/", 1)[0].replace("[", ".").split(".") if s and s != "(app)"]
        first = steps[0] if steps else None
        chosen = self.records[-1]
        if first is not None:
            for record in reversed(self.records):
                own = self.collector.own_app(record.data, self.app)
                if isinstance(own, dict) and first in own:
                    return record
        return chosen

    def path_of(self, field):
        return self._record_for(field).path if self.records else self.fallback

    def scalar(self, field):
        """``(text, line)`` of an unquoted scalar field as written in the source, or ``None``."""
        path = self.path_of(field)
        return self.locator.source(path).scalar(self.app, field) if path else None

    def of(self, field, want_line=True):
        """``(path, line)``; either may be ``None`` (``line`` is when ``want_line`` is false)."""
        if self.records:
            record = self._record_for(field)
            path = record.path
        else:
            path = self.fallback
        if not path:
            return None, None
        if not want_line:
            return path, None
        source = self.locator.source(path)
        return path, source.line(self.app, field) if self.records else source.line_by_name(self.app, field)


def _location(path, line):
    if not path:
        return None
    return f"{display_path(path)}:{line}" if line else display_path(path)


def _same(defined, other):
    """Two results of ``Collector._defined_at`` agree: same files, and the very same rendered blocks."""
    if defined[0] == "by name" or other[0] == "by name":
        return defined == other
    return len(defined) == len(other) and all(
        path == other_path and own is other_own for (path, own), (other_path, other_own) in zip(defined, other)
    )


def _nested(raw, field):
    node = raw
    for step in field.split("."):
        node = node.get(step) if isinstance(node, dict) else None
    return node


def _base60_numbers(where, raw):
    """``(field, text, line)`` of number fields whose source is an unquoted base-60 spelling."""
    found = []
    for field in _NUMBER_FIELDS:
        value = _nested(raw, field)
        if isinstance(value, int) and not isinstance(value, bool):
            written = where.scalar(field)
            if written and _SEXAGESIMAL.fullmatch(written[0]):
                found.append((field, written[0], written[1]))
    return found


def _origin_field(raw, position):
    if isinstance(raw, dict) and "origin_direct" in raw:
        return f"origin_direct[{position}]"
    return "origin_dns.name"


def _cycles(edges):
    """``{(app, target): [app, target, ..., app]}`` for every edge that lies on a loop."""
    found = {}
    for start, targets in edges.items():
        for target in sorted(targets):
            path = _path(edges, target, start)
            if path is not None:
                found[(start, target)] = [start] + path
    return found


def _path(edges, source, goal):
    """Shortest app path from ``source`` to ``goal`` (inclusive) over ``edges``, or ``None``."""
    frontier, seen = [[source]], {source}
    while frontier:
        following = []
        for path in frontier:
            if path[-1] == goal:
                return path
            for nxt in sorted(edges.get(path[-1], ())):
                if nxt not in seen:
                    seen.add(nxt)
                    following.append(path + [nxt])
        frontier = following
    return None
