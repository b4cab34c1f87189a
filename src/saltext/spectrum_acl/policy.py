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


import netaddr

from saltext.spectrum_acl.addressing import (
    HOSTMASKS,
    cidr_ints,
    embedded_spans,
    parse_address,
    parse_origin,
)
from saltext.spectrum_acl.errors import BackendError, OriginSyntaxError
from saltext.spectrum_acl.index import (
    BINDING_FLAG,
    MANAGED_FLAG,
    NO_ENTRY,
    RESERVED_FLAG,
    PrefixIndex,
    Span,
    network_of,
)
from saltext.spectrum_acl.resolver import ResolutionError, Resolver

#: Reasons of one kind beyond this many are summarised as "... and N more".
MAX_REASONS_PER_KIND = 5
#: Evidence kept per origin; flags are still exact beyond it.
MAX_EVIDENCE = 256
#: Fewer origins than this are judged one at a time: cheaper than the batch's per-account tables.
BATCH_MINIMUM = 32

FLAGS = ("allowed", "is_managed", "is_delegated", "is_reserved", "has_binding")
_SENSITIVE = MANAGED_FLAG | RESERVED_FLAG

# What judging found, as bits of one int.
FOUND_BINDING, FOUND_MANAGED, FOUND_RESERVED, FOUND_UNPERMITTED, FOUND_REMOTE_DENIAL, FOUND_NOTHING_TO_JUDGE = (
    1, 2, 4, 8, 16, 32
)
_DENIES = FOUND_BINDING | FOUND_REMOTE_DENIAL | FOUND_NOTHING_TO_JUDGE

#: ``Verdict.denied_by`` values: a Spectrum edge IP from the data (or the API), the static
#: edge IP of an app in the same pillar, managed or reserved space without permission, a
#: name that does not resolve, and the Addressing API's denial or failure.
DENIAL_CAUSES = ("app_binding", "binding", "remote", "unpermitted", "unresolved")
_CAUSE_OF_EVIDENCE = {"binding": "binding", "app_binding": "app_binding", "permission": "unpermitted", "remote": "remote"}


class Verdict:
    """The guard's answer for one origin and account, with the Addressing API's flag names.

    ``decided_by`` is the CIDR of the entry that decided: the binding or the
    unpermitted prefix/reserved block when denied, the permitting prefix when allowed.
    Flags derive from the ``found`` bits; reason text is written on first read.
    """

    __slots__ = ("origin", "account_id", "found", "_evidence", "_reasons", "_denying", "_cause")

    def __init__(self, origin, account_id, found=0, evidence=(), reasons=None, cause=None):
        self.origin = origin
        self.account_id = account_id
        self.found = found
        self._evidence = evidence
        self._cause = cause
        self._reasons = self._denying = None
        if reasons is not None:
            self._reasons = list(reasons)
            self._denying = [] if self.allowed else list(reasons)

    @property
    def allowed(self):
        found = self.found
        return not found & _DENIES and not (found & (FOUND_MANAGED | FOUND_RESERVED) and found & FOUND_UNPERMITTED)

    @property
    def is_managed(self):
        return bool(self.found & FOUND_MANAGED)

    @property
    def is_reserved(self):
        return bool(self.found & FOUND_RESERVED)

    @property
    def has_binding(self):
        return bool(self.found & FOUND_BINDING)

    @property
    def is_delegated(self):
        found = self.found
        return bool(found & (FOUND_MANAGED | FOUND_RESERVED)) and not found & FOUND_UNPERMITTED

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
        """The ``Entry`` that decided: the first one that denies (a binding, an unpermitted
        prefix or reserved block), else the first that permits (the owned prefix, or the
        delegation that grants the account its use)."""
        permitting = None
        for kind, _, _, source, detail, denies, *rest in self._evidence:
            if kind in ("binding", "app_binding"):
                entry = source.entry(detail)
            elif kind == "permission":
                cover = source.coverage_of_label(detail)
                entry = cover.prefix or cover.reserved
                if not denies and (cover.prefix is None or cover.prefix.account != rest[0]):
                    entry = next((d for d in cover.delegations if d.account == rest[0]), entry)
            else:
                continue
            if denies:
                return entry
            permitting = permitting or entry
        return permitting

    @property
    def denied_by(self):
        """Why it is denied, machine-readable: a sorted subset of ``DENIAL_CAUSES`` (empty when allowed)."""
        causes = {self._cause} if self._cause else set()
        for kind, _, _, _, _, denies, *_ in self._evidence:
            if denies:
                causes.add(_CAUSE_OF_EVIDENCE[kind])
        return sorted(causes)

    @property
    def edge_ip_of(self):
        """The apps (in the same pillar) whose static edge IP this origin is."""
        names = []
        for kind, _, _, source, detail, *_ in self._evidence:
            if kind == "app_binding" and source.entry(detail).account not in names:
                names.append(source.entry(detail).account)
        return names

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
        data["denied_by"] = self.denied_by
        data["edge_ip_of"] = self.edge_ip_of
        data["reasons"] = list(self.reasons)
        return data

    def summary(self):
        """One line: the origin, allowed or denied, and why (only what denies, when denied)."""
        if self.allowed:
            return f"{self.origin} allowed: " + "; ".join(self.reasons)
        return f"{self.origin} denied: " + "; ".join(self.denying_reasons or self.reasons)

    def __repr__(self):
        return f"Verdict({self.origin!r}, {self.account_id!r}, {self.flags()})"


