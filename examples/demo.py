"""Run the main job: a real ``salt-call --local state.apply`` on the examples.

    python examples/demo.py [--pillar pillar|pillar-bad] [--run-dir build/demo]

It writes a masterless minion config from ``examples/minion`` with absolute
paths, applies the state tree in ``examples/salt`` with the chosen pillar, and
prints where the edge config was rendered. The exit code is salt-call's.
"""

import argparse
import os
import subprocess
import sys

EXAMPLES = os.path.dirname(os.path.abspath(__file__))


def write_minion_config(run_dir, pillar="pillar"):
    """Write ``RUN/conf/minion`` (``RUN/conf-PILLAR/minion`` for another pillar) and return the config dir.

    The good pillar's config stays at ``RUN/conf`` whatever ran last, so ``salt-call -c
    build/demo/conf`` in the docs always means the example pillar.
    """
    with open(os.path.join(EXAMPLES, "minion"), encoding="utf-8") as handle:
        text = handle.read()
    text = text.replace("@EXAMPLES@", EXAMPLES).replace("@RUN@", run_dir).replace("@PILLAR@", pillar)
    conf_dir = os.path.join(run_dir, "conf" if pillar == "pillar" else f"conf-{pillar}")
    os.makedirs(conf_dir, exist_ok=True)
    with open(os.path.join(conf_dir, "minion"), "w", encoding="utf-8") as handle:
        handle.write(text)
    return conf_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pillar", default="pillar", choices=("pillar", "pillar-bad"))
    parser.add_argument("--run-dir", default=os.path.join(os.path.dirname(EXAMPLES), "build", "demo"))
    parser.add_argument("--test", action="store_true", help="state.apply test=True: show verdicts and diff only")
    args = parser.parse_args(argv)
    run_dir = os.path.abspath(args.run_dir)
    conf_dir = write_minion_config(run_dir, args.pillar)
    salt_call = os.path.join(os.path.dirname(sys.executable), "salt-call")
    command = [salt_call, "--local", "-c", conf_dir, "--retcode-passthrough", "-l", "quiet", "state.apply"]
    if args.test:
        command.append("test=True")
    print("$", " ".join(command), flush=True)
    code = subprocess.call(command)
    target = os.path.join(run_dir, "etc", "spectrum", "apps.json")
    if code == 0:
        print(f"\nEdge config rendered: {target}")
    else:
        print(f"\nsalt-call exited {code}: the guard refused; {target} was left as it was.")
    return code


if __name__ == "__main__":
    sys.exit(main())
