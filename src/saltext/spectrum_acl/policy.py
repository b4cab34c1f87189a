"""The decision: may this account use this origin?

Per ``SPEC.md``, for each network an origin covers (and each IPv4 network
carried inside an IPv6 one), in this order:

1. an origin that overlaps a Spectrum edge IP (``has_binding``) is denied, always;
2. an origin that overlaps managed or reserved space is allowed only when the
   account has permission for every such address: it owns the most specific
   prefix covering it, or holds a delegation covering it (``is_delegated``);
3. anything else is allowed.

Every verdict carries reasons a person can act on. Judging records only
integer evidence; the reason text is written when someone reads it.
"""

from bisect import bisect_right

import netaddr

from saltext.spectrum_acl.addressing import embedded_spans, fast_span, parse_address, parse_origin
from saltext.spectrum_acl.errors import BackendError, OriginSyntaxError
from saltext.spectrum_acl.index import BINDING_FLAG, MANAGED_FLAG, NO_ENTRY, RESERVED_FLAG, PrefixIndex, Span
from saltext.spectrum_acl.resolver import ResolutionError, system_resolver

#: Reasons of one kind beyond this many are summarised as "... and N more".
MAX_REASONS_PER_KIND = 5
#: Evidence kept per origin; flags are still exact beyond it.
MAX_EVIDENCE = 256

FLAGS = ("allowed", "is_managed", "is_delegated", "is_reserved", "has_binding")
_SENSITIVE = MANAGED_FLAG | RESERVED_FLAG


class Verdict:
    """The guard's answer for one origin and account, with the Addressing API's flag names.

    ``decided_by`` is the CIDR of the entry that decided: the binding or the
    unpermitted prefix/reserved block when denied, the permitting prefix when allowed.
    """

    __slots__ = FLAGS + ("origin", "account_id", "_evidence", "_reasons", "_denying")

    def __init__(self, origin, account_id, allowed=False, is_managed=False, is_delegated=False,
                 is_reserved=False, has_binding=False, reasons=None, evidence=()):
        self.origin = origin
        self.account_id = account_id
        self.allowed = allowed
        self.is_managed = is_managed
        self.is_delegated = is_delegated
        self.is_reserved = is_reserved
        self.has_binding = has_binding
        self._evidence = evidence
        self._reasons = None
        self._denying = None
        if reasons is not None:
            self._reasons, self._denying = list(reasons), [] if allowed else list(reasons)

    def _render(self):
        if self._reasons is None:
            self._reasons, self._denying = _render_evidence(self.origin, self._evidence)

    @property
    def reasons(self):
        self._render()
        return self._reasons

    @property
    def denying_reasons(self):
        self._render()
        return self._denying

    @property
    def deciding_entry(self):
        """The ``Entry`` that decided: the first one that denies, else the first that permits."""
        permitting = None
        for kind, _, _, source, detail, denies, *_ in self._evidence:
            if kind == "binding":
                position = detail
            elif kind == "permission":
                position = source.labels.prefix[detail]
                if position == NO_ENTRY:
                    position = source.labels.reserved[detail]
            else:
                continue
            if denies:
                return source.entry(position)
            permitting = permitting or source.entry(position)
        return permitting

    @property
    def decided_by(self):
        entry = self.deciding_entry
        return entry.cidr if entry is not None else None

    def prepend_reason(self, text):
        self._render()
        self._reasons.insert(0, text)
        if not self.allowed:
            self._denying.insert(0, text)

    def flags(self):
        return {name: getattr(self, name) for name in FLAGS}

    def as_dict(self):
        data = {"origin": self.origin, "account_id": self.account_id}
        data.update(self.flags())
        data["decided_by"] = self.decided_by
        data["reasons"] = list(self.reasons)
        return data

    def summary(self):
        """One line: the origin, allowed or denied, and why (only what denies, when denied)."""
        if self.allowed:
            return f"{self.origin} allowed: " + "; ".join(self.reasons)
        return f"{self.origin} denied: " + "; ".join(self.denying_reasons or self.reasons)

    def __repr__(self):
        return f"Verdict({self.origin!r}, {self.account_id!r}, {self.flags()})"


def denied(origin, account_id, reason):
    """A verdict that denies without looking anything up (fail closed)."""
    return Verdict(origin, account_id, reasons=[reason])


class _Findings:
    """Flags and integer evidence gathered while judging the networks of one origin."""

    __slots__ = ("has_binding", "is_managed", "is_reserved", "unpermitted", "remote_denied", "evidence")

    def __init__(self):
        self.has_binding = self.is_managed = self.is_reserved = self.unpermitted = self.remote_denied = False
        self.evidence = []


