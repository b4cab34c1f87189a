"""The snapshot against the reference server over real HTTP: listings, pagination, conversion, the file.

The round trip is the point: a snapshot of the data a server holds loads, through the
loader, into a guard that gives every origin of a representative set the same verdict
(reasons included) as the data itself.
"""

import copy
import hashlib
import ipaddress
import json
import os

import pytest
import requests
import yaml

from saltext.spectrum_acl import load_guard
from saltext.spectrum_acl.api import snapshot
from saltext.spectrum_acl.api.protocol import MAX_PER_PAGE
from saltext.spectrum_acl.api.server import ReferenceServer
from saltext.spectrum_acl.api.snapshot import Converter, SnapshotError, SnapshotSettings, assemble, take_snapshot
from saltext.spectrum_acl.data import fast_json
from tests.api.conftest import DOC, full_guard
from tests.conftest import EXAMPLES

#: The owners of DOC's prefixes: a snapshot of all of them holds all of DOC.
DOC_ACCOUNTS = ["provider", "team", "acme", "ham"]


def settings_for(url, token, output, **overrides):
    values = {"url": url, "token": token, "accounts": DOC_ACCOUNTS, "output": str(output), **overrides}
    return SnapshotSettings.from_mapping(values, environ={})


def representative_origins(document):
    """Addresses and CIDRs at the edges, middle and around every entry, plus reserved, unmanaged and carried IPv4."""
    origins = {"8.8.8.8", "10.0.0.1", "127.0.0.1", "::1", "2001:db8::1", "100.64.0.0/10", "224.0.0.1", "0.0.0.0/0",
               "::/0", "64:ff9b::6810:50a", "tcp://104.16.5.20:22", "udp://[2606:4700::6810:5:a]:53"}
    for record in document["prefixes"]:
        for entry in [record, *record.get("delegations", ()), *record.get("bindings", ())]:
            network = ipaddress.ip_network(entry["cidr"])
            middle = network.network_address + network.num_addresses // 2
            origins.update({str(network), str(network.network_address), str(network.broadcast_address), str(middle)})
            if network.prefixlen:
                origins.add(str(network.supernet()))
            if network.prefixlen < network.max_prefixlen:
                origins.update(str(subnet) for subnet in network.subnets())
            if network.version == 4:
                origins.add(f"::ffff:{network.network_address}")
    return sorted(origins)


def accounts_of(document):
    found = {None, "stranger"}
    for record in document["prefixes"]:
        found.add(record["account_id"])
        found.update(delegation["delegated_account_id"] for delegation in record.get("delegations", ()))
    return sorted(found, key=str)


def assert_same_verdicts(source_guard, snapshot_guard, document):
    origins = representative_origins(document)
    assert len(origins) > 50
    for account in accounts_of(document):
        expected = source_guard.check_batch(origins, account)
        got = snapshot_guard.check_batch(origins, account)
        assert [got[item].as_dict() for item in range(len(origins))] == [expected[item].as_dict() for item in range(len(origins))], account


def listed_requests(server, before):
    return server.state.listing_requests - before


