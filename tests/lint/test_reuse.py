"""Linting many minion ids shares work, and every minion still gets exactly its own verdicts.

- :class:`AppReuse` builds a minion's report from app parts judged for other
  minions; it must equal ``check_apps`` on that minion's whole pillar.
- :class:`RenderCache` reuses renders and merges, and the Pillar of each minion
  after the first shares the first one's file clients; the pillar must equal what
  Salt's own ``Pillar`` compiles, top file targeting and templates that read
  grains included.
- A lint of many minion ids gives each minion what a lint of it alone gives.
"""

import copy
import json
import random

import pytest

from saltext.spectrum_acl.lint.compile import Compiler, configure_logging, merge_shared
from saltext.spectrum_acl.lint.reuse import AppReuse
from saltext.spectrum_acl.runtime import Runtime
from saltext.spectrum_acl.settings import Settings
from tests.conftest import EXAMPLES
from tests.lint.conftest import ACCOUNTS, STATIC_HOSTS, lint


def _app(origins, account="crossbow", edge=None, **extra):
    app = {"account_id": account, "protocol": "tcp/443", "dns": {"type": "CNAME", "name": "a.crossbow.example.com"},
           "origin_direct": [f"tcp://{origin}:443" for origin in origins]}
    if edge:
        app["edge_ips"] = {"type": "static", "ips": list(edge)}
    app.update(extra)
    return app


#: A pool of apps minions draw from: plain, denied, loops through static edge IPs, collisions, bad shapes.
POOL = {
    "web": _app(["93.184.215.14"]),
    "web-too": _app(["93.184.215.14"], account="partner"),
    "private": _app(["10.0.0.7"]),
    "edge-a": _app(["104.16.5.41"], edge=["104.16.5.40"]),
    "edge-b": _app(["104.16.5.40"], edge=["104.16.5.41"]),
    "edge-c": _app(["93.184.215.15"], edge=["104.16.5.40"]),  # collides with edge-a
    "points-at-a": _app(["104.16.5.40"]),
    "bad-protocol": _app(["93.184.215.16"], protocol="tcp/0"),
    "bad-account": _app(["93.184.215.17"], account="provider"),
    "no-account": {k: v for k, v in _app(["93.184.215.18"]).items() if k != "account_id"},
    "bool-port": _app(["93.184.215.19"], ip_firewall=1),
    "edge-bad-space": _app(["93.184.215.20"], edge=["10.1.1.1"]),
    "dns-origin": {"account_id": "partner", "protocol": "tcp/443", "dns": {"type": "CNAME", "name": "d.partner.example"},
                   "origin_dns": {"name": "origin.partner.example"}, "origin_port": 443},
    1: _app(["93.184.215.21"]),  # YAML read the name as a number
}


@pytest.fixture(scope="module")
def runtime_factory():
    settings = Settings.from_section({"prefix_data": str(EXAMPLES / "prefixes.yaml"), "accounts": ACCOUNTS,
                                      "static_hosts": STATIC_HOSTS, "cache_dir": False})
    guard = Runtime({}, {}, {}, {}, settings=settings).guard()

    def make(pillar):
        return Runtime(None, {}, pillar, {}, settings=settings, guard=guard)

    return make


def _minion_pillars(seed, count=12):
    """Pillars of ``count`` minions: most of the pool each, some apps changed, a default account or not."""
    rng = random.Random(seed)
    pillars = []
    for _ in range(count):
        names = [name for name in POOL if rng.random() < 0.8]
        apps = {name: copy.deepcopy(POOL[name]) for name in names}
        if rng.random() < 0.3 and "web" in apps:
            apps["web"]["origin_direct"] = ["tcp://104.16.5.41:443"]  # now it points at edge-b
        if rng.random() < 0.3:
            apps["own-edge"] = _app(["93.184.215.30"], edge=["104.16.5.50"])  # a new claim of an edge IP
        spectrum = {"apps": apps}
        if rng.random() < 0.3:
            spectrum["account_id"] = rng.choice(["crossbow", "provider"])
        pillars.append({"spectrum": spectrum})
    return pillars


