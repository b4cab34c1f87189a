"""Shared fixtures: paths to the examples and a salt-factories root in a temp dir."""

import pathlib

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = REPO_ROOT / "examples"


@pytest.fixture(scope="session")
def examples_dir():
    return EXAMPLES


@pytest.fixture(scope="session")
def salt_factories_config(tmp_path_factory):
    """Keep every factory's folders under pytest's temp dir, not the system temp folder."""
    return {
        "code_dir": str(REPO_ROOT / "src"),
        "inject_sitecustomize": False,
        "root_dir": str(tmp_path_factory.mktemp("salt-root")),
        "start_timeout": 120,
    }


@pytest.fixture(scope="session", autouse=True)
def _drop_salt_deferred_log_handler():
    """Salt buffers early log records for stderr and flushes them at exit, after pytest
    has closed its capture; hand them to the real handlers while pytest still runs."""
    yield
    from salt._logging.impl import shutdown_temp_handler

    shutdown_temp_handler()
