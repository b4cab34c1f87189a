"""Loading and checking local prefix data: bad data is refused with a clear error."""

import copy
import json

import pytest

from saltext.spectrum_acl.core import index, reserved
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.data import prefix_data
from saltext.spectrum_acl.errors import PrefixDataError
from tests.unit.helpers import DOC


def _prefix(cidr="104.16.0.0/13", account_id="provider", **extra):
    record = {"cidr": cidr, "account_id": account_id}
    record.update(extra)
    return record


BAD_DOCUMENTS = [
    pytest.param(None, ["'prefixes' list"], id="none"),
    pytest.param([], ["'prefixes' list"], id="top-level-list"),
    pytest.param("prefixes", ["'prefixes' list"], id="top-level-string"),
    pytest.param({}, ["'prefixes' list"], id="no-prefixes-key"),
    pytest.param({"prefixes": {"cidr": "1.2.3.0/24"}}, ["'prefixes' list"], id="prefixes-not-a-list"),
    pytest.param({"prefixes": ["104.16.0.0/13"]}, ["prefixes[0]", "must be a mapping"], id="record-not-a-mapping"),
    pytest.param({"prefixes": [{"account_id": "provider"}]}, ["prefixes[0]", "'cidr'"], id="missing-cidr"),
    pytest.param({"prefixes": [_prefix(cidr="104.16.0.0/255.248.0.0")]}, ["'cidr'", "netmask"], id="netmask-cidr"),
    pytest.param({"prefixes": [_prefix(cidr="104.16.0.1/13")]}, ["'cidr'", "host bits"], id="host-bits"),
    pytest.param({"prefixes": [_prefix(cidr="104.16.0.0/33")]}, ["'cidr'", "104.16.0.0/33"], id="prefixlen-33"),
    pytest.param({"prefixes": [_prefix(cidr="not-a-cidr")]}, ["'cidr'", "not-a-cidr"], id="unparseable"),
    pytest.param({"prefixes": [_prefix(cidr="104.016.0.0/13")]}, ["'cidr'", "leading zero"], id="leading-zero"),
    pytest.param({"prefixes": [_prefix(cidr=1745879040)]}, ["'cidr'"], id="integer-cidr"),
    pytest.param({"prefixes": [{"cidr": "104.16.0.0/13"}]}, ["prefixes[0]", "'account_id'"], id="missing-account-id"),
    pytest.param({"prefixes": [_prefix(account_id="")]}, ["'account_id'"], id="empty-account-id"),
    pytest.param({"prefixes": [_prefix(account_id=42)]}, ["'account_id'", "42"], id="integer-account-id"),
    pytest.param({"prefixes": [_prefix(description=7)]}, ["'description'"], id="integer-description"),
    pytest.param(
        {"prefixes": [_prefix(), _prefix(account_id="other")]},
        ["prefixes[1]", "duplicate prefix", "'provider'", "'other'"],
        id="duplicate-different-owner",
    ),
    pytest.param(
        {"prefixes": [_prefix(delegations=[{"cidr": "104.24.0.0/24", "delegated_account_id": "x"}])]},
        ["delegations[0]", "104.24.0.0/24", "outside its parent prefix", "104.16.0.0/13"],
        id="delegation-outside-parent",
    ),
    pytest.param(
        {"prefixes": [_prefix(delegations=[{"cidr": "104.0.0.0/8", "delegated_account_id": "x"}])]},
        ["delegations[0]", "outside its parent prefix"],
        id="delegation-wider-than-parent",
    ),
    pytest.param(
        {"prefixes": [_prefix(delegations=[{"cidr": "2606:4700::/32", "delegated_account_id": "x"}])]},
        ["delegations[0]", "outside its parent prefix"],
        id="delegation-other-family",
    ),
    pytest.param(
        {"prefixes": [_prefix(delegations=[{"cidr": "104.16.5.0/24"}])]},
        ["delegations[0]", "'delegated_account_id'"],
        id="delegation-missing-account",
    ),
    pytest.param(
        {"prefixes": [_prefix(delegations=[{"cidr": "104.16.5.1/24", "delegated_account_id": "x"}])]},
        ["delegations[0]", "host bits"],
        id="delegation-host-bits",
    ),
    pytest.param(
        {"prefixes": [_prefix(delegations={"cidr": "104.16.5.0/24", "delegated_account_id": "x"})]},
        ["'delegations'", "must be a list"],
        id="delegations-not-a-list",
    ),
    pytest.param(
        {"prefixes": [_prefix(delegations=["104.16.5.0/24"])]},
        ["delegations[0]", "must be a mapping"],
        id="delegation-not-a-mapping",
    ),
    pytest.param(
        {"prefixes": [_prefix(bindings=[{"cidr": "104.24.0.1/32", "service_name": "Spectrum"}])]},
        ["bindings[0]", "104.24.0.1/32", "outside its parent prefix"],
        id="binding-outside-parent",
    ),
    pytest.param(
        {"prefixes": [_prefix(bindings=[{"cidr": "104.16.5.1", "service_name": 3}])]},
        ["bindings[0]", "'service_name'"],
        id="binding-bad-service-name",
    ),
    pytest.param(
        {"prefixes": [_prefix(bindings=[{"cidr": "104.16.5.1"}])]},
        ["bindings[0]", "'service_name'"],
        id="binding-missing-service-name",
    ),
    pytest.param(
        {"prefixes": [_prefix(bindings=[{"cidr": "127.1", "service_name": "Spectrum"}])]},
        ["bindings[0]", "'cidr'", "127.1"],
        id="binding-short-form",
    ),
    pytest.param(
        {"prefixes": [_prefix(bindings="104.16.5.1")]},
        ["'bindings'", "must be a list"],
        id="bindings-not-a-list",
    ),
]