@pytest.mark.parametrize("seed", range(6))
def test_reports_built_from_shared_parts_equal_whole_checks(runtime_factory, seed):
    reuse = AppReuse()
    for pillar in _minion_pillars(seed):
        runtime = runtime_factory(pillar)
        default = runtime.default_account_id(None)
        built = reuse.report(runtime, pillar["spectrum"]["apps"], default, None)
        whole, _ = runtime_factory(pillar).check_apps()
        assert json.dumps(built, sort_keys=True) == json.dumps(whole, sort_keys=True)
    assert reuse.enabled and reuse.reused > 0


def test_a_fleet_judges_its_shared_apps_once(runtime_factory):
    reuse = AppReuse()
    for number in range(10):
        apps = dict(POOL)
        apps[f"own-{number}"] = _app([f"93.184.216.{number}"])
        pillar = {"spectrum": {"apps": apps}}
        assert reuse.report(runtime_factory(pillar), apps, None, None) == runtime_factory(pillar).check_apps()[0]
    claimers = 4  # edge-a, edge-b, edge-c, edge-bad-space: judged again with each new app, for its bindings
    assert reuse.checked == len(POOL) + 10 + 9 * claimers  # the others once, and each minion's own app once
    assert reuse.reused == 9 * (len(POOL) - claimers)


def test_apps_are_reused_only_in_the_same_context(runtime_factory):
    reuse = AppReuse()
    shared = {name: POOL[name] for name in ("web", "points-at-a", "edge-a")}
    reuse.report(runtime_factory({"spectrum": {"apps": shared}}), shared, None, None)
    without_a = {name: POOL[name] for name in ("web", "points-at-a")}  # edge-a's claim is gone: points-at-a passes
    built = reuse.report(runtime_factory({"spectrum": {"apps": without_a}}), without_a, None, None)
    assert built["apps"]["points-at-a"]["allowed"] is True
    assert built == runtime_factory({"spectrum": {"apps": without_a}}).check_apps()[0]


def _random_tree(rng, depth=0):
    if depth > 3 or rng.random() < 0.3:
        return rng.choice([1, True, "x", None, [1, 2], ["a", {"b": 1}], 1.5])
    return {rng.choice("abcde"): _random_tree(rng, depth + 1) for _ in range(rng.randint(0, 4))}


@pytest.mark.parametrize("merge_lists", [False, True])
def test_merge_shared_equals_salts_merge_and_changes_neither_side(merge_lists):
    import salt.utils.dictupdate

    rng = random.Random(7)
    for _ in range(400):
        left, right = _random_tree(rng), _random_tree(rng)
        if not isinstance(left, dict) or not isinstance(right, dict):
            continue
        before = copy.deepcopy((left, right))
        expected = salt.utils.dictupdate.merge_recurse(copy.deepcopy(left), copy.deepcopy(right), merge_lists)
        assert merge_shared(left, right, merge_lists) == expected
        assert (left, right) == before


PILLAR_FILES = {
    "top.sls": "base:\n  '*':\n    - common\n    - teams.*\n    - templated\n  'edge02':\n    - only2\n"
               "  'L@edge01,edge03':\n    - match: compound\n    - listed\n"
               "  'role:edge':\n    - match: grain\n    - by_grain\n",
    "listed.sls": "listed: true\n",
    "by_grain.sls": "by_grain: {{ grains['id'] }}-{{ grains['role'] }}\n",
    "common.sls": "include:\n  - defaults\n  - nested:\n      key: spectrum:extra\nspectrum:\n  account_id: crossbow\n"
                  "  list: [a, b]\n",
    "defaults.sls": "spectrum:\n  list: [c]\n  apps:\n    base-app: {protocol: tcp/22}\n",
    "nested.sls": "value: 1\n",
    "teams/one.sls": "spectrum:\n  apps:\n    one: {protocol: tcp/22, origin_direct: ['tcp://93.184.215.14:22']}\n",
    "teams/two.sls": "spectrum:\n  apps:\n    one: {tls: 'off'}\n    two: {protocol: udp/53}\n  list: [d]\n",
    "templated.sls": "spectrum:\n  apps:\n    t-{{ grains['id'] }}-{{ salt['grains.get']('id') }}: {protocol: tcp/1}\n"
                     "{% if grains['id'] == 'edge01' %}\n    only-on-1: {protocol: tcp/2}\n{% endif %}\n",
    "only2.sls": "spectrum:\n  apps:\n    one: {protocol: tcp/9}\n",
}


