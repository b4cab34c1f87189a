"""The decision rule, in one home: what judging found, the causes of a denial, and verdicts.

Per the domain rules (docs: "The domain rules"), for each network an origin covers
(and each IPv4 network carried inside an IPv6 one), in this order:

1. an origin that overlaps a Spectrum edge IP (``has_binding``) is denied, always;
2. an origin that overlaps managed or reserved space is allowed only when the
   account has permission for every such address: it owns the most specific
   prefix covering it, or holds a delegation covering it (``is_delegated``);
3. anything else is allowed.

Judging records what it found as ``FOUND_*`` bits; :func:`is_denied` is the rule over
them, for one int or a numpy array of them alike. The five Addressing API flags, the
:class:`Cause` of a denial (and the lint's finding kind) and the reason text all derive
from the bits and the evidence kept beside them.

>>> is_denied(FOUND_MANAGED), is_denied(FOUND_MANAGED | FOUND_UNPERMITTED), is_denied(FOUND_BINDING)
(False, True, True)
"""

from enum import Enum

from saltext.spectrum_acl.core.index import BINDING_FLAG, MANAGED_FLAG, NO_ENTRY, RESERVED, RESERVED_FLAG
from saltext.spectrum_acl.core.reasons import render_evidence

#: Evidence kept per origin; flags are still exact beyond it.
MAX_EVIDENCE = 256

FLAGS = ("allowed", "is_managed", "is_delegated", "is_reserved", "has_binding")

# What judging found, as bits of one int.
FOUND_BINDING, FOUND_MANAGED, FOUND_RESERVED, FOUND_UNPERMITTED, FOUND_REMOTE_DENIAL, FOUND_NOTHING_TO_JUDGE = (
    1, 2, 4, 8, 16, 32
)
#: Bits that deny on their own; managed or reserved space denies only with ``FOUND_UNPERMITTED``.
ALWAYS_DENIES = FOUND_BINDING | FOUND_REMOTE_DENIAL | FOUND_NOTHING_TO_JUDGE
SENSITIVE = FOUND_MANAGED | FOUND_RESERVED


#: ``FOUND_*`` bits for each combination of the index's label flags, before permission is known:
#: the one mapping from what covers a segment to what judging found (one origin or a batch).
FOUND_OF_LABEL_FLAGS = tuple(
    (flags & BINDING_FLAG and FOUND_BINDING) | (flags & MANAGED_FLAG and FOUND_MANAGED)
    | (flags & RESERVED_FLAG and FOUND_RESERVED)
    for flags in range(8)
)


def is_denied(found):
    """The one rule. ``found`` is ``FOUND_*`` bits: a Python int, or a numpy integer array.

    Runtime complexity: ``O(1)`` per origin.
    """
    return ((found & ALWAYS_DENIES) != 0) | (((found & SENSITIVE) != 0) & ((found & FOUND_UNPERMITTED) != 0))


#: ``allowed`` for every combination of ``FOUND_*`` bits.
_ALLOWED = tuple(not is_denied(found) for found in range(FOUND_NOTHING_TO_JUDGE << 1))


def flags_of(found):
    """The five Addressing API flags of ``found`` bits.

    >>> flags_of(FOUND_MANAGED)["is_delegated"]
    True
    """
    sensitive = bool(found & SENSITIVE)
    return {
        "allowed": not is_denied(found),
        "is_managed": bool(found & FOUND_MANAGED),
        "is_delegated": sensitive and not found & FOUND_UNPERMITTED,
        "is_reserved": bool(found & FOUND_RESERVED),
        "has_binding": bool(found & FOUND_BINDING),
    }


def found_of_flags(flags):
    """``FOUND_*`` bits from the five flags of an Addressing API answer (the remote judge's mapping)."""
    return (
        (flags["has_binding"] and FOUND_BINDING)
        | (flags["is_managed"] and FOUND_MANAGED)
        | (flags["is_reserved"] and FOUND_RESERVED)
        | ((flags["is_managed"] or flags["is_reserved"]) and not flags["is_delegated"] and FOUND_UNPERMITTED)
        | (not flags["allowed"] and FOUND_REMOTE_DENIAL)
    )


class Cause(str, Enum):
    """Why an origin is denied: ``Verdict.denied_by`` holds these values.

    The lint's finding kind derives from the cause (see :meth:`kind`).
    """

    BINDING = "binding"  # a Spectrum edge IP in the data, or per the Addressing API
    APP_BINDING = "app_binding"  # the static edge IP of an app in the same pillar
    UNPERMITTED = "unpermitted"  # managed or reserved space the account has no permission for
    UNRESOLVED = "unresolved"  # an origin_dns name that does not resolve: nothing to judge
    REMOTE = "remote"  # the Addressing API denied it, or failed

    def kind(self, reserved=False):
        """The lint finding kind: ``edge_ip``, ``app_edge_ip``, ``reserved``, ``not_delegated``..."""
        if self is Cause.UNPERMITTED:
            return "reserved" if reserved else "not_delegated"
        return _KINDS[self]


_KINDS = {Cause.BINDING: "edge_ip", Cause.APP_BINDING: "app_edge_ip", Cause.UNRESOLVED: "unresolvable",
          Cause.REMOTE: "denied"}