@pytest.mark.parametrize("document, fragments", BAD_DOCUMENTS)
def test_bad_documents_are_refused(document, fragments):
    with pytest.raises(PrefixDataError) as excinfo:
        prefix_data.entries_from_document(document, source="unit.yaml")
    message = str(excinfo.value)
    assert message.startswith("unit.yaml")
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message


def _kinds(entries):
    return sorted((entry.kind, entry.cidr, entry.account) for entry in entries)


@pytest.mark.parametrize(
    "document, expected",
    [
        pytest.param({"prefixes": [], "allow_empty": True}, [], id="empty-when-the-file-says-so"),
        pytest.param(
            {"prefixes": [_prefix(), _prefix()]},
            [("prefix", "104.16.0.0/13", "provider")],
            id="duplicate-same-owner",
        ),
        pytest.param(
            {
                "prefixes": [
                    _prefix(delegations=[{"cidr": "104.16.5.0/24", "delegated_account_id": "a"}]),
                    _prefix(delegations=[{"cidr": "104.16.6.0/24", "delegated_account_id": "b"}]),
                ]
            },
            [
                ("delegation", "104.16.5.0/24", "a"),
                ("delegation", "104.16.6.0/24", "b"),
                ("prefix", "104.16.0.0/13", "provider"),
            ],
            id="duplicate-same-owner-merges-children",
        ),
        pytest.param(
            {"prefixes": [_prefix(delegations=[{"cidr": "104.16.0.0/13", "delegated_account_id": "a"}])]},
            [("delegation", "104.16.0.0/13", "a"), ("prefix", "104.16.0.0/13", "provider")],
            id="delegation-equal-to-parent",
        ),
        pytest.param(
            {
                "prefixes": [
                    _prefix(
                        bindings=[
                            {"cidr": "104.16.5.1/32", "service_name": "Spectrum"},
                            {"cidr": "104.16.5.2/32", "service_name": "Magic Transit"},
                            {"cidr": "104.16.5.3/32", "service_name": "spectrum"},
                            {"cidr": "104.16.5.4/32", "service_name": "CDN"},
                        ]
                    )
                ]
            },
            [("binding", "104.16.5.1/32", None), ("binding", "104.16.5.3/32", None), ("prefix", "104.16.0.0/13", "provider")],
            id="only-spectrum-bindings-in-any-case",
        ),
        pytest.param(
            {"prefixes": [_prefix(bindings=[{"cidr": "104.16.5.1", "service_name": "Spectrum"}])]},
            [("binding", "104.16.5.1/32", None), ("prefix", "104.16.0.0/13", "provider")],
            id="binding-bare-address",
        ),
        pytest.param(
            {"prefixes": [_prefix(unknown_key="ignored", created_at="2020", delegations=None, bindings=None)]},
            [("prefix", "104.16.0.0/13", "provider")],
            id="unknown-keys-and-null-lists",
        ),
    ],
)
def test_good_documents(document, expected):
    assert _kinds(prefix_data.entries_from_document(document)) == expected


def test_non_spectrum_binding_is_not_a_binding():
    document = {"prefixes": [_prefix(bindings=[{"cidr": "104.16.5.2/32", "service_name": "Magic Transit"}])]}
    idx = index.PrefixIndex(prefix_data.entries_from_document(document))
    verdict = OriginGuard(idx).check_origin("104.16.5.2", "provider")
    assert verdict.allowed is True
    assert verdict.has_binding is False


def test_entries_link_children_to_parent():
    entries = prefix_data.entries_from_document(DOC)
    prefixes = {entry.cidr: entry for entry in entries if entry.kind == index.PREFIX}
    delegations = [entry for entry in entries if entry.kind == index.DELEGATION]
    bindings = [entry for entry in entries if entry.kind == index.BINDING]
    assert {d.cidr: d.parent for d in delegations} == {
        "104.16.5.0/24": prefixes["104.16.0.0/13"],
        "2606:4700:10::/48": prefixes["2606:4700::/32"],
    }
    assert sorted(b.cidr for b in bindings) == ["104.16.5.10/32", "2606:4700::6810:5:a/128", "45.91.88.1/32"]
    assert all(b.parent is not None and b.parent.kind == index.PREFIX for b in bindings)
    assert prefixes["104.16.0.0/13"].detail == "CDN edge"