def denied(origin, account_id, reason, cause="unresolved"):
    """A verdict that denies without looking anything up (fail closed)."""
    return Verdict(origin, account_id, FOUND_NOTHING_TO_JUDGE, reasons=[reason], cause=cause)


class VerdictBatch:
    """Verdicts for many origins of one account (see :meth:`OriginGuard.check_batch`).

    ``found(i)``, ``allowed(i)``, ``flags(i)`` and ``decided_by(i)`` answer from
    columns judged for the whole batch at once (``found``, ``deciding``: numpy arrays,
    or ``None`` when every origin was judged on its own), or from the ``full``
    verdicts of the origins judged on their own; ``batch[i]`` is the full
    :class:`Verdict`, with reasons, made when read.
    """

    def __init__(self, guard, origins, account_id, found, deciding, full):
        self._guard, self.origins, self.account_id = guard, origins, account_id
        self._found, self._deciding, self._full = found, deciding, full

    def __len__(self):
        return len(self.origins)

    def _item(self, item):
        """``item`` as a position from 0, negative numbers counting from the end, like a list."""
        return range(len(self.origins))[item]  # IndexError when out of range

    def __getitem__(self, item):
        item = self._item(item)
        if item in self._full:
            return self._full[item]
        return self._guard.check_origin(self.origins[item], self.account_id)

    def __iter__(self):
        return (self[item] for item in range(len(self)))

    def found(self, item):
        """The ``FOUND_*`` bits of origin ``item``."""
        item = self._item(item)
        return self._full[item].found if item in self._full else int(self._found[item])

    def allowed(self, item):
        return Verdict(None, None, self.found(item)).allowed

    def flags(self, item):
        """The five Addressing API flags of origin ``item``."""
        return Verdict(None, None, self.found(item)).flags()

    def deciding_entry(self, item):
        """The ``Entry`` that decided origin ``item`` (see :attr:`Verdict.deciding_entry`)."""
        item = self._item(item)
        if item in self._full:
            return self._full[item].deciding_entry
        position = int(self._deciding[item])
        return self._guard.prefix_index.entry(position) if position != NO_ENTRY else None

    def decided_by(self, item):
        """The CIDR of the entry that decided origin ``item``, or ``None``."""
        item = self._item(item)
        if item in self._full:
            return self._full[item].decided_by
        position = int(self._deciding[item])
        return self._guard.prefix_index.cidr(position) if position != NO_ENTRY else None

    def decided_by_all(self):
        """:meth:`decided_by` of every origin, in order; each deciding entry is written once."""
        positions = self._deciding.tolist() if self._deciding is not None else [NO_ENTRY] * len(self)
        cidr = self._guard.prefix_index.cidr
        texts = {position: cidr(position) for position in set(positions) if position != NO_ENTRY}
        texts[NO_ENTRY] = None
        decided = [texts[position] for position in positions]
        for item, verdict in self._full.items():
            decided[item] = verdict.decided_by
        return decided

    def denied_items(self):
        """The item numbers of the denied origins, in order."""
        denied_items = set()
        found = self._found
        if found is not None:
            sensitive, unpermitted = (found & (FOUND_MANAGED | FOUND_RESERVED)) != 0, (found & FOUND_UNPERMITTED) != 0
            denied_here = ((found & _DENIES) != 0) | (sensitive & unpermitted)
            denied_items.update(int(item) for item in denied_here.nonzero()[0] if int(item) not in self._full)
        denied_items.update(item for item, verdict in self._full.items() if not verdict.allowed)
        return sorted(denied_items)


