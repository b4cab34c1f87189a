"""``spectrum-acl lint`` on generated pillars: where the time goes, and the lint at fleet size.

    python benchmarks/run.py lint [--apps 10000] [--files 100] [--fleet-apps 2000] [--fleet-files 20]
                                  [--minions 10] [--entries 1000000] [--rounds 3] [--skip-split] [--keep DIR]

Generates a pillar tree of ``--apps`` apps spread over ``--files`` SLS files
(a fifth of them Jinja templates with loops, the rest plain YAML; one app in a
hundred is denied, including cross-file edge IP loops), then

1. runs the real CLI (``--format text`` and ``--format json``) as a subprocess
   and prints its own timing split (``timings`` of the JSON result: render =
   Salt's pillar compile, data = loading prefix data, check = the guard over
   every app, report = locating files/lines and merging findings) against the
   wall time of the whole process;
2. runs the lint in process once more with its pillar merge timed
   (``RenderCache.merge``: Salt's merge, sharing what it leaves alone instead of
   deep-copying the whole pillar per SLS file), to show how much of rendering is
   merging the SLS files into one pillar;
3. the fleet goal of issue 12: a pillar of ``--fleet-apps`` apps of 40 teams (two
   origins each, one delegated to the app's account, one unmanaged; one app in a hundred
   denied) that every minion gets, plus one app of its own per minion, on ``--entries``
   entries of generated prefix data (``datagen.py``) kept in a compiled cache
   (``--cache-dir``). The lint of ``--minions`` minion ids and of one are timed in
   interleaved rounds (min, median, ratio), the lint process alone (its JSON report is
   read once afterwards); one more run without the cache shows what re-reading the
   prefix data JSON costs.

Absolute times drift on shared machines; read the ratios.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")
sys.path.insert(0, HERE)

import datagen  # noqa: E402
from run import interleaved, load_average, report_goals  # noqa: E402

FLEET_GOAL = 1.5  # ten minion ids cost at most this many times one
EXAMPLE_ACCOUNTS = ["crossbow", "partner"]


def _app_yaml(number, origin, edge=None, indent="    "):
    lines = [
        f"{indent}app-{number:05d}:",
        f"{indent}  account_id: {'crossbow' if origin.startswith('tcp://104.16.5.') else 'partner'}",
        f"{indent}  protocol: tcp/443",
        f"{indent}  dns: {{type: CNAME, name: a{number}.partner.example}}",
    ]
    if edge:
        lines.append(f"{indent}  edge_ips: {{type: static, ips: [{edge}]}}")
    lines.append(f'{indent}  origin_direct: ["{origin}"]')
    return lines


def _origin(number):
    """Mostly public addresses; one app in a hundred is denied."""
    if number % 100 == 7:
        return f"tcp://10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}:443"  # reserved
    return f"tcp://93.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}:443"


def generate(root, apps, files):
    """Write the pillar tree; return the number of apps written."""
    os.makedirs(os.path.join(root, "teams"), exist_ok=True)
    with open(os.path.join(root, "top.sls"), "w", encoding="utf-8") as handle:
        handle.write("base:\n  '*':\n    - common\n    - teams.*\n")
    with open(os.path.join(root, "common.sls"), "w", encoding="utf-8") as handle:
        handle.write("spectrum:\n  account_id: partner\n")
    per_file = apps // files
    number = 0
    for index in range(files):
        path = os.path.join(root, "teams", f"team{index:03d}.sls")
        first = number + 1
        if index % 5 == 4:  # a Jinja template: the apps come from a loop
            text = [
                f"{{% set first = {first} %}}",
                "spectrum:",
                "  apps:",
                f"{{% for n in range(first, first + {per_file}) %}}",
                "    app-{{ '%05d' % n }}:",
                "      account_id: partner",
                "      protocol: tcp/443",
                "      dns: {type: CNAME, name: a{{ n }}.partner.example}",
                "{% if n % 100 == 7 %}",
                '      origin_direct: ["tcp://10.{{ n // 65536 % 256 }}.{{ n // 256 % 256 }}.{{ n % 256 }}:443"]',
                "{% else %}",
                '      origin_direct: ["tcp://93.{{ n // 65536 % 256 }}.{{ n // 256 % 256 }}.{{ n % 256 }}:443"]',
                "{% endif %}",
                "{% endfor %}",
            ]
            number += per_file
        else:
            text = ["spectrum:", "  apps:"]
            for _ in range(per_file):
                number += 1
                if index % 10 == 0 and number == first:  # a loop across two files: edge IPs 104.16.5.x
                    pair = index // 10
                    text += _app_yaml(number, f"tcp://104.16.5.{100 + 2 * pair + 1}:443", edge=f"104.16.5.{100 + 2 * pair}")
                elif index % 10 == 1 and number == first:
                    pair = index // 10
                    text += _app_yaml(number, f"tcp://104.16.5.{100 + 2 * pair}:443", edge=f"104.16.5.{100 + 2 * pair + 1}")
                else:
                    text += _app_yaml(number, _origin(number))
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(text) + "\n")
    return number


def _cli():
    script = os.path.join(os.path.dirname(sys.executable), "spectrum-acl")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "saltext.spectrum_acl.cli.main"]


def run_cli(root, fmt, output):
    """Run the CLI; return ``(wall seconds, its own timings, summary line)``."""
    command = _cli() + ["lint", "--pillar-root", root, "--data", os.path.join(EXAMPLES, "prefixes.yaml"),
                        "--accounts", *EXAMPLE_ACCOUNTS, "--format", fmt, "--output", output, "--timings"]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"lint failed ({proc.returncode}): {proc.stderr}")
    line = next(text for text in proc.stderr.splitlines() if text.startswith("spectrum-acl lint: timings: "))
    timings = {}
    for part in line.split(": ", 2)[2].split(", "):
        key, value, _ = part.split(" ")
        timings[key] = float(value)
    return wall, timings, proc.stdout.strip()


def in_process_merge_share(root):
    """Run the lint in process with its pillar merge timed: ``(render seconds, merge seconds)``."""
    from saltext.spectrum_acl.cli import main as cli
    from saltext.spectrum_acl.lint import compile as lint_compile
    from saltext.spectrum_acl.lint import run as lint_run

    spent = [0.0]
    original = lint_compile.RenderCache.merge

    def timed_merge(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    lint_compile.RenderCache.merge = timed_merge
    try:
        args = cli._parser().parse_args(
            ["lint", "--pillar-root", root, "--data", os.path.join(EXAMPLES, "prefixes.yaml"),
             "--accounts", *EXAMPLE_ACCOUNTS]
        )
        lint_compile.configure_logging("quiet")
        result = lint_run.lint(args)
    finally:
        lint_compile.RenderCache.merge = original
    return result["timings"]["render"], spent[0]


# -- the fleet: many minion ids ------------------------------------------------------------------


def generate_fleet(root, apps_count, files, minions, delegations):
    """A pillar every minion gets (``apps_count`` apps in ``files`` SLS files), plus one app per
    minion in ``minions/<id>.sls``; returns ``(minion ids, accounts)``."""
    import yaml

    apps = datagen.apps(apps_count + minions, delegations)
    names = list(apps)
    for number, name in enumerate(names[:apps_count]):
        if number % 100 == 7:  # denied: reserved space
            apps[name]["origin_direct"][1] = f"tcp://10.{number // 65536 % 256}.{number // 256 % 256}.{number % 256}:443"
    ids = [f"edge{number + 1:02d}" for number in range(minions)]
    os.makedirs(os.path.join(root, "teams"), exist_ok=True)
    os.makedirs(os.path.join(root, "minions"), exist_ok=True)
    top = ["base:", "  '*':", "    - common", "    - teams.*"]
    for minion in ids:
        top += [f"  '{minion}':", f"    - minions.{minion}"]
    with open(os.path.join(root, "top.sls"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(top) + "\n")
    with open(os.path.join(root, "common.sls"), "w", encoding="utf-8") as handle:
        handle.write("spectrum:\n  edge_pool: fleet\n")
    per_file = -(-apps_count // files)
    for index in range(files):
        chunk = {name: apps[name] for name in names[index * per_file:min((index + 1) * per_file, apps_count)]}
        with open(os.path.join(root, "teams", f"team{index:03d}.sls"), "w", encoding="utf-8") as handle:
            yaml.safe_dump({"spectrum": {"apps": chunk}}, handle, default_flow_style=False, sort_keys=False)
    for minion, name in zip(ids, names[apps_count:]):
        with open(os.path.join(root, "minions", f"{minion}.sls"), "w", encoding="utf-8") as handle:
            yaml.safe_dump({"spectrum": {"apps": {f"{minion}-{name}": apps[name]}}}, handle, default_flow_style=False)
    accounts = sorted({app["account_id"] for app in apps.values()}, key=lambda name: int(name[4:]))
    return ids, accounts


def fleet_lint(root, data_path, accounts, minion_ids, output, cache_dir=None, parse=True):
    """Run the lint CLI once; return ``(wall seconds, its JSON result)`` (``None`` without ``parse``)."""
    command = _cli() + ["lint", "--pillar-root", root, "--data", data_path, "--accounts", *accounts,
                        "--minion-id", *minion_ids, "--format", "json", "--output", output]
    if cache_dir:
        command += ["--cache-dir", cache_dir]
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"lint failed ({proc.returncode}): {proc.stderr}")
    if not parse:
        return wall, None
    with open(output, encoding="utf-8") as handle:
        return wall, json.load(handle)


def bench_fleet(workdir, args):
    data_path = os.path.join(workdir, "prefixes.json")
    started = time.perf_counter()
    delegations = datagen.write_json(data_path, args.entries)
    generated = time.perf_counter() - started
    root = os.path.join(workdir, "fleet")
    ids, accounts = generate_fleet(root, args.fleet_apps, args.fleet_files, args.minions, delegations)
    cache_dir = os.path.join(workdir, "cache")
    output = os.path.join(workdir, "fleet.json")
    first, _ = fleet_lint(root, data_path, accounts, ids[:1], output, cache_dir)  # writes the compiled cache
    uncached, uncached_result = fleet_lint(root, data_path, accounts, ids[:1], output)
    # Timed: the lint process alone. Its JSON report (31 MB for 10 minion ids) is read after the rounds,
    # so the benchmark's own parsing is not counted as the lint's.
    times = interleaved([("one", lambda: fleet_lint(root, data_path, accounts, ids[:1], output, cache_dir, parse=False)),
                         ("many", lambda: fleet_lint(root, data_path, accounts, ids, output, cache_dir, parse=False))],
                        args.rounds)
    results = {"one": fleet_lint(root, data_path, accounts, ids[:1], output, cache_dir)[1],
               "many": fleet_lint(root, data_path, accounts, ids, output, cache_dir)[1]}
    single, fleet = results["one"]["summary"], results["many"]["summary"]
    if single["minions"] != 1 or fleet["minions"] != len(ids):
        sys.exit(f"the fleet lint did not lint what it should: {single} / {fleet}")
    return {"times": times, "first": first, "uncached": uncached, "uncached_timings": uncached_result["timings"],
            "cached_timings": results["one"]["timings"], "single": single, "fleet": fleet, "ids": ids,
            "generated": generated}


def print_fleet(fleet, args):
    one, many = fleet["times"]["one"], fleet["times"]["many"]
    count = len(fleet["ids"])
    print(f"\n| lint of a fleet pillar, {args.fleet_apps:,} shared apps + 1 per minion, {args.entries:,} entries, "
          f"{args.rounds} interleaved rounds | min s | median s | ratio, medians | ratio, mins | target |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    print(f"| 1 minion id (baseline) | {min(one):.2f} | {statistics.median(one):.2f} | 1.00 | 1.00 | |")
    print(f"| {count} minion ids | {min(many):.2f} | {statistics.median(many):.2f} | "
          f"{statistics.median(many) / statistics.median(one):.2f} | {min(many) / min(one):.2f} | <= {FLEET_GOAL:g} |")
    cached, uncached = fleet["cached_timings"], fleet["uncached_timings"]
    print(f"\n1 minion id without --cache-dir (the JSON read again): {fleet['uncached']:.2f} s, of which data "
          f"{uncached['data']:.2f} s; with the compiled cache, data {cached['data']:.2f} s (the first run, writing the "
          f"cache: {fleet['first']:.2f} s). Prefix data generated in {fleet['generated']:.0f} s.")
    for label, summary in (("1 minion id", fleet["single"]), (f"{count} minion ids", fleet["fleet"])):
        print(f"{label}: {summary['apps']:,} apps, {summary['origins']:,} origins ({summary['origins_denied']} denied), "
              f"{summary['errors']} errors")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=10000, help="apps of the where-the-time-goes pillar")
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--skip-split", action="store_true", help="only the fleet goal")
    parser.add_argument("--fleet-apps", type=int, default=2000, help="apps every minion of the fleet gets")
    parser.add_argument("--fleet-files", type=int, default=20)
    parser.add_argument("--minions", type=int, default=10)
    parser.add_argument("--entries", type=int, default=1_000_000, help="prefix data entries for the fleet")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the fleet goal")
    parser.add_argument("--keep", metavar="DIR", help="write the pillars here and keep them")
    args = parser.parse_args(argv)
    workdir = args.keep or tempfile.mkdtemp(prefix="bench-lint-")
    os.makedirs(workdir, exist_ok=True)
    try:
        print(f"# spectrum-acl lint benchmark, {time.strftime('%Y-%m-%d %H:%M')}, CPython {platform.python_version()}, "
              f"{platform.machine()}, {os.cpu_count()} cores, {load_average()}")
        if not args.skip_split:
            split(workdir, args)
        fleet = bench_fleet(workdir, args)
        print_fleet(fleet, args)
        one, many = statistics.median(fleet["times"]["one"]), statistics.median(fleet["times"]["many"])
        ratio = many / one
        report_goals([{
            "benchmark": "lint", "goal": f"{len(fleet['ids'])} minion ids vs 1 ({args.fleet_apps:,} apps, {args.entries:,} entries)",
            "target": f"<= {FLEET_GOAL:g}x", "measured": f"{ratio:.2f}x", "passed": ratio <= FLEET_GOAL,
            "note": f"medians of {args.rounds}; {min(fleet['times']['many']) / min(fleet['times']['one']):.2f}x on the mins",
        }], f"Goals of issue 12 (lint, {time.strftime('%Y-%m-%d')})")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def split(workdir, args):
    """Where the time of one lint goes (the CLI's own timings), and the merge's share of rendering."""
    root = os.path.join(workdir, "pillar")
    written = generate(root, args.apps, args.files)
    print(f"\n{written} apps in {args.files} SLS files ({args.files // 5} Jinja, {args.files - args.files // 5} "
          "plain YAML), on examples/prefixes.yaml")
    rows = []
    for fmt in ("text", "json"):
        wall, timings, summary = run_cli(root, fmt, os.path.join(workdir, f"lint.{fmt}"))
        rows.append((fmt, wall, timings, summary))
    print(f"# {rows[0][3]}")
    print()
    print("| format | wall | render (Salt) | data | check | report | startup + output | check / wall | render / wall |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for fmt, wall, t, _ in rows:
        other = wall - t["render"] - t["data"] - t["check"] - t["report"]
        print(
            f"| {fmt} | {wall:.2f} s | {t['render']:.2f} s | {t['data']:.3f} s | {t['check']:.2f} s | "
            f"{t['report']:.2f} s | {other:.2f} s | {t['check'] / wall:.1%} | {t['render'] / wall:.1%} |"
        )
    render, merge = in_process_merge_share(root)
    print()
    print(f"In process: render {render:.2f} s, of which merging the SLS files into one pillar (Salt's merge, "
          f"sharing what it leaves alone) {merge:.2f} s = {merge / render:.0%}.")


if __name__ == "__main__":
    main()
