"""examples/ci/ and .pre-commit-hooks.yaml, copied into a separate pillar repository, work as docs/ci.md says.

A real git repository stands in for the pillar repository: ``main`` is the base
branch (pushed to a bare ``origin``), a pull request branch changes it. The
workflow's ``run:`` steps are run in order with bash, as GitHub runs them, with
the variables GitHub sets (``GITHUB_BASE_REF``, ``RUNNER_TEMP``,
``GITHUB_STEP_SUMMARY``) and the workflow's own ``env``. Only the install step is
left out: the project is installed in the venv, whose ``bin`` goes first on
``PATH``. ``uses:`` steps are GitHub's (checkout: the repository is checked out;
setup-python: the venv; upload-sarif: its input is checked here).
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import jsonschema
import pytest
import yaml

from tests.conftest import EXAMPLES, REPO_ROOT

CI = EXAMPLES / "ci"
SARIF_SCHEMA = json.loads((REPO_ROOT / "tests" / "lint" / "sarif-schema-2.1.0.json").read_text())
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
BAD_APP = """    private-db:
      account_id: crossbow
      protocol: tcp/5432
      dns: {type: CNAME, name: db.crossbow.example.com}
      origin_direct: ["tcp://10.20.0.9:5432"]
"""
GOOD_APP = """    public-web:
      account_id: partner
      protocol: tcp/443
      dns: {type: CNAME, name: web.partner.example}
      origin_direct: ["tcp://93.184.215.14:443"]
"""


def _git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, check=True,
                          capture_output=True, text=True).stdout


def _workflow():
    return yaml.safe_load((CI / "spectrum-acl-lint.yml").read_text())


@pytest.fixture
def make_repo(tmp_path):
    """``make_repo(base_apps="")``: a pillar repository on a pull request branch ``pr`` off ``main``."""

    def make(base_apps=""):
        origin = tmp_path / "origin.git"
        _git(tmp_path, "init", "--bare", "-q", "-b", "main", str(origin))
        repo = tmp_path / "pillar-repo"
        _git(tmp_path, "clone", "-q", str(origin), str(repo))
        _git(repo, "checkout", "-q", "-b", "main")
        shutil.copytree(EXAMPLES / "pillar", repo / "pillar")
        with open(repo / "pillar" / "spectrum.sls", "a", encoding="utf-8") as handle:
            handle.write(base_apps)
        (repo / "ci" / "spectrum-acl").mkdir(parents=True)
        shutil.copy(CI / "minion", repo / "ci" / "spectrum-acl" / "minion")
        shutil.copy(EXAMPLES / "prefixes.yaml", repo / "ci" / "spectrum-acl" / "prefixes.yaml")
        (repo / ".github" / "workflows").mkdir(parents=True)
        shutil.copy(CI / "spectrum-acl-lint.yml", repo / ".github" / "workflows" / "spectrum-acl-lint.yml")
        shutil.copy(CI / "pre-commit-config.yaml", repo / ".pre-commit-config.yaml")
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "base")
        _git(repo, "push", "-q", "origin", "main")
        _git(repo, "checkout", "-q", "-b", "pr")
        return repo

    return make


def _commit(repo, message, changes):
    for relative, text in changes.items():
        path = repo / relative
        if text is None:
            path.unlink()
        elif text.startswith("+"):
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text[1:])
        else:
            path.write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


class Job:
    def __init__(self, repo, tmp_path):
        self.repo = repo
        self.summary = tmp_path / "step-summary.md"
        self.summary.write_text("")
        self.runner_temp = tmp_path / "runner-temp"
        self.runner_temp.mkdir()
        self.steps = []  # (name, CompletedProcess)
        self.failed = None  # (step name, exit code) of the first failing step

    @property
    def sarif(self):
        return json.loads((self.repo / "spectrum-acl.sarif").read_text())

    def step(self, name):
        return next(proc for step_name, proc in self.steps if step_name == name)


def run_workflow(repo, tmp_path):
    """Run the workflow's ``run:`` steps as GitHub would on a pull request into ``main``."""
    workflow = _workflow()
    assert workflow["defaults"]["run"]["shell"] == "bash"
    job = Job(repo, tmp_path)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPECTRUM_ACL_", "GITHUB_"))}
    env.update({key: str(value) for key, value in workflow.get("env", {}).items()})
    env.update({"GITHUB_BASE_REF": "main", "GITHUB_HEAD_REF": "pr", "GITHUB_EVENT_NAME": "pull_request",
                "GITHUB_WORKSPACE": str(repo), "RUNNER_TEMP": str(job.runner_temp),
                "GITHUB_STEP_SUMMARY": str(job.summary),
                "PATH": os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")})
    for step in workflow["jobs"]["lint"]["steps"]:
        if "uses" in step:
            continue
        if step.get("id") == "install":  # the one step replaced: the project is installed in the venv already
            continue
        if job.failed and "always()" not in str(step.get("if", "")):
            continue
        # GitHub's bash: bash --noprofile --norc -eo pipefail {0}
        proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], cwd=repo,
                              env={**env, **{k: str(v) for k, v in step.get("env", {}).items()}},
                              capture_output=True, text=True, timeout=600, check=False)
        job.steps.append((step["name"], proc))
        if proc.returncode and not job.failed:
            job.failed = (step["name"], proc.returncode)
    return job


