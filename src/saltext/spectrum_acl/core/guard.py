"""The origin guard: one origin, hostnames, the edge IPs of apps, and the remote judge.

:class:`OriginGuard` judges with the prefix index (and, for the ``api`` backend, the
Addressing API client as a remote judge); the rule itself lives in
:mod:`~saltext.spectrum_acl.core.verdict`. Many origins at once go through
:mod:`~saltext.spectrum_acl.core.batch`.

>>> from saltext.spectrum_acl.core.index import PrefixIndex
>>> OriginGuard(PrefixIndex()).check_origin("192.0.2.1", "crossbow").allowed
True
"""

import weakref

import netaddr

from saltext.spectrum_acl.core.embedded import embedded_spans
from saltext.spectrum_acl.core.index import BINDING_FLAG, MANAGED_FLAG, NO_ENTRY, RESERVED_FLAG, PrefixIndex
from saltext.spectrum_acl.core.parse import Origin, cidr_ints, parse_address, parse_origin
from saltext.spectrum_acl.core.ranges import HOSTMASKS, Span
from saltext.spectrum_acl.core.resolver import ResolutionError, Resolver
from saltext.spectrum_acl.core.single import SingleJudge
from saltext.spectrum_acl.core.verdict import (
    FLAGS,
    FOUND_BINDING,
    FOUND_OF_LABEL_FLAGS,
    FOUND_REMOTE_DENIAL,
    FOUND_UNPERMITTED,
    MAX_EVIDENCE,
    Verdict,
    VerdictBatch,
    fail_closed,
    found_of_flags,
)
from saltext.spectrum_acl.errors import BackendError, OriginSyntaxError

#: Fewer origins than this are judged one at a time: cheaper than the batch's per-account tables.
BATCH_MINIMUM = 32
_SENSITIVE = MANAGED_FLAG | RESERVED_FLAG


