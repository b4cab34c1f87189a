"""With a real master: pillar from the master, prefix data served as ``salt://``."""

import json
import shutil
import uuid

import pytest

from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def master(salt_factories, tmp_path_factory):
    file_root = tmp_path_factory.mktemp("master-file-root")
    shutil.copytree(EXAMPLES / "salt", file_root, dirs_exist_ok=True)
    (file_root / "spectrum").mkdir()
    shutil.copy(EXAMPLES / "prefixes.yaml", file_root / "spectrum" / "prefixes.yaml")
    overrides = {
        "file_roots": {"base": [str(file_root)]},
        "pillar_roots": {"base": [str(EXAMPLES / "pillar")]},
        "open_mode": True,
        "interface": "127.0.0.1",
    }
    factory = salt_factories.salt_master_daemon(f"master-{uuid.uuid4().hex[:8]}", overrides=overrides)
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def minion(master, tmp_path_factory):
    config_dir = tmp_path_factory.mktemp("edge-etc")
    overrides = {
        "master": "127.0.0.1",
        "spectrum_acl": {
            "prefix_data": "salt://spectrum/prefixes.yaml",
            "static_hosts": {"origin.partner.example": ["93.184.215.14"]},
            "accounts": ["crossbow", "acme", "partner"],
        },
        "spectrum_edge": {"config_dir": str(config_dir)},
    }
    factory = master.salt_minion_daemon(f"edge-{uuid.uuid4().hex[:8]}", overrides=overrides)
    with factory.started():
        factory.config_dir = config_dir
        yield factory


def test_state_apply_from_master(master, minion):
    salt_cli = master.salt_cli(timeout=120)
    ret = salt_cli.run("state.apply", minion_tgt=minion.id)
    assert ret.returncode == 0, ret.stdout + ret.stderr
    config = json.loads((minion.config_dir / "apps.json").read_text())
    assert sorted(config["apps"]) == ["acme-game", "crossbow-ssh", "partner-api", "partner-db"]
    check = salt_cli.run("spectrum_acl.check_origin", "104.16.9.1", "account_id=crossbow", minion_tgt=minion.id)
    assert check.data["allowed"] is False
    assert "104.16.0.0/13" in " ".join(check.data["reasons"])
