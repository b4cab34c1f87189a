"""The code's own checks: no import circles, the lint configuration, packaging facts, the public API."""

import ast
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "src" / "saltext" / "spectrum_acl"
#: Subpackages that must not be named after Salt loader directories (Salt scans those).
SALT_LOADER_DIRS = {"pillar", "cache", "engines", "runners", "beacons", "wrapper", "output", "grains", "returners",
                    "utils", "proxy", "serializers", "renderers", "roster", "sdb", "tops", "matchers", "executors",
                    "fileserver", "auth", "tokens", "queues", "thorium", "netapi", "wheel", "log_handlers", "clouds"}


def _module_name(path):
    parts = path.relative_to(REPO_ROOT / "src").with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """Package modules ``path`` imports, at the top level or inside functions alike."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("saltext.spectrum_acl"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if (PACKAGE.parent.parent / (candidate.replace(".", "/") + ".py")).exists() else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("saltext.spectrum_acl"))
    return found


def test_no_import_circles():
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}
    state, stack = {}, []

    def visit(name):
        state[name] = "open"
        stack.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                raise AssertionError("import circle: " + " -> ".join(stack[stack.index(target):] + [target]))
            if target not in state:
                visit(target)
        stack.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_subpackage_is_named_after_a_salt_loader_directory():
    loader_dirs = {"modules", "states", "runners", "beacons", "wrapper"}
    for child in PACKAGE.iterdir():
        if child.is_dir() and (child / "__init__.py").exists() and child.name not in loader_dirs:
            assert child.name not in SALT_LOADER_DIRS, child


def test_ruff_passes():
    run = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "tests", "benchmarks", "examples"],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_classifiers_are_real_trove_classifiers():
    trove = pytest.importorskip("trove_classifiers")
    declared = re.findall(r'^\s+"([A-Z][^"]+ :: [^"]+)",$', (REPO_ROOT / "setup.py").read_text(), re.M)
    assert declared
    assert [c for c in declared if c not in trove.classifiers] == []


def test_one_version_everywhere():
    from saltext.spectrum_acl import __version__

    run = subprocess.run([sys.executable, "-m", "saltext.spectrum_acl.cli.main", "--version"],
                         capture_output=True, text=True, check=False)
    assert run.stdout.strip() == f"spectrum-acl {__version__}"
    setup = subprocess.run([sys.executable, "setup.py", "--version"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert setup.stdout.strip().splitlines()[-1] == __version__


def test_the_public_api_example_runs(monkeypatch):
    import doctest

    import saltext.spectrum_acl as package

    monkeypatch.chdir(REPO_ROOT)
    failed, attempted = doctest.testmod(package)
    assert attempted >= 4 and failed == 0


@pytest.mark.parametrize("module", ["core.ranges", "core.embedded", "core.verdict", "core.guard", "api.protocol"])
def test_module_examples_run(module):
    import doctest
    import importlib

    failed, attempted = doctest.testmod(importlib.import_module(f"saltext.spectrum_acl.{module}"))
    assert attempted and failed == 0


def test_the_engine_imports_nothing_from_salt():
    engine = [path for sub in ("core", "data", "apps", "api") for path in (PACKAGE / sub).rglob("*.py")]
    engine += [PACKAGE / "settings.py", PACKAGE / "errors.py"]
    for path in engine:
        names = {n.module for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ImportFrom) and n.module}
        names |= {a.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Import) for a in n.names}
        assert not {name for name in names if name == "salt" or name.startswith("salt.")}, path