@pytest.fixture
def pillar_tree(tmp_path):
    for name, text in PILLAR_FILES.items():
        path = tmp_path / "pillar" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "pillar"


@pytest.mark.parametrize("options", [{}, {"pillar_merge_lists": True},
                                     {"pillar_source_merging_strategy": "overwrite"},
                                     {"pillar_source_merging_strategy": "aggregate"}])
def test_compiled_pillar_equals_salts_own_for_every_minion(pillar_tree, options):
    import salt.pillar

    configure_logging("quiet")
    ids = ["edge01", "edge02", "edge03"]
    with Compiler() as compiler:
        compiler.load(ids[0]).update(options)
        compiler.configure([str(pillar_tree)], grains={"role": "edge"})
        for minion_id in ids:
            compiled = compiler.compile(minion_id)
            opts = compiler._opts(minion_id)
            reference = salt.pillar.Pillar(opts, compiler.grains_of(minion_id), minion_id, None,
                                           functions=compiler._restricted_functions(opts)).compile_pillar(ext=False)
            assert "_errors" not in reference, reference.get("_errors")
            assert json.loads(json.dumps(compiled.pillar)) == json.loads(json.dumps(reference)), (minion_id, options)
            assert compiled.pillar.get("listed", False) == (minion_id in ("edge01", "edge03"))  # targeted by id
            assert compiled.pillar["by_grain"] == f"{minion_id}-edge"
            if "pillar_source_merging_strategy" in options:
                continue  # overwrite: only2.sls replaces spectrum on edge02, as Salt does
            apps = compiled.pillar["spectrum"]["apps"]
            assert f"t-{minion_id}-{minion_id}" in apps  # templates render for this minion: grains and grains.get
            assert ("only-on-1" in apps) == (minion_id == "edge01")
        assert compiler.render_cache.reused > 0  # the plain files were not parsed again


def test_a_fleet_lint_gives_each_minion_what_linting_it_alone_gives(minion_config, tmp_path):
    root = tmp_path / "pillar"
    (root / "minions").mkdir(parents=True)
    (root / "top.sls").write_text("base:\n  '*':\n    - shared\n  'edge0*':\n    - minions.{{ grains['id'] }}\n")
    shared = (EXAMPLES / "pillar-bad" / "spectrum.sls").read_text()
    (root / "shared.sls").write_text(shared)
    ids = ["edge01", "edge02", "edge03"]
    extras = {
        "edge01": "",
        "edge02": "    own-edge:\n      account_id: crossbow\n      protocol: tcp/22\n"
                  "      dns: {type: CNAME, name: o.crossbow.example.com}\n"
                  "      edge_ips: {type: static, ips: [104.16.5.77]}\n      origin_direct: ['tcp://93.184.215.14:22']\n"
                  "    to-own:\n      account_id: crossbow\n      protocol: tcp/22\n"
                  "      dns: {type: CNAME, name: t.crossbow.example.com}\n      origin_direct: ['tcp://104.16.5.77:22']\n",
        "edge03": "    loop-a:\n      tls: full\n",  # changes one shared app on this minion only
    }
    for minion_id in ids:
        (root / "minions" / f"{minion_id}.sls").write_text("spectrum:\n  apps:\n" + extras[minion_id] if extras[minion_id]
                                                         else "other: 1\n")
    together = lint(minion_config, root, "--minion-id", *ids, "--format", "json")
    assert together.returncode == 1, together.stderr
    fleet = together.json()
    for minion in fleet["minions"]:
        alone = lint(minion_config, root, "--minion-id", minion["id"], "--format", "json").json()
        assert minion["report"] == alone["minions"][0]["report"]

        def own(findings, minion_id):
            return sorted(json.dumps({k: v for k, v in f.items() if k != "minions"}, sort_keys=True)
                          for f in findings if minion_id in f["minions"] and f["kind"] != "not_linted")

        assert own(fleet["findings"], minion["id"]) == own(alone["findings"], minion["id"])
    edge02 = next(m for m in fleet["minions"] if m["id"] == "edge02")
    assert edge02["report"]["apps"]["to-own"]["allowed"] is False  # the claim only edge02 has
