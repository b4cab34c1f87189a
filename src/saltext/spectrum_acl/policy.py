"""The decision: may this account use this origin?

Per ``SPEC.md``, for each network an origin covers (and each IPv4 network
carried inside an IPv6 one), in this order:

1. an origin that overlaps a Spectrum edge IP (``has_binding``) is denied, always;
2. an origin that overlaps managed or reserved space is allowed only when the
   account has permission for every such address: it owns the most specific
   prefix covering it, or holds a delegation covering it (``is_delegated``);
3. anything else is allowed.

Every verdict carries reasons a person can act on.
"""

from dataclasses import asdict, dataclass, field

import netaddr

from saltext.spectrum_acl.addressing import embedded_ipv4, parse_address, parse_origin
from saltext.spectrum_acl.errors import BackendError, OriginSyntaxError
from saltext.spectrum_acl.index import PrefixIndex
from saltext.spectrum_acl.resolver import ResolutionError, system_resolver

#: Reasons of one kind beyond this many are summarised as "... and N more".
MAX_REASONS_PER_KIND = 5

FLAGS = ("allowed", "is_managed", "is_delegated", "is_reserved", "has_binding")


@dataclass
class Verdict:
    """The guard's answer for one origin and account, with the Addressing API's flag names."""

    origin: str
    account_id: str
    allowed: bool = False
    is_managed: bool = False
    is_delegated: bool = False
    is_reserved: bool = False
    has_binding: bool = False
    reasons: list = field(default_factory=list)
    denying_reasons: list = field(default_factory=list, repr=False)

    def flags(self):
        return {name: getattr(self, name) for name in FLAGS}

    def as_dict(self):
        data = asdict(self)
        del data["denying_reasons"]
        return data

    def summary(self):
        """One line: the origin, allowed or denied, and why (only what denies, when denied)."""
        if self.allowed:
            return f"{self.origin} allowed: " + "; ".join(self.reasons)
        return f"{self.origin} denied: " + "; ".join(self.denying_reasons or self.reasons)


def denied(origin, account_id, reason):
    """A verdict that denies without looking anything up (fail closed)."""
    return Verdict(origin, account_id, reasons=[reason], denying_reasons=[reason])


def _relation(query, entry):
    if query.prefixlen == entry.prefixlen:
        return "is"
    return "is in" if query.prefixlen > entry.prefixlen else "overlaps"


def _named(entry):
    return f"{entry.cidr} ({entry.detail})" if entry.detail else entry.cidr