class OriginGuard:
    """Judges origins against a prefix index, the bindings of the apps being checked, and DNS.

    :param prefix_index: prefixes, delegations, bindings and reserved blocks.
    :param app_bindings: optional index of static edge IPs of apps in the same pillar.
    :param resolver: has ``lookup(name, record_type)`` returning a
        :class:`~saltext.spectrum_acl.resolver.Resolution` or raising ``ResolutionError``;
        a DNS :class:`~saltext.spectrum_acl.resolver.Resolver` by default.
    :param remote: optional remote judge (the Addressing API client). It has
        ``prefetch(pairs)``, taking ``(account_id, network)`` pairs to ask in batches, and
        ``judge(network, account_id)``, returning the five flags as a dict or raising
        ``BackendError``. An origin then passes only when both the local index and the
        remote judge allow it; a backend error denies.
    """

    def __init__(self, prefix_index, app_bindings=None, resolver=None, remote=None):
        self.prefix_index = prefix_index
        self.app_bindings = app_bindings if app_bindings is not None else PrefixIndex()
        self.resolver = resolver or Resolver()
        self.remote = remote
        self._resolved = {}
        self._account_keys = {}
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
        if type(origin) is str:  # pylint: disable=unidiomatic-typecheck
            parts = cidr_ints(origin)
            if parts is None:
                origin = parse_origin(origin)
            else:
                version, first, prefixlen = parts
                span = (version, first, first | HOSTMASKS[version][prefixlen], prefixlen)
                return self._check((span,), origin, account_id)
        network = origin.network
        return self._check(((network.version, network.first, network.last, network.prefixlen),), origin.text, account_id)

    def check_batch(self, origins, account_id):
        """Judge many origins for one account; returns a :class:`VerdictBatch`.

        Addresses and CIDRs are judged together, with numpy (see ``batch.py``): the flags
        and the deciding entry of each. URLs, IPv6 that may carry IPv4, origins at an
        app's edge IP, batches of fewer than ``BATCH_MINIMUM`` origins, and every origin
        of a guard with a remote judge go through :meth:`check_origin`. Raises
        ``OriginSyntaxError`` like :meth:`check_origin`, with ``item``, the position of
        the first origin it refuses.
        """
        found = deciding = None
        single = range(len(origins))
        if self.remote is None and len(origins) >= BATCH_MINIMUM:
            from saltext.spectrum_acl import batch  # pylint: disable=import-outside-toplevel  # numpy only when needed

            app_bindings = self.app_bindings if self._check_app_bindings else None
            found, deciding, single = batch.judge_origins(
                self.prefix_index, origins, self._account_key(account_id), app_bindings
            )
        full = {}
        for item in single:
            try:
                full[item] = self.check_origin(origins[item], account_id)
            except OriginSyntaxError as exc:
                exc.item = item  # which origin of the batch
                raise
        return VerdictBatch(self, origins, account_id, found, deciding, full)

    def resolve(self, name, record_type=""):
        """Resolve ``name`` once per guard: ``(Resolution, None)`` or ``(None, why it cannot be judged)``."""
        key = (name, record_type)
        if key not in self._resolved:
            self._resolved[key] = self._resolve(name, record_type)
        return self._resolved[key]

    def _resolve(self, name, record_type):
        try:
            resolution = self.resolver.lookup(name, record_type)
        except (ResolutionError, OSError) as exc:
            return None, f"{name} does not resolve ({exc}); a name must resolve to be judged"
        if not resolution.addresses:
            return None, f"{name} resolves to no address; a name must resolve to be judged"
        try:
            for answer in resolution.addresses:
                parse_address(answer)
        except OriginSyntaxError as exc:
            return None, f"{name} resolved to an address that cannot be judged: {exc}"
        return resolution, None

    def check_hostname(self, name, account_id, record_type=""):
        """Resolve ``name`` (A and AAAA, one of them, or SRV targets) and judge every address.

        Denies when nothing resolves: a name that cannot be judged fails closed.
        """
        label = f"{name} (origin_dns)"
        resolution, problem = self.resolve(name, record_type)
        if problem:
            return denied(label, account_id, problem)
        addresses = [parse_address(address) for address in resolution.addresses]
        verdict = self.check_networks(label, [netaddr.IPNetwork(address) for address in addresses], account_id)
        verdict.prepend_reason(describe_resolution(resolution))
        return verdict

    def check_networks(self, label, networks, account_id):
        """Judge the union of ``networks`` (``netaddr.IPNetwork``) as one origin called ``label``."""
        return self._check([(n.version, n.first, n.last, n.prefixlen) for n in networks], label, account_id)

    def _check(self, spans, label, account_id):
        evidence = []
        found = 0
        for span in spans:
            found |= self._judge(span, None, account_id, evidence)
            if span[0] == 6:
                for form, carried in embedded_spans(Span(*span)):
                    found |= self._judge(tuple(carried), (form, span), account_id, evidence)
        return Verdict(label, account_id, found, evidence)

    def _account_key(self, account_id):
        key = self._account_keys.get(account_id)
        if key is None:
            key = self._account_keys[account_id] = self.prefix_index.account_id(account_id)
        return key

    def _judge(self, span, carrier, account_id, evidence):
        """Judge one ``(version, first, last, prefixlen)`` span; return the ``FOUND_*`` bits."""
        found = 0
        if self.remote is not None:
            found |= self._judge_remote(span, carrier, account_id, evidence)
        version, first, last, _ = span
        if self._check_app_bindings:
            for _, _, _, binding in self.app_bindings.labels_in(version, first, last):
                if binding != NO_ENTRY:
                    found |= FOUND_BINDING
                    evidence.append(("app_binding", span, carrier, self.app_bindings, binding, True))
        return found | self._scan_index(span, carrier, account_id, evidence)

    def _scan_index(self, span, carrier, account_id, evidence):
        """Judge a span against the prefix index; ``evidence=None`` computes the bits only."""
        version, first, last, _ = span
        index = self.prefix_index
        account = self._account_key(account_id)
        label_flags = index.labels.flags
        starts, segment_labels, segment_bindings = index.segments[version]
        position = index.locate(version, first)
        count = len(starts)
        found = 0
        while position < count and starts[position] <= last:
            label = segment_labels[position]
            flags = label_flags[label]
            position += 1
            if not flags:
                continue
            # past MAX_EVIDENCE, the first denial of each kind is still kept: it decides and names the cause
            keep = evidence is not None and len(evidence) < MAX_EVIDENCE
            if flags & BINDING_FLAG:
                if keep or (evidence is not None and not found & FOUND_BINDING):
                    evidence.append(("binding", span, carrier, index, segment_bindings[position - 1], True))
                found |= FOUND_BINDING
            if flags & _SENSITIVE:
                permitted = index.permits(label, account)
                if keep or (evidence is not None and not permitted and not found & FOUND_UNPERMITTED):
                    evidence.append(("permission", span, carrier, index, label, not permitted, account_id))
                found |= (flags & MANAGED_FLAG and FOUND_MANAGED) | (flags & RESERVED_FLAG and FOUND_RESERVED)
                if not permitted:
                    found |= FOUND_UNPERMITTED
        return found

    def _judge_remote(self, span, carrier, account_id, evidence):
        try:
            flags = self.remote.judge(_network(span), account_id)
        except BackendError as exc:
            evidence.append(("remote", span, carrier, None, f"{exc}; denied (fail closed)", True))
            return FOUND_REMOTE_DENIAL
        found = (
            (flags["has_binding"] and FOUND_BINDING)
            | (flags["is_managed"] and FOUND_MANAGED)
            | (flags["is_reserved"] and FOUND_RESERVED)
            | ((flags["is_managed"] or flags["is_reserved"]) and not flags["is_delegated"] and FOUND_UNPERMITTED)
            | (not flags["allowed"] and FOUND_REMOTE_DENIAL)
        )
        described = ", ".join(f"{name}={str(flags[name]).lower()}" for name in FLAGS[1:])
        verb = "allows" if flags["allowed"] else "denies"
        evidence.append(("remote", span, carrier, None, f"the Addressing API {verb} it ({described})", not flags["allowed"]))
        return found


def describe_resolution(resolution):
    """``name resolves to a, b``; for SRV, each target with its port and addresses."""
    if not resolution.targets:
        via = "" if resolution.source == "dns" else f" (from {resolution.source})"
        return f"{resolution.name} resolves to {', '.join(resolution.addresses)}{via}"
    targets = "; ".join(
        f"{target.target}:{target.port} at {', '.join(target.addresses)}" for target in resolution.targets
    )
    return f"{resolution.name} (SRV) points at {targets}"


def _network(span):
    version, first, _, prefixlen = span
    return network_of(version, first, prefixlen)


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
    return f"{span.shown()} (carried by {Span(*outer).shown()} as {form})"


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
        span = Span(*span)
        if kind in ("binding", "app_binding"):
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
        if kind in ("binding", "app_binding"):
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
