"""The prose of a verdict, made from its evidence when someone reads it.

Judging keeps integer evidence only; these functions turn it into reasons a person
can act on: which prefix and owner, delegation, binding, app or registry block
decided, and why.
"""

from saltext.spectrum_acl.core.ranges import Span

#: Reasons of one kind beyond this many are summarised as "... and N more".
MAX_REASONS_PER_KIND = 5

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


def render_evidence(origin, evidence):
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
