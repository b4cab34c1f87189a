"""The fast JSON loader builds exactly what the standard path builds, and leaves every problem to it."""

import json
import random

import pytest

from saltext.spectrum_acl.core import index
from saltext.spectrum_acl.data import fast_json, prefix_data
from saltext.spectrum_acl.errors import PrefixDataError
from tests.unit.core.test_differential import make_world
from tests.unit.data.test_prefix_data import BAD_DOCUMENTS
from tests.unit.helpers import DOC


def _column_values(columns):
    return {
        "kind": bytes(columns.kind), "version": bytes(columns.version), "prefixlen": bytes(columns.prefixlen),
        "first": list(columns.first), "account": list(columns.account), "detail": list(columns.detail),
        "parent": list(columns.parent), "strings": list(columns.strings),
    }


def _fast(document):
    decoded = fast_json.decode(json.dumps(document).encode())
    return fast_json.columns_from_document(decoded) if decoded is not None else None


def _many_children(count, seed=3):
    """Provider /16s with /32 bindings (some not Spectrum) and /24 delegations, IPv4 and IPv6."""
    rng = random.Random(seed)
    prefixes = []
    for block in range(20):
        v4 = {"cidr": f"44.{block}.0.0/16", "account_id": "provider", "bindings": [], "delegations": []}
        v6 = {"cidr": f"2a06:{block:x}::/32", "account_id": "provider", "bindings": []}
        for _ in range(count // 40):
            service = rng.choice(("Spectrum", "Spectrum", "CDN"))
            v4["bindings"].append({"cidr": f"44.{block}.{rng.randrange(256)}.{rng.randrange(256)}", "service_name": service})
            v6["bindings"].append({"cidr": f"2a06:{block:x}::{rng.randrange(1 << 16):x}/128", "service_name": service})
        v4["delegations"] = [{"cidr": f"44.{block}.{n}.0/24", "delegated_account_id": f"team{n % 7}"} for n in range(5)]
        prefixes.extend((v4, v6))
    return {"prefixes": prefixes}


def _documents():
    yield pytest.param(DOC, id="doc")
    yield pytest.param({"prefixes": [], "allow_empty": True}, id="empty-when-allowed")
    yield pytest.param(_many_children(4000), id="4000-children")
    mixed = {"prefixes": [
        {"cidr": "104.16.0.0/13", "account_id": "p", "description": "d",
         "bindings": [{"cidr": "104.16.0.1", "service_name": "Magic Transit"},
                      {"cidr": "104.16.0.2/32", "service_name": "Spectrum"},
                      {"cidr": "104.16.0.3/32", "service_name": "SPECTRUM"}]},
        {"cidr": "104.16.0.0/13", "account_id": "p", "description": "other text, ignored: a duplicate",
         "delegations": [{"cidr": "104.16.0.0/13", "delegated_account_id": "q"}]},
        {"cidr": "2606:4700::/32", "account_id": "q", "bindings": [{"cidr": "2606:4700::1", "service_name": "Spectrum"}]},
        {"cidr": "::ffff:0:0/96", "account_id": "r"},
    ]}
    yield pytest.param(mixed, id="duplicates-skipped-services")
    for seed in range(6):
        yield pytest.param(make_world(random.Random(seed))[0], id=f"random-world-{seed}")


@pytest.mark.parametrize("document", list(_documents()))
def test_fast_columns_are_the_standard_columns(document):
    fast = _fast(document)
    assert fast is not None, "regular data must take the fast path"
    assert _column_values(fast) == _column_values(prefix_data.columns_from_document(document))
    assert all(type(value) is int for value in fast.first)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"prefixes": [{"cidr": "104.16.0.0/13", "account_id": "p", "extra": [1, 2]}]}', id="unknown-key"),
        pytest.param('{"prefixes": [{"cidr": "104.16.0.0/13", "account_id": "p", "delegations": null}]}', id="null-list"),
        pytest.param('{"prefixes": [{"cidr": "104.16.0.0/13", "account_id": "p", "account_id": "q"}]}', id="repeated-key"),
        pytest.param('{"prefixes": [{"cidr": "104.16.0.0/13", "account_id": "p", "description": "a\\":b"}]}',
                     id="value-spelling-a-key-end"),
    ],
)
def test_what_the_structs_cannot_account_for_goes_the_standard_way(text):
    decoded = fast_json.decode(text.encode())
    assert fast_json.columns_from_document(decoded) is None