class OriginGuard:
    """Judges origins against a prefix index, the bindings of the apps being checked, and DNS.

    :param prefix_index: prefixes, delegations, bindings and reserved blocks.
    :param app_bindings: optional index of static edge IPs of apps in the same pillar.
    :param resolver: ``name -> [address]`` for hostname origins; the system resolver by default.
    :param remote: optional remote judge (the Addressing API client). It has
        ``prefetch(pairs)``, taking ``(account_id, network)`` pairs to ask in batches, and
        ``judge(network, account_id)``, returning the five flags as a dict or raising
        ``BackendError``. An origin then passes only when both the local index and the
        remote judge allow it; a backend error denies.
    """

    def __init__(self, prefix_index, app_bindings=None, resolver=None, remote=None):
        self.prefix_index = prefix_index
        self.app_bindings = app_bindings if app_bindings is not None else PrefixIndex()
        self.resolver = resolver or system_resolver
        self.remote = remote
        self._resolved = {}
        self._check_app_bindings = len(self.app_bindings) > 0

    def with_app_bindings(self, app_bindings):
        guard = OriginGuard(self.prefix_index, app_bindings, self.resolver, self.remote)
        guard._resolved = self._resolved  # pylint: disable=protected-access
        return guard

    def prefetch(self, pairs):
        """Let the remote judge ask about ``(account_id, network)`` pairs in batches, carried IPv4 included."""
        if self.remote is None:
            return
        expanded = []
        for account_id, network in pairs:
            expanded.append((account_id, network))
            expanded.extend((account_id, _network(carried)) for _, carried in embedded_spans(Span.of(network)))
        self.remote.prefetch(expanded)

    def check_origin(self, origin, account_id):
        """Judge an origin given as text (address, CIDR or URL) or as a parsed ``Origin``.

        Raises ``OriginSyntaxError`` for text that strict parsing refuses.
        """
        if isinstance(origin, str):
            span = fast_span(origin)
            if span is not None:
                return self.check_spans(origin, (span,), account_id)
            origin = parse_origin(origin)
        return self.check_spans(origin.text, (Span.of(origin.network),), account_id)

    def resolve(self, name):
        """Resolve ``name`` once per guard: ``(addresses, None)`` or ``([], reason it cannot be judged)``."""
        if name not in self._resolved:
            self._resolved[name] = self._resolve(name)
        return self._resolved[name]

    def _resolve(self, name):
        try:
            answers = self.resolver(name)
        except (ResolutionError, OSError) as exc:
            return [], f"{name} does not resolve ({exc}); a name must resolve to be judged"
        if not answers:
            return [], f"{name} resolves to no address; a name must resolve to be judged"
        try:
            return [parse_address(answer) for answer in answers], None
        except OriginSyntaxError as exc:
            return [], f"{name} resolved to an address that cannot be judged: {exc}"

    def check_hostname(self, name, account_id):
        """Resolve ``name`` (A and AAAA) and judge every address; deny when nothing resolves."""
        label = f"{name} (origin_dns)"
        addresses, problem = self.resolve(name)
        if problem:
            return denied(label, account_id, problem)
        verdict = self.check_networks(label, [netaddr.IPNetwork(address) for address in addresses], account_id)
        verdict.prepend_reason(f"{name} resolves to {', '.join(str(address) for address in addresses)}")
        return verdict

    def check_networks(self, label, networks, account_id):
        """Judge the union of ``networks`` (``netaddr.IPNetwork``) as one origin called ``label``."""
        return self.check_spans(label, [Span.of(network) for network in networks], account_id)

    def check_spans(self, label, spans, account_id):
        """Judge the union of ``spans`` as one origin called ``label``."""
        findings = _Findings()
        for span in spans:
            self._judge(span, None, account_id, findings)
            if span.version == 6:
                for form, carried in embedded_spans(span):
                    self._judge(carried, (form, span), account_id, findings)
        sensitive = findings.is_managed or findings.is_reserved
        is_delegated = sensitive and not findings.unpermitted
        return Verdict(
            label,
            account_id,
            not findings.has_binding and not findings.remote_denied and (not sensitive or is_delegated),
            findings.is_managed,
            is_delegated,
            findings.is_reserved,
            findings.has_binding,
            evidence=findings.evidence,
        )

    def _judge(self, span, carrier, account_id, findings):
        if self.remote is not None:
            self._judge_remote(span, carrier, account_id, findings)
        evidence = findings.evidence
        if self._check_app_bindings:
            for _, _, _, binding in self.app_bindings.labels_in(span.version, span.first, span.last):
                if binding != NO_ENTRY:
                    findings.has_binding = True
                    evidence.append(("binding", span, carrier, self.app_bindings, binding, True))
        index = self.prefix_index
        account = index.account_id(account_id)
        label_flags = index.labels.flags
        starts, segment_labels, segment_bindings = index.segments[span.version]
        position = bisect_right(starts, span.first) - 1
        count, last = len(starts), span.last
        while position < count and starts[position] <= last:
            label = segment_labels[position]
            flags = label_flags[label]
            position += 1
            if not flags:
                continue
            keep = len(evidence) < MAX_EVIDENCE
            if flags & BINDING_FLAG:
                findings.has_binding = True
                if keep:
                    evidence.append(("binding", span, carrier, index, segment_bindings[position - 1], True))
            if flags & _SENSITIVE:
                if flags & MANAGED_FLAG:
                    findings.is_managed = True
                if flags & RESERVED_FLAG:
                    findings.is_reserved = True
                permitted = index.permits(label, account)
                if not permitted:
                    findings.unpermitted = True
                if keep:
                    evidence.append(("permission", span, carrier, index, label, not permitted, account_id))

    def _judge_remote(self, span, carrier, account_id, findings):
        try:
            flags = self.remote.judge(_network(span), account_id)
        except BackendError as exc:
            findings.remote_denied = True
            findings.evidence.append(("remote", span, carrier, None, f"{exc}; denied (fail closed)", True))
            return
        findings.has_binding |= flags["has_binding"]
        findings.is_managed |= flags["is_managed"]
        findings.is_reserved |= flags["is_reserved"]
        findings.unpermitted |= (flags["is_managed"] or flags["is_reserved"]) and not flags["is_delegated"]
        described = ", ".join(f"{name}={str(flags[name]).lower()}" for name in FLAGS[1:])
        verb = "allows" if flags["allowed"] else "denies"
        findings.remote_denied |= not flags["allowed"]
        findings.evidence.append(("remote", span, carrier, None, f"the Addressing API {verb} it ({described})", not flags["allowed"]))


