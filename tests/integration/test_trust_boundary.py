"""The trust boundary through real ``salt-call --local state.apply`` runs: pillar cannot configure the guard.

One masterless minion whose trusted config authorises only ``crossbow`` and asks a
real DNS server on 127.0.0.1. Each test writes a pillar that attacks the guard and
applies the example state tree: the attack is denied, or its setting is ignored
with a warning, and the edge config stays byte-identical with no reload.
"""

import hashlib
import http.server
import shutil
import threading
import uuid

import pytest
import yaml

from saltext.spectrum_acl.settings import ignored_settings_notice
from tests.conftest import EXAMPLES
from tests.dns_server import DnsServer

ZONE = {
    "internal.example": {"A": ["10.0.0.5"]},
    "svc.example": {"A": ["93.184.215.14"]},
    "_db._tcp.svc.example": {"SRV": ["0 0 5432 db.svc.example."]},
    "db.svc.example": {"A": ["10.1.2.3"]},
    "origin.partner.example": {"A": ["93.184.215.14", "93.184.215.15"]},
}
GOOD_APP = {
    "protocol": "tcp/22",
    "dns": {"type": "CNAME", "name": "ssh.crossbow.example.com"},
    "origin_direct": ["tcp://104.16.5.20:22"],
}


def app(**changes):
    return dict(GOOD_APP, **changes)


class CaptureServer:
    """An HTTP server on 127.0.0.1 that counts requests and answers "allowed" to all of them."""

    def __init__(self):
        outer = self
        self.requests = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Authorization")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def dns_server():
    with DnsServer(ZONE) as server:
        yield server


@pytest.fixture(scope="module")
def capture():
    with CaptureServer() as server:
        yield server


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust")
    found = {name: root / name for name in ("pillar", "etc", "attacker", "data")}
    for path in found.values():
        path.mkdir()
    shutil.copy(EXAMPLES / "prefixes.yaml", found["data"] / "prefixes.yaml")
    (found["attacker"] / "empty.yaml").write_text("prefixes: []\n")
    (found["attacker"] / "cache").mkdir(mode=0o777)
    (found["attacker"] / "cache").chmod(0o777)
    return found


def _minion(salt_factories, paths, dns_server, **settings):
    spectrum_acl = {
        "prefix_data": str(paths["data"] / "prefixes.yaml"),
        "accounts": ["crossbow"],
        "nameservers": ["127.0.0.1"],
        "dns_port": dns_server.port,
        "dns_timeout": 2,
    }
    spectrum_acl.update(settings)
    overrides = {
        "file_client": "local",
        "file_roots": {"base": [str(EXAMPLES / "salt")]},
        "pillar_roots": {"base": [str(paths["pillar"])]},
        "spectrum_acl": spectrum_acl,
        "spectrum_edge": {"config_dir": str(paths["etc"])},
    }
    return salt_factories.salt_minion_daemon(f"trust-{uuid.uuid4().hex[:8]}", overrides=overrides)


@pytest.fixture(scope="module")
def minion(salt_factories, paths, dns_server):
    return _minion(salt_factories, paths, dns_server)


def _write_pillar(paths, pillar):
    (paths["pillar"] / "top.sls").write_text("base:\n  '*':\n    - spectrum\n")
    (paths["pillar"] / "spectrum.sls").write_text(yaml.safe_dump(pillar))


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _apply(minion, paths, pillar):
    _write_pillar(paths, pillar)
    ret = minion.salt_call_cli().run("--local", "state.apply")
    config = next(v for k, v in ret.data.items() if k.startswith("spectrum_acl_|-spectrum-edge-config"))
    reload_state = next(v for k, v in ret.data.items() if k.startswith("cmd_|-spectrum-edge-reload"))
    return ret, config, reload_state


@pytest.fixture(scope="module")
def deployed(minion, paths):
    """The good pillar, applied once: the file every attack must leave as it is."""
    ret, config, _ = _apply(minion, paths, {"spectrum": {"account_id": "crossbow", "apps": {"web": app()}}})
    assert ret.returncode == 0, ret.stdout + ret.stderr
    assert config["result"] is True
    return paths["etc"] / "apps.json"


