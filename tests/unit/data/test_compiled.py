"""The compiled index cache: same answers as a fresh build, never a bad cache."""

import json
import logging
import os
import subprocess
import sys

import pytest

from saltext.spectrum_acl.core import index
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.data import compiled, prefix_data
from tests.unit.helpers import DOC

QUERIES = [
    "104.16.5.20", "104.16.5.10", "104.16.9.1", "104.16.0.0/16", "104.17.8.7", "45.91.88.1", "45.91.89.9",
    "44.10.20.0/24", "44.10.0.0/16", "10.1.2.3", "1.1.1.1", "0.0.0.0/0", "2606:4700:10::1", "2606:4700::6810:5:a",
    "2606:4700::/32", "::ffff:104.16.9.1", "2002:6810:901::1", "2a00::1", "::/0", "tcp://[2606:4700:10::5]:22",
]
ACCOUNTS = ["crossbow", "provider", "acme", "team", "ham", None]


def _verdicts(built):
    guard = OriginGuard(built)
    return [guard.check_origin(q, a).as_dict() for q in QUERIES for a in ACCOUNTS]


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "prefixes.json"
    path.write_text(json.dumps(DOC))
    return path


def _cache_files(cache_dir):
    return sorted(name for name in os.listdir(cache_dir) if name.startswith("prefix-index-"))


def test_cached_index_answers_like_a_fresh_build(data_file, tmp_path):
    cache_dir = tmp_path / "cache"
    fresh = prefix_data.load_index(str(data_file))
    written = prefix_data.load_index(str(data_file), cache_dir=str(cache_dir))
    assert len(_cache_files(cache_dir)) == 1
    loaded = prefix_data.load_index(str(data_file), cache_dir=str(cache_dir))
    assert isinstance(loaded.columns.first, index.WideInts)
    assert isinstance(loaded.columns.first.high, memoryview)  # a view of the mapped file, not a copy
    assert _verdicts(loaded) == _verdicts(fresh) == _verdicts(written)
    assert loaded.counts == fresh.counts


def test_stale_cache_is_not_used_and_replaced(data_file, tmp_path):
    cache_dir = tmp_path / "cache"
    prefix_data.load_index(str(data_file), cache_dir=str(cache_dir))
    (old_file,) = _cache_files(cache_dir)
    changed = json.loads(data_file.read_text())
    changed["prefixes"].append({"cidr": "1.1.1.0/24", "account_id": "someone"})
    data_file.write_text(json.dumps(changed))
    built = prefix_data.load_index(str(data_file), cache_dir=str(cache_dir))
    assert OriginGuard(built).check_origin("1.1.1.1", "crossbow").is_managed is True
    (new_file,) = _cache_files(cache_dir)
    assert new_file != old_file


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda blob: blob[: len(blob) // 2], id="truncated"),
        pytest.param(lambda blob: blob[:-50] + bytes([blob[-50] ^ 0xFF]) + blob[-49:], id="payload-byte-flipped"),
        pytest.param(lambda blob: b"garbage" + blob[7:], id="bad-magic"),
        pytest.param(
            lambda blob: blob.replace(f'"format": {compiled.FORMAT}'.encode(), b'"format": 9'), id="other-format"
        ),
        pytest.param(lambda blob: blob.replace(b'"crossbow"', b'"crossbox"'), id="header-account-altered"),
        pytest.param(lambda blob: b"", id="empty"),
    ],
)
def test_corrupt_cache_is_detected_and_rebuilt(data_file, tmp_path, caplog, damage):
    cache_dir = tmp_path / "cache"
    expected = _verdicts(prefix_data.load_index(str(data_file), cache_dir=str(cache_dir)))
    (name,) = _cache_files(cache_dir)
    path = cache_dir / name
    path.write_bytes(damage(path.read_bytes()))
    digest = name.split("-")[2]
    with caplog.at_level(logging.WARNING):
        assert compiled.load(str(cache_dir), digest) is None
        rebuilt = prefix_data.load_index(str(data_file), cache_dir=str(cache_dir))
    assert _verdicts(rebuilt) == expected
    assert "ignoring the compiled index cache" in caplog.text
    assert compiled.load(str(cache_dir), digest) is not None  # rewritten sound


