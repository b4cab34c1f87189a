"""StrictModes for the files the guard relies on: owner, mode, file type, the directories above."""

import os
import threading

import pytest

from saltext.spectrum_acl.data import compiled, prefix_data, safe_files
from saltext.spectrum_acl.errors import PrefixDataError

DATA = "prefixes:\n  - {cidr: 104.16.0.0/13, account_id: provider, bindings: [{cidr: 104.16.5.10/32, service_name: Spectrum}]}\n"
NOBODY = 65534


@pytest.fixture
def data_file(tmp_path):
    path = tmp_path / "prefixes.yaml"
    path.write_text(DATA)
    path.chmod(0o644)
    return path


def test_a_safe_file_reads(data_file):
    assert safe_files.read_trusted(str(data_file)) == DATA.encode()


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_group_or_world_writable_data_is_refused(data_file, mode):
    data_file.chmod(mode)
    with pytest.raises(PrefixDataError, match="writable by group or others"):
        prefix_data.load_index(str(data_file))


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_data_owned_by_someone_else_is_refused(data_file):
    os.chown(data_file, NOBODY, NOBODY)
    with pytest.raises(PrefixDataError, match="owned by uid 65534"):
        prefix_data.load_index(str(data_file))


def test_data_in_a_world_writable_directory_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could swap the file; a sticky bit (like /tmp) would make it safe
    (shared / "prefixes.yaml").write_text(DATA)
    with pytest.raises(PrefixDataError, match="above it is unsafe"):
        prefix_data.load_index(str(shared / "prefixes.yaml"))
    shared.chmod(0o1777)
    assert prefix_data.load_index(str(shared / "prefixes.yaml")).counts["binding"] == 1


def test_a_fifo_as_data_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "prefixes.yaml"
    os.mkfifo(fifo, 0o600)
    result = {}

    def load():
        try:
            prefix_data.load_index(str(fifo))
        except PrefixDataError as exc:
            result["error"] = str(exc)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "loading a FIFO hung"
    assert "a FIFO" in result["error"]


def test_an_unsafe_cache_dir_is_neither_read_nor_written(data_file, tmp_path, caplog):
    planted = tmp_path / "cache"
    planted.mkdir()
    planted.chmod(0o777)
    built = prefix_data.load_index(str(data_file), cache_dir=str(planted))
    assert built.counts["binding"] == 1
    assert os.listdir(planted) == []  # nothing written there
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and str(planted) in warnings[0].getMessage()


def test_a_planted_cache_file_is_ignored(data_file, tmp_path, caplog):
    cache = tmp_path / "cache"
    prefix_data.load_index(str(data_file), cache_dir=str(cache))
    (cached,) = [name for name in os.listdir(cache) if name.startswith("prefix-index-")]
    os.chmod(cache / cached, 0o666)  # as if someone else could have written it
    digest = compiled.known_digest(str(cache), str(data_file))
    assert compiled.load(str(cache), digest) is None
    assert any(str(cache / cached) in r.getMessage() for r in caplog.records)


def test_a_fifo_in_the_cache_is_ignored_without_hanging(data_file, tmp_path):
    cache = tmp_path / "cache"
    prefix_data.load_index(str(data_file), cache_dir=str(cache))
    (cached,) = [name for name in os.listdir(cache) if name.startswith("prefix-index-")]
    digest = compiled.known_digest(str(cache), str(data_file))
    os.unlink(cache / cached)
    os.mkfifo(cache / cached, 0o600)
    assert compiled.load(str(cache), digest) is None


def test_check_directory_names_the_reason(tmp_path):
    target = tmp_path / "d"
    target.mkdir(mode=0o700)
    safe_files.check_directory(str(target))
    target.chmod(0o770)
    with pytest.raises(safe_files.UnsafePath) as raised:
        safe_files.check_directory(str(target))
    assert raised.value.path == str(target)
    assert "group or others" in raised.value.reason


def test_a_token_file_others_can_write_is_refused_and_one_they_can_read_warns(tmp_path, caplog):
    token = tmp_path / "token"
    token.write_text("s3cret-token-value\n")
    token.chmod(0o600)
    assert safe_files.read_secret(str(token)) == "s3cret-token-value"
    assert not caplog.records
    token.chmod(0o644)
    assert safe_files.read_secret(str(token)) == "s3cret-token-value"
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    token.chmod(0o622)
    with pytest.raises(safe_files.UnsafePath) as raised:
        safe_files.read_secret(str(token))
    assert "s3cret" not in str(raised.value)