def _network(span):
    return netaddr.IPNetwork((span.first, span.prefixlen), version=span.version)


# -- reason text ----------------------------------------------------------------------


def _relation(query, entry):
    if query.prefixlen == entry.prefixlen:
        return "is"
    return "is in" if query.prefixlen > entry.prefixlen else "overlaps"


def _named(entry):
    return f"{entry.cidr} ({entry.detail})" if entry.detail else entry.cidr


def _shown(span, carrier):
    if carrier is None:
        return span.shown()
    form, outer = carrier
    return f"{span.shown()} (carried by {outer.shown()} as {form})"


def _binding_reason(shown, span, binding):
    detail = binding.detail or f"a Spectrum edge IP (binding {binding.cidr} in prefix {binding.parent.cidr})"
    if span.prefixlen == binding.prefixlen:
        where = f"{shown} is {detail}"
    else:
        where = f"{shown} {_relation(span, binding)} {binding.cidr}, {detail}"
    return f"{where}; an origin at an edge IP makes the proxy loop"


def _permission_reason(shown, span, cover, account_id, permitted):
    parts = []
    if cover.reserved is not None:
        parts.append(
            f"{shown} {_relation(span, cover.reserved)} {cover.reserved.cidr} ({cover.reserved.detail}), "
            "reserved space that is not on the public Internet"
        )
    if cover.prefix is not None:
        where = "" if parts else f"{shown} {_relation(span, cover.prefix)} "
        parts.append(f"{where}{'in ' if parts else ''}managed prefix {_named(cover.prefix)} owned by {cover.prefix.account}")
    text = ", ".join(parts)
    if account_id is None:
        return f"{text}; denied: no account_id was given"
    if permitted:
        if cover.prefix is not None and cover.prefix.account == account_id:
            return f"{text}; {account_id} owns it"
        delegation = next(d for d in cover.delegations if d.account == account_id)
        return f"{text}; {account_id} holds delegation {delegation.cidr} from {delegation.parent.account}"
    if cover.prefix is None:
        return f"{text}; no prefix grants {account_id} permission for it"
    return f"{text}; {account_id} neither owns it nor holds a delegation covering it"


def _render_evidence(origin, evidence):
    """``(reasons, denying reasons)`` from a verdict's evidence."""
    reasons, denying, seen, per_kind, overflow = [], [], set(), {}, {}
    for item in evidence:
        kind, span, carrier, source, detail, denies = item[:6]
        if kind == "binding":
            key = (kind, id(source), detail)
        elif kind == "permission":
            labels = source.labels
            key = (kind, id(source), labels.prefix[detail], labels.reserved[detail], denies)
        else:
            key = (kind, span, detail)
        if key in seen:
            continue
        seen.add(key)
        # capped per kind, denying and allowing apart, so what denies is always shown
        if per_kind.get((kind, denies), 0) >= MAX_REASONS_PER_KIND:
            overflow[kind] = overflow.get(kind, 0) + 1
            continue
        per_kind[(kind, denies)] = per_kind.get((kind, denies), 0) + 1
        shown = _shown(span, carrier)
        if kind == "binding":
            text = _binding_reason(shown, span, source.entry(detail))
        elif kind == "permission":
            text = _permission_reason(shown, span, source.coverage_of_label(detail), item[6], not denies)
        else:
            text = f"{shown}: {detail}"
        reasons.append(text)
        if denies:
            denying.append(text)
    reasons.extend(f"... and {count} more {kind} findings" for kind, count in overflow.items())
    if not reasons:
        reasons.append(f"{origin} is not managed, reserved or a Spectrum edge IP")
    return reasons, denying
