"""salt-ssh against a real sshd on 127.0.0.1, as docs/salt-ssh.md sets it up.

The checks run on the master through the extension's salt-ssh wrapper (pillar compiled by
the master, prefix data from the master's file server as ``salt://``); ``state.apply``
runs the guarded edge state on the target, which gets Salt and the extension in the thin
and finds the dependencies in the Python the roster's ``set_path`` puts first (this
repository's venv standing in for the target's). Trusted settings come from
``ssh_minion_opts`` and the roster's ``minion_opts``; pillar cannot set them.
"""

import hashlib
import json
import os
import pathlib
import shutil
import sys
import uuid

import pytest
import yaml
from saltfactories.utils import running_username

from saltext.spectrum_acl.settings import ignored_settings_notice
from tests.conftest import EXAMPLES

SFTP_SERVERS = ("/usr/lib/openssh/sftp-server", "/usr/libexec/openssh/sftp-server", "/usr/libexec/sftp-server")
ACCOUNTS = ["crossbow", "acme", "partner"]
GOOD_APP = {"protocol": "tcp/22", "dns": {"type": "CNAME", "name": "ssh.crossbow.example.com"},
            "origin_direct": ["tcp://104.16.5.20:22"]}
# 104.16.5.10 is a Spectrum edge IP (a binding) in the example prefix data: the proxy would loop.
LOOP_APP = {"protocol": "tcp/22", "dns": {"type": "CNAME", "name": "loop.crossbow.example.com"},
            "origin_direct": ["tcp://104.16.5.10:22"]}
# The target's Python: this venv, which has the extension's dependencies (a venv on the target, in the docs).
TARGET_BIN = str(pathlib.Path(sys.executable).parent)


def _sshd_paths():
    sshd = shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin:/usr/local/sbin:/sbin")
    sftp = next((path for path in SFTP_SERVERS if os.access(path, os.X_OK)), None)
    if sshd is None or sftp is None:
        pytest.skip("no OpenSSH server here (sshd and sftp-server): .ci/run installs openssh-server")
    return sshd, sftp


@pytest.fixture(scope="module")
def sshd(salt_factories):
    sshd_path, sftp_path = _sshd_paths()
    if os.geteuid() == 0:
        # sshd started as root wants its privilege separation directory, which the service would create.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    # StrictModes off: the test's authorized_keys lives below /tmp, which is world-writable.
    config = {"StrictModes": "no", "Subsystem": f"sftp {sftp_path}"}
    factory = salt_factories.get_sshd_daemon(script_name=sshd_path, sshd_config_dict=config)
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """The master's file and pillar roots, and the target's edge config directory."""
    root = tmp_path_factory.mktemp("salt-ssh")
    file_root = root / "file_root"
    shutil.copytree(EXAMPLES / "salt", file_root)
    (file_root / "spectrum").mkdir()
    shutil.copy(EXAMPLES / "prefixes.yaml", file_root / "spectrum" / "prefixes.yaml")
    (root / "pillar").mkdir()
    (root / "pillar" / "top.sls").write_text("base:\n  '*':\n    - spectrum\n")
    (root / "staging").mkdir()
    (root / "staging" / "top.sls").write_text("staging:\n  '*':\n    - spectrum\n")
    (root / "staging" / "spectrum.sls").write_text(json.dumps({"spectrum": {"account_id": "crossbow", "apps": {"staged": LOOP_APP}}}))
    (root / "known_hosts").touch()
    return {"root": root, "file_root": file_root, "pillar": root / "pillar", "edge": root / "edge",
            "known_hosts": root / "known_hosts"}


@pytest.fixture(scope="module")
def master(salt_factories, tree):
    """A master config for salt-ssh (salt-ssh needs no running master)."""
    overrides = {
        "file_roots": {"base": [str(tree["file_root"])]},
        "pillar_roots": {"base": [str(tree["pillar"])], "staging": [str(tree["root"] / "staging")]},
        "pillarenv": "base",
        # The state runs on the target and fetches the prefix data from the files salt-ssh sends.
        "extra_filerefs": "salt://spectrum/prefixes.yaml",
        # the throwaway sshd's host key goes here, not into the user's ~/.ssh/known_hosts
        "known_hosts_file": str(tree["known_hosts"]),
        "ssh_minion_opts": {
            "spectrum_acl": {
                "prefix_data": "salt://spectrum/prefixes.yaml",
                "accounts": ACCOUNTS,
                "static_hosts": {"origin.partner.example": ["93.184.215.14"]},
            },
            "spectrum_edge": {"config_dir": str(tree["edge"])},
        },
    }
    return salt_factories.salt_master_daemon(f"ssh-master-{uuid.uuid4().hex[:8]}", overrides=overrides)


@pytest.fixture(scope="module")
def targets(sshd, tree):
    """Roster ids: ``edge`` as the docs set it up; ``local_path`` with a target-side prefix data path."""
    edge, local_path = f"edge-{uuid.uuid4().hex[:8]}", f"edge-path-{uuid.uuid4().hex[:8]}"
    common = {
        "host": sshd.listen_address,
        "port": sshd.listen_port,
        "user": running_username(),
        "priv": str(sshd.client_key),
        "set_path": f"{TARGET_BIN}:/usr/bin:/bin",
        "thin_dir": str(tree["root"] / "thin"),
    }
    roster = {
        edge: common,
        local_path: dict(common, minion_opts={"spectrum_acl": {"prefix_data": str(EXAMPLES / "prefixes.yaml"),
                                                                "accounts": ACCOUNTS}}),
    }
    (tree["root"] / "roster").write_text(yaml.safe_dump(roster))
    return {"edge": edge, "local_path": local_path, "roster": tree["root"] / "roster"}


