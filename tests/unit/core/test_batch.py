"""``OriginGuard.check_batch``: the numpy path answers exactly as ``check_origin`` does."""

import ipaddress
import json
import random

import netaddr
import numpy as np
import pytest

from saltext.spectrum_acl.core import guard as guard_module
from saltext.spectrum_acl.core import index
from saltext.spectrum_acl.core.build import columns
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.core.parse import cidr_ints
from saltext.spectrum_acl.core.verdict import FLAGS
from saltext.spectrum_acl.data import prefix_data
from saltext.spectrum_acl.errors import OriginSyntaxError
from tests.unit.data.test_compiled import ACCOUNTS, QUERIES
from tests.unit.helpers import DOC


@pytest.fixture(autouse=True)
def batch_every_size(monkeypatch):
    """The numpy path for every batch here, however small (see test_small_batches_go_one_at_a_time)."""
    monkeypatch.setattr(guard_module, "BATCH_MINIMUM", 0)


def test_small_batches_go_one_at_a_time(doc_guard, monkeypatch):
    monkeypatch.setattr(guard_module, "BATCH_MINIMUM", 32)
    small, large = doc_guard.check_batch(["104.16.5.20"] * 31, "crossbow"), doc_guard.check_batch(["104.16.5.20"] * 32, "crossbow")
    assert len(small._full) == 31 and len(large._full) == 0
    assert small.decided_by_all() == large.decided_by_all()[:31]


def _random_origins(seed=5):
    rng = random.Random(seed)
    origins = list(QUERIES)
    origins += [f"104.16.{rng.randrange(16)}.{rng.randrange(256)}" for _ in range(200)]
    origins += [f"104.16.{rng.randrange(16)}.0/{rng.choice((24, 28, 30))}" for _ in range(100)]
    origins += [f"45.91.{88 + rng.randrange(4)}.{rng.randrange(64) * 4}/30" for _ in range(50)]
    origins += [f"2606:4700:{rng.choice(('10', '0', '11'))}::{rng.randrange(1 << 16):x}" for _ in range(50)]
    origins += [f"{rng.randrange(1, 28) * 8}.0.0.0/{rng.randrange(5, 9)}" for _ in range(30)]
    origins += ["0.0.0.0/0", "::/0", "::ffff:0:0/96", "2001::/16", "tcp://104.16.5.20:22"]
    return origins


