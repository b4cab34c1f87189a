"""The states through Salt's real loader: rendering, test mode and failing closed."""

import json

import pytest

BAD_APPS = {
    "private": {
        "protocol": "tcp/22",
        "dns": {"type": "CNAME", "name": "p.example.com"},
        "origin_direct": ["tcp://10.0.0.1:22"],
    },
    "not-delegated": {
        "protocol": "tcp/22",
        "dns": {"type": "CNAME", "name": "n.example.com"},
        "origin_direct": ["tcp://104.16.9.1:22"],
    },
}


@pytest.fixture
def edge_config(tmp_path):
    return tmp_path / "spectrum" / "apps.json"


@pytest.fixture(autouse=True)
def no_test_mode(loaders):
    loaders.opts["test"] = False
    yield
    loaders.opts["test"] = False


def test_app_config_renders_canonical_json(states, edge_config):
    ret = states.spectrum_acl.app_config(name=str(edge_config), makedirs=True)
    assert ret.result is True, ret.comment
    assert "4 apps, 5 origins allowed" in ret.comment
    assert ret.changes["diff"] == "New file"
    config = json.loads(edge_config.read_text())
    assert config["apps"]["crossbow-ssh"]["origin_direct"] == [
        "tcp://104.16.5.20:22",
        "tcp://[2606:4700::6810:5:14]:22",
    ]
    # a second run changes nothing
    again = states.spectrum_acl.app_config(name=str(edge_config), makedirs=True)
    assert again.result is True
    assert again.changes == {}


def test_app_config_failure_leaves_file_byte_identical(states, edge_config):
    edge_config.parent.mkdir(parents=True)
    edge_config.write_bytes(b'{"apps": {"old": {}}}\n  trailing bytes \x00\n')
    before = edge_config.read_bytes()
    before_stat = edge_config.stat()
    ret = states.spectrum_acl.app_config(name=str(edge_config), apps=BAD_APPS, account_id="crossbow")
    assert ret.result is False
    assert ret.changes == {}
    lines = ret.comment.splitlines()
    assert lines[0] == "Spectrum origin guard denied, nothing was written:"
    assert len(lines) == 3
    assert lines[1].startswith("not-delegated: tcp://104.16.9.1:22 denied:")
    assert lines[2].startswith("private: tcp://10.0.0.1:22 denied:")
    assert edge_config.read_bytes() == before
    assert edge_config.stat().st_mtime_ns == before_stat.st_mtime_ns


def test_app_config_test_mode_predicts_and_writes_nothing(states, loaders, edge_config):
    loaders.opts["test"] = True
    ret = states.spectrum_acl.app_config(name=str(edge_config), makedirs=True, test=True)
    assert ret.result is None, ret.comment
    assert "4 apps, 5 origins allowed" in ret.comment
    assert ret.changes
    assert not edge_config.exists()


def test_app_config_test_mode_with_denials_is_false(states, loaders, edge_config):
    loaders.opts["test"] = True
    ret = states.spectrum_acl.app_config(name=str(edge_config), apps=BAD_APPS, account_id="crossbow", test=True)
    assert ret.result is False
    assert "10.0.0.0/8" in ret.comment
    assert not edge_config.exists()


def test_app_config_with_user_template(states, edge_config, loaders, tmp_path):
    state_tree = loaders.opts["file_roots"]["base"][0]
    with open(f"{state_tree}/edge.conf.j2", "w", encoding="utf-8") as handle:
        handle.write(
            "{% for name, app in apps | dictsort %}"
            "{{ name }} {{ app.protocol }} {{ app.get('origin_direct', [app.get('origin_dns', {}).get('name')]) | join(',') }}\n"
            "{% endfor %}"
        )
    target = tmp_path / "edge.conf"
    ret = states.spectrum_acl.app_config(name=str(target), source="salt://edge.conf.j2")
    assert ret.result is True, ret.comment
    assert target.read_text().splitlines() == [
        "acme-game udp/27015-27030 udp://45.91.89.40:27015-27030",
        "crossbow-ssh tcp/22 tcp://104.16.5.20:22,tcp://[2606:4700::6810:5:14]:22",
        "partner-api tcp/443 origin.partner.example",
        "partner-db tcp/5432 tcp://93.184.215.14:5432",
    ]


def test_app_config_bad_prefix_data_fails_closed(states, loaders, edge_config, tmp_path):
    bad = tmp_path / "prefixes.yaml"
    bad.write_text("prefixes:\n  - cidr: 104.16.0.0/13\n    account_id: provider\n    delegations:\n      - {cidr: 10.0.0.0/24, delegated_account_id: x}\n")
    edge_config.parent.mkdir(parents=True)
    edge_config.write_text("old\n")
    loaders.opts["spectrum_acl"] = dict(loaders.opts["spectrum_acl"], prefix_data=str(bad))
    try:
        ret = states.spectrum_acl.app_config(name=str(edge_config))
    finally:
        loaders.opts["spectrum_acl"] = loaders._original_opts["spectrum_acl"]
    assert ret.result is False
    assert "outside its parent prefix 104.16.0.0/13" in ret.comment
    assert edge_config.read_text() == "old\n"


def test_origins_allowed_passes_and_changes_nothing(states):
    ret = states.spectrum_acl.origins_allowed(name="spectrum-origins")
    assert ret.result is True
    assert ret.changes == {}


def test_origins_allowed_fails_on_denial(states):
    ret = states.spectrum_acl.origins_allowed(name="spectrum-origins", apps=BAD_APPS, account_id="crossbow")
    assert ret.result is False
    assert "104.16.9.1" in ret.comment
