"""Parity: the same decisions through the local backend and through the API client.

The client talks to the reference server over real HTTP on 127.0.0.1; the
server answers from the same prefix data with the core engine.
"""

import random

import netaddr
import pytest

from saltext.spectrum_acl.api import client as api_client
from saltext.spectrum_acl.apps import check
from saltext.spectrum_acl.core.resolver import Resolver
from tests.api.conftest import expected_requests, reserved_only_guard, settings
from tests.conftest import EXAMPLES

ACCOUNTS = ["crossbow", "provider", "team", "acme", "ham", None, ""]

#: Origins covering every rule: unmanaged, overlap by CIDR, ownership, nested ownership,
#: delegations, bindings (also for the owner), a non-Spectrum binding, reserved blocks,
#: and IPv6 carrying IPv4 in each embedding form.
ORIGINS = [
    "8.8.8.8", "2a00:1450::1", "44.11.0.0/16", "44.10.21.0/24", "44.10.0.0/16", "44.10.20.128/25",
    "0.0.0.0/0", "::/0", "104.16.9.1", "104.16.5.20", "tcp://104.16.5.20:22", "104.16.5.128/25", "104.16.4.0/23",
    "104.16.6.20", "104.16.6.1", "2606:4700:10::1", "2606:4700:11::1", "2606:4700:10::/47",
    "104.17.8.5", "104.17.9.5", "104.17.8.0/23", "104.0.0.0/8", "32.0.0.0/4",
    "45.91.88.1", "45.91.88.2", "45.91.88.0/30", "104.16.5.10", "2606:4700::6810:5:a", "tcp://[2606:4700::6810:5:a]:22",
    "10.1.2.3", "127.0.0.1", "::1", "ff02::1", "224.0.0.1", "192.0.2.0/24", "fe80::/10", "3fff::1",
    "::ffff:104.16.9.1", "::ffff:8.8.8.8", "::ffff:10.0.0.1", "::ffff:45.91.88.1", "::104.16.5.20",
    "2002:6810:901::1", "2002:6810:514::1", "64:ff9b::104.16.9.1", "64:ff9b:1::6810:514",
    "2001:0:6810:901::f7f7:fbfb", "2001:0:808:808::97ef:faeb",
]


def _network(origin):
    text = origin.split("://", 1)[1].rsplit(":", 1)[0].strip("[]") if "://" in origin else origin
    return netaddr.IPNetwork(text)


@pytest.fixture(scope="module")
def api_client_for_parity(reference_server, token):
    client = api_client.AddressingApiClient(settings(reference_server.url, token, batch_size=25))
    yield client
    client.close()


def test_decision_table_is_identical(local_guard, api_client_for_parity, reference_server):
    guard = reserved_only_guard(api_client_for_parity)
    pairs = [(account, _network(origin)) for account in ACCOUNTS for origin in ORIGINS]
    before = reference_server.state.requests
    guard.prefetch(pairs)
    asked = reference_server.state.requests - before
    mismatches = []
    for account in ACCOUNTS:
        for origin in ORIGINS:
            local, remote = local_guard.check_origin(origin, account), guard.check_origin(origin, account)
            if local.flags() != remote.flags():
                mismatches.append((origin, account, local.flags(), remote.flags(), remote.reasons))
    assert not mismatches
    # every distinct (account, cidr) pair, carried IPv4 included, asked once, in batches of 25
    assert reference_server.state.requests - before == asked  # judging asked nothing more
    carried_pairs = {(a, api_client.cidr_key(n)) for a, n in pairs}
    from saltext.spectrum_acl.core.embedded import embedded_ipv4

    carried_pairs |= {(a, api_client.cidr_key(c)) for a, n in pairs for _, c in embedded_ipv4(n)}
    assert asked == expected_requests(carried_pairs, 25)


