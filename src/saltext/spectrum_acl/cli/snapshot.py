"""``spectrum-acl snapshot``: prefix data from the provider's Addressing API, written for every minion.

    spectrum-acl snapshot --api-url URL --account-id ID [--account-id ID ...] --token-file F --output prefixes.json
                          [--allow-shrink] [--json]

Reads each account's prefixes with their delegations and bindings, and ``GET /ips``,
and writes them as prefix data, atomically, only when all of it was read and checked
(see :mod:`saltext.spectrum_acl.api.snapshot`). The token comes from ``--token-file``,
else from ``$SPECTRUM_ACL_API_TOKEN``; it is never printed. Exit code 0 when the
snapshot was taken (written, or already identical), 2 when nothing was written.
"""

import json
import os

from saltext.spectrum_acl.api.snapshot import DEFAULTS, SnapshotSettings, take_snapshot
from saltext.spectrum_acl.cli.exit_codes import EXIT_ERROR, EXIT_OK
from saltext.spectrum_acl.errors import SpectrumAclError
from saltext.spectrum_acl.settings import ENV_TOKEN

#: How a setting is called in the command's errors.
FLAGS = {"url": "--api-url", "accounts": "--account-id", "provider_account": "--provider-account"}


def add_command(commands):
    """Register ``spectrum-acl snapshot``."""
    snapshot = commands.add_parser(
        "snapshot",
        help="write prefix data taken from the Addressing API, for the minions",
        description="Take prefix data from the provider's Addressing API (each account's prefixes, delegations "
                    "and bindings, and GET /ips) and write it atomically, only when all of it was read and checked.",
    )
    snapshot.set_defaults(func=_snapshot)
    snapshot.add_argument("--api-url", required=True, help="the API's base URL, e.g. https://api.example.net/client/v4")
    snapshot.add_argument("--account-id", action="append", required=True, dest="accounts", metavar="ID",
                          help="an account whose prefixes to read (repeat for more)")
    snapshot.add_argument("--token-file", help=f"file holding the API token (default: ${ENV_TOKEN})")
    snapshot.add_argument("--output", required=True, help="the prefix data file to write (.json)")
    snapshot.add_argument("--provider-account", default=DEFAULTS["provider_account"],
                          help=f"owner written for the provider's ranges of GET /ips (default {DEFAULTS['provider_account']})")
    snapshot.add_argument("--no-provider-ranges", action="store_true", help="do not read GET /ips")
    snapshot.add_argument("--per-page", type=int, default=DEFAULTS["per_page"],
                          help=f"items asked per page of a listing (default {DEFAULTS['per_page']})")
    snapshot.add_argument("--concurrency", type=int, default=DEFAULTS["concurrency"],
                          help=f"requests in flight at once (default {DEFAULTS['concurrency']})")
    snapshot.add_argument("--max-shrink", type=float, default=DEFAULTS["max_shrink"],
                          help="refuse when more than this fraction of the prefixes (or of all entries) is gone "
                               f"since the file in place (default {DEFAULTS['max_shrink']})")
    snapshot.add_argument("--allow-shrink", action="store_true", help="write even when the snapshot shrank that much")
    snapshot.add_argument("--dry-run", action="store_true", help="read and check everything, write nothing")
    snapshot.add_argument("--json", action="store_true", help="print the report as JSON")


def _flag(key):
    return FLAGS.get(key, "--" + key.replace("_", "-"))


def _settings(args):
    values = {
        "url": args.api_url,
        "accounts": args.accounts,
        "output": os.path.abspath(args.output),
        "provider_account": False if args.no_provider_ranges else args.provider_account,
        "per_page": args.per_page,
        "concurrency": args.concurrency,
        "max_shrink": args.max_shrink,
    }
    if args.token_file:
        values["token_file"] = args.token_file
    elif not os.environ.get(ENV_TOKEN):
        raise SpectrumAclError(f"no API token: pass --token-file FILE or set ${ENV_TOKEN}")
    return SnapshotSettings.from_mapping(values, name=_flag)


def _snapshot(args, out):
    report = take_snapshot(_settings(args), allow_shrink=args.allow_shrink, dry_run=args.dry_run)
    if args.json:
        json.dump(report, out, indent=2, sort_keys=True)
        out.write("\n")
    elif report["result"]:
        counts = report["counts"]
        out.write(f"spectrum-acl snapshot: {report['comment']}\n")
        out.write(f"  {counts['prefixes']} prefixes ({counts['provider_ranges']} provider ranges from GET /ips), "
                  f"{counts['delegations']} delegations, {counts['bindings']} bindings "
                  f"({counts['spectrum_bindings']} Spectrum)\n")
        out.write(f"  {report['requests']} requests, {report['bytes']} bytes, sha256 {report['sha256']}, "
                  f"{report['seconds']:.2f} s\n")
        for warning in report["warnings"]:
            out.write(f"  warning: {warning}\n")
    if not report["result"]:
        if not args.json:
            raise SpectrumAclError(f"snapshot not taken ({report['reason']}): {report['comment']}; "
                                   f"{report['path']} is unchanged")
        return EXIT_ERROR
    return EXIT_OK