def children_pages(document, per_page):
    """Requests for the delegations and bindings of every prefix: at least one page each."""
    total = 0
    for record in document["prefixes"]:
        for kind, service in (("delegations", None), ("bindings", "spectrum")):
            items = [child for child in record.get(kind, ()) if service is None or child["service_name"].casefold() == service]
            total += max(1, -(-len(items) // per_page))
    return total


@pytest.fixture
def output(tmp_path):
    return tmp_path / "roots" / "spectrum_acl" / "prefixes.json"


# --------------------------------------------------------------------------- the round trip


def test_round_trip_of_the_unit_data_gives_the_same_verdicts(reference_server, token, output, local_guard):
    before = reference_server.state.listing_requests
    report = take_snapshot(settings_for(reference_server.url, token, output))
    assert report["result"] is True and report["changed"] is True, report
    assert report["requests"] == listed_requests(reference_server, before)
    assert report["counts"]["prefixes"] == 5 and report["counts"]["provider_ranges"] == 2
    assert report["counts"]["accounts"] == {"provider": 2, "team": 1, "acme": 1, "ham": 1}
    assert report["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    assert report["bytes"] == output.stat().st_size
    assert_same_verdicts(local_guard, load_guard(str(output)), DOC)


def test_round_trip_of_the_examples(token, output, tmp_path):
    """examples/prefixes.yaml, served and snapshot: the same verdicts for every representative origin."""
    document = yaml.safe_load((EXAMPLES / "prefixes.yaml").read_text())
    source = load_guard(str(EXAMPLES / "prefixes.yaml"))
    with ReferenceServer(source, token) as server:
        report = take_snapshot(settings_for(server.url, token, output, accounts=["provider", "acme"]))
        assert report["result"] is True, report
        # 1 page of prefixes per account, 2 requests per prefix, GET /ips
        assert report["requests"] == server.state.listing_requests == 2 + 2 * 3 + 1
    assert_same_verdicts(source, load_guard(str(output)), document)


def test_the_snapshot_is_exactly_the_loader_fast_path_shape(reference_server, token, output):
    """Only the keys the loader knows, so the fast JSON path takes it (no fallback on 10^6 minions' loads)."""
    assert take_snapshot(settings_for(reference_server.url, token, output))["result"]
    raw = output.read_bytes()
    assert fast_json.columns_from_document(fast_json.decode(raw)) is not None
    document = json.loads(raw)
    assert set(document) == {"prefixes"}
    for record in document["prefixes"]:
        assert set(record) <= {"cidr", "account_id", "description", "delegations", "bindings"}
    cidrs = [ipaddress.ip_network(record["cidr"]) for record in document["prefixes"]]
    assert cidrs == sorted(cidrs, key=lambda net: (net.version, net.network_address, net.prefixlen))


def test_provider_ranges_of_get_ips_alone_become_provider_prefixes(reference_server, token, output):
    """An account that lists nothing, and the provider's ranges from GET /ips: owned by provider_account."""
    report = take_snapshot(settings_for(reference_server.url, token, output, accounts=["crossbow"],
                                        provider_account="cdn"))
    assert report["result"] is True, report
    document = json.loads(output.read_bytes())
    assert document["prefixes"] == [
        {"cidr": "104.16.0.0/13", "account_id": "cdn", "description": snapshot.IPS_DESCRIPTION},
        {"cidr": "2606:4700::/32", "account_id": "cdn", "description": snapshot.IPS_DESCRIPTION},
    ]
    guard = load_guard(str(output))
    assert guard.check_origin("104.16.5.20", "crossbow").flags()["is_managed"] is True
    assert guard.check_origin("104.16.5.20", "crossbow").allowed is False  # no delegation is known: fail closed


def test_without_provider_ranges_get_ips_is_not_asked(reference_server, token, output):
    before = reference_server.state.listing_requests
    report = take_snapshot(settings_for(reference_server.url, token, output, accounts=["acme"], provider_account=False))
    assert report["result"] is True and report["counts"]["provider_ranges"] == 0
    assert report["requests"] == listed_requests(reference_server, before) == 1 + 2


# --------------------------------------------------------------------------- pagination


@pytest.mark.parametrize("per_page", [1, 2, 3, MAX_PER_PAGE])
def test_every_page_size_reads_the_same_data_with_the_pages_it_needs(reference_server, token, tmp_path, per_page):
    reference = tmp_path / "reference.json"
    assert take_snapshot(settings_for(reference_server.url, token, reference))["result"]
    output = tmp_path / f"pages-{per_page}.json"
    before = reference_server.state.listing_requests
    report = take_snapshot(settings_for(reference_server.url, token, output, per_page=per_page, concurrency=1 + per_page % 3))
    assert report["result"] is True, report
    assert output.read_bytes() == reference.read_bytes()
    owners = [sum(record["account_id"] == account for record in DOC["prefixes"]) for account in DOC_ACCOUNTS]
    expected = sum(max(1, -(-owned // per_page)) for owned in owners) + children_pages(DOC, per_page) + 1
    assert report["requests"] == listed_requests(reference_server, before) == expected


def test_a_listing_longer_than_max_pages_is_refused(reference_server, token, output):
    report = take_snapshot(settings_for(reference_server.url, token, output, per_page=1, max_pages=1))
    assert report["result"] is False and report["reason"] == "too_many_pages"
    assert report["where"] == "GET /accounts/provider/addressing/prefixes"
    assert not output.exists()


# --------------------------------------------------------------------------- the file


def test_an_unchanged_snapshot_is_not_rewritten_but_its_sidecar_is(reference_server, token, output):
    settings = settings_for(reference_server.url, token, output)
    assert take_snapshot(settings)["changed"] is True
    first = output.stat()
    meta_before, current = snapshot.read_meta(str(output))
    assert current and meta_before["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    assert settings.api.token not in json.dumps(meta_before)
    again = take_snapshot(settings)
    assert again["result"] is True and again["changed"] is False
    assert (output.stat().st_ino, output.stat().st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert again["previous"] == {"prefixes": 5, "entries": again["counts"]["entries"]}
    assert snapshot.read_meta(str(output))[1] is True


def test_the_file_is_mode_0644_and_safe_for_the_loader_and_no_temporary_file_stays(reference_server, token, output):
    old_umask = os.umask(0o077)
    try:
        assert take_snapshot(settings_for(reference_server.url, token, output))["result"]
    finally:
        os.umask(old_umask)
    assert oct(output.stat().st_mode & 0o777) == "0o644"
    assert oct(os.stat(snapshot.meta_path(str(output))).st_mode & 0o777) == "0o644"
    assert sorted(path.name for path in output.parent.iterdir()) == ["prefixes.json", "prefixes.json.meta.json"]


def test_dry_run_writes_nothing(reference_server, token, output):
    report = take_snapshot(settings_for(reference_server.url, token, output), dry_run=True)
    assert report["result"] is True and report["changed"] is False and report["counts"]["prefixes"] == 5
    assert not output.exists()


def test_an_unsafe_directory_is_not_written(reference_server, token, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    report = take_snapshot(settings_for(reference_server.url, token, shared / "prefixes.json"))
    assert report["result"] is False and report["reason"] == "unsafe_path"
    assert list(shared.iterdir()) == []


def test_install_refuses_bytes_the_loader_refuses_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "prefixes.json"
    path.write_bytes(b'{"prefixes": [{"cidr": "192.0.2.0/24", "account_id": "a"}]}')
    before = path.read_bytes()
    with pytest.raises(SnapshotError) as refused:
        snapshot.install(str(path), b'{"prefixes": []}', b"{}")
    assert refused.value.reason == "invalid"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prefixes.json"]


def test_a_previous_file_that_is_not_prefix_data_is_replaced_with_a_warning(reference_server, token, output):
    output.parent.mkdir(parents=True)
    output.write_bytes(b"not json")
    report = take_snapshot(settings_for(reference_server.url, token, output))
    assert report["result"] is True and report["changed"] is True
    assert report["warnings"] and "not prefix data" in report["warnings"][0]


# --------------------------------------------------------------------------- conversion and checks


def _record(cidr="192.0.2.0/24", owner="a", **fields):
    converter = Converter()
    return converter.prefix({"id": "p1", "cidr": cidr, "account_id": owner, **fields}, owner, "test")


@pytest.mark.parametrize(
    "item, field",
    [
        ({"id": "p1", "cidr": "192.0.2.1/24"}, "cidr"),  # host bits
        ({"id": "p1", "cidr": "192.0.2.0/255.255.255.0"}, "cidr"),
        ({"id": "p1", "cidr": 3232235520}, "cidr"),
        ({"id": "p1"}, "cidr"),
        ({"cidr": "192.0.2.0/24"}, "id"),
        ({"id": "..", "cidr": "192.0.2.0/24"}, "id"),
        ({"id": "p1/../../ips", "cidr": "192.0.2.0/24"}, "id"),
        ({"id": "p1", "cidr": "192.0.2.0/24", "account_id": "b"}, "account_id"),
        ({"id": "p1", "cidr": "192.0.2.0/24", "description": 7}, "description"),
    ],
)
def test_a_bad_prefix_field_is_named(item, field):
    with pytest.raises(SnapshotError) as refused:
        Converter().prefix(item, "a", "GET /accounts/a/addressing/prefixes?page=1&per_page=100, item 0")
    assert refused.value.reason == "bad_field"
    assert f"field {field!r}" in str(refused.value)
    assert refused.value.where.endswith("item 0")


@pytest.mark.parametrize(
    "kind, item, field",
    [
        ("delegation", {"cidr": "192.0.3.0/24", "delegated_account_id": "b"}, "cidr"),  # outside
        ("delegation", {"cidr": "192.0.2.0/25", "delegated_account_id": ""}, "delegated_account_id"),
        ("delegation", {"cidr": "192.0.2.0/25", "delegated_account_id": "b", "parent_prefix_id": "p2"}, "parent_prefix_id"),
        ("delegation", {"cidr": "2001:db8::/64", "delegated_account_id": "b"}, "cidr"),  # another family
        ("binding", {"cidr": "192.0.2.10/32"}, "service_name"),
        ("binding", {"cidr": "192.0.2.10/32", "service_name": "Spectrum", "provisioning": "active"}, "provisioning"),
        ("binding", {"cidr": "192.0.1.10/32", "service_name": "Spectrum"}, "cidr"),
    ],
)
def test_a_bad_child_field_is_named(kind, item, field):
    with pytest.raises(SnapshotError) as refused:
        getattr(Converter(), kind)(item, _record(), "item 0")
    assert refused.value.reason == "bad_field" and f"field {field!r}" in str(refused.value)


def test_bindings_in_provisioning_count_as_edge_ips_and_other_services_are_kept():
    converter, record = Converter(), _record()
    provisioning = {"cidr": "192.0.2.10", "service_name": "Spectrum", "provisioning": {"state": "provisioning"}}
    assert converter.binding(provisioning, record, "w") == (4, 0xC000020A, 32, "Spectrum")
    record.bindings = [converter.binding(provisioning, record, "w"),
                       converter.binding({"cidr": "192.0.2.0/24", "service_name": "Magic Transit"}, record, "w")]
    document, counts = assemble([record])
    assert document["prefixes"][0]["bindings"] == [
        {"cidr": "192.0.2.0/24", "service_name": "Magic Transit"}, {"cidr": "192.0.2.10/32", "service_name": "Spectrum"},
    ]
    assert (counts["bindings"], counts["spectrum_bindings"]) == (2, 1)


def test_a_prefix_listed_twice_or_by_two_accounts_is_refused():
    with pytest.raises(SnapshotError, match="listed twice") as twice:
        assemble([_record(), _record()])
    assert twice.value.reason == "duplicate"
    with pytest.raises(SnapshotError, match="owned by both 'a' and 'b'"):
        assemble([_record(), _record(owner="b")])


def test_children_repeated_are_refused_but_one_cidr_delegated_to_two_accounts_is_kept():
    record = _record()
    record.delegations = [(4, 0xC0000200, 25, "b"), (4, 0xC0000200, 25, "c")]
    assert len(assemble([copy.deepcopy(record)])[0]["prefixes"][0]["delegations"]) == 2
    record.delegations.append((4, 0xC0000200, 25, "b"))
    with pytest.raises(SnapshotError, match="delegated twice"):
        assemble([record])
    bound = _record()
    bound.bindings = [(4, 0xC000020A, 32, "Spectrum"), (4, 0xC000020A, 32, "CDN")]
    with pytest.raises(SnapshotError, match="bound twice"):
        assemble([bound])


def test_a_provider_range_another_account_lists_is_refused_and_the_providers_own_is_merged():
    ranges = [(4, 0xC0000200, 24)]
    with pytest.raises(SnapshotError, match="published by GET /ips") as refused:
        assemble([_record(owner="a")], ranges, "provider")
    assert refused.value.reason == "duplicate"
    own = _record(owner="provider", description="edge")
    own.delegations = [(4, 0xC0000200, 25, "b")]
    document, counts = assemble([own], ranges, "provider")
    assert document["prefixes"] == [{"cidr": "192.0.2.0/24", "account_id": "provider", "description": "edge",
                                     "delegations": [{"cidr": "192.0.2.0/25", "delegated_account_id": "b"}]}]
    assert counts["provider_ranges"] == 1 and counts["prefixes"] == 1


@pytest.mark.parametrize(
    "result, reason",
    [
        ({"ipv4_cidrs": ["104.16.0.0/13"]}, "bad_field"),
        ({"ipv4_cidrs": ["2606:4700::/32"], "ipv6_cidrs": []}, "bad_field"),
        ({"ipv4_cidrs": [], "ipv6_cidrs": []}, "empty"),
        (["104.16.0.0/13"], "bad_shape"),
    ],
)
def test_get_ips_answers_are_checked(result, reason):
    with pytest.raises(SnapshotError) as refused:
        Converter().ips(result, "GET /ips")
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    "before, after, refused",
    [
        ({"prefixes": 10, "entries": 100, "accounts": {"a": 10}}, {"prefixes": 5, "entries": 50, "accounts": {"a": 5}}, False),
        ({"prefixes": 10, "entries": 100, "accounts": {"a": 10}}, {"prefixes": 4, "entries": 90, "accounts": {"a": 4}}, True),
        ({"prefixes": 10, "entries": 100, "accounts": {"a": 10}}, {"prefixes": 10, "entries": 40, "accounts": {"a": 10}}, True),
        ({"prefixes": 10, "entries": 100, "accounts": {"a": 9, "b": 1}}, {"prefixes": 9, "entries": 99, "accounts": {"a": 9}}, True),
        ({"prefixes": 0, "entries": 0, "accounts": {}}, {"prefixes": 1, "entries": 1, "accounts": {"a": 1}}, False),
    ],
)
def test_shrink_thresholds(before, after, refused):
    assert (snapshot.shrink_problem(before, after, 0.5) is not None) is refused


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"acounts": ["a"]}, "spectrum_acl:snapshot:acounts is not a setting"),
        ({"accounts": []}, "spectrum_acl:snapshot:accounts must be a non-empty list"),
        ({"accounts": ["a/../b"]}, "spectrum_acl:snapshot:accounts"),
        ({"accounts": [".."]}, "spectrum_acl:snapshot:accounts"),
        ({"output": "prefixes.json"}, "spectrum_acl:snapshot:output must be the absolute path of a .json file"),
        ({"output": "/srv/prefixes.yaml"}, "spectrum_acl:snapshot:output"),
        ({"per_page": 0}, "spectrum_acl:snapshot:per_page must be a whole number from 1 to 1000"),
        ({"per_page": True}, "spectrum_acl:snapshot:per_page"),
        ({"max_shrink": 0}, "spectrum_acl:snapshot:max_shrink"),
        ({"provider_account": ""}, "spectrum_acl:snapshot:provider_account"),
        ({"url": "http://api.example.net"}, "spectrum_acl:snapshot:url 'http://api.example.net' is plain http"),
        ({"url": "ftp://api.example.net"}, "spectrum_acl:snapshot:url 'ftp://api.example.net' must be an https:// URL"),
        ({"url": "https://user:pw@api.example.net"}, "spectrum_acl:snapshot:url must not contain user:password@"),
        ({"token": None}, "no Addressing API token: set spectrum_acl:snapshot:token_file"),
        ({"retries": 99}, "spectrum_acl:snapshot:retries"),
    ],
)
def test_settings_are_checked_and_name_the_key(overrides, words, token):
    values = {"url": "https://api.example.net/client/v4", "token": token, "accounts": ["a"], "output": "/srv/p.json", **overrides}
    values = {key: value for key, value in values.items() if value is not None}
    with pytest.raises(SnapshotError) as refused:
        SnapshotSettings.from_mapping(values, environ={})
    assert refused.value.reason == "config"
    assert words in str(refused.value)
    assert token not in str(refused.value)


def test_settings_repr_never_shows_the_token(token):
    settings = settings_for("https://api.example.net", token, "/srv/p.json")
    assert token not in repr(settings) and token not in str(settings)


@pytest.mark.parametrize("relative", ["../etc/p.json", "/etc/p.json", "a//p.json", "a/./p.json", ""])
def test_a_salt_path_must_stay_below_the_file_roots(relative, tmp_path):
    with pytest.raises(SnapshotError, match="not a plain path"):
        snapshot.file_roots_path(relative, [str(tmp_path)])


def test_a_salt_path_is_under_the_first_file_root(tmp_path):
    assert snapshot.file_roots_path("spectrum_acl/p.json", [str(tmp_path), "/other"]) == str(tmp_path / "spectrum_acl" / "p.json")
    with pytest.raises(SnapshotError, match="no file_roots"):
        snapshot.file_roots_path("spectrum_acl/p.json", [])


# --------------------------------------------------------------------------- the server's listings


def _listing(server, path, token=None, **params):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(server.url + path, params=params, headers=headers, timeout=10)


def test_listings_use_the_envelope_with_result_info(reference_server, token):
    first = _listing(reference_server, "/accounts/provider/addressing/prefixes", token, per_page=1)
    body = first.json()
    assert first.status_code == 200 and body["success"] is True and body["errors"] == [] and body["messages"] == []
    assert body["result_info"] == {"page": 1, "per_page": 1, "count": 1, "total_count": 2, "total_pages": 2}
    prefix = body["result"][0]
    assert {"id", "cidr", "account_id"} <= set(prefix) and prefix["account_id"] == "provider"
    bindings = _listing(reference_server, f"/accounts/provider/addressing/prefixes/{prefix['id']}/bindings", token).json()
    assert bindings["result"] == [{"id": bindings["result"][0]["id"], "cidr": "104.16.5.10/32",
                                   "service_id": bindings["result"][0]["service_id"], "service_name": "Spectrum",
                                   "provisioning": {"state": "active"}}]
    past_the_end = _listing(reference_server, "/accounts/provider/addressing/prefixes", token, page=9).json()
    assert past_the_end["result"] == [] and past_the_end["result_info"]["count"] == 0


def test_get_ips_is_public_and_lists_the_provider_accounts_prefixes(reference_server):
    body = _listing(reference_server, "/ips").json()
    assert body["result"]["ipv4_cidrs"] == ["104.16.0.0/13"] and body["result"]["ipv6_cidrs"] == ["2606:4700::/32"]


@pytest.mark.parametrize("params", [{"page": "0"}, {"per_page": "1001"}, {"page": "x"}, {"per_page": "-1"}, {"page": ["1", "2"]}])
def test_listings_refuse_bad_paging(reference_server, token, params):
    response = _listing(reference_server, "/accounts/provider/addressing/prefixes", token, **params)
    assert response.status_code == 400 and response.json()["errors"][0]["code"] == 1008


def test_listings_need_the_token_and_a_prefix_of_that_account(reference_server, token):
    assert _listing(reference_server, "/accounts/provider/addressing/prefixes").status_code == 401
    acme = _listing(reference_server, "/accounts/acme/addressing/prefixes", token).json()["result"][0]["id"]
    other = _listing(reference_server, f"/accounts/provider/addressing/prefixes/{acme}/delegations", token)
    assert other.status_code == 404 and other.json()["errors"][0]["code"] == 1005
    unknown = _listing(reference_server, "/accounts/nobody/addressing/prefixes", token).json()
    assert unknown["result"] == [] and unknown["result_info"]["total_count"] == 0


def test_a_server_built_from_a_cached_index_lists_the_same(token, tmp_path):
    """The listings come from the index's columns, which the compiled cache restores as views."""
    data = tmp_path / "data.yaml"
    data.write_text(yaml.safe_dump(DOC))
    cache = tmp_path / "cache"
    load_guard(str(data), cache_dir=str(cache))
    cached = load_guard(str(data), cache_dir=str(cache))
    outputs = []
    for guard in (full_guard(), cached):
        with ReferenceServer(guard, token) as server:
            path = tmp_path / f"out{len(outputs)}.json"
            assert take_snapshot(settings_for(server.url, token, path))["result"]
            outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]


def test_dry_run_checks_that_the_data_loads():
    with pytest.raises(SnapshotError) as refused:
        snapshot.check_loads(b'{"prefixes": [{"cidr": "192.0.2.0/24"}]}')
    assert refused.value.reason == "invalid" and "account_id" in str(refused.value)
    assert snapshot.check_loads(b'{"prefixes": [{"cidr": "192.0.2.0/24", "account_id": "a"}]}')["prefix"] == 1
