"""``salt-call --local spectrum_acl.check_apps`` and ``spectrum-acl lint`` agree on every verdict.

Both read the same minion config file, written by pytest-salt-factories for a
minion with a random id; the lint compiles that minion's pillar itself.
"""

import uuid

import pytest

from tests.conftest import EXAMPLES
from tests.lint.conftest import ACCOUNTS, STATIC_HOSTS, run_cli


def _minion(salt_factories, tmp_path_factory, pillar_root):
    overrides = {
        "file_client": "local",
        "file_roots": {"base": [str(tmp_path_factory.mktemp("state-tree"))]},
        "pillar_roots": {"base": [str(pillar_root)]},
        "spectrum_acl": {
            "prefix_data": str(EXAMPLES / "prefixes.yaml"), "static_hosts": STATIC_HOSTS, "accounts": ACCOUNTS,
        },
    }
    return salt_factories.salt_minion_daemon(f"lint-{uuid.uuid4().hex[:8]}", overrides=overrides)


MIXED = """spectrum:
  account_id: crossbow
  apps:
    templated-{{ grains['id'] | length }}:
      protocol: tcp/22
      dns: {type: CNAME, name: t.crossbow.example.com}
      origin_direct: ["tcp://104.16.5.20:22", "tcp://[::ffff:104.16.9.1]:22", "tcp://[2002:6810:501::1]:22"]
    collide:
      protocol: tcp/22
      dns: {type: CNAME, name: c.crossbow.example.com}
      edge_ips: {type: static, ips: [104.16.5.99]}
      origin_direct: ["tcp://104.16.5.98:22"]
    collide-too:
      protocol: udp/53
      dns: {type: CNAME, name: c2.crossbow.example.com}
      edge_ips: {type: static, ips: [104.16.5.99, 104.16.5.98]}
      origin_direct: ["udp://203.0.113.7:53"]
"""


@pytest.fixture(scope="module")
def mixed_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed-pillar")
    (root / "top.sls").write_text("base:\n  '*':\n    - example\n    - mixed\n")
    (root / "example.sls").write_text((EXAMPLES / "pillar-bad" / "spectrum.sls").read_text())
    (root / "mixed.sls").write_text(MIXED)
    return root


@pytest.mark.parametrize("pillar", ["pillar", "pillar-bad", "mixed"])
def test_salt_call_and_lint_agree(salt_factories, tmp_path_factory, mixed_root, pillar):
    root = mixed_root if pillar == "mixed" else EXAMPLES / pillar
    minion = _minion(salt_factories, tmp_path_factory, root)
    salt_call = minion.salt_call_cli().run("--local", "spectrum_acl.check_apps")
    lint = run_cli("lint", "--minion-config", minion.config_file, "--format", "json")
    assert lint.returncode in (0, 1), lint.stdout + lint.stderr
    assert salt_call.returncode == lint.returncode
    result = lint.json()
    (linted,) = result["minions"]
    assert linted["id"] == minion.id  # the config's id is the default minion id
    judged = dict(salt_call.data)
    judged.pop("pillar_source", None)  # salt-call says which pillar it judged; the lint compiled it itself
    assert linted["report"] == judged  # every app, origin, flag and reason
    denied = sum(not o["allowed"] for entry in salt_call.data["apps"].values() for o in entry["origins"])
    assert result["summary"]["origins_denied"] == denied
    if pillar == "mixed":
        assert {"edge_ip_collision", "app_edge_ip", "not_delegated", "reserved", "shape"} <= set(result["summary"]["by_kind"])
