"""Functional tests: Salt's real loaders with this extension's modules and states."""

import uuid

import pytest
from saltfactories.utils.functional import Loaders

from tests.conftest import EXAMPLES

STATIC_HOSTS = {"origin.partner.example": ["93.184.215.14"]}


@pytest.fixture(scope="package")
def pillar_tree(tmp_path_factory):
    return tmp_path_factory.mktemp("pillar")


@pytest.fixture(scope="package")
def minion_opts(salt_factories, pillar_tree, tmp_path_factory):
    (pillar_tree / "top.sls").write_text("base:\n  '*':\n    - spectrum\n")
    (pillar_tree / "spectrum.sls").write_text((EXAMPLES / "pillar" / "spectrum.sls").read_text())
    overrides = {
        "file_client": "local",
        "file_roots": {"base": [str(tmp_path_factory.mktemp("state-tree"))]},
        "pillar_roots": {"base": [str(pillar_tree)]},
        "spectrum_acl": {
            "prefix_data": str(EXAMPLES / "prefixes.yaml"),
            "static_hosts": STATIC_HOSTS,
            "accounts": ["crossbow", "acme", "partner", "team"],
        },
    }
    factory = salt_factories.salt_minion_daemon(f"func-{uuid.uuid4().hex[:8]}", overrides=overrides)
    return factory.config.copy()


@pytest.fixture(scope="package")
def loaders(minion_opts):
    return Loaders(minion_opts, loaded_base_name=f"{__name__}.loaded")


@pytest.fixture(autouse=True)
def reset_loaders_state(loaders):
    try:
        yield
    finally:
        loaders.reset_state()


@pytest.fixture
def modules(loaders):
    return loaders.modules


@pytest.fixture
def states(loaders):
    return loaders.states
