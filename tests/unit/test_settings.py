"""Trusted settings: every key checked, unknown keys refused by name, accounts authorised."""

import pytest

from saltext.spectrum_acl.settings import KEYS, ConfigError, Settings


def test_defaults():
    settings = Settings.from_section(None, default_cache_dir="/var/cache/salt/minion/spectrum_acl")
    assert settings.backend == "local"
    assert settings.pillar_key == "spectrum:apps"
    assert settings.cache_dir == "/var/cache/salt/minion/spectrum_acl"
    assert settings.pin_dns is False
    assert settings.static_hosts == {}


@pytest.mark.parametrize("key", ["prefix_date", "cache_dri", "token", "Backend"])
def test_unknown_keys_are_refused_by_name(key):
    with pytest.raises(ConfigError) as raised:
        Settings.from_section({"prefix_data": "/srv/p.yaml", key: "x"})
    assert f"spectrum_acl:{key} is not a setting" in str(raised.value)


@pytest.mark.parametrize(
    "key, value",
    [
        ("backend", "remote"),
        ("prefix_data", ""),
        ("prefix_data", 5),
        ("accounts", []),
        ("accounts", ["ok", 7]),
        ("accounts", "crossbow"),
        ("account_id", ""),
        ("static_hosts", ["a"]),
        ("static_hosts", {"a.example": [1]}),
        ("pillar_key", "spectrum::apps"),
        ("cache_dir", True),
        ("pin_dns", "yes"),
        ("dns_timeout", 0),
        ("dns_timeout", 61),
        ("nameservers", []),
        ("dns_port", 70000),
        ("api", "https://x"),
    ],
)
def test_wrong_types_are_refused_naming_the_key(key, value):
    assert key in KEYS
    with pytest.raises(ConfigError) as raised:
        Settings.from_section({key: value})
    assert f"spectrum_acl:{key} " in str(raised.value)


def test_the_api_section_is_never_echoed():
    with pytest.raises(ConfigError) as raised:
        Settings.from_section({"api": "secret-token-value"})
    assert "secret-token-value" not in str(raised.value)


def test_accounts_authorise_and_account_id_alone_authorises_itself():
    assert Settings.from_section({"accounts": ["a", "b", "a"]}).authorised_accounts() == {"a", "b"}
    assert Settings.from_section({"account_id": "a"}).authorised_accounts() == {"a"}
    assert Settings.from_section({"accounts": ["a", "b"], "account_id": "b"}).account_id == "b"


def test_no_account_configured_refuses_to_run():
    with pytest.raises(ConfigError, match="no account is authorised"):
        Settings.from_section({"prefix_data": "/srv/p.yaml"}).authorised_accounts()


def test_account_id_outside_accounts_is_refused():
    with pytest.raises(ConfigError, match="not in spectrum_acl:accounts"):
        Settings.from_section({"accounts": ["a"], "account_id": "b"})


def test_static_hosts_are_normalised_and_cache_can_be_turned_off():
    settings = Settings.from_section({"static_hosts": {"Origin.Example.": "192.0.2.1"}, "cache_dir": False},
                                     default_cache_dir="/var/cache/x")
    assert settings.static_hosts == {"origin.example": ["192.0.2.1"]}
    assert settings.cache_dir is None
