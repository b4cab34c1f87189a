"""Real masters for the integration tests: the part every one of them shares."""

import shutil
import uuid

from tests.conftest import EXAMPLES


def example_file_root(tmp_path_factory, name):
    """A fresh file root holding the examples' states (``examples/salt``)."""
    file_root = tmp_path_factory.mktemp(name)
    shutil.copytree(EXAMPLES / "salt", file_root, dirs_exist_ok=True)
    return file_root


def owner_only_token_file(tmp_path_factory, token, name="master-secrets"):
    """``token`` in a file only its owner can read, as the snapshot runner requires."""
    token_file = tmp_path_factory.mktemp(name) / "api.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    return token_file


def master_daemon(salt_factories, name, file_root, pillar_root, **overrides):
    """A master on 127.0.0.1 that accepts every minion (``open_mode``) and serves ``file_root`` and
    ``pillar_root``; ``overrides`` add to its config. Start it with ``.started()``."""
    config = {
        "file_roots": {"base": [str(file_root)]},
        "pillar_roots": {"base": [str(pillar_root)]},
        "open_mode": True,
        "interface": "127.0.0.1",
        **overrides,
    }
    return salt_factories.salt_master_daemon(f"{name}-{uuid.uuid4().hex[:8]}", overrides=config)


def example_edge_minion(master, name, prefix_data, edge_dir):
    """A minion of ``master`` set up for the examples' pillar: its accounts, the partner's static host,
    ``prefix_data``, and its edge config in ``edge_dir`` (also ``factory.edge_dir``; ``config_dir`` is
    the factory's own). Start it with ``.started()`` or ``.start()``."""
    overrides = {
        "master": "127.0.0.1",
        "spectrum_acl": {
            "prefix_data": prefix_data,
            "static_hosts": {"origin.partner.example": ["93.184.215.14"]},
            "accounts": ["crossbow", "acme", "partner"],
        },
        "spectrum_edge": {"config_dir": str(edge_dir)},
    }
    factory = master.salt_minion_daemon(f"{name}-{uuid.uuid4().hex[:8]}", overrides=overrides)
    factory.edge_dir = edge_dir
    return factory