class _Findings:
    """Flags and de-duplicated reasons gathered while judging the networks of one origin."""

    def __init__(self):
        self.has_binding = self.is_managed = self.is_reserved = self.unpermitted = self.remote_denied = False
        self.reasons = {}
        self.denying = set()
        self.overflow = {}

    def add(self, kind, key, text, denies):
        if (kind, key) in self.reasons:
            return
        if sum(1 for known_kind, _ in self.reasons if known_kind == kind) >= MAX_REASONS_PER_KIND:
            self.overflow[kind] = self.overflow.get(kind, 0) + 1
            return
        self.reasons[(kind, key)] = text
        if denies:
            self.denying.add((kind, key))

    def lines(self, denying_only=False):
        lines = [text for key, text in self.reasons.items() if not denying_only or key in self.denying]
        lines.extend(f"... and {count} more {kind} findings" for kind, count in self.overflow.items())
        return lines


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
            expanded.extend((account_id, carried) for _, carried in embedded_ipv4(network))
        self.remote.prefetch(expanded)

    def check_origin(self, origin, account_id):
        """Judge an origin given as text (address, CIDR or URL) or as a parsed ``Origin``.

        Raises ``OriginSyntaxError`` for text that strict parsing refuses.
        """
        if isinstance(origin, str):
            origin = parse_origin(origin)
        return self.check_networks(origin.text, [origin.network], account_id)

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
        resolved = f"{name} resolves to {', '.join(str(address) for address in addresses)}"
        verdict.reasons.insert(0, resolved)
        if not verdict.allowed:
            verdict.denying_reasons.insert(0, resolved)
        return verdict

    def check_networks(self, label, networks, account_id):
        """Judge the union of ``networks`` as one origin called ``label``."""
        findings = _Findings()
        for network in networks:
            self._judge(network, str(_display(network)), account_id, findings)
            for form, carried in embedded_ipv4(network):
                self._judge(carried, f"{_display(carried)} (carried by {_display(network)} as {form})", account_id, findings)
        return self._verdict(label, account_id, findings)

    def _judge(self, network, shown, account_id, findings):
        if self.remote is not None:
            self._judge_remote(network, shown, account_id, findings)
        for _, _, cover in self.app_bindings.coverage(network):
            if cover.binding is not None:
                findings.has_binding = True
                findings.add("binding", id(cover.binding), _binding_reason(shown, network, cover.binding), True)
        for _, _, cover in self.prefix_index.coverage(network):
            if cover.binding is not None:
                findings.has_binding = True
                findings.add("binding", id(cover.binding), _binding_reason(shown, network, cover.binding), True)
            if cover.prefix is None and cover.reserved is None:
                continue
            findings.is_managed |= cover.prefix is not None
            findings.is_reserved |= cover.reserved is not None
            permitted = cover.permits(account_id)
            findings.unpermitted |= not permitted
            findings.add(
                "permission",
                (id(cover.prefix), id(cover.reserved), permitted),
                _permission_reason(shown, network, cover, account_id, permitted),
                not permitted,
            )

    def _judge_remote(self, network, shown, account_id, findings):
        try:
            flags = self.remote.judge(network, account_id)
        except BackendError as exc:
            findings.remote_denied = True
            findings.add("remote", str(network), f"{shown}: {exc}; denied (fail closed)", True)
            return
        findings.has_binding |= flags["has_binding"]
        findings.is_managed |= flags["is_managed"]
        findings.is_reserved |= flags["is_reserved"]
        findings.unpermitted |= (flags["is_managed"] or flags["is_reserved"]) and not flags["is_delegated"]
        described = ", ".join(f"{name}={str(flags[name]).lower()}" for name in FLAGS[1:])
        if flags["allowed"]:
            findings.add("remote", str(network), f"the Addressing API allows {shown} ({described})", False)
        else:
            findings.remote_denied = True
            findings.add("remote", str(network), f"the Addressing API denies {shown} ({described})", True)

    @staticmethod
    def _verdict(label, account_id, findings):
        sensitive = findings.is_managed or findings.is_reserved
        verdict = Verdict(
            origin=label,
            account_id=account_id,
            is_managed=findings.is_managed,
            is_reserved=findings.is_reserved,
            has_binding=findings.has_binding,
            is_delegated=sensitive and not findings.unpermitted,
        )
        verdict.allowed = (
            not findings.has_binding and not findings.remote_denied and (not sensitive or verdict.is_delegated)
        )
        verdict.reasons = findings.lines() or [f"{label} is not managed, reserved or a Spectrum edge IP"]
        verdict.denying_reasons = findings.lines(denying_only=True)
        return verdict


def _display(network):
    return network.ip if network.size == 1 else network


def _binding_reason(shown, network, binding):
    if network.prefixlen == binding.prefixlen:
        where = f"{shown} is {binding.detail}"
    else:
        where = f"{shown} {_relation(network, binding)} {binding.cidr}, {binding.detail}"
    return f"{where}; an origin at an edge IP makes the proxy loop"


def _permission_reason(shown, network, cover, account_id, permitted):
    parts = []
    if cover.reserved is not None:
        parts.append(
            f"{shown} {_relation(network, cover.reserved)} {cover.reserved.cidr} ({cover.reserved.detail}), "
            "reserved space that is not on the public Internet"
        )
    if cover.prefix is not None:
        where = "" if parts else f"{shown} {_relation(network, cover.prefix)} "
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
