"""The pre-commit hook and the example CI workflow run what they say, for real."""

import shlex
import shutil

import yaml

from tests.conftest import EXAMPLES, REPO_ROOT
from tests.lint.conftest import assert_clean, run_cli

WORKFLOW = EXAMPLES / "ci" / "spectrum-acl-lint.yml"


def test_pre_commit_hook_runs_the_lint_in_a_pillar_repo(tmp_path):
    (hook,) = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "spectrum-acl-lint"
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    program, *entry_args = shlex.split(hook["entry"])
    assert program == "spectrum-acl"
    assert "spectrum-acl = saltext.spectrum_acl.cli.main:main" in (REPO_ROOT / "setup.py").read_text()
    # A pillar repo's .pre-commit-config.yaml, as examples/ci/README.md shows it.
    readme = (EXAMPLES / "ci" / "README.md").read_text()
    config = yaml.safe_load(readme.split("```yaml\n", 1)[1].split("```", 1)[0])
    (user_hook,) = config["repos"][0]["hooks"]
    assert user_hook["id"] == hook["id"]
    repo = tmp_path / "pillar-repo"
    shutil.copytree(EXAMPLES / "pillar", repo / "pillar")
    shutil.copy(EXAMPLES / "prefixes.yaml", repo / "prefixes.yaml")
    (repo / "static-hosts.yaml").write_text("origin.partner.example: [93.184.215.14]\n")
    run = run_cli(*entry_args, *user_hook["args"], cwd=repo)
    assert run.returncode == 0, run.stdout + run.stderr
    shutil.copy(EXAMPLES / "pillar-bad" / "spectrum.sls", repo / "pillar" / "spectrum.sls")
    run = run_cli(*entry_args, *user_hook["args"], cwd=repo)
    assert run.returncode == 1
    assert_clean(run)


def _lint_commands():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    steps = workflow["jobs"]["lint"]["steps"]
    return [step["run"] for step in steps if "spectrum-acl lint" in step.get("run", "")]


def test_workflow_lints_examples_pillar_on_pull_requests(tmp_path):
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true
    assert "pull_request" in triggers
    commands = _lint_commands()
    assert len(commands) == 2
    for command in commands:
        words = shlex.split(command.split("||", 1)[0])
        assert words[:2] == ["spectrum-acl", "lint"]
        assert "examples/pillar" in words
        words = [str(tmp_path / "out.xml") if word == "spectrum-acl-lint.xml" else word for word in words]
        run = run_cli(*words[1:], cwd=REPO_ROOT)
        assert run.returncode == 0, command + "\n" + run.stdout + run.stderr
        assert_clean(run)
    assert "--format github" in commands[0]