def _assert_valid_sarif(document):
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(document)
    (run,) = document["runs"]
    return run["results"]


def test_the_install_step_pins_a_commit_of_this_project():
    (install,) = [step for step in _workflow()["jobs"]["lint"]["steps"] if step.get("id") == "install"]
    (command,) = install["run"].strip().splitlines()
    words = shlex.split(command)
    assert words[:2] == ["pip", "install"] and "-c" not in words  # constraints.txt exists only in this repository
    (requirement,) = words[2:]
    assert re.fullmatch(r"saltext-spectrum-acl @ git\+https://github\.com/<org>/saltext-spectrum-acl@<commit-sha>",
                        requirement)
    uploads = [step for step in _workflow()["jobs"]["lint"]["steps"] if "upload-sarif" in step.get("uses", "")]
    (upload,) = uploads
    lint_step = next(step for step in _workflow()["jobs"]["lint"]["steps"] if step.get("name") == "Lint the pull request")
    assert f"sarif={upload['with']['sarif_file']}" in lint_step["run"]


def test_a_pull_request_adding_a_bad_origin_fails_with_exit_1(make_repo, tmp_path):
    repo = make_repo()
    _commit(repo, "add a database app", {"pillar/spectrum.sls": "+" + BAD_APP})
    job = run_workflow(repo, tmp_path)
    assert job.failed == ("Lint the pull request", 1), job.steps
    lint_run = job.step("Lint the pull request")
    annotations = [line for line in lint_run.stdout.splitlines() if line.startswith("::error ")]
    assert len(annotations) == 1 and "file=pillar/spectrum.sls" in annotations[0] and "private-db" in annotations[0]
    (result,) = _assert_valid_sarif(job.sarif)
    assert (result["ruleId"], result["level"], result["baselineState"]) == ("reserved", "error", "new")
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "pillar/spectrum.sls", "uriBaseId": "%SRCROOT%"}
    line = (repo / "pillar" / "spectrum.sls").read_text().splitlines()[location["region"]["startLine"] - 1]
    assert line[location["region"]["startColumn"] - 1:].startswith("tcp://10.20.0.9:5432")
    summary = job.summary.read_text()
    assert summary.startswith("### spectrum-acl lint: FAIL")
    rows = [row for row in summary.splitlines() if row.startswith("| `pillar/spectrum.sls:")]
    assert len(rows) == 1 and "| `private-db` |" in rows[0] and "reserved" in rows[0] and "error (new)" in rows[0]


def test_a_good_pull_request_passes(make_repo, tmp_path):
    repo = make_repo()
    _commit(repo, "add a web app", {"pillar/spectrum.sls": "+" + GOOD_APP})
    job = run_workflow(repo, tmp_path)
    assert job.failed is None, job.steps
    assert _assert_valid_sarif(job.sarif) == []
    assert job.summary.read_text().startswith("### spectrum-acl lint: PASS")


