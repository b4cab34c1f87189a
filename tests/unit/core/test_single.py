"""The fast path of ``check_origin`` (``single.py``) against the full path, field by field.

``check_origin`` answers addresses, CIDRs, URLs and parsed origins from the found bits alone and
makes the evidence (reasons, deciding entry, causes) when it is first read, by judging the origin
again in full. Everything a caller can read must be what the full path says.
"""

import gc
import ipaddress
import random
import sys
import threading
import weakref
from bisect import bisect_left

import netaddr
import pytest

from saltext.spectrum_acl.core import index, reserved, single
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.core.parse import parse_origin
from saltext.spectrum_acl.data import prefix_data
from saltext.spectrum_acl.errors import OriginSyntaxError
from tests.unit.core.test_differential import RESERVED, Reference, _pick_account, make_world, random_query
from tests.unit.helpers import DOC, build_guard

SEEDS = range(16)


def _seen(verdict):
    """Everything a caller reads from a verdict."""
    return {
        "origin": verdict.origin, "account_id": verdict.account_id, "found": verdict.found, "flags": verdict.flags(),
        "allowed": verdict.allowed, "decided_by": verdict.decided_by, "denied_by": verdict.denied_by,
        "cause": verdict.cause, "kind": verdict.kind, "edge_ip_of": verdict.edge_ip_of, "reasons": verdict.reasons,
        "denying": verdict.denying_reasons, "summary": verdict.summary(), "dict": verdict.as_dict(),
    }


def _url(network):
    host = f"[{network.network_address}]" if network.version == 6 else str(network.network_address)
    return f"tcp://{host}:22"


@pytest.mark.parametrize("seed", SEEDS, ids=[f"seed-{seed}" for seed in SEEDS])
def test_fast_path_says_what_the_full_path_says(seed):
    """Random worlds (the differential test's): every field, for text, parsed origins and URLs,
    with and without app edge IPs; the flags also against the naive reference."""
    rng = random.Random(1000 + seed)
    document, refs, app_bindings = make_world(rng)
    entries = prefix_data.entries_from_document(document)
    prefix_index = index.PrefixIndex(entries + reserved.reserved_entries())
    app_index = index.PrefixIndex(
        [index.Entry(index.BINDING, netaddr.IPNetwork(str(network)), f"app{n}", "app edge IP")
         for n, network in enumerate(app_bindings)]
    )
    app_refs = refs[len(refs) - len(RESERVED) - len(app_bindings):len(refs) - len(RESERVED)]
    plain_reference = Reference([ref for ref in refs if all(ref is not app_ref for app_ref in app_refs)])
    guards = {"plain": (OriginGuard(prefix_index), plain_reference),
              "app edge IPs": (OriginGuard(prefix_index, app_bindings=app_index), Reference(refs))}
    for _ in range(80):
        network = random_query(rng, refs)
        account = _pick_account(rng, refs, network)
        forms = [str(network), parse_origin(str(network))]
        if network.prefixlen == network.max_prefixlen:
            forms += [_url(network), parse_origin(_url(network))]
        for name, (guard, reference) in guards.items():
            expected = reference.verdict(network, account)
            for form in forms:
                fast = guard.check_origin(form, account)
                assert fast.flags() == expected, (seed, name, form, account)
                assert _seen(fast) == _seen(guard.judge_in_full(form, account)), (seed, name, form, account)


def test_the_fast_path_answers_the_common_forms_and_declines_the_rest(doc_guard):
    judge = single.SingleJudge(doc_guard.prefix_index)
    for text in ("104.16.5.20", "104.16.5.0/24", "2606:4700:10::1", "2606:4700::/32", "8.8.8.8", "0.0.0.0/0"):
        assert judge.found_of_text(text, "crossbow") is not None, text
    declined = ["::ffff:104.16.5.20", "2002:6810:514::1", "2001::/16", "::/0", "tcp://104.16.5.20:22", "104.16.5.1/24",
                "104.16.5.020", "104.16.5.20/024", "104.16.5.20 ", "", "2606:4700::/129", "fe80::1%eth0", "1.2.3.4/"]
    for text in declined:
        assert judge.found_of_text(text, "crossbow") is None, text
    assert judge.found_of_span(parse_origin("::ffff:104.16.5.20").span, "crossbow") is None


@pytest.mark.parametrize("text", ["104.16.5.020", "104.16.5.1/24", "127.1", "tcp://104.16.5.20:0", "tcp://host:22", " 1.2.3.4"])
def test_refused_spellings_raise_the_full_paths_error(doc_guard, text):
    with pytest.raises(OriginSyntaxError) as fast:
        doc_guard.check_origin(text, "crossbow")
    with pytest.raises(OriginSyntaxError) as full:
        doc_guard.judge_in_full(text, "crossbow")
    assert str(fast.value) == str(full.value)


def test_evidence_is_made_once_when_first_read(doc_guard):
    verdict = doc_guard.check_origin("104.16.6.20", "crossbow")
    assert verdict.allowed is False and verdict._judge is doc_guard  # nothing made yet
    first = verdict.evidence
    assert verdict._judge is None and verdict.evidence is first
    assert verdict.decided_by == "104.16.0.0/13"


