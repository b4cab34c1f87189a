"""Hostile prefix data through the CLI: every trick is a clear error (exit 2) or a denial, never a traceback."""

import json
import os
import threading

import pytest

from saltext.spectrum_acl.cli import main as cli

GOOD = "prefixes:\n  - cidr: 104.16.0.0/13\n    account_id: provider\n"


def _check(capsys, data, *origins):
    code = cli.main(["check", *origins, "--data", str(data), "--account-id", "crossbow"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize("text", ["prefixes: []\n", '{"prefixes": []}'])
def test_empty_data_is_refused_unless_it_says_so(tmp_path, capsys, text):
    data = tmp_path / ("p.json" if text.startswith("{") else "p.yaml")
    data.write_text(text)
    code, _, err = _check(capsys, data, "104.16.5.10")
    assert code == 2 and "allow_empty: true" in err
    data.write_text(text.replace("[]", "[]\nallow_empty: true") if data.suffix == ".yaml"
                    else '{"prefixes": [], "allow_empty": true}')
    assert _check(capsys, data, "104.16.5.10")[0] == 0


@pytest.mark.parametrize(
    "name, text, line",
    [
        ("p.yaml", GOOD + "    account_id: attacker\n", 4),
        ("p.yaml", GOOD + "    bindings:\n      - cidr: 104.16.5.10/32\n        service_name: Spectrum\n"
                          "        service_name: CDN\n", 7),
        ("p.json", '{"prefixes": [\n {"cidr": "104.16.0.0/13",\n  "account_id": "provider",\n  "account_id": "x"}]}', 4),
        ("p.json", '{"prefixes": [{"cidr": "104.16.0.0/13", "account_id": "p"}],\n "prefixes": []}', 2),
    ],
)
def test_a_key_written_twice_is_refused_at_its_line(tmp_path, capsys, name, text, line):
    data = tmp_path / name
    data.write_text(text)
    code, _, err = _check(capsys, data, "104.16.5.10")
    assert code == 2
    assert "written twice" in err and f"at line {line}" in err


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path, capsys):
    lines = ['a: &a {cidr: 104.16.0.0/13, account_id: p}']
    previous = "a"
    for name in "bcdefghij":
        lines.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
        previous = name
    lines.append(f"prefixes: *{previous}")
    data = tmp_path / "bomb.yaml"
    data.write_text("\n".join(lines) + "\n")
    code, _, err = _check(capsys, data, "1.1.1.1")
    assert code == 2 and "alias bomb" in err


def test_a_fifo_is_refused_and_nothing_hangs(tmp_path, capsys):
    fifo = tmp_path / "p.yaml"
    os.mkfifo(fifo, 0o600)
    result = {}
    worker = threading.Thread(target=lambda: result.update(code=_check(capsys, fifo, "1.1.1.1")), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert result["code"][0] == 2 and "FIFO" in result["code"][2]


def test_service_name_matches_in_any_case(tmp_path, capsys):
    data = tmp_path / "p.json"
    data.write_text(json.dumps({"prefixes": [{"cidr": "104.16.0.0/13", "account_id": "provider", "bindings": [
        {"cidr": "104.16.5.10/32", "service_name": "spectrum"}, {"cidr": "104.16.5.11/32", "service_name": "SPECTRUM"}]}]}))
    code, out, _ = _check(capsys, data, "--json", "104.16.5.10", "104.16.5.11")
    assert code == 1
    assert [verdict["has_binding"] for verdict in json.loads(out)] == [True, True]
