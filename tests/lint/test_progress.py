"""A progress line on stderr at a terminal only (a real pseudo-terminal here), never in logs or reports."""

import os
import pty
import select
import subprocess

import pytest

from saltext.spectrum_acl.lint.progress import ENV_DELAY
from tests.conftest import EXAMPLES, REPO_ROOT
from tests.lint.conftest import cli_command

CLEAR = b"\r\x1b[K"


def _run(args, tty, tmp_path, delay="0"):
    """Run the CLI with stderr on a pseudo-terminal (``tty``) or a pipe: ``(exit code, stdout, stderr bytes)``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SPECTRUM_ACL_", "GITHUB_"))}
    env[ENV_DELAY] = delay
    if not tty:
        proc = subprocess.run(cli_command() + args, cwd=REPO_ROOT, env=env, capture_output=True, timeout=300,
                              check=False)
        return proc.returncode, proc.stdout, proc.stderr
    master, slave = pty.openpty()
    out = tmp_path / "stdout"
    with open(out, "wb") as stdout:
        proc = subprocess.Popen(cli_command() + args, cwd=REPO_ROOT, env=env, stdout=stdout, stderr=slave)
    os.close(slave)
    received = b""
    while True:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other side closed: the process is gone
                break
            if not chunk:
                break
            received += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=300), out.read_bytes(), received


LINT = ["lint", "--minion-config", str(EXAMPLES / "ci" / "minion"), "--data", str(EXAMPLES / "prefixes.yaml"),
        "--pillar-root", str(EXAMPLES / "pillar-bad"), "--minion-id", "edge01", "edge02", "--format", "json"]


def _origins(tmp_path):
    listing = tmp_path / "origins.txt"
    listing.write_text("104.16.5.20\n104.16.9.1\n10.0.0.1\n1.1.1.1\n")
    return ["check", "--origins-file", str(listing), "--data", str(EXAMPLES / "prefixes.yaml"), "--account-id",
            "crossbow", "--json"]


@pytest.mark.parametrize("command, label", [(LINT, b"linting: "), (None, b"checking: ")], ids=["lint", "check"])
def test_progress_at_a_terminal_and_never_elsewhere(tmp_path, command, label):
    args = command or _origins(tmp_path)
    code, stdout, stderr = _run(args, tty=True, tmp_path=tmp_path)
    piped_code, piped_stdout, piped_stderr = _run(args, tty=False, tmp_path=tmp_path)
    assert code == piped_code == 1
    assert label in stderr and b"\r" in stderr
    assert stderr.endswith(CLEAR)  # cleared at the end: the terminal is left as it was
    assert label not in piped_stderr and b"\r" not in piped_stderr
    if command is LINT:  # the report is the same either way (but for the timings)
        strip = [line for line in stdout.splitlines() if b'"render":' not in line and b': 0.' not in line]
        assert strip == [line for line in piped_stdout.splitlines() if b'"render":' not in line and b': 0.' not in line]
        # which phases get a line depends on timing (a refresh at most every 250 ms): only the label is certain
    else:
        assert stdout == piped_stdout
        assert b"origins judged" in stderr or b"reading origins" in stderr


def test_no_progress_on_a_terminal_for_a_short_run(tmp_path):
    code, _, stderr = _run(_origins(tmp_path), tty=True, tmp_path=tmp_path, delay="60")
    assert code == 1 and b"checking: " not in stderr


class _Terminal:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_the_line_waits_for_the_delay_and_refreshes_a_few_times_a_second(monkeypatch):
    from saltext.spectrum_acl.lint.progress import REFRESH, Progress

    monkeypatch.setattr(Progress, "_run", lambda self: None)  # no background refresh: the test drives the clock
    now = [100.0]
    terminal = _Terminal()
    with Progress("linting", stream=terminal, delay=2.0, clock=lambda: now[0]) as progress:
        progress.update("1/10 minion renders")
        assert terminal.text == ""  # not before the delay
        now[0] += 2.0
        progress.update("2/10 minion renders")
        now[0] += 0.5 / REFRESH
        progress.update("3/10 minion renders")  # too soon after the last refresh
        now[0] += 1 / REFRESH
        progress.update("4/10 minion renders")
    assert terminal.text.split(CLEAR.decode()) == ["", "linting: 2/10 minion renders, 2.0 s",
                                                   "linting: 4/10 minion renders, 2.4 s", ""]
