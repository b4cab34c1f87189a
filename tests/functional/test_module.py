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


# -- the pillar judged: compiled afresh, as the next state.apply compiles it ------------------

GOOD_APP = {"protocol": "tcp/22", "dns": {"type": "CNAME", "name": "ssh.crossbow.example.com"},
            "origin_direct": ["tcp://104.16.5.20:22"]}
LOOP_APP = {"protocol": "tcp/22", "dns": {"type": "CNAME", "name": "loop.crossbow.example.com"},
            "origin_direct": ["tcp://104.16.5.10:22"]}  # a Spectrum edge IP in the example data


def _write_pillar(root, env, spectrum):
    (root / env).mkdir(exist_ok=True)
    (root / env / "top.sls").write_text(f"{env}:\n  '*':\n    - spectrum\n")
    (root / env / "spectrum.sls").write_text(json.dumps({"spectrum": spectrum}))


@pytest.fixture
def own_pillar(minion_opts, tmp_path):
    """Loaders of their own over a pillar tree this test rewrites (base and staging)."""
    import copy
    import uuid

    from saltfactories.utils.functional import Loaders

    root = tmp_path / "pillar"
    root.mkdir()
    _write_pillar(root, "base", {"account_id": "crossbow", "apps": {"ssh": GOOD_APP}})
    _write_pillar(root, "staging", {"account_id": "crossbow", "apps": {"loop": LOOP_APP}})
    opts = copy.deepcopy(minion_opts)
    opts["pillar_roots"] = {"base": [str(root / "base")], "staging": [str(root / "staging")]}
    opts["pillarenv"] = "base"
    own = Loaders(opts, loaded_base_name=f"{__name__}.fresh{uuid.uuid4().hex[:6]}")
    try:
        yield own, root
    finally:
        own.reset_state()


def test_check_apps_sees_a_changed_pillar_without_a_refresh(own_pillar):
    own, root = own_pillar
    first = own.modules.spectrum_acl.check_apps()
    assert first["allowed"] is True and sorted(first["apps"]) == ["ssh"]
    assert first["pillar_source"] == "fresh"

    _write_pillar(root, "base", {"account_id": "crossbow", "apps": {"loop": LOOP_APP}})  # ssh removed, loop added
    second = own.modules.spectrum_acl.check_apps()
    assert second["pillar_source"] == "fresh"
    assert second["allowed"] is False and sorted(second["apps"]) == ["loop"]
    assert second["apps"]["loop"]["origins"][0]["denied_by"] == ["binding"]
    assert own.context["retcode"] == 1

    # the in-memory pillar is still the one from before the change, and the report says so
    stale = own.modules.spectrum_acl.check_apps(fresh=False)
    assert stale["pillar_source"] == "in-memory"
    assert stale["allowed"] is True and sorted(stale["apps"]) == ["ssh"]


def test_check_app_and_render_judge_the_fresh_pillar(own_pillar):
    own, root = own_pillar
    assert own.modules.spectrum_acl.check_app("ssh")["pillar_source"] == "fresh"
    _write_pillar(root, "base", {"account_id": "crossbow", "apps": {"ssh": GOOD_APP, "loop": LOOP_APP}})
    entry = own.modules.spectrum_acl.check_app("loop")
    assert entry["allowed"] is False and entry["pillar_source"] == "fresh"
    with pytest.raises(CommandExecutionError, match=r"loop: tcp://104\.16\.5\.10:22 denied"):
        own.modules.spectrum_acl.render()
    assert sorted(json.loads(own.modules.spectrum_acl.render(fresh=False))["apps"]) == ["ssh"]


def test_check_origin_takes_the_default_account_from_the_fresh_pillar(own_pillar):
    own, root = own_pillar
    assert own.modules.spectrum_acl.check_origin("104.16.5.20")["account_id"] == "crossbow"
    _write_pillar(root, "base", {"account_id": "acme", "apps": {"ssh": GOOD_APP}})
    verdict = own.modules.spectrum_acl.check_origin("104.16.5.20")
    assert verdict["account_id"] == "acme" and verdict["allowed"] is False


def test_pillarenv_is_honoured(own_pillar):
    own, _ = own_pillar
    staging = own.modules.spectrum_acl.check_apps(pillarenv="staging")
    assert sorted(staging["apps"]) == ["loop"] and staging["allowed"] is False
    assert sorted(own.modules.spectrum_acl.check_apps()["apps"]) == ["ssh"]


def test_a_pillar_that_does_not_render_is_refused(own_pillar):
    own, root = own_pillar
    (root / "base" / "spectrum.sls").write_text("spectrum: {apps: [unclosed\n")
    for call in (own.modules.spectrum_acl.check_apps, own.modules.spectrum_acl.render,
                 lambda: own.modules.spectrum_acl.check_app("ssh")):
        with pytest.raises(CommandExecutionError, match="the pillar did not render, so nothing was judged: .*spectrum"):
            call()


def test_apps_and_account_given_need_no_pillar(own_pillar):
    own, root = own_pillar
    (root / "base" / "spectrum.sls").write_text("spectrum: {apps: [unclosed\n")  # not compiled at all
    report = own.modules.spectrum_acl.check_apps(apps={"loop": LOOP_APP}, account_id="crossbow")
    assert report["pillar_source"] == "none"
    assert report["allowed"] is False and report["warnings"] == []
    # apps given but no account: the default account still comes from pillar, compiled afresh
    with pytest.raises(CommandExecutionError, match="did not render"):
        own.modules.spectrum_acl.check_apps(apps={"loop": LOOP_APP})
