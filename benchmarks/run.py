"""The single entry point for the benchmarks: ``python benchmarks/run.py [scale|api|lint|all] [options]``.

Each benchmark prints Markdown tables of figures with ratios against baselines
measured in the same process, in interleaved rounds (absolute times drift on
shared machines), and ends with its goals: measured figure, target, PASS or MISS.
Options after the name go to that benchmark; ``--help`` lists them.

``all`` (what ``make bench`` runs) runs scale, api and lint one after another, each
in its own process, then prints one table of every goal::

    python benchmarks/run.py all [--entries N] [--apps 1000,10000] [--rounds R] [--big] [--only scale,lint]
"""

import argparse
import gc
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

BENCHMARKS = {"scale": "bench_scale", "api": "bench_api", "lint": "bench_lint"}
#: ``run.py all`` sets this to a file; :func:`record_goal` appends one JSON line per goal to it.
GOALS_ENV = "SPECTRUM_ACL_BENCH_GOALS"


def interleaved(contenders, rounds):
    """Time each ``(name, func)`` once per round, the order rotating each round: ``{name: [seconds]}``."""
    times = {name: [] for name, _ in contenders}
    for round_number in range(rounds):
        shift = round_number % len(contenders)
        for name, func in contenders[shift:] + contenders[:shift]:
            gc.collect()
            start = time.perf_counter()
            func()
            times[name].append(time.perf_counter() - start)
    return times


def record_goal(benchmark, goal, target, measured, passed, note=""):
    """Record a goal's result for the summary of ``run.py all`` (a no-op when run alone).

    ``passed`` is ``True``, ``False`` or ``None`` (not measured in this run).
    """
    path = os.environ.get(GOALS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"benchmark": benchmark, "goal": goal, "target": target,
                                     "measured": measured, "passed": passed, "note": note}) + "\n")


def verdict(passed):
    return {True: "PASS", False: "**MISS**", None: "not run"}[passed]


def print_goals(rows, title="Goals"):
    """Print goal rows (dicts as :func:`record_goal` takes them) as a Markdown table."""
    print(f"\n### {title}\n")
    print("| benchmark | goal | target | measured | result |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        note = f" ({row['note']})" if row.get("note") else ""
        print(f"| {row['benchmark']} | {row['goal']} | {row['target']} | {row['measured']}{note} | {verdict(row['passed'])} |")


def report_goals(rows, title="Goals"):
    """Print a benchmark's own goals and record them for ``run.py all``."""
    print_goals(rows, title)
    for row in rows:
        record_goal(**row)


def load_average():
    try:
        return "load average " + " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "load average unknown"


def _goal_from_line(benchmark, line):
    """A goal row from a benchmark that prints ``goal: WHAT with TARGET: FIGURE, met|NOT met; ...``."""
    parts = line.split(": ", 2)
    if len(parts) < 3:
        return {"benchmark": benchmark, "goal": line, "target": "", "measured": "", "passed": None}
    target = re.search(r"[<>]=\s*[\d.,]+\s*\w*", parts[1])
    figure, _, rest = parts[2].partition(";")
    passed = None if "met" not in figure else "NOT met" not in figure
    return {"benchmark": benchmark, "goal": parts[1], "target": target.group(0) if target else "",
            "measured": figure.replace(", NOT met", "").replace(", met", "").strip(), "passed": passed,
            "note": rest.strip()}


def run_all(argv):
    parser = argparse.ArgumentParser(prog="run.py all", description="scale, api and lint, then a table of every goal")
    parser.add_argument("--entries", type=int, help="prefix data entries for scale and lint (default 10^6)")
    parser.add_argument("--apps", help="state-run app counts for scale, comma-separated (default 1000,10000)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds for every benchmark")
    parser.add_argument("--big", action="store_true", help="scale: also the 4x10^6 entries goal (slow)")
    parser.add_argument("--only", default="scale,api,lint", help="which benchmarks, comma-separated")
    args = parser.parse_args(argv)
    forwarded = {
        "scale": [*(["--entries", str(args.entries)] if args.entries else []),
                  *(["--apps", args.apps] if args.apps else []),
                  *(["--rounds", str(args.rounds)] if args.rounds else []), *(["--big"] if args.big else [])],
        "api": [*(["--rounds", str(args.rounds)] if args.rounds else [])],
        "lint": [*(["--entries", str(args.entries)] if args.entries else []),
                 *(["--rounds", str(args.rounds)] if args.rounds else [])],
    }
    names = [name for name in args.only.split(",") if name]
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    started, load_before = time.time(), load_average()
    failed, goal_lines = [], {}
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", prefix="bench-goals-") as goals_file:
        env = {**os.environ, GOALS_ENV: goals_file.name, "PYTHONUNBUFFERED": "1"}
        for name in names:
            command = [sys.executable, os.path.abspath(__file__), name, *forwarded[name]]
            print(f"\n## {name}: {' '.join(command[1:])}\n", flush=True)
            with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) as process:
                for line in process.stdout:
                    sys.stdout.write(line)
                    sys.stdout.flush()
                    if line.startswith("goal:"):
                        goal_lines.setdefault(name, []).append(line.strip())
            if process.returncode:
                failed.append(f"{name} (exit {process.returncode})")
        rows = [json.loads(line) for line in goals_file.read().splitlines() if line.strip()]
    print(f"\n## Summary: every goal of issue 12\n\n{time.strftime('%Y-%m-%d %H:%M')}, "
          f"{platform.python_implementation()} {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores; {load_before} at the start, {load_average()} at the end; "
          f"{(time.time() - started) / 60:.1f} min in all")
    recorded = {row["benchmark"] for row in rows}
    for name in names:
        if name not in recorded:
            rows.extend(_goal_from_line(name, line) for line in goal_lines.get(name, ()))
    print_goals(rows, "Goals")
    for name in names:
        if not any(row["benchmark"] == name for row in rows):
            print(f"\n{name}: no goal recorded; see its output above")
    if failed:
        print(f"\nFAILED: {', '.join(failed)}")
        return 1
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "all":
        return run_all(argv[1:])
    if not argv or argv[0] not in BENCHMARKS:
        print(__doc__)
        print("benchmarks:", ", ".join(BENCHMARKS), "(or all)")
        return 2
    return importlib.import_module(BENCHMARKS[argv[0]]).main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