def test_each_account_keeps_its_own_answers(monkeypatch):
    """The memo of what a label adds is per account; more accounts than are kept still answer right."""
    monkeypatch.setattr(single, "ACCOUNTS_KEPT", 2)
    guard = build_guard(DOC)
    full = build_guard(DOC)
    for _ in range(3):
        for account in ("crossbow", "provider", "team", None, "", "acme", "crossbow"):
            for text in ("104.16.5.20", "104.16.0.0/16", "104.17.8.9", "45.91.88.0/24", "2606:4700:10::5", "2606:4700::/32"):
                assert guard.check_origin(text, account).flags() == full.judge_in_full(text, account).flags(), (text, account)


def test_one_judge_per_index_and_it_lets_the_index_go():
    prefix_index = index.PrefixIndex(prefix_data.entries_from_document(DOC))
    first, second = OriginGuard(prefix_index), OriginGuard(prefix_index)
    assert first._found_of_text is second._found_of_text
    assert first.check_origin("104.16.5.20", "crossbow").allowed
    gone = weakref.ref(prefix_index)
    del prefix_index, first, second
    gc.collect()
    assert gone() is None  # the per-index cache holds the lookups, not the index


@pytest.mark.parametrize("seed", range(6))
def test_v4_buckets_are_where_each_slash16_begins(seed):
    rng = random.Random(seed)
    networks = {ipaddress.ip_network((rng.getrandbits(32) >> 8 << 8, 24)) for _ in range(rng.randint(0, 300))}
    networks |= {ipaddress.ip_network((rng.getrandbits(16) << 16, 16)) for _ in range(rng.randint(0, 5))}
    entries = [index.Entry(index.PREFIX, netaddr.IPNetwork(str(network)), "owner") for network in sorted(networks)]
    built = index.PrefixIndex(entries)
    starts = built.segments[4][0]
    assert list(built.v4_buckets) == [bisect_left(starts, top << 16) for top in range(index.V4_BUCKETS + 1)]


def test_threads_sharing_a_guard_get_the_full_paths_answers(monkeypatch):
    """Memos dropped by one thread while another uses them (few kept, many accounts) change no answer."""
    monkeypatch.setattr(single, "ACCOUNTS_KEPT", 2)
    guard = build_guard(DOC)
    texts = ["104.16.5.20", "104.16.0.0/16", "104.17.8.9", "45.91.88.0/24", "2606:4700:10::5", "2606:4700::/32"]
    accounts = ["crossbow", "provider", "team", "acme", "ham", None, "stranger"]
    expected = {(text, account): guard.judge_in_full(text, account).flags() for text in texts for account in accounts}
    wrong = []

    def ask(seed):
        rng = random.Random(seed)
        for _ in range(3000):
            key = (rng.choice(texts), rng.choice(accounts))
            try:
                if guard.check_origin(*key).flags() != expected[key]:
                    wrong.append(key)
            except Exception as exc:  # a thread's exception would be lost
                wrong.append((key, exc))

    workers = [threading.Thread(target=ask, args=(seed,)) for seed in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns often
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    finally:
        sys.setswitchinterval(interval)
    assert not wrong


V6_EDGES = {
    "prefixes": [
        {"cidr": "2a0f:ff00::/24", "account_id": "edge",
         "delegations": [{"cidr": "2a0f:ffff:ff00::/40", "delegated_account_id": "team"},
                         {"cidr": "2a0f:ff00:100::/48", "delegated_account_id": "team"}],
         "bindings": [{"cidr": "2a0f:ff00:100:5::1/128", "service_name": "spectrum"}]},
        {"cidr": "fffe:ff00::/24", "account_id": "top"},
        {"cidr": "ffff:ffff:ff00::/48", "account_id": "top"},
    ]
}


@pytest.mark.parametrize("text", [
    "2a0f:ffff:ff00::1", "2a0f:ffff:feff:ffff:ffff:ffff:ffff:ffff", "2a0f:ff00:100:5::1", "2a0f:ff00:100:5::/64",
    "2a0f:ff00:100::/48", "2a0f:ff00:100::/47", "2a0f:ff00::/32", "2a0f:ff00::/40", "2a0f:ff00::/39",
    "2a0f:ffff:ff00::/64", "2a0f:ffff:ff00::/40", "2a0f:ff00::/24", "2a0f::/16",
    "fffe:ff00::1", "ffff:ffff:ff00::1", "ffff:ffff:ff00::/64", "ffff:ffff:ffff:ffff::/64", "ffff:ffff:ff00::/40",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ff00::/24",
])
@pytest.mark.parametrize("account", ["edge", "team", "top", "nobody"])
def test_ipv6_segments_at_the_edges_of_a_slash40(text, account):
    """IPv6 starts are searched as 16-byte keys by /40: the last /40 of the space, CIDRs inside one /40
    that cross segments, and CIDRs wider than a /40, all as the full path says."""
    guard = build_guard(V6_EDGES)
    fast = guard.check_origin(text, account)
    assert fast._judge is guard  # the fast path answered
    assert _seen(fast) == _seen(guard.judge_in_full(text, account))