def _reloads(paths):
    log = paths["etc"] / "reload.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def _refused(minion, paths, deployed, pillar):
    """Apply an attacking pillar; assert nothing was written or reloaded; return the state."""
    before, reloads = _digest(deployed), _reloads(paths)
    ret, config, reload_state = _apply(minion, paths, pillar)
    assert ret.returncode != 0
    assert config["result"] is False
    assert config["changes"] == {}
    assert reload_state["changes"] == {}
    assert _digest(deployed) == before
    assert _reloads(paths) == reloads
    assert "Traceback" not in config["comment"]
    return config


def test_pillar_static_hosts_cannot_vouch_for_a_name(minion, paths, deployed, dns_server):
    pillar = {
        "spectrum_acl": {"static_hosts": {"localhost": ["1.1.1.1"], "internal.example": ["1.1.1.1"]}},
        "spectrum": {"account_id": "crossbow", "apps": {
            "by-localhost": app(origin_direct=None, origin_dns={"name": "localhost"}, origin_port=22),
            "by-name": app(origin_direct=None, origin_dns={"name": "internal.example"}, origin_port=22),
        }},
    }
    for entry in pillar["spectrum"]["apps"].values():
        del entry["origin_direct"]
    config = _refused(minion, paths, deployed, pillar)
    assert ignored_settings_notice(["spectrum_acl"]) in config["comment"]
    assert ("internal.example", "A") in dns_server.queries  # DNS was asked, not the pillar's map


def test_pillar_cannot_switch_to_its_own_api_or_send_a_token(minion, paths, deployed, capture):
    pillar = {
        "spectrum_acl": {"backend": "api", "api": {"url": capture.url, "token_file": "/etc/hostname"}},
        "spectrum": {"account_id": "crossbow", "apps": {"loop": app(origin_direct=["tcp://104.16.5.10:22"])}},
    }
    config = _refused(minion, paths, deployed, pillar)
    assert capture.requests == []  # zero requests: the pillar's API is never asked
    assert ignored_settings_notice(["spectrum_acl"]) in config["comment"]


def test_pillar_key_cannot_point_the_guard_at_decoys(minion, paths, deployed):
    pillar = {
        "spectrum_acl": {"pillar_key": "spectrum:decoy"},
        "spectrum": {"account_id": "crossbow", "decoy": {"harmless": app()},
                     "apps": {"metadata": app(protocol="tcp/80", origin_direct=["tcp://169.254.169.254:80"])}},
    }
    config = _refused(minion, paths, deployed, pillar)
    assert "169.254.169.254" in config["comment"]


@pytest.mark.parametrize("setting", ["prefix_data", "cache_dir"])
def test_pillar_cannot_swap_the_data_or_plant_a_cache(minion, paths, deployed, setting):
    value = str(paths["attacker"] / ("empty.yaml" if setting == "prefix_data" else "cache"))
    pillar = {
        "spectrum_acl": {setting: value},
        "spectrum": {"account_id": "crossbow", "apps": {"loop": app(origin_direct=["tcp://104.16.5.10:22"])}},
    }
    _refused(minion, paths, deployed, pillar)  # 104.16.5.10 is a binding in the real data
    assert list((paths["attacker"] / "cache").iterdir()) == []


def test_pillar_master_key_is_ignored_too(minion, paths, deployed):
    pillar = {
        "master": {"spectrum_acl": {"accounts": ["provider"]}},
        "spectrum": {"account_id": "crossbow", "apps": {"grab": app(account_id="provider",
                                                                      origin_direct=["tcp://104.16.9.1:22"])}},
    }
    config = _refused(minion, paths, deployed, pillar)
    assert ignored_settings_notice(["master:spectrum_acl"]) in config["comment"]


def test_an_app_cannot_claim_an_account_it_is_not_authorised_for(minion, paths, deployed):
    for pillar in (
        {"spectrum": {"apps": {"grab": app(account_id="provider", origin_direct=["tcp://104.16.9.1:22"])}}},
        {"spectrum": {"account_id": "provider", "apps": {"grab": app(origin_direct=["tcp://104.16.9.1:22"])}}},
    ):
        config = _refused(minion, paths, deployed, pillar)
        assert "app 'grab': field 'account_id'" in config["comment"]
        assert "'provider'" in config["comment"]


