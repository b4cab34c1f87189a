"""Shared helpers for the lint tests: the real ``spectrum-acl`` CLI in a subprocess."""

import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
import yaml

from tests.conftest import EXAMPLES, REPO_ROOT

STATIC_HOSTS = {"origin.partner.example": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]}
#: The accounts the example pillars use: trusted configuration authorises them.
ACCOUNTS = ["crossbow", "acme", "partner"]


@pytest.fixture(autouse=True)
def _restore_loggers():
    """The lint's ``configure_logging`` detaches the salt and saltext loggers from the root (right for
    the CLI); tests that run the lint in this process get them back, so later tests' ``caplog`` works."""
    saved = {name: (logger.propagate, logger.level, list(logger.handlers))
             for name in ("salt", "saltext") for logger in [logging.getLogger(name)]}
    yield
    for name, (propagate, level, handlers) in saved.items():
        logger = logging.getLogger(name)
        logger.propagate, logger.handlers = propagate, handlers
        logger.setLevel(level)


def cli_command():
    """The installed console script next to this Python, else ``python -m``."""
    script = os.path.join(os.path.dirname(sys.executable), "spectrum-acl")
    if os.path.exists(script):
        return [script]
    return [sys.executable, "-m", "saltext.spectrum_acl.cli.main"]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    def json(self):
        return json.loads(self.stdout)


def run_cli(*args, cwd=None, env=None):
    environ = dict(os.environ)
    environ.pop("SPECTRUM_ACL_PREFIX_DATA", None)
    environ.pop("SPECTRUM_ACL_API_TOKEN", None)
    environ.update(env or {})
    proc = subprocess.run(
        cli_command() + [str(arg) for arg in args],
        cwd=str(cwd or REPO_ROOT),
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_clean(run):
    """No Python traceback and no Salt log records anywhere in the output."""
    both = run.stdout + run.stderr
    assert "Traceback" not in both, both
    for marker in ("[CRITICAL", "[ERROR", "[WARNING"):
        assert marker not in both, both


@pytest.fixture(scope="session")
def minion_config(tmp_path_factory):
    """A minion config like examples/minion: prefix data and pinned example names."""
    path = tmp_path_factory.mktemp("lint-conf") / "minion"
    path.write_text(
        yaml.safe_dump({"spectrum_acl": {
            "prefix_data": str(EXAMPLES / "prefixes.yaml"), "static_hosts": STATIC_HOSTS, "accounts": ACCOUNTS,
        }})
    )
    return path


def lint(minion_config, pillar, *args, **kwargs):
    return run_cli("lint", "--minion-config", minion_config, "--pillar-root", pillar, *args, **kwargs)


@pytest.fixture(scope="session")
def bad_json(minion_config):
    run = lint(minion_config, EXAMPLES / "pillar-bad", "--format", "json")
    assert run.returncode == 1, run.stdout + run.stderr
    return run.json()


def line_of(path, text, start=0):
    """1-based number of the first line of ``path`` (after line ``start``) containing ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if number > start and text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def bad_apps(count, indent="    "):
    """YAML of ``count`` apps under spectrum:apps, each with one origin in reserved space."""
    lines = []
    for number in range(count):
        lines += [f"{indent}bad-{number:02d}:", f"{indent}  account_id: crossbow", f"{indent}  protocol: tcp/22",
                  f"{indent}  dns: {{type: CNAME, name: b{number}.crossbow.example.com}}",
                  f'{indent}  origin_direct: ["tcp://10.9.0.{number + 1}:22"]']
    return "\n".join(lines) + "\n"