@pytest.fixture(scope="module")
def salt_ssh(master, sshd, targets):
    cli = master.salt_ssh_cli(timeout=180, roster_file=str(targets["roster"]), client_key=str(sshd.client_key),
                              base_script_args=["--ignore-host-keys"])

    def run(*args, target=targets["edge"]):
        return cli.run(*args, minion_tgt=target)

    return run


def _write_pillar(tree, apps, **extra):
    spectrum = {"spectrum": {"account_id": "crossbow", "apps": apps}, **extra}
    (tree["pillar"] / "spectrum.sls").write_text(json.dumps(spectrum))


def _config_state(ret):
    return next(value for key, value in ret.data.items() if key.startswith("spectrum_acl_|-spectrum-edge-config"))


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_check_apps_and_check_origin_through_salt_ssh(salt_ssh, tree):
    _write_pillar(tree, {"ssh": GOOD_APP})
    allowed = salt_ssh("spectrum_acl.check_apps")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert allowed.data["allowed"] is True and sorted(allowed.data["apps"]) == ["ssh"]
    assert allowed.data["pillar_source"] == "fresh" and allowed.data["warnings"] == []
    assert allowed.data["apps"]["ssh"]["origins"][0]["decided_by"] == "104.16.5.0/24"  # crossbow's delegation

    denied = salt_ssh("spectrum_acl.check_origin", "104.16.9.1")  # account from pillar
    assert denied.returncode != 0
    assert denied.data["allowed"] is False and denied.data["account_id"] == "crossbow"
    assert denied.data["denied_by"] == ["unpermitted"] and denied.data["decided_by"] == "104.16.0.0/13"

    # the pillar changed on the master: the next call judges it, no refresh needed
    _write_pillar(tree, {"ssh": GOOD_APP, "loop": LOOP_APP})
    refused = salt_ssh("spectrum_acl.check_apps")
    assert refused.returncode != 0
    assert refused.data["allowed"] is False
    assert refused.data["apps"]["loop"]["origins"][0]["denied_by"] == ["binding"]

    staged = salt_ssh("spectrum_acl.check_apps", "pillarenv=staging")
    assert sorted(staged.data["apps"]) == ["staged"]
    assert staged.data["apps"]["staged"]["origins"][0]["denied_by"] == ["binding"]


def test_state_apply_writes_then_refuses_and_keeps_the_file(salt_ssh, tree):
    target = tree["edge"] / "apps.json"
    reload_log = tree["edge"] / "reload.log"
    _write_pillar(tree, {"ssh": GOOD_APP})
    first = salt_ssh("state.apply", "edge")
    assert first.returncode == 0, first.stdout + first.stderr
    assert _config_state(first)["result"] is True
    assert sorted(json.loads(target.read_text())["apps"]) == ["ssh"]
    reloads = len(reload_log.read_text().splitlines())

    before = _digest(target)
    _write_pillar(tree, {"ssh": GOOD_APP, "loop": LOOP_APP})
    refused = salt_ssh("state.apply", "edge")
    assert refused.returncode != 0
    state = _config_state(refused)
    assert state["result"] is False and state["changes"] == {}
    assert "loop: tcp://104.16.5.10:22 denied" in state["comment"]
    assert _digest(target) == before
    assert len(reload_log.read_text().splitlines()) == reloads  # no reload


def test_pillar_cannot_configure_the_guard_through_salt_ssh(salt_ssh, tree):
    """A ``spectrum_acl`` section in pillar (trying to authorise the provider's account) is ignored."""
    grab = dict(GOOD_APP, account_id="provider", origin_direct=["tcp://104.16.9.1:22"])
    hostile = {"accounts": ["provider"], "prefix_data": "salt://nowhere.yaml", "cache_dir": str(tree["root"] / "evil")}
    _write_pillar(tree, {"grab": grab}, spectrum_acl=hostile)
    notice = ignored_settings_notice(["spectrum_acl"])

    report = salt_ssh("spectrum_acl.check_apps")
    assert report.returncode != 0
    assert report.data["allowed"] is False
    assert report.data["warnings"] == [notice]
    assert report.data["apps"]["grab"]["error_fields"] == ["account_id"]

    target = tree["edge"] / "apps.json"
    before = target.read_bytes() if target.exists() else None
    applied = salt_ssh("state.apply", "edge")
    assert applied.returncode != 0
    state = _config_state(applied)
    assert state["result"] is False and notice in state["comment"]
    assert (target.read_bytes() if target.exists() else None) == before
    assert not (tree["root"] / "evil").exists()


def test_a_target_side_prefix_data_path_is_refused_by_the_master_side_checks(salt_ssh, tree, targets):
    _write_pillar(tree, {"ssh": GOOD_APP})
    ret = salt_ssh("spectrum_acl.check_apps", target=targets["local_path"])
    assert ret.returncode != 0
    assert "is a path on the target, and under salt-ssh spectrum_acl's checks run on the master" in ret.stdout