class OriginGuard:
    """Judges origins against a prefix index, the bindings of the apps being checked, and DNS.

    :param prefix_index: prefixes, delegations, bindings and reserved blocks.
    :param app_bindings: optional index of static edge IPs of apps in the same pillar.
    :param resolver: has ``lookup(name, record_type)`` returning a
        :class:`~saltext.spectrum_acl.core.resolver.Resolution` or raising ``ResolutionError``;
        a DNS :class:`~saltext.spectrum_acl.core.resolver.Resolver` by default.
    :param remote: optional remote judge (the Addressing API client). It has
        ``prefetch(pairs)``, taking ``(account_id, network)`` pairs to ask in batches, and
        ``judge(network, account_id)``, returning the five flags as a dict or raising
        ``BackendError``. A network is a :class:`~saltext.spectrum_acl.core.ranges.Span`
        or a ``netaddr.IPNetwork``: read its ``version``, ``first``, ``prefixlen`` (or its
        ``cidr``). An origin then passes only when both the local index and the remote
        judge allow it; a backend error denies.
    """

    def __init__(self, prefix_index, app_bindings=None, resolver=None, remote=None):
        self.prefix_index = prefix_index
        self.app_bindings = app_bindings if app_bindings is not None else PrefixIndex()
        self.resolver = resolver or Resolver()
        self.remote = remote
        self._resolved = {}
        self._account_keys = {}
        self._check_app_bindings = len(self.app_bindings) > 0
        # the fast path answers the bits only: not with a remote judge; text not with app edge IPs either
        judge = _single_judge(prefix_index) if remote is None else None
        self._found_of_span = judge.found_of_span if judge is not None else None
        self._found_of_text = judge.found_of_text if judge is not None and not self._check_app_bindings else None

    def with_app_bindings(self, app_bindings):
        guard = OriginGuard(self.prefix_index, app_bindings, self.resolver, self.remote)
        guard._resolved = self._resolved
        return guard

    def prefetch(self, pairs):
        """Let the remote judge ask about ``(account_id, network)`` pairs in batches, carried IPv4 included."""
        if self.remote is None:
            return
        expanded = []
        for account_id, network in pairs:
            expanded.append((account_id, network))
            expanded.extend((account_id, carried) for _, carried in embedded_spans(Span.of(network)))
        self.remote.prefetch(expanded)

    def check_origin(self, origin, account_id):
        """Judge an origin given as text (address, CIDR or URL) or as a parsed ``Origin``.

        Raises ``OriginSyntaxError`` for text that strict parsing refuses. Addresses, CIDRs
        and parsed origins take the fast path when the guard has one (see ``single.py``):
        the verdict's evidence is then made when its reasons are first read.
        """
        if type(origin) is str:
            found_of_text = self._found_of_text
            if found_of_text is None:
                return self.judge_in_full(origin, account_id)
            found = found_of_text(origin, account_id)
            if found is not None:
                return Verdict(origin, account_id, found, None, None, None, self, origin)
            if "://" not in origin:
                return self.judge_in_full(origin, account_id)
            origin = parse_origin(origin)  # a URL: judged by its span
        if type(origin) is Origin and self._found_of_span is not None:
            span = origin.span
            found = self._found_of_span(span, account_id)
            if found is not None:
                if self._check_app_bindings and self._at_app_edge_ip(span):
                    found |= FOUND_BINDING
                return Verdict(origin.text, account_id, found, None, None, None, self, origin)
        return self.judge_in_full(origin, account_id)

    def _at_app_edge_ip(self, span):
        version, first, last, _ = span
        return any(binding != NO_ENTRY for _, _, _, binding in self.app_bindings.labels_in(version, first, last))

    def judge_in_full(self, origin, account_id):
        """:meth:`check_origin` without the fast path: the verdict with its evidence."""
        if type(origin) is str:
            parts = cidr_ints(origin)
            if parts is None:
                origin = parse_origin(origin)
            else:
                version, first, prefixlen = parts
                span = (version, first, first | HOSTMASKS[version][prefixlen], prefixlen)
                return self._check((span,), origin, account_id)
        return self._check((tuple(origin.span),), origin.text, account_id)

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
            from saltext.spectrum_acl.core import batch  # numpy only when needed

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
            return fail_closed(label, account_id, problem)
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
                found |= FOUND_OF_LABEL_FLAGS[flags & _SENSITIVE]
                if not permitted:
                    found |= FOUND_UNPERMITTED
        return found

    def _judge_remote(self, span, carrier, account_id, evidence):
        try:
            flags = self.remote.judge(Span(*span), account_id)
        except BackendError as exc:
            evidence.append(("remote", span, carrier, None, f"{exc}; denied (fail closed)", True))
            return FOUND_REMOTE_DENIAL
        found = found_of_flags(flags)
        described = ", ".join(f"{name}={str(flags[name]).lower()}" for name in FLAGS[1:])
        verb = "allows" if flags["allowed"] else "denies"
        evidence.append(("remote", span, carrier, None, f"the Addressing API {verb} it ({described})", not flags["allowed"]))
        return found


def _single_judge(prefix_index):
    """The index's :class:`~saltext.spectrum_acl.core.single.SingleJudge`, made once per index."""
    judge = _SINGLE_JUDGES.get(prefix_index)
    if judge is None:
        judge = _SINGLE_JUDGES[prefix_index] = SingleJudge(prefix_index)
    return judge


_SINGLE_JUDGES = weakref.WeakKeyDictionary()


def describe_resolution(resolution):
    """``name resolves to a, b``; for SRV, each target with its port and addresses."""
    if not resolution.targets:
        via = "" if resolution.source == "dns" else f" (from {resolution.source})"
        return f"{resolution.name} resolves to {', '.join(resolution.addresses)}{via}"
    targets = "; ".join(
        f"{target.target}:{target.port} at {', '.join(target.addresses)}" for target in resolution.targets
    )
    return f"{resolution.name} (SRV) points at {targets}"
