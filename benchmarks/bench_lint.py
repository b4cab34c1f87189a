"""``spectrum-acl lint`` on a generated pillar: where the time goes.

    python benchmarks/bench_lint.py [--apps 10000] [--files 100] [--keep DIR]

Generates a pillar tree of ``--apps`` apps spread over ``--files`` SLS files
(a fifth of them Jinja templates with loops, the rest plain YAML; one app in a
hundred is denied, including cross-file edge IP loops), then

1. runs the real CLI (``--format text`` and ``--format json``) as a subprocess
   and prints its own timing split (``timings`` of the JSON result: render =
   Salt's pillar compile, data = loading prefix data, check = the guard over
   every app, report = locating files/lines and merging findings) against the
   wall time of the whole process;
2. runs the lint in process once more with Salt's pillar merge
   (``salt.utils.dictupdate.merge``) timed, to show how much of rendering is
   Salt merging the SLS files into one pillar.

Absolute times drift on shared machines; read the ratios.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(os.path.dirname(HERE), "examples")


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
                        "--format", fmt, "--output", output, "--timings"]
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
    """Run the lint in process with Salt's pillar merge timed: ``(render seconds, merge seconds)``."""
    import salt.utils.dictupdate

    from saltext.spectrum_acl.cli import main as cli
    from saltext.spectrum_acl.lint import compile as lint_compile
    from saltext.spectrum_acl.lint import run as lint_run

    spent = [0.0]
    original = salt.utils.dictupdate.merge

    def timed_merge(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    salt.utils.dictupdate.merge = timed_merge
    try:
        args = cli._parser().parse_args(
            ["lint", "--pillar-root", root, "--data", os.path.join(EXAMPLES, "prefixes.yaml")]
        )
        lint_compile.configure_logging("quiet")
        result = lint_run.lint(args)
    finally:
        salt.utils.dictupdate.merge = original
    return result["timings"]["render"], spent[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps", type=int, default=10000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--keep", metavar="DIR", help="write the pillar here and keep it")
    args = parser.parse_args(argv)
    workdir = args.keep or tempfile.mkdtemp(prefix="bench-lint-")
    root = os.path.join(workdir, "pillar")
    written = generate(root, args.apps, args.files)
    print(f"# spectrum-acl lint benchmark: {written} apps in {args.files} SLS files "
          f"({args.files // 5} Jinja, {args.files - args.files // 5} plain YAML)")
    print(f"# CPython {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
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
    print(f"In process: render {render:.2f} s, of which Salt's pillar merge (salt.utils.dictupdate.merge, "
          f"a deep copy of the whole pillar per SLS file) {merge:.2f} s = {merge / render:.0%}.")
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
