"""``check_apps`` judges the pillar the next ``state.apply`` would compile, not a stale copy.

A pillar file is changed on disk between two calls, with no ``saltutil.refresh_pillar``:
the second call must see the change, masterless (``salt-call --local``) and through a
running minion whose pillar comes from a real master (the daemon keeps its pillar in
memory, which is where the stale verdict came from).
"""

import json
import shutil
import uuid

import pytest

from tests.conftest import EXAMPLES
from tests.integration.masters import master_daemon

ACCOUNTS = ["crossbow", "acme", "partner"]
STATIC_HOSTS = {"origin.partner.example": ["93.184.215.14"]}
GOOD_APP = {"protocol": "tcp/22", "dns": {"type": "CNAME", "name": "ssh.crossbow.example.com"},
            "origin_direct": ["tcp://104.16.5.20:22"]}
# 104.16.5.10 is a Spectrum edge IP (a binding) in the example prefix data: the proxy would loop.
LOOP_APP = {"protocol": "tcp/22", "dns": {"type": "CNAME", "name": "loop.crossbow.example.com"},
            "origin_direct": ["tcp://104.16.5.10:22"]}


def _write_pillar(pillar_root, apps):
    (pillar_root / "top.sls").write_text("base:\n  '*':\n    - spectrum\n")
    (pillar_root / "spectrum.sls").write_text(json.dumps({"spectrum": {"account_id": "crossbow", "apps": apps}}))


def _assert_sees_the_change(run, pillar_root):
    _write_pillar(pillar_root, {"ssh": GOOD_APP})
    first = run("spectrum_acl.check_apps")
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.data["allowed"] is True and sorted(first.data["apps"]) == ["ssh"]
    assert first.data["pillar_source"] == "fresh"

    _write_pillar(pillar_root, {"loop": LOOP_APP})  # no saltutil.refresh_pillar
    second = run("spectrum_acl.check_apps")
    assert second.returncode == 1
    assert second.data["pillar_source"] == "fresh"
    assert second.data["allowed"] is False and sorted(second.data["apps"]) == ["loop"]
    assert second.data["apps"]["loop"]["origins"][0]["denied_by"] == ["binding"]

    entry = run("spectrum_acl.check_app", "loop")
    assert entry.returncode == 1
    assert entry.data["allowed"] is False and entry.data["pillar_source"] == "fresh"
    return first, second


def test_salt_call_local_sees_a_changed_pillar(salt_factories, tmp_path):
    pillar_root = tmp_path / "pillar"
    pillar_root.mkdir()
    overrides = {
        "file_client": "local",
        "file_roots": {"base": [str(tmp_path / "states")]},
        "pillar_roots": {"base": [str(pillar_root)]},
        "spectrum_acl": {"prefix_data": str(EXAMPLES / "prefixes.yaml"), "accounts": ACCOUNTS, "static_hosts": STATIC_HOSTS},
    }
    cli = salt_factories.salt_minion_daemon(f"fresh-local-{uuid.uuid4().hex[:8]}", overrides=overrides).salt_call_cli()
    _assert_sees_the_change(lambda *args: cli.run("--local", *args), pillar_root)

    # a pillar that does not render: nothing is judged, and the error says why
    (pillar_root / "spectrum.sls").write_text("spectrum: {apps: [unclosed\n")
    broken = cli.run("--local", "spectrum_acl.check_apps")
    assert broken.returncode != 0
    assert "the pillar did not render, so nothing was judged" in broken.stdout + broken.stderr


@pytest.fixture(scope="module")
def pillar_root(tmp_path_factory):
    return tmp_path_factory.mktemp("fresh-pillar")


@pytest.fixture(scope="module")
def master(salt_factories, tmp_path_factory, pillar_root):
    """A real master serving the prefix data as salt:// and the pillar from a tree this test rewrites."""
    file_root = tmp_path_factory.mktemp("fresh-file-root")
    (file_root / "spectrum").mkdir()
    shutil.copy(EXAMPLES / "prefixes.yaml", file_root / "spectrum" / "prefixes.yaml")
    _write_pillar(pillar_root, {"ssh": GOOD_APP})
    factory = master_daemon(salt_factories, "fresh-master", file_root, pillar_root)
    with factory.started():
        yield factory


@pytest.fixture(scope="module")
def minion(master):
    overrides = {
        "master": "127.0.0.1",
        "spectrum_acl": {"prefix_data": "salt://spectrum/prefixes.yaml", "accounts": ACCOUNTS, "static_hosts": STATIC_HOSTS},
    }
    factory = master.salt_minion_daemon(f"fresh-edge-{uuid.uuid4().hex[:8]}", overrides=overrides)
    with factory.started():
        yield factory


def test_a_running_minion_sees_a_changed_pillar_without_a_refresh(master, minion, pillar_root):
    salt_cli = master.salt_cli(timeout=120)

    def run(*args):
        return salt_cli.run(*args, minion_tgt=minion.id)

    _assert_sees_the_change(run, pillar_root)
    # The minion's in-memory pillar is still the one from its start: fresh=False judges that
    # one (the old, stale verdict) and says so.
    stale = run("spectrum_acl.check_apps", "fresh=False")
    assert stale.returncode == 0, stale.stdout + stale.stderr
    assert stale.data["pillar_source"] == "in-memory"
    assert stale.data["allowed"] is True and sorted(stale.data["apps"]) == ["ssh"]