@pytest.fixture(scope="module", params=["fresh", "cached"])
def built(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("batch")
    data_file = folder / "prefixes.json"
    data_file.write_text(json.dumps(DOC))
    if request.param == "fresh":
        return prefix_data.load_index(str(data_file))
    prefix_data.load_index(str(data_file), cache_dir=str(folder / "cache"))
    return prefix_data.load_index(str(data_file), cache_dir=str(folder / "cache"))


@pytest.mark.parametrize("account", ACCOUNTS + ["stranger"])
def test_batch_agrees_with_single_checks(built, account):
    guard = OriginGuard(built)
    origins = _random_origins()
    batch = guard.check_batch(origins, account)
    singles = [guard.check_origin(origin, account) for origin in origins]
    assert len(batch) == len(origins)
    for item, single in enumerate(singles):
        assert batch.found(item) == single.found, origins[item]
        assert batch.allowed[item] == single.allowed, origins[item]
        assert batch.flags(item) == single.flags(), origins[item]
        assert batch.decided_by(item) == single.decided_by, origins[item]
    assert batch.decided_by_all() == [single.decided_by for single in singles]
    assert batch.denied_items() == [item for item, single in enumerate(singles) if not single.allowed]
    assert [batch[item].as_dict() for item in range(0, len(origins), 7)] == [
        singles[item].as_dict() for item in range(0, len(origins), 7)
    ]


def test_addresses_and_cidrs_take_the_numpy_path(doc_guard):
    """Only URLs and IPv6 that may carry IPv4 are left to check_origin; the rest is judged in columns."""
    origins = ["104.16.5.20", "104.16.0.0/16", "2606:4700:10::1", "2606:4700::/32", "tcp://104.16.5.20:22",
               "::ffff:104.16.9.1", "2002:6810:901::1", "::/0"]
    batch = doc_guard.check_batch(origins, "crossbow")
    assert sorted(batch._full) == [4, 5, 6, 7]
    assert [batch.allowed[item] for item in range(len(origins))] == [True, False, True, False, True, False, False, False]
    assert batch.decided_by(0) == "104.16.5.0/24"
    assert batch.decided_by(1) == "104.16.0.0/13"  # its first unpermitted address comes before the binding


@pytest.mark.parametrize(
    "bad, why",
    [
        ("127.1", "short forms"),
        ("104.16.5.1/24", "host bits are set"),
        ("1.1.1.1/33", "prefix length"),
        ("1.1.1.1/024", "prefix length"),
        (" 1.1.1.1", "whitespace"),
        ("2606:4700::1/24", "host bits are set"),
        ("fe80::1%eth0", "zone ids"),
    ],
)
def test_batch_refuses_bad_spellings_like_single_checks(doc_guard, bad, why):
    with pytest.raises(OriginSyntaxError, match=why):
        doc_guard.check_batch(["1.1.1.1", bad, "2606:4700::1"], "crossbow")


def test_empty_batch(doc_guard):
    batch = doc_guard.check_batch([], "crossbow")
    assert len(batch) == 0 and batch.denied_items() == [] and batch.decided_by_all() == []


def test_batch_leaves_origins_at_an_app_edge_ip_to_check_origin(doc_guard):
    app_index = index.PrefixIndex([index.Entry(index.BINDING, netaddr.IPNetwork("44.10.20.7/32"), "app-x", "edge IP of app-x")])
    guard = doc_guard.with_app_bindings(app_index)
    origins = ["44.10.20.7", "44.10.20.0/29", "44.10.20.8", "44.10.21.7"]
    batch = guard.check_batch(origins, "ham")
    assert sorted(batch._full) == [0, 1]
    assert batch.denied_items() == [0, 1]
    assert batch[0].edge_ip_of == ["app-x"] and batch[1].denied_by == ["app_binding"]
    assert batch.allowed[2] and batch.decided_by(2) == "44.10.20.0/24"
    assert batch.allowed[3] and batch.decided_by(3) is None


class _RemoteJudge:
    def __init__(self):
        self.asked = []

    def prefetch(self, pairs):
        pass

    def judge(self, network, account_id):
        self.asked.append(str(network.cidr))
        return dict.fromkeys(FLAGS, False) | {"allowed": True}


def test_a_guard_with_a_remote_judge_checks_every_origin_on_its_own(doc_guard):
    remote = _RemoteJudge()
    guard = OriginGuard(doc_guard.prefix_index, remote=remote)
    batch = guard.check_batch(["44.10.20.1", "1.1.1.1"], "ham")
    assert remote.asked == ["44.10.20.1/32", "1.1.1.1/32"]
    assert [batch.found(item) for item in range(2)] == [guard.check_origin(o, "ham").found for o in ("44.10.20.1", "1.1.1.1")]


def test_the_first_denial_decides_even_past_the_evidence_cap():
    """Hundreds of permitted segments, then a binding: the binding decides, in both paths."""
    delegations = [{"cidr": f"44.0.{n // 256}.{n % 256}/32", "delegated_account_id": "crew"} for n in range(0, 700, 2)]
    document = {"prefixes": [{"cidr": "44.0.0.0/16", "account_id": "crew", "delegations": delegations,
                              "bindings": [{"cidr": "44.0.200.1/32", "service_name": "Spectrum"}]}]}
    guard = OriginGuard(index.PrefixIndex(prefix_data.entries_from_document(document)))
    single = guard.check_origin("44.0.0.0/16", "crew")
    assert single.denied_by == ["binding"] and single.decided_by == "44.0.200.1/32"
    batch = guard.check_batch(["44.0.0.0/16", "44.0.0.0/24"], "crew")
    assert batch.decided_by_all() == ["44.0.200.1/32", "44.0.0.0/16"]
    assert batch.denied_items() == [0]


def test_account_tables_are_kept_for_a_few_accounts_only(doc_guard):
    from saltext.spectrum_acl.core import batch

    vectors = batch.IndexVectors(doc_guard.prefix_index)
    made = [vectors.tables_for(account) for account in range(batch.ACCOUNT_TABLES_KEPT + 10)]
    assert len(vectors._accounts) == batch.ACCOUNT_TABLES_KEPT
    assert vectors.tables_for(batch.ACCOUNT_TABLES_KEPT + 9) is made[-1]  # kept
    assert vectors.tables_for(0) is not made[0]  # the oldest was let go, and is made again


def test_a_batch_over_an_empty_index():
    guard = OriginGuard(index.PrefixIndex())
    batch = guard.check_batch(["1.2.3.4", "2001:db8::/32"], "a")
    assert [batch.flags(item)["allowed"] for item in range(2)] == [True, True]
    assert batch.decided_by_all() == [None, None]


def test_items_count_from_the_end_like_a_list(doc_guard):
    origins = ["10.0.0.1", "1.1.1.1", "::ffff:10.0.0.1"]
    batch = doc_guard.check_batch(origins, "crossbow")
    assert [batch.allowed[-item] for item in (1, 2, 3)] == [batch[-item].allowed for item in (1, 2, 3)] == [False, True, False]
    assert batch.decided_by(-3) == batch.decided_by(0)
    with pytest.raises(IndexError):
        batch.found(3)
    with pytest.raises(IndexError):
        batch.allowed[-4]


def test_every_cause_is_named_even_past_the_evidence_cap():
    """Past the cap, the first denial of each kind is kept: denied_by names both causes."""
    delegations = [{"cidr": f"44.0.{n // 256}.{n % 256}/32", "delegated_account_id": "crew"} for n in range(0, 700, 2)]
    document = {"prefixes": [
        {"cidr": "44.0.0.0/16", "account_id": "crew", "delegations": delegations,
         "bindings": [{"cidr": "44.0.201.1/32", "service_name": "Spectrum"}]},
        {"cidr": "44.0.200.0/24", "account_id": "someone-else"},
    ]}
    guard = OriginGuard(index.PrefixIndex(prefix_data.entries_from_document(document)))
    single = guard.check_origin("44.0.0.0/16", "crew")
    assert single.has_binding and not single.is_delegated
    assert single.denied_by == ["binding", "unpermitted"]
    assert single.decided_by == "44.0.200.0/24"
    assert guard.check_batch(["44.0.0.0/16"], "crew").decided_by(0) == "44.0.200.0/24"


def test_wide_cidrs_are_judged_in_bounded_chunks(monkeypatch, doc_guard):
    """Chunks of a few segments give the same answers as one pass."""
    from saltext.spectrum_acl.core import batch

    origins = _random_origins()
    expected = doc_guard.check_batch(origins, "crossbow")
    monkeypatch.setattr(batch, "SEGMENTS_PER_CHUNK", 3)
    chunked = doc_guard.check_batch(origins, "crossbow")
    assert [chunked.found(i) for i in range(len(origins))] == [expected.found(i) for i in range(len(origins))]
    assert chunked.decided_by_all() == expected.decided_by_all()
    chunks = batch._chunks(np.arange(5), np.array([1, 5, 1, 1, 1]))
    assert [chunk.tolist() for chunk in chunks] == [[0], [1], [2, 3, 4]]


def _spellings(rng, count):
    """Addresses and CIDRs in many spellings, and near misses made by one or two edits."""
    texts = []
    for _ in range(count):
        if rng.random() < 0.5:
            value, width = rng.getrandbits(32), 32
            text = str(ipaddress.IPv4Address(value))
        else:
            value, width = rng.getrandbits(128) & ~((1 << rng.randrange(129)) - 1), 128
            address = ipaddress.IPv6Address(value)
            text = rng.choice([address.compressed, address.exploded, address.compressed.upper(), str(address).replace(":0", ":")])
        if rng.random() < 0.6:
            length = rng.randrange(width + 1)
            network = ipaddress.ip_network((value, length), strict=False)
            if rng.random() < 0.7:
                text = network.network_address.compressed if width == 128 else str(network.network_address)
            text += "/" + rng.choice([str(length), str(length), f"0{length}", str(width + 1), "", f"{length}0"])
        for _ in range(rng.choice([0, 0, 0, 1, 2])):
            at = rng.randrange(len(text) + 1)
            text = text[:at] + rng.choice("0123456789abcdefABCDEF:./x% -\0\u0661") + text[at + rng.choice([0, 1]):]
        texts.append(text)
    return texts


@pytest.mark.parametrize("texts_per_chunk", [7, 1 << 16])
def test_bulk_parsing_reads_exactly_what_cidr_ints_reads(monkeypatch, texts_per_chunk):
    """The whole-array readers take nothing cidr_ints refuses and read every value the same way."""
    monkeypatch.setattr(columns, "TEXTS_PER_CHUNK", texts_per_chunk)
    texts = _spellings(random.Random(texts_per_chunk), 4000) + [
        "::", "::/0", "1::", "::1", "1:2:3:4:5:6:7::", "::2:3:4:5:6:7:8", "1:2:3::5:6:7:8", "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6:7:8:", ":1:2:3:4:5:6:7:8", "1:::2", "1::2::3", "::ffff:1.2.3.4", "12345::", "fffff::",
        "0000:0000:0000:0000:0000:0000:0000:0000/128", "::/00", "::/", "/", "/24", "1.2.3.0/24/24", "255.255.255.255",
        "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04", "1.2.3.4/", "1..2.3", "1.2.3.4\n", "1.2.3.4\0",
        None, 7, b"1.2.3.4", "",
    ]
    v4, v6, declined = columns.parse_many(texts)
    read = {}
    for family in (v4, v6):
        for item, first, prefixlen in zip(family.items.tolist(), family.first_ints(), family.prefixlen.tolist()):
            assert item not in read
            read[item] = (family.version, first, prefixlen)
    for item, text in enumerate(texts):
        expected = cidr_ints(text) if type(text) is str else None
        assert read.get(item) == expected, repr(text)
        assert (item in declined) == (expected is None), repr(text)


def test_ipv6_segments_are_found_by_their_top_halves_as_by_whole_keys():
    """Many segment starts share their top 64 bits (bindings in one /64): those need the whole key."""
    from saltext.spectrum_acl.core import batch
    from saltext.spectrum_acl.core.build.columns import sixteen_byte_keys

    rng = np.random.default_rng(3)
    tops = rng.choice(np.array([0, 1, 5, 1 << 63, (1 << 64) - 1], dtype=np.uint64), 2000)
    keys = np.unique(sixteen_byte_keys(tops, rng.integers(0, 1 << 63, 2000, dtype=np.uint64) * np.uint64(2)))
    keys = np.concatenate((sixteen_byte_keys(np.zeros(1, np.uint64), np.zeros(1, np.uint64)), keys))
    vectors = batch.IndexVectors.__new__(batch.IndexVectors)
    vectors.segments = {6: (keys, None, None)}
    vectors._v6_tops = batch.top_halves(keys)
    queries = np.concatenate((keys, sixteen_byte_keys(rng.choice(tops, 3000), rng.integers(0, 1 << 64, 3000, dtype=np.uint64))))
    assert np.array_equal(vectors.segments_holding(6, queries), np.searchsorted(keys, queries, side="right") - 1)


@pytest.mark.parametrize("odd", ["104.16.5.20\0", "\u0661.1.1.1", "104.16.5.20\n", "104.16.5.20 ", "2606:4700::1\0"])
def test_a_batch_refuses_what_check_origin_refuses(doc_guard, odd):
    with pytest.raises(OriginSyntaxError) as batch_error:
        doc_guard.check_batch(["104.16.5.20", odd, "2606:4700::1"], "crossbow")
    with pytest.raises(OriginSyntaxError) as single_error:
        doc_guard.check_origin(odd, "crossbow")
    assert batch_error.value.item == 1 and str(batch_error.value) == str(single_error.value)