#: Which cause decides when several deny.
_PRIORITY = (Cause.APP_BINDING, Cause.BINDING, Cause.UNPERMITTED, Cause.UNRESOLVED, Cause.REMOTE)
#: ``Verdict.denied_by`` values, sorted.
DENIAL_CAUSES = tuple(sorted(cause.value for cause in Cause))
#: The cause of each kind of evidence that denies.
CAUSE_OF_EVIDENCE = {"binding": Cause.BINDING, "app_binding": Cause.APP_BINDING, "permission": Cause.UNPERMITTED,
                     "remote": Cause.REMOTE}


class Verdict:
    """The guard's answer for one origin and account, with the Addressing API's flag names.

    ``decided_by`` is the CIDR of the entry that decided: the binding or the
    unpermitted prefix/reserved block when denied, the permitting prefix when allowed.
    Flags derive from the ``found`` bits; ``allowed`` is set once, from them. The reason
    text is written on first read; a verdict from the guard's fast path (``judge`` given: the
    guard) makes its evidence then too, by judging the origin again in full.
    """

    __slots__ = ("origin", "account_id", "found", "allowed", "_evidence", "_reasons", "_denying", "_cause",
                 "_judge", "_subject")

    def __init__(self, origin, account_id, found=0, evidence=(), reasons=None, cause=None, judge=None, subject=None):
        # judge.judge_in_full(subject, account_id), when given, makes the evidence on first read (same bits)
        self.origin = origin
        self.account_id = account_id
        self.found = found
        self.allowed = _ALLOWED[found]
        self._evidence = evidence
        self._cause = cause
        self._judge = judge
        self._subject = subject
        if reasons is None:
            self._reasons = self._denying = None
        else:
            self._reasons = list(reasons)
            self._denying = [] if self.allowed else list(reasons)

    @property
    def evidence(self):
        """What judging kept: ``(kind, span, carrier, source, detail, denies, ...)`` tuples."""
        if self._judge is not None:
            self._evidence = self._judge.judge_in_full(self._subject, self.account_id)._evidence
            self._judge = self._subject = None
        return self._evidence

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
            self._reasons, self._denying = render_evidence(self.origin, self.evidence)

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
        for kind, _, _, source, detail, denies, *rest in self.evidence:
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
        causes = {Cause(self._cause).value} if self._cause else set()
        for kind, _, _, _, _, denies, *_ in self.evidence:
            if denies:
                causes.add(CAUSE_OF_EVIDENCE[kind].value)
        return sorted(causes)

    @property
    def cause(self):
        """The :class:`Cause` that decided the denial (``None`` when allowed): a binding first, then
        permission, then a name that did not resolve, then the Addressing API."""
        causes = set(self.denied_by)
        return next((cause for cause in _PRIORITY if cause.value in causes), None if self.allowed else Cause.REMOTE)

    @property
    def kind(self):
        """The finding kind of a denial (``None`` when allowed), as the lint reports it.

        A binding is ``app_edge_ip`` (an app in the same pillar) or ``edge_ip``; managed
        or reserved space without permission is ``reserved`` or ``not_delegated`` by what
        decided; otherwise ``unresolvable`` or ``denied`` (the Addressing API).
        """
        if self.allowed:
            return None
        if self.has_binding:
            return (Cause.APP_BINDING if self.edge_ip_of else Cause.BINDING).kind()
        if self.is_managed and self.is_reserved:
            entry = self.deciding_entry
            return Cause.UNPERMITTED.kind(reserved=entry is not None and entry.kind == RESERVED)
        if self.is_managed or self.is_reserved:
            return Cause.UNPERMITTED.kind(reserved=self.is_reserved)
        return (Cause.UNRESOLVED if Cause.UNRESOLVED.value in self.denied_by else Cause.REMOTE).kind()

    @property
    def edge_ip_of(self):
        """The apps (in the same pillar) whose static edge IP this origin is."""
        names = []
        for kind, _, _, source, detail, *_ in self.evidence:
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
        return flags_of(self.found)

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


def fail_closed(origin, account_id, reason, cause=Cause.UNRESOLVED):
    """A verdict that denies without looking anything up (fail closed)."""
    return Verdict(origin, account_id, FOUND_NOTHING_TO_JUDGE, reasons=[reason], cause=cause)


class VerdictBatch:
    """Verdicts for many origins of one account (see :meth:`~saltext.spectrum_acl.core.guard.OriginGuard.check_batch`).

    ``allowed`` (a list of booleans), ``found(i)``, ``flags(i)`` and ``decided_by(i)`` answer from
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

    @property
    def allowed(self):
        """Is each origin allowed? A list of booleans, in order.

        Runtime complexity: ``O(n)``, one vectorised pass.

        >>> from saltext.spectrum_acl import load_guard  # doctest: +SKIP
        >>> load_guard("prefixes.json").check_batch(["192.0.2.1", "10.0.0.1"], "crossbow").allowed  # doctest: +SKIP
        [True, False]
        """
        allowed = [True] * len(self.origins) if self._found is None else (~is_denied(self._found)).tolist()
        for item, verdict in self._full.items():
            allowed[item] = verdict.allowed
        return allowed

    def flags(self, item):
        """The five Addressing API flags of origin ``item``."""
        return flags_of(self.found(item))

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
            denied_here = is_denied(found)
            denied_items.update(int(item) for item in denied_here.nonzero()[0] if int(item) not in self._full)
        denied_items.update(item for item, verdict in self._full.items() if not verdict.allowed)
        return sorted(denied_items)