def test_unwritable_cache_dir_still_loads(data_file, tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with caplog.at_level(logging.WARNING):
        built = prefix_data.load_index(str(data_file), cache_dir=str(blocker / "cache"))
    assert _verdicts(built) == _verdicts(prefix_data.load_index(str(data_file)))
    assert [r.levelname for r in caplog.records] == ["WARNING"]  # one warning, naming the path
    assert str(blocker / "cache") in caplog.records[0].getMessage()


def test_unchanged_data_is_not_hashed_again(data_file, tmp_path, monkeypatch):
    cache_dir = str(tmp_path / "cache")
    expected = _verdicts(prefix_data.load_index(str(data_file)))
    prefix_data.load_index(str(data_file), cache_dir=cache_dir)
    digest = compiled.known_digest(cache_dir, str(data_file))
    assert digest is not None and compiled.load(cache_dir, digest) is not None

    def no_hashing(*_):
        raise AssertionError("the unchanged data file was read and hashed again")

    with monkeypatch.context() as patched:
        patched.setattr(prefix_data, "_read_bytes", no_hashing)
        assert _verdicts(prefix_data.load_index(str(data_file), cache_dir=cache_dir)) == expected
    os.utime(data_file, ns=(1, 1))  # same bytes, new stat: hashed again, same digest
    assert compiled.known_digest(cache_dir, str(data_file)) is None
    assert _verdicts(prefix_data.load_index(str(data_file), cache_dir=cache_dir)) == expected
    assert compiled.known_digest(cache_dir, str(data_file)) == digest


def test_a_warm_run_does_not_import_numpy_or_msgspec(data_file, tmp_path):
    """The state run's path (cached index, no app edge IPs, one origin at a time) imports neither;
    nor does a small batch, such as ``spectrum-acl check`` with a few origins."""
    cache_dir = str(tmp_path / "cache")
    prefix_data.load_index(str(data_file), cache_dir=cache_dir)
    script = (
        "import sys\n"
        "from saltext.spectrum_acl.core import index\n"
        "from saltext.spectrum_acl.core.guard import OriginGuard\n"
        "from saltext.spectrum_acl.data import prefix_data\n"
        f"built = prefix_data.load_index({str(data_file)!r}, cache_dir={cache_dir!r})\n"
        "guard = OriginGuard(built).with_app_bindings(index.PrefixIndex())\n"
        "verdicts = [guard.check_origin(o, 'crossbow') for o in ('104.16.5.20', '2606:4700:10::1', '::ffff:1.2.3.4')]\n"
        "assert guard.check_batch(['104.16.5.20', '10.0.0.1'], 'crossbow').denied_items() == [1]  # small: one at a time\n"
        "print([v.allowed for v in verdicts], 'numpy' in sys.modules or 'msgspec' in sys.modules)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output.split() == ["[True,", "True,", "False]", "False"]


def test_payload_is_checked_once_per_file_state(data_file, tmp_path, monkeypatch):
    """A load checks the payload's CRC and records the file's stat; a later load of the same file, as it
    was, skips the CRC (like the data file's hash); any write gives a new stat, so a full check again."""
    cache_dir = tmp_path / "cache"
    expected = _verdicts(prefix_data.load_index(str(data_file), cache_dir=str(cache_dir)))
    (name,) = _cache_files(cache_dir)
    path, digest = cache_dir / name, name.split("-")[2]
    record = cache_dir / "verified-index.json"

    assert compiled.load(str(cache_dir), digest) is not None
    assert not record.exists()  # written a moment ago: too recent to tell a later write apart
    monkeypatch.setattr(compiled, "RACY_SECONDS", 0)
    assert _verdicts(compiled.load(str(cache_dir), digest)) == expected
    recorded_path, recorded_key = json.loads(record.read_text())
    assert recorded_path == str(path) and recorded_key == compiled._stat_key(str(path))

    blob = path.read_bytes()
    path.write_bytes(blob[:-50] + bytes([blob[-50] ^ 0xFF]) + blob[-49:])  # a write: new stat, checked again
    assert compiled.load(str(cache_dir), digest) is None

    # what a skipped check trusts: the same stat means the same bytes (damage that keeps the stat goes unseen)
    record.write_text(json.dumps([str(path), compiled._stat_key(str(path))]))
    assert compiled.load(str(cache_dir), digest) is not None
    record.write_text("not json")
    assert compiled.load(str(cache_dir), digest) is None  # an unreadable record: checked in full
