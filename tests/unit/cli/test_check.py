"""``spectrum-acl check``: origins from arguments or a file, verdicts as text or JSON, exit codes."""

import io
import json
import os
import subprocess
import sys

import pytest

from saltext.spectrum_acl.cli import main as cli

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "examples")
DATA = os.path.join(EXAMPLES, "prefixes.yaml")


def _run(argv, stdin=None, monkeypatch=None):
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = cli.main(["check", "--data", DATA, *argv], out=out)
    return code, out.getvalue()


def test_allowed_origins_exit_0_with_reasons():
    code, out = _run(["104.16.5.20", "tcp://[2606:4700::6810:5:1]:22", "--account-id", "crossbow"])
    assert code == 0
    assert out.startswith("ALLOW 104.16.5.20  allowed=true is_managed=true is_delegated=true")
    assert "crossbow holds delegation 104.16.5.0/24 from provider" in out


def test_a_denied_origin_exits_1():
    code, out = _run(["104.16.5.20", "104.16.5.10", "--account-id", "crossbow"])
    assert code == 1
    assert [line.split()[0] for line in out.splitlines() if not line.startswith(" ")] == ["ALLOW", "DENY"]
    assert "makes the proxy loop" in out


def test_origins_file_with_comments_and_denied_only(tmp_path):
    listing = tmp_path / "origins.txt"
    listing.write_text("# edge origins\n104.16.5.20\n\n104.16.9.1   # not delegated\n10.0.0.0/8\n45.91.88.1\n")
    code, out = _run(["1.1.1.1", "--origins-file", str(listing), "--account-id", "crossbow", "--denied-only"])
    assert code == 1
    denied = [line.split()[1] for line in out.splitlines() if line.startswith("DENY")]
    assert denied == ["104.16.9.1", "10.0.0.0/8", "45.91.88.1"]
    assert "ALLOW" not in out


def test_origins_from_stdin_as_json(monkeypatch):
    code, out = _run(["--origins-file", "-", "--account-id", "acme", "--json"], stdin="45.91.88.7\n45.91.88.1\n",
                     monkeypatch=monkeypatch)
    verdicts = json.loads(out)
    assert code == 1
    assert [(v["origin"], v["allowed"], v["decided_by"]) for v in verdicts] == [
        ("45.91.88.7", True, "45.91.88.0/22"),
        ("45.91.88.1", False, "45.91.88.1/32"),
    ]


def test_a_bad_origin_names_its_line_and_nothing_is_judged(tmp_path, capsys):
    listing = tmp_path / "origins.txt"
    listing.write_text("104.16.5.20\n127.1\n")
    code, out = _run(["--origins-file", str(listing), "--account-id", "crossbow"])
    error = capsys.readouterr().err
    assert code == 2 and out == ""
    assert f"{listing} line 2: '127.1' is not a valid origin" in error
    assert "Traceback" not in error


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--account-id", "x"], "no origins"),
        (["--origins-file", "/nonexistent/origins.txt"], "cannot read origins file"),
    ],
)
def test_usage_errors_exit_2(argv, message, capsys):
    code, _ = _run(argv)
    assert code == 2 and message in capsys.readouterr().err


def test_the_installed_command_with_a_cache(tmp_path):
    """The console script from the entry point, twice: the second run reads the compiled cache."""
    command = os.path.join(os.path.dirname(sys.executable), "spectrum-acl")
    json_data = tmp_path / "prefixes.json"
    json_data.write_text(json.dumps({"prefixes": [{"cidr": "44.10.20.0/24", "account_id": "ham"}]}))
    argv = [command, "check", "44.10.20.9", "44.10.21.9", "--data", str(json_data), "--account-id", "other",
            "--cache-dir", str(tmp_path / "cache")]
    first = subprocess.run(argv, capture_output=True, text=True, check=False)
    second = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert first.returncode == second.returncode == 1
    assert first.stdout == second.stdout and first.stdout.startswith("DENY  44.10.20.9")
    assert any(name.startswith("prefix-index-") for name in os.listdir(tmp_path / "cache"))


def test_origins_judged_in_chunks_give_the_same_verdicts(tmp_path, monkeypatch):
    from saltext.spectrum_acl.cli import check

    listing = tmp_path / "origins.txt"
    listing.write_text("104.16.5.20\n104.16.9.1\n10.0.0.0/8\n45.91.88.1\n1.1.1.1\n")
    whole = _run(["--origins-file", str(listing), "--account-id", "crossbow", "--json"])
    monkeypatch.setattr(check, "CHUNK", 2)
    chunked = _run(["--origins-file", str(listing), "--account-id", "crossbow", "--json"])
    assert chunked == whole and whole[0] == 1
    denied = _run(["--origins-file", str(listing), "--account-id", "crossbow", "--denied-only"])
    assert [line.split()[1] for line in denied[1].splitlines() if line.startswith("DENY")] == [
        "104.16.9.1", "10.0.0.0/8", "45.91.88.1"]


def test_a_bad_origin_in_a_later_chunk_names_its_line(tmp_path, monkeypatch, capsys):
    from saltext.spectrum_acl.cli import check

    monkeypatch.setattr(check, "CHUNK", 2)
    listing = tmp_path / "origins.txt"
    listing.write_text("104.16.5.20\n1.1.1.1\n# comment\n8.8.8.8\n127.1\n")
    code = cli.main(["check", "--data", DATA, "--origins-file", str(listing)], out=io.StringIO())
    assert code == 2
    assert f"{listing} line 5: '127.1' is not a valid origin" in capsys.readouterr().err