def test_srv_origin_is_judged_on_the_targets_the_proxy_uses(minion, paths, deployed):
    srv = app(origin_dns={"name": "_db._tcp.svc.example", "type": "SRV"})
    del srv["origin_direct"]
    config = _refused(minion, paths, deployed, {"spectrum": {"account_id": "crossbow", "apps": {"db": srv}}})
    assert "10.1.2.3" in config["comment"]  # db.svc.example, the SRV target, is private


def test_the_minion_log_says_pillar_settings_were_ignored(minion, paths, deployed):
    pillar = {"spectrum_acl": {"backend": "api"}, "spectrum": {"account_id": "crossbow", "apps": {"web": app()}}}
    _write_pillar(paths, pillar)
    ret = minion.salt_call_cli().run("--local", "-l", "warning", "spectrum_acl.check_apps")
    assert ret.returncode == 0
    assert ret.data["warnings"] == [ignored_settings_notice(["spectrum_acl"])]
    assert ignored_settings_notice(["spectrum_acl"]) in ret.stderr


def test_unknown_trusted_keys_are_refused_by_name(salt_factories, paths, dns_server):
    typo = _minion(salt_factories, paths, dns_server, prefix_date="/srv/p.yaml")
    ret = typo.salt_call_cli().run("--local", "spectrum_acl.data_info")
    assert ret.returncode != 0
    assert "spectrum_acl:prefix_date is not a setting" in ret.stdout + ret.stderr


def test_pin_dns_renders_the_judged_addresses(salt_factories, paths, dns_server, tmp_path):
    pinned = _minion(salt_factories, paths, dns_server, pin_dns=True, accounts=["partner"])
    dns_app = dict(app(), origin_dns={"name": "origin.partner.example"}, origin_port=443, protocol="tcp/443")
    del dns_app["origin_direct"]
    _write_pillar(paths, {"spectrum": {"account_id": "partner", "apps": {"api": dns_app}}})
    target = tmp_path / "apps.json"
    ret = pinned.salt_call_cli().run("--local", "state.single", "spectrum_acl.app_config", str(target))
    assert ret.returncode == 0, ret.stdout + ret.stderr
    config = yaml.safe_load(target.read_text())
    assert config["apps"]["api"]["origin_dns"]["pinned"] == [{"address": "93.184.215.14"}, {"address": "93.184.215.15"}]


# -- hostile pillar, beyond the settings ------------------------------------------------


def test_a_number_named_app_cannot_hide_from_the_check(minion, paths, deployed):
    """``1:`` beside ``"1":``: the number-named app (pointing at private space) must not vanish."""
    _write_pillar(paths, {})
    sls = (
        "spectrum:\n  account_id: crossbow\n  apps:\n"
        "    1: {protocol: tcp/22, dns: {type: CNAME, name: a.example.com}, origin_direct: ['tcp://10.0.0.1:22']}\n"
        "    '1': {protocol: tcp/22, dns: {type: CNAME, name: a.example.com}, origin_direct: ['tcp://104.16.5.20:22']}\n"
    )
    (paths["pillar"] / "spectrum.sls").write_text(sls)
    before = _digest(deployed)
    ret = minion.salt_call_cli().run("--local", "spectrum_acl.check_apps")
    assert ret.returncode == 1
    assert ret.data["allowed"] is False
    assert ret.data["apps"]["1 (int)"]["error_fields"] == ["name"]
    assert _digest(deployed) == before


def test_an_ipv4_mapped_edge_ip_still_makes_a_loop(minion, paths, deployed):
    pillar = {"spectrum": {"account_id": "crossbow", "apps": {
        "a": app(edge_ips={"type": "static", "ips": ["::ffff:104.16.5.40"]}, origin_direct=["tcp://104.16.5.41:22"]),
        "b": app(edge_ips={"type": "static", "ips": ["104.16.5.41"]}, origin_direct=["tcp://104.16.5.40:22"]),
    }}}
    config = _refused(minion, paths, deployed, pillar)
    assert "static edge IP of app 'a'" in config["comment"]
