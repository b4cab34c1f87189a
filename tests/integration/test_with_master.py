"""With a real master: pillar from the master, prefix data served as ``salt://``."""

import json
import shutil

import pytest

from tests.conftest import EXAMPLES
from tests.integration.masters import example_edge_minion, example_file_root, master_daemon


@pytest.fixture(scope="module")
def master(salt_factories, tmp_path_factory):
    file_root = example_file_root(tmp_path_factory, "master-file-root")
    (file_root / "spectrum").mkdir()
    shutil.copy(EXAMPLES / "prefixes.yaml", file_root / "spectrum" / "prefixes.yaml")
    factory = master_daemon(salt_factories, "master", file_root, EXAMPLES / "pillar")
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def minion(master, tmp_path_factory):
    factory = example_edge_minion(master, "edge", "salt://spectrum/prefixes.yaml", tmp_path_factory.mktemp("edge-etc"))
    with factory.started():
        yield factory


def test_state_apply_from_master(master, minion):
    salt_cli = master.salt_cli(timeout=120)
    ret = salt_cli.run("state.apply", minion_tgt=minion.id)
    assert ret.returncode == 0, ret.stdout + ret.stderr
    config = json.loads((minion.edge_dir / "apps.json").read_text())
    assert sorted(config["apps"]) == ["acme-game", "crossbow-ssh", "partner-api", "partner-db"]
    check = salt_cli.run("spectrum_acl.check_origin", "104.16.9.1", "account_id=crossbow", minion_tgt=minion.id)
    assert check.data["allowed"] is False
    assert "104.16.0.0/13" in " ".join(check.data["reasons"])
