"""The single entry point for the benchmarks: ``python benchmarks/run.py [scale|api|lint] [options]``.

Each prints a Markdown table of figures with ratios against a baseline measured
in the same run (absolute times drift on shared machines). Options after the
name go to that benchmark; ``--help`` lists them.
"""

import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BENCHMARKS = {"scale": "bench_scale", "api": "bench_api", "lint": "bench_lint"}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in BENCHMARKS:
        print(__doc__)
        print("benchmarks:", ", ".join(BENCHMARKS))
        return 2
    return importlib.import_module(BENCHMARKS[argv[0]]).main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
