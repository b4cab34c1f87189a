"""The manual builds with warnings as errors, and neither it nor the README links outside the repository."""

import re
import subprocess
import sys

from tests.conftest import REPO_ROOT

_LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_the_manual_builds_without_warnings(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(REPO_ROOT / "docs"), str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "ref" / "modules.html").read_text().count("CLI Example") >= 5  # docstrings made it in


def test_no_link_leaves_the_repository():
    pages = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md"))]
    for page in pages:
        for target in _LINK.findall(page.read_text()):
            assert "://" not in target, f"{page.name} links outside the repository: {target}"
            path = target.split("#", 1)[0]
            if path:
                assert (page.parent / path).exists(), f"{page.name} links to a missing file: {target}"


def test_the_readme_stays_short():
    assert len((REPO_ROOT / "README.md").read_bytes()) < 10 * 1024