# --------------------------------------------------------------------------- files

YAML_TEXT = """\
prefixes:
  - cidr: 104.16.0.0/13
    account_id: provider
    description: CDN edge
    delegations:
      - {cidr: 104.16.5.0/24, delegated_account_id: crossbow}
    bindings:
      - {cidr: 104.16.5.10/32, service_name: Spectrum}
"""


def _check_loaded(idx):
    assert idx.counts == {"prefix": 1, "delegation": 1, "binding": 1, "reserved": len(reserved.reserved_entries())}
    guard = OriginGuard(idx)
    assert guard.check_origin("104.16.5.20", "crossbow").allowed
    assert not guard.check_origin("104.16.9.1", "crossbow").allowed
    assert guard.check_origin("104.16.5.10", "provider").has_binding
    assert guard.check_origin("10.0.0.1", "provider").is_reserved  # reserved blocks are included


@pytest.mark.parametrize("name", [pytest.param("prefixes.yaml", id="yaml"), pytest.param("prefixes.yml", id="yml"), pytest.param("prefixes", id="no-suffix")])
def test_load_yaml_file(tmp_path, name):
    path = tmp_path / name
    path.write_text(YAML_TEXT, encoding="utf-8")
    _check_loaded(prefix_data.load_index(str(path)))


def test_load_json_file(tmp_path):
    path = tmp_path / "prefixes.json"
    document = {
        "prefixes": [
            {
                "cidr": "104.16.0.0/13",
                "account_id": "provider",
                "delegations": [{"cidr": "104.16.5.0/24", "delegated_account_id": "crossbow"}],
                "bindings": [{"cidr": "104.16.5.10/32", "service_name": "Spectrum"}],
            }
        ]
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    _check_loaded(prefix_data.load_index(str(path)))


@pytest.mark.parametrize(
    "name, content, fragments",
    [
        pytest.param("bad.yaml", "prefixes: [\n  - {cidr: 1.2.3.0/24\n", ["bad.yaml", "not valid YAML"], id="bad-yaml"),
        pytest.param("bad.yaml", "prefixes:\n\t- cidr: 1.2.3.0/24\n", ["not valid YAML"], id="yaml-tab"),
        pytest.param("bad.json", '{"prefixes": [}', ["bad.json", "not valid JSON"], id="bad-json"),
        pytest.param("bad.json", "prefixes: []\n", ["not valid JSON"], id="yaml-in-json-file"),
        pytest.param("empty.yaml", "", ["empty.yaml", "'prefixes' list"], id="empty-yaml"),
        pytest.param("list.yaml", "- 1.2.3.0/24\n", ["'prefixes' list"], id="yaml-list"),
        pytest.param("unsafe.yaml", "prefixes: !!python/object/apply:os.system ['true']\n", ["not valid YAML"], id="unsafe-yaml-tag"),
        pytest.param(
            "dup.yaml",
            "prefixes:\n  - {cidr: 1.0.0.0/24, account_id: a}\n  - {cidr: 1.0.0.0/24, account_id: b}\n",
            ["dup.yaml", "duplicate prefix"],
            id="duplicate-in-file",
        ),
        pytest.param(
            "out.json",
            json.dumps({"prefixes": [{"cidr": "1.0.0.0/24", "account_id": "a", "bindings": [{"cidr": "1.0.1.1/32", "service_name": "Spectrum"}]}]}),
            ["out.json", "outside its parent prefix"],
            id="binding-outside-in-json",
        ),
    ],
)
def test_load_bad_files(tmp_path, name, content, fragments):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PrefixDataError) as excinfo:
        prefix_data.load_index(str(path))
    for fragment in fragments:
        assert fragment in str(excinfo.value)


def test_load_missing_file(tmp_path):
    path = str(tmp_path / "missing.yaml")
    with pytest.raises(PrefixDataError) as excinfo:
        prefix_data.load_index(path)
    assert path in str(excinfo.value)
    assert "does not exist" in str(excinfo.value)


def test_load_directory(tmp_path):
    with pytest.raises(PrefixDataError):
        prefix_data.load_index(str(tmp_path))


def test_load_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"prefixes:\n  - {cidr: 1.0.0.0/24, account_id: caf\xe9}\n")
    with pytest.raises(PrefixDataError) as excinfo:
        prefix_data.load_index(str(path))
    assert "latin1.yaml" in str(excinfo.value)


def test_document_is_not_mutated():
    document = copy.deepcopy(DOC)
    prefix_data.entries_from_document(document)
    assert document == DOC
