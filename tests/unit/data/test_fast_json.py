"""The fast JSON loader builds exactly what the standard path builds, and leaves every problem to it."""

import json
import random

import pytest

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
