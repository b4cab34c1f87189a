"""``spectrum-acl``: the origin guard without a master or a minion.

Subcommands (each module has ``add_command(subparsers)``, which sets
``func(args, out) -> exit code`` as the parser default):

- ``check``: judge origins against prefix data (:mod:`saltext.spectrum_acl.cli.check`);
- ``lint``: check a pillar tree for CI (:mod:`saltext.spectrum_acl.lint.run`);
- ``serve``: the reference Addressing API (:mod:`saltext.spectrum_acl.api.server`);
- ``snapshot``: prefix data taken from the Addressing API (:mod:`saltext.spectrum_acl.cli.snapshot`).

Exit codes (:mod:`saltext.spectrum_acl.cli.exit_codes`): 0 all allowed, 1 something
denied (or lint findings in the pillar), 2 usage, data, configuration or infrastructure
errors: not a finding against the input.
"""

import argparse
import os
import sys

from saltext.spectrum_acl import __version__
from saltext.spectrum_acl.api import server
from saltext.spectrum_acl.cli import check
from saltext.spectrum_acl.cli import snapshot as snapshot_command
from saltext.spectrum_acl.cli.exit_codes import EXIT_ERROR
from saltext.spectrum_acl.errors import SpectrumAclError
from saltext.spectrum_acl.lint import run as lint_run


def _parser():
    parser = argparse.ArgumentParser(prog="spectrum-acl", description="Refuse dangerous Spectrum origins.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    check.add_command(commands)
    lint_run.add_command(commands)
    server.add_command(commands)
    snapshot_command.add_command(commands)
    return parser


def main(argv=None, out=None):
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        return args.func(args, out)
    except SpectrumAclError as exc:
        print(f"spectrum-acl: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # the reader went away (`... | head`): not an error of ours, and no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
