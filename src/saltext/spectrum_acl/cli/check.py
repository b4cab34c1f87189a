"""``spectrum-acl check``: judge origins (addresses, CIDRs, origin URLs) against prefix data.

    spectrum-acl check ORIGIN [ORIGIN ...] --data prefixes.yaml [--account-id ID] [--json]
    spectrum-acl check --origins-file origins.txt --data prefixes.json --account-id ID --denied-only

On a terminal, a run longer than two seconds shows a progress line on stderr
(:mod:`saltext.spectrum_acl.lint.progress`); it is cleared before the verdicts print.
"""

import json
import os
import sys

from saltext.spectrum_acl.cli.exit_codes import EXIT_DENIED, EXIT_OK
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.data.prefix_data import load_index
from saltext.spectrum_acl.errors import OriginSyntaxError, SpectrumAclError
from saltext.spectrum_acl.lint.progress import Progress
from saltext.spectrum_acl.settings import ENV_CACHE_DIR, ENV_PREFIX_DATA

#: Origins judged in one batch: big enough for numpy, small enough to show progress between batches.
CHUNK = 65536


def add_command(commands):
    """Register ``check`` on the ``spectrum-acl`` subparsers."""
    check = commands.add_parser("check", help="judge origins: addresses, CIDRs or origin URLs")
    check.set_defaults(func=_check)
    check.add_argument("origins", nargs="*", metavar="ORIGIN")
    check.add_argument("--origins-file", metavar="FILE",
                       help="more origins, one per line ('-' for standard input; blank lines and # comments skipped)")
    check.add_argument("--data", default=os.environ.get(ENV_PREFIX_DATA), help=f"prefix data file (or ${ENV_PREFIX_DATA})")
    check.add_argument("--cache-dir", default=os.environ.get(ENV_CACHE_DIR),
                       help=f"keep a compiled index of the data here, for fast repeat runs (or ${ENV_CACHE_DIR})")
    check.add_argument("--account-id", help="the account that wants to use the origins")
    check.add_argument("--json", action="store_true", help="print verdicts as JSON")
    check.add_argument("--denied-only", action="store_true", help="print only the denied origins")


def _read_origins(args):
    """``[(origin, where it came from)]``: the arguments, then the lines of ``--origins-file``."""
    origins = [(origin, f"argument {number}") for number, origin in enumerate(args.origins, 1)]
    if args.origins_file:
        try:
            if args.origins_file == "-":
                lines = sys.stdin.read().splitlines()
            else:
                with open(args.origins_file, encoding="utf-8") as handle:
                    lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise SpectrumAclError(f"cannot read origins file {args.origins_file!r}: {exc}") from None
        for number, line in enumerate(lines, 1):
            text = line.split("#", 1)[0].strip()
            if text:
                origins.append((text, f"{args.origins_file} line {number}"))
    if not origins:
        raise SpectrumAclError("no origins: give them as arguments or with --origins-file")
    return origins


def _judge(guard, origins, account_id, progress):
    """The verdicts of ``origins`` in order, judged in chunks of :data:`CHUNK` so progress can be shown."""
    texts = [origin for origin, _ in origins]
    verdicts = []
    for start in range(0, len(texts), CHUNK):
        progress.update(f"{start:,}/{len(texts):,} origins judged")
        try:
            batch = guard.check_batch(texts[start:start + CHUNK], account_id)
        except OriginSyntaxError as exc:
            raise SpectrumAclError(f"{origins[start + exc.item][1]}: {exc}") from None
        verdicts.append(batch)
    return verdicts


def _check(args, out):
    if not args.data:
        raise SpectrumAclError(f"no prefix data: pass --data FILE or set {ENV_PREFIX_DATA}")
    with Progress("checking") as progress:  # on a terminal, for runs over 2 s; cleared before the verdicts print
        progress.update("reading origins")
        origins = _read_origins(args)
        progress.update(f"loading prefix data for {len(origins):,} origins")
        guard = OriginGuard(load_index(args.data, cache_dir=args.cache_dir))
        batches = _judge(guard, origins, args.account_id, progress)
    denied = [(batch, item) for batch in batches for item in batch.denied_items()]
    shown = denied if args.denied_only else ((batch, item) for batch in batches for item in range(len(batch)))
    if args.json:
        json.dump([batch[item].as_dict() for batch, item in shown], out, indent=2, sort_keys=True)
        out.write("\n")
    else:
        for batch, item in shown:
            verdict = batch[item]
            flags = " ".join(f"{name}={str(value).lower()}" for name, value in verdict.flags().items())
            out.write(f"{'ALLOW' if verdict.allowed else 'DENY '} {verdict.origin}  {flags}\n")
            out.writelines(f"      - {reason}\n" for reason in verdict.reasons)
    return EXIT_DENIED if denied else EXIT_OK
