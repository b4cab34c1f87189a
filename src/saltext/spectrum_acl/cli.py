"""``spectrum-acl``: the origin guard without a master or a minion.

    spectrum-acl check ORIGIN [ORIGIN ...] --data prefixes.yaml [--account-id ID] [--json]

Exit codes: 0 every origin is allowed, 1 something is denied, 2 usage, data or
configuration errors.
"""

import argparse
import importlib
import json
import os
import sys

from saltext.spectrum_acl import prefix_data
from saltext.spectrum_acl.errors import SpectrumAclError
from saltext.spectrum_acl.policy import OriginGuard
from saltext.spectrum_acl.runtime import ENV_PREFIX_DATA

EXIT_OK, EXIT_DENIED, EXIT_ERROR = 0, 1, 2


#: Modules that add a subcommand: each has ``add_command(subparsers)``, which sets
#: ``func(args, out) -> exit code`` as the parser default.
COMMAND_MODULES = ("saltext.spectrum_acl.server", "saltext.spectrum_acl.lint")


def _parser():
    parser = argparse.ArgumentParser(prog="spectrum-acl", description="Refuse dangerous Spectrum origins.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="judge origins: addresses, CIDRs or origin URLs")
    check.set_defaults(func=_check)
    check.add_argument("origins", nargs="+", metavar="ORIGIN")
    check.add_argument("--data", default=os.environ.get(ENV_PREFIX_DATA), help=f"prefix data file (or ${ENV_PREFIX_DATA})")
    check.add_argument("--account-id", help="the account that wants to use the origins")
    check.add_argument("--json", action="store_true", help="print verdicts as JSON")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).add_command(commands)
    return parser


def _check(args, out):
    if not args.data:
        raise SpectrumAclError(f"no prefix data: pass --data FILE or set {ENV_PREFIX_DATA}")
    guard = OriginGuard(prefix_data.load_index(args.data))
    verdicts = [guard.check_origin(origin, args.account_id) for origin in args.origins]
    if args.json:
        json.dump([verdict.as_dict() for verdict in verdicts], out, indent=2, sort_keys=True)
        out.write("\n")
    else:
        for verdict in verdicts:
            flags = " ".join(f"{name}={str(value).lower()}" for name, value in verdict.flags().items())
            out.write(f"{'ALLOW' if verdict.allowed else 'DENY '} {verdict.origin}  {flags}\n")
            out.writelines(f"      - {reason}\n" for reason in verdict.reasons)
    return EXIT_OK if all(verdict.allowed for verdict in verdicts) else EXIT_DENIED


def main(argv=None, out=None):
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        return args.func(args, out)
    except SpectrumAclError as exc:
        print(f"spectrum-acl: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
