"""The execution module through Salt's real loader, on the example pillar and prefix data."""

import json

import pytest
from salt.exceptions import CommandExecutionError, SaltInvocationError

from saltext.spectrum_acl.runtime import Runtime


def test_check_origin_delegated_address(modules, loaders):
    verdict = modules.spectrum_acl.check_origin("104.16.5.20", account_id="crossbow")
    assert verdict["allowed"] is True
    assert verdict["is_managed"] is True
    assert verdict["is_delegated"] is True
    assert verdict["is_reserved"] is False
    assert verdict["has_binding"] is False
    assert any("104.16.5.0/24" in reason and "crossbow" in reason for reason in verdict["reasons"])
    assert "retcode" not in loaders.context


def test_check_origin_url_with_ipv6_and_port_range(modules):
    verdict = modules.spectrum_acl.check_origin("tcp://[2606:4700::6810:5:14]:1000-2000", account_id="crossbow")
    assert verdict["allowed"] is True
    assert verdict["origin"] == "tcp://[2606:4700::6810:5:14]:1000-2000"


def test_check_origin_denied_sets_retcode(modules, loaders):
    verdict = modules.spectrum_acl.check_origin("104.16.9.0/24", account_id="crossbow")
    assert verdict["allowed"] is False
    assert verdict["is_managed"] is True
    assert any("104.16.0.0/13" in reason and "provider" in reason for reason in verdict["reasons"])
    assert loaders.context["retcode"] == 1


def test_check_origin_uses_pillar_default_account(modules):
    # spectrum:account_id in the example pillar is crossbow
    verdict = modules.spectrum_acl.check_origin("104.16.5.20")
    assert verdict["account_id"] == "crossbow"
    assert verdict["allowed"] is True


@pytest.mark.parametrize("origin", ["127.1", "0x7f.0.0.1", "010.0.0.1", "1.2.3.1/24", "fe80::1%eth0", "tcp://1.2.3.4:0"])
def test_check_origin_rejects_bad_spellings(modules, origin):
    with pytest.raises(SaltInvocationError, match="is not a valid origin"):
        modules.spectrum_acl.check_origin(origin)


def test_check_apps_on_example_pillar(modules):
    report = modules.spectrum_acl.check_apps()
    assert report["allowed"] is True, report["denials"] + report["errors"]
    assert sorted(report["apps"]) == ["acme-game", "crossbow-ssh", "partner-api", "partner-db"]
    assert len(report["apps"]["crossbow-ssh"]["origins"]) == 2
    api = report["apps"]["partner-api"]["origins"][0]
    assert api["origin"] == "origin.partner.example (origin_dns)"
    assert "93.184.215.14" in api["reasons"][0]
    # plain types, not Salt 3008's masking ones
    assert type(report["apps"]) is dict
    assert "*****" not in json.dumps(report)


def test_check_app_catches_cycle_through_static_edge_ips(modules, loaders):
    apps = {
        "a": {
            "protocol": "tcp/22",
            "dns": {"type": "CNAME", "name": "a.example.com"},
            "edge_ips": {"type": "static", "ips": ["104.16.5.40"]},
            "origin_direct": ["tcp://104.16.5.41:22"],
        },
        "b": {
            "protocol": "tcp/22",
            "dns": {"type": "CNAME", "name": "b.example.com"},
            "edge_ips": {"type": "static", "ips": ["104.16.5.41"]},
            "origin_direct": ["tcp://104.16.5.40:22"],
        },
    }
    entry = modules.spectrum_acl.check_app("a", apps=apps, account_id="crossbow")
    assert entry["allowed"] is False
    assert entry["origins"][0]["has_binding"] is True
    assert "static edge IP of app 'b'" in " ".join(entry["origins"][0]["reasons"])
    assert loaders.context["retcode"] == 1


def test_check_app_unknown_name(modules):
    with pytest.raises(SaltInvocationError, match="not in spectrum:apps"):
        modules.spectrum_acl.check_app("no-such-app")


def test_check_apps_shape_errors_name_app_field_and_value(modules):
    apps = {"broken": {"protocol": "tcp/22", "dns": {"type": "CNAME", "name": "x.example.com"},
                       "origin_direct": ["tcp://93.184.215.14:22"], "tls": "sometimes"}}
    report = modules.spectrum_acl.check_apps(apps=apps, account_id="crossbow")
    assert report["allowed"] is False
    assert report["errors"] == [
        "app 'broken': field 'tls': must be one of 'off', 'flexible', 'full', 'strict' (got 'sometimes')"
    ]


def test_render_returns_canonical_json(modules):
    text = modules.spectrum_acl.render()
    config = json.loads(text)
    assert sorted(config["apps"]) == ["acme-game", "crossbow-ssh", "partner-api", "partner-db"]
    app_lines = text.splitlines()[2:-2]
    assert [json.loads("{" + line.rstrip(",") + "}") for line in app_lines] == [
        {name: config["apps"][name]} for name in sorted(config["apps"])
    ]


def test_render_refuses_denied_apps(modules):
    apps = {"x": {"protocol": "tcp/22", "dns": {"type": "CNAME", "name": "x.example.com"},
                  "origin_direct": ["tcp://10.0.0.1:22"]}}
    with pytest.raises(CommandExecutionError, match=r"10\.0\.0\.0/8 \(Private-Use, RFC 1918\)"):
        modules.spectrum_acl.render(apps=apps, account_id="crossbow")


def test_data_info_counts_entries(modules):
    info = modules.spectrum_acl.data_info()
    assert info["backend"] == "local"
    assert info["entries"]["prefix"] == 3
    assert info["entries"]["binding"] == 5


def test_prefix_data_loaded_once_per_run(modules, loaders):
    modules.spectrum_acl.check_origin("1.1.1.1")
    guard = loaders.context["spectrum_acl.guard"][1]
    modules.spectrum_acl.check_origin("8.8.8.8")
    assert loaders.context["spectrum_acl.guard"][1] is guard


def test_a_change_of_static_hosts_builds_a_new_guard(modules, loaders):
    first = modules.spectrum_acl.check_origin("1.1.1.1")
    assert first["allowed"] is True
    guard = loaders.context["spectrum_acl.guard"][1]
    opts = dict(loaders.opts)
    opts["spectrum_acl"] = dict(opts["spectrum_acl"], static_hosts={"moved.partner.example": ["10.9.9.9"]})
    rebuilt = Runtime(modules, loaders.context, {}, opts).guard()
    assert rebuilt is not guard
    assert loaders.context["spectrum_acl.guard"][1] is rebuilt
    assert rebuilt.resolver.lookup("moved.partner.example").addresses == ("10.9.9.9",)