def test_a_finding_already_on_the_base_branch_does_not_fail_a_clean_pull_request(make_repo, tmp_path):
    repo = make_repo(base_apps=BAD_APP)
    _commit(repo, "add a web app", {"pillar/spectrum.sls": "+" + GOOD_APP})
    job = run_workflow(repo, tmp_path)
    assert job.failed is None, job.steps
    (result,) = _assert_valid_sarif(job.sarif)
    assert (result["ruleId"], result["level"], result["baselineState"]) == ("reserved", "warning", "unchanged")
    lint_run = job.step("Lint the pull request")
    assert [line.split(" ", 1)[0] for line in lint_run.stdout.splitlines() if line.startswith("::")] == ["::warning"]
    summary = job.summary.read_text()
    assert "| existing on the base branch (warnings) | 1 |" in summary and "warning (existing)" in summary


def test_the_pull_request_cannot_loosen_its_own_configuration(make_repo, tmp_path):
    repo = make_repo()
    minion = yaml.safe_load((repo / "ci" / "spectrum-acl" / "minion").read_text())
    minion["spectrum_acl"]["accounts"].append("provider")  # the PR authorises the account its app needs
    _commit(repo, "claim the provider's space", {
        "ci/spectrum-acl/minion": yaml.safe_dump(minion),
        "pillar/spectrum.sls": "+" + BAD_APP.replace("private-db", "provider-app").replace("crossbow", "provider"),
    })
    job = run_workflow(repo, tmp_path)
    assert job.failed == ("Lint the pull request", 1)
    (result,) = _assert_valid_sarif(job.sarif)
    assert result["properties"]["app"] == "provider-app" and "not authorised" in result["message"]["text"]


def test_a_file_the_pull_request_breaks_is_its_finding_and_base_breakage_is_exit_2(make_repo, tmp_path):
    repo = make_repo()
    _commit(repo, "typo", {"pillar/broken.sls": "spectrum:\n  apps: {a: [\n",
                           "pillar/top.sls": "base:\n  '*':\n    - spectrum\n    - broken\n"})
    job = run_workflow(repo, tmp_path)
    assert job.failed == ("Lint the pull request", 1)
    (result,) = _assert_valid_sarif(job.sarif)
    assert result["ruleId"] == "render"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pillar/broken.sls"


def test_pre_commit_hook_entry_runs_in_the_pillar_repository(make_repo):
    repo = make_repo()
    (hook,) = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    config = yaml.safe_load((repo / ".pre-commit-config.yaml").read_text())
    (entry,) = config["repos"]
    assert entry["rev"] == "<commit-sha>" and entry["repo"].endswith("/saltext-spectrum-acl")
    (user_hook,) = entry["hooks"]
    assert user_hook["id"] == hook["id"] and hook["language"] == "python" and hook["pass_filenames"] is False
    assert re.search(hook["files"], "pillar/spectrum.sls")
    command = shlex.split(hook["entry"]) + user_hook["args"]
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPECTRUM_ACL_", "GITHUB_"))}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")

    def hook_run():
        return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=300, check=False)

    clean = hook_run()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    with open(repo / "pillar" / "spectrum.sls", "a", encoding="utf-8") as handle:
        handle.write(BAD_APP)
    dirty = hook_run()
    assert dirty.returncode == 1, dirty.stdout + dirty.stderr
    assert "private-db: reserved:" in dirty.stdout


def test_a_renamed_file_that_top_still_names_is_the_pull_requests_finding(make_repo, tmp_path):
    repo = make_repo()
    _commit(repo, "rename", {"pillar/apps.sls": (repo / "pillar" / "spectrum.sls").read_text(),
                             "pillar/spectrum.sls": None})
    job = run_workflow(repo, tmp_path)
    assert job.failed == ("Lint the pull request", 1)  # not 2: the pull request removed what top.sls names
    results = {r["ruleId"]: r for r in _assert_valid_sarif(job.sarif)}
    assert set(results) == {"render", "not_linted"}  # and the new file is in no minion's pillar
    result = results["render"]
    assert result["level"] == "error" and "names SLS 'spectrum'" in result["message"]["text"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "pillar/top.sls"