def test_random_origins_are_identical(local_guard, api_client_for_parity):
    rng = random.Random(20261128)
    bases = ["104.16.5.0", "104.16.9.0", "104.17.8.0", "45.91.88.0", "44.10.20.0", "10.0.0.0", "100.64.0.0", "8.8.8.0"]
    origins = set()
    while len(origins) < 400:
        base = netaddr.IPAddress(rng.choice(bases))
        if rng.random() < 0.5:
            origins.add(str(base + rng.randrange(1024)))
        elif rng.random() < 0.5:
            length = rng.randrange(20, 33)
            origins.add(str(netaddr.IPNetwork(f"{base + rng.randrange(1024)}/{length}").cidr))
        else:
            mapped = netaddr.IPAddress(int(base) + rng.randrange(1024)).ipv6(ipv4_compatible=False)
            origins.add(str(mapped) if rng.random() < 0.5 else f"2606:4700:{rng.choice(['10', '11', '0'])}::{rng.randrange(65536):x}")
    origins = sorted(origins)
    guard = reserved_only_guard(api_client_for_parity)
    for account in ("crossbow", "acme"):
        guard.prefetch((account, netaddr.IPNetwork(origin)) for origin in origins)
        for origin in origins:
            assert local_guard.check_origin(origin, account).flags() == guard.check_origin(origin, account).flags(), origin


@pytest.mark.parametrize("pillar", ["pillar", "pillar-bad"])
def test_example_pillars_give_the_same_report(reference_server, token, pillar):
    import yaml

    from saltext.spectrum_acl.api.server import ReferenceServer
    from saltext.spectrum_acl.core.guard import OriginGuard
    from saltext.spectrum_acl.data import prefix_data

    resolver = Resolver({"origin.partner.example": ["93.184.215.14"]}, use_dns=False)
    spectrum = yaml.safe_load((EXAMPLES / pillar / "spectrum.sls").read_text())["spectrum"]
    local = OriginGuard(prefix_data.load_index(str(EXAMPLES / "prefixes.yaml")), resolver=resolver)
    with ReferenceServer(OriginGuard(prefix_data.load_index(str(EXAMPLES / "prefixes.yaml"))), token) as server:
        client = api_client.AddressingApiClient(settings(server.url, token))
        remote = reserved_only_guard(client, resolver=resolver)
        local_report, _ = check.check_apps(spectrum["apps"], local, spectrum["account_id"])
        remote_report, _ = check.check_apps(spectrum["apps"], remote, spectrum["account_id"])
    assert local_report["allowed"] is remote_report["allowed"] is (pillar == "pillar")
    assert local_report["errors"] == remote_report["errors"]
    for name, entry in local_report["apps"].items():
        other = remote_report["apps"][name]
        assert entry["allowed"] == other["allowed"], name
        flags = [{k: o[k] for k in ("origin", *api_client.FLAGS)} for o in entry["origins"]]
        assert flags == [{k: o[k] for k in ("origin", *api_client.FLAGS)} for o in other["origins"]], name
    # one request per account for the whole pillar (localhost resolves through no network here)
    accounts = {spectrum["apps"][n].get("account_id", spectrum["account_id"]) for n in spectrum["apps"]}
    assert client.requests_sent <= len(accounts)


def test_five_thousand_origins_take_five_thousand_over_batch_size_requests(reference_server, token):
    """A pillar with 5,000 origins (and repeats) makes ceil(distinct/batch_size) requests per account."""
    batch_size = 100
    client = api_client.AddressingApiClient(settings(reference_server.url, token, batch_size=batch_size))
    guard = reserved_only_guard(client)
    addresses = [f"44.{n // 65536 + 20}.{n // 256 % 256}.{n % 256}" for n in range(4000)]
    apps_pillar = {}
    for number in range(50):
        account = "crossbow" if number % 2 else "acme"
        chunk = addresses[number * 80 : number * 80 + 80] + addresses[:20]  # 20 repeats in every app
        apps_pillar[f"app-{number}"] = {
            "account_id": account,
            "protocol": "tcp/22",
            "dns": {"type": "CNAME", "name": f"app{number}.example.com"},
            "origin_direct": [f"tcp://{address}:22" for address in chunk],
        }
    total = sum(len(app["origin_direct"]) for app in apps_pillar.values())
    assert total == 5000
    before = reference_server.state.requests
    report, _ = check.check_apps(apps_pillar, guard)
    assert report["allowed"], report["denials"][:3]
    distinct = {(app["account_id"], url.split("//")[1].rsplit(":", 1)[0] + "/32")
                for app in apps_pillar.values() for url in app["origin_direct"]}
    # acme (even apps) repeats its own first 20 addresses: 2,000 distinct; crossbow 2,020: 20 + 21 requests
    assert expected_requests(distinct, batch_size) == 41
    assert client.requests_sent == reference_server.state.requests - before == 41
    # the same run again asks nothing: every pair is answered
    check.check_apps(apps_pillar, guard)
    assert client.requests_sent == 41