@pytest.mark.parametrize("document, fragments", [p for p in BAD_DOCUMENTS if p.id != "none"])
def test_irregular_json_is_left_to_the_standard_path(document, fragments, tmp_path):
    assert _fast(document) is None
    path = tmp_path / "prefixes.json"
    path.write_text(json.dumps(document))
    with pytest.raises(PrefixDataError) as excinfo:
        prefix_data.load_index(str(path))
    assert str(excinfo.value).startswith(str(path))
    for fragment in fragments:
        assert fragment in str(excinfo.value)


def test_regular_json_does_not_need_the_standard_path(tmp_path, monkeypatch):
    path = tmp_path / "prefixes.json"
    path.write_text(json.dumps(DOC))
    expected = prefix_data.load_index(str(path)).counts

    def standard_path(*_args, **_kwargs):
        raise AssertionError("the standard path ran")

    monkeypatch.setattr(prefix_data, "columns_from_document", standard_path)
    assert prefix_data.load_index(str(path)).counts == expected


def test_invalid_json_is_explained(tmp_path):
    path = tmp_path / "prefixes.json"
    path.write_text('{"prefixes": [')
    with pytest.raises(PrefixDataError, match="is not valid JSON"):
        prefix_data.load_index(str(path))


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_deeply_nested_data_is_a_clear_error(tmp_path, suffix):
    path = tmp_path / f"prefixes{suffix}"
    path.write_text('{"prefixes": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(PrefixDataError, match="is not valid"):
        prefix_data.load_index(str(path))


def _same_as_standard(text):
    """Fast columns from a JSON text, checked against the standard path's columns for the same document."""
    decoded = fast_json.decode(text.encode())
    fast = fast_json.columns_from_document(decoded) if decoded is not None else None
    assert fast is not None, "regular data must take the fast path"
    assert _column_values(fast) == _column_values(prefix_data.columns_from_document(json.loads(text)))
    return fast


def _children_document():
    """Children of every kind the bulk reader meets: both families, bare addresses, IPv4 written inside
    IPv6 (left to cidr_ints), Spectrum in several cases and spellings, duplicates and shared strings."""
    return {"prefixes": [
        {"cidr": "104.16.0.0/13", "account_id": "provider", "description": "team",
         "delegations": [{"cidr": "104.16.5.0/24", "delegated_account_id": "crossbow"},
                         {"cidr": "104.16.6.0/24", "delegated_account_id": "provider"}],
         "bindings": [{"cidr": "104.16.5.1", "service_name": "SPECTRUM"}, {"cidr": "104.16.5.2/32", "service_name": "CDN"},
                      {"cidr": "104.16.5.3/32", "service_name": "sPeCtRuM"}, {"cidr": "104.16.5.4/32", "service_name": "Spectrums"},
                      {"cidr": "104.16.5.5/32", "service_name": "Spectru"}]},
        {"cidr": "2606:4700::/32", "account_id": "team", "description": "crossbow",
         "delegations": [{"cidr": "2606:4700:10::/48", "delegated_account_id": "team"}],
         "bindings": [{"cidr": "2606:4700::6810:5:a", "service_name": "Spectrum"},
                      {"cidr": "2606:4700:0:0:0:0:0:1/128", "service_name": "Spectrum"}]},
        {"cidr": "::ffff:0:0/96", "account_id": "mapped",
         "bindings": [{"cidr": "::ffff:104.16.5.1", "service_name": "Spectrum"}],
         "delegations": []},
        {"cidr": "104.16.0.0/13", "account_id": "provider", "description": "first met here, at a duplicate: not kept",
         "delegations": [{"cidr": "104.16.7.0/24", "delegated_account_id": "late"}]},
        {"cidr": "44.0.0.0/16", "account_id": "first met here, at a duplicate: not kept", "bindings": []},
    ]}


@pytest.mark.parametrize("dumps", [
    pytest.param(lambda document: json.dumps(document), id="default"),
    pytest.param(lambda document: json.dumps(document, separators=(",", ":")), id="compact"),
    pytest.param(lambda document: json.dumps(document, indent=2), id="indented"),
    pytest.param(lambda document: json.dumps(document, indent="\t", ensure_ascii=False), id="tabs"),
])
def test_children_are_read_in_bulk_as_the_standard_path_reads_them(dumps):
    fast = _same_as_standard(dumps(_children_document()))
    assert "first met here, at a duplicate: not kept" in fast.strings  # an owner is kept, a duplicate's description is not
    assert fast.strings.index("first met here, at a duplicate: not kept") > fast.strings.index("late")


def test_children_with_the_value_key_first_and_unicode_service_names():
    text = json.dumps({"prefixes": [{"cidr": "104.16.0.0/13", "account_id": "p", "bindings": [
        {"service_name": "Spectrum", "cidr": "104.16.5.1/32"},
        {"cidr": "104.16.5.2/32", "service_name": "\u017fpectrum"},  # casefolds to "spectrum"
        {"service_name": "Spectrüm", "cidr": "104.16.5.3/32"},
    ], "delegations": [{"delegated_account_id": "équipe", "cidr": "104.16.6.0/24"}]}]}, ensure_ascii=False)
    fast = _same_as_standard(text)
    assert bytes(fast.kind).count(index.KIND_CODES[index.BINDING]) == 2


@pytest.mark.parametrize("chunk_bytes", [1, 40, 1 << 21])
def test_children_read_a_chunk_at_a_time_are_the_same(monkeypatch, chunk_bytes):
    monkeypatch.setattr(fast_json, "CHILDREN_BYTES_PER_CHUNK", chunk_bytes)
    monkeypatch.setattr(fast_json, "CHILDREN_PER_CHUNK", 3)
    _same_as_standard(json.dumps(_many_children(400)))
    _same_as_standard(json.dumps(_children_document()))


@pytest.mark.parametrize(
    "children",
    [
        pytest.param('[{"cidr": "104.16.5.1/32", "service_name": "Spectrum", "extra": "x"}]', id="extra-key"),
        pytest.param('[{"cidr": "104.16.5.1/32"}]', id="missing-value"),
        pytest.param('[{"cidr": "104.16.5.1/32", "cidr": "104.16.5.2/32"}]', id="key-twice"),
        pytest.param('[{"cidr": "104.16.5.1/32", "service_name": 5}]', id="number-value"),
        pytest.param('[{"cidr": "104.16.5.1/32", "service_name": null}]', id="null-value"),
        pytest.param('[{"cidr": "104.16.5.1/32", "service_name": ["Spectrum"]}]', id="list-value"),
        pytest.param('[{"cidr": "104.16.5.1/32", "service_name": {"a": "b"}}]', id="object-value"),
        pytest.param('[{"cidr": "104.16.5.1/32", "service_name": ""}]', id="empty-value"),
        pytest.param('[{"cidr": "104.16.5.1/32", "service_name": "Spec\\u0074rum"}]', id="escape"),
        pytest.param('[{"cidr": "104.16.5.1/32", "service_name": "Spectrum"}, "104.16.5.2/32"]', id="string-item"),
        pytest.param('[[{"cidr": "104.16.5.1/32", "service_name": "Spectrum"}]]', id="nested-list"),
        pytest.param('{"cidr": "104.16.5.1/32", "service_name": "Spectrum"}', id="object-not-list"),
        pytest.param('[{}]', id="empty-object"),
        pytest.param('[{"cidr": "104.16.5.1/32", "service_name": "Spectrum", "a": "b", "c": "d"}]', id="four-members"),
        pytest.param('[{"cidr": "104.016.5.1/32", "service_name": "Spectrum"}]', id="leading-zero"),
        pytest.param('[{"cidr": "104.24.5.1/32", "service_name": "Spectrum"}]', id="outside-parent"),
        pytest.param('[{"cidr": "2606:4700::1/128", "service_name": "Spectrum"}]', id="other-family"),
        pytest.param('[{"cidr": "104.16.5.1/32", "service_name": "Spectrum"}] ', id="control-check-trailing-space"),
    ],
)
def test_irregular_children_are_left_to_the_standard_path(children):
    text = '{"prefixes": [{"cidr": "104.16.0.0/13", "account_id": "p", "bindings": ' + children + "}]}"
    decoded = fast_json.decode(text.encode())
    fast = fast_json.columns_from_document(decoded) if decoded is not None else None
    if children.endswith(" "):  # white space after a list is regular: a control case
        assert fast is not None
        return
    assert fast is None


def test_non_ascii_bytes_that_are_not_utf8_are_left_to_the_standard_path():
    text = b'{"prefixes": [{"cidr": "104.16.0.0/13", "account_id": "p", "bindings": [{"cidr": "104.16.5.1/32", "service_name": "\xff"}]}]}'
    decoded = fast_json.decode(text)
    assert decoded is None or fast_json.columns_from_document(decoded) is None
