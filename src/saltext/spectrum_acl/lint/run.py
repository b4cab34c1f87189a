"""``spectrum-acl lint``: check a pillar tree the way Salt would compile it, for CI.

    spectrum-acl lint --pillar-root pillar/ [--minion-id edge01 ...]
                      [--minion-config minion | -c CONFIG_DIR]
                      [--data prefixes.yaml | --api-url URL] [--static-hosts FILE] [--offline]
                      [--changed-files FILE] [--baseline base.json]
                      [--format text|json|junit|github|sarif] [--output FILE] [--report FORMAT=FILE]

No master and no minion run. Salt's own code compiles the pillar for each
minion id (``top.sls`` matching, ``include``, Jinja and the other renderers,
merging), and every app under ``spectrum:apps`` is checked by the same
:class:`~saltext.spectrum_acl.runtime.Runtime` that serves
``salt-call spectrum_acl.check_apps``, so both give the same verdicts. On top,
the lint finds apps defined in two SLS files, and says which file and line
each problem comes from (see :mod:`~saltext.spectrum_acl.lint.locate`).

Minion ids: ``--minion-id`` (repeatable); without it, the ``id`` of the minion
config when one is given; otherwise ``spectrum-acl-lint``, which ``'*'``
targets match. A linted minion whose pillar has no apps key is a warning; when
none of them has one, that is an error (exit 2): the top file targets nothing
at those ids.

Configuration: ``--minion-config FILE`` (or ``-c DIR`` for ``DIR/minion``, as
``salt-call`` does) is read with Salt's own config loader, ``minion.d``
included; its ``spectrum_acl:`` section supplies the guard's settings exactly as
on a minion (``prefix_data``, ``accounts``, ``account_id``, ``static_hosts``,
``pillar_key``, ``backend``, ``api`` ...), and its ``pillar_roots``, ``grains``,
``renderer``, ``pillar_merge_lists`` and the other pillar options apply. Flags
override it. ``ext_pillar`` is not run. A ``spectrum_acl`` section in the pillar
is ignored by the guard and reported as a ``pillar_settings`` error at its file
and line.

**The lint executes PR-supplied templates.** Pillar is rendered with a
restricted loader (:data:`~saltext.spectrum_acl.lint.compile.LINT_FUNCTIONS`:
read-only lookups, no ``cmd``, ``environ``, ``file``, ``http``, ``network``,
``cp``...) and only the ``jinja``, ``yaml``, ``json`` and ``yamlex`` renderers;
a template that calls anything else is a render error. The guard is built, and
the API token read, before any pillar is rendered; the token's environment
variable is then removed and the ``spectrum_acl`` section is not in the ``opts``
templates see. The lint's configuration (minion config, prefix data, the
workflow) must come from the base branch, never from the PR under check.

Exit codes (:mod:`saltext.spectrum_acl.lint.blame` says whose problem each is):
0 every app passes; 1 findings in the pillar, the change's own (with
``--baseline``, only those new since the base branch; with ``--changed-files``,
render errors in files the change touched too); 2 the lint could not judge the
pillar: usage, configuration, prefix data, the Addressing API failing, or a
pillar file that does not render and that the change did not touch (the message
names the file, line when Salt gives one, and why, and says that it is not the
change's fault).

In CI: ``$GITHUB_STEP_SUMMARY`` gets a Markdown table of the findings
(:mod:`~saltext.spectrum_acl.lint.summary`), ``--format sarif`` is for code
scanning (:mod:`~saltext.spectrum_acl.lint.sarif`), and at a terminal a run over
two seconds shows a progress line on stderr (:mod:`~saltext.spectrum_acl.lint.progress`).
Many minion ids share renders and verdicts (:class:`~saltext.spectrum_acl.lint.compile.RenderCache`,
:mod:`~saltext.spectrum_acl.lint.reuse`).
"""

import argparse
import gc
import json
import os
import sys
import time
from collections.abc import Mapping

from saltext.spectrum_acl.cli.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_VIOLATIONS
from saltext.spectrum_acl.core.resolver import Resolver
from saltext.spectrum_acl.errors import SpectrumAclError
from saltext.spectrum_acl.lint.baseline import apply as apply_baseline
from saltext.spectrum_acl.lint.baseline import load as load_baseline
from saltext.spectrum_acl.lint.blame import (
    INFRASTRUCTURE_NOTE,
    LintInfrastructureError,
    OutageWatch,
    blame_render_errors,
    changed_files,
)
from saltext.spectrum_acl.lint.compile import (
    DEFAULT_MINION_ID,
    LOG_LEVELS,
    Compiler,
    LintConfigError,
    PillarRenderError,
    configure_logging,
    display_path,
    read_config_file,
    sls_files,
)
from saltext.spectrum_acl.lint.findings import KINDS, Collector
from saltext.spectrum_acl.lint.formats import (
    FORMATS,
    JSON_SCHEMA,
    SCHEMA_ID,
    github_line,
    summary_line,
    write,
)
from saltext.spectrum_acl.lint.progress import Progress
from saltext.spectrum_acl.lint.reuse import AppReuse
from saltext.spectrum_acl.lint.summary import annotation_overflow
from saltext.spectrum_acl.lint.summary import append as append_summary
from saltext.spectrum_acl.lint.summary import infrastructure_markdown as infrastructure_summary
from saltext.spectrum_acl.lint.summary import markdown as job_summary
from saltext.spectrum_acl.runtime import Runtime
from saltext.spectrum_acl.settings import (
    DEFAULT_PILLAR_KEY,
    ENV_PREFIX_DATA,
    ENV_TOKEN,
    ConfigError,
    Settings,
    pillar_settings_keys,
    static_hosts_problem,
)

#: GitHub Actions' job summary file, appended to when set.
ENV_STEP_SUMMARY = "GITHUB_STEP_SUMMARY"


def add_command(commands):
    """Register ``lint`` on the ``spectrum-acl`` subparsers."""
    lint = commands.add_parser(
        "lint",
        help="check a pillar tree as Salt compiles it (for CI): every app under spectrum:apps",
        description=(
            "Compile the pillar with Salt's renderers, include and top.sls matching for each minion id, "
            "then check every app: shape, every origin, edge IP loops and collisions, apps defined twice. "
            "Exit 0 all pass, 1 findings in the pillar, 2 the lint could not judge it (configuration, prefix data, "
            "Addressing API, or a pillar file the change did not touch)."
        ),
    )
    lint.set_defaults(func=run_lint)
    where = lint.add_argument_group("pillar")
    where.add_argument("--pillar-root", action="append", metavar="DIR", dest="pillar_roots",
                       help="pillar root of saltenv base (repeatable); default: pillar_roots of the minion config")
    where.add_argument("--minion-id", action="extend", nargs="+", metavar="ID", dest="minion_ids",
                       help=f"lint the pillar this minion gets (repeatable); default: the config's id, else {DEFAULT_MINION_ID!r}")
    where.add_argument("--grains", metavar="FILE", help="YAML mapping of grains for top.sls grain targets and Jinja")
    where.add_argument("--pillarenv", metavar="ENV", help="compile only this pillar environment")
    where.add_argument("--pillar-key", metavar="KEY", help=f"where the apps live (default {DEFAULT_PILLAR_KEY})")
    config = lint.add_argument_group("configuration (flags override the minion config)")
    config.add_argument("--minion-config", metavar="FILE", help="minion config to read (its spectrum_acl: section, pillar options)")
    config.add_argument("-c", "--config-dir", metavar="DIR", help="like salt-call -c: read DIR/minion")
    backend = config.add_mutually_exclusive_group()
    backend.add_argument("--data", metavar="FILE", help="prefix data file (default: spectrum_acl:prefix_data, $SPECTRUM_ACL_PREFIX_DATA)")
    backend.add_argument("--api-url", metavar="URL", help="judge with the Addressing API at URL (token: spectrum_acl:api or $SPECTRUM_ACL_API_TOKEN)")
    config.add_argument("--account-id", metavar="ID", help="account for apps that name none (overrides spectrum:account_id)")
    config.add_argument("--accounts", action="extend", nargs="+", metavar="ID",
                        help="the accounts apps may name (overrides spectrum_acl:accounts of the minion config)")
    config.add_argument("--static-hosts", metavar="FILE", help="YAML {name: [addresses]} for origin_dns names, merged over spectrum_acl:static_hosts")
    config.add_argument("--cache-dir", metavar="DIR",
                        help="keep a compiled index of the prefix data here, for fast repeat runs (or spectrum_acl:cache_dir)")
    config.add_argument("--offline", action="store_true", help="resolve origin_dns names only from static hosts; others are denied")
    change = lint.add_argument_group("the change under check (CI)")
    change.add_argument("--changed-files", metavar="FILE",
                        help="files the change touched, one a line ('-': standard input), as `git diff --name-only "
                             "BASE...HEAD` prints them: a render error in one of them is a finding (exit 1), "
                             "elsewhere exit 2")
    change.add_argument("--changed", action="extend", nargs="+", metavar="PATH", help="like --changed-files, as arguments")
    change.add_argument("--baseline", metavar="FILE",
                        help="--format json report of the base branch: only new findings fail; existing ones are warnings")
    output = lint.add_argument_group("output")
    output.add_argument("--format", choices=FORMATS, default="text", help="text (default), json, junit, github or sarif")
    output.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE and print only the summary line")
    output.add_argument("--report", action="append", type=_report_option, default=[], metavar="FORMAT=FILE",
                        help="also write the report in FORMAT to FILE, from the same run (repeatable), "
                             "e.g. --format github --report sarif=spectrum-acl.sarif")
    output.add_argument("-v", "--verbose", action="store_true", help="text: list passing checks too")
    output.add_argument("--json-schema", action="store_true", help="print the JSON Schema of --format json and exit")
    output.add_argument("--timings", action="store_true", help="print seconds spent rendering, loading data, checking and reporting to stderr")
    output.add_argument("--no-summary", action="store_true",
                        help=f"do not append the Markdown job summary to ${ENV_STEP_SUMMARY} (GitHub Actions sets it)")
    output.add_argument("-l", "--log-level", choices=LOG_LEVELS, default="quiet", help="Salt's log records on stderr (default quiet)")


def run_lint(args, out):
    """Run the lint; return the exit code (2, with a note that the change is not at fault, when it cannot run)."""
    if args.json_schema:
        json.dump(JSON_SCHEMA, out, indent=2)
        out.write("\n")
        return EXIT_OK
    configure_logging(args.log_level)
    summary_file = None if args.no_summary else os.environ.get(ENV_STEP_SUMMARY) or None
    try:
        with Progress("linting") as progress:
            result = lint(args, progress)
        if args.timings:
            split = ", ".join(f"{key} {value:.3f} s" for key, value in result["timings"].items())
            print(f"spectrum-acl lint: timings: {split}", file=sys.stderr)
        overflow = annotation_overflow(result) if args.format == "github" else None
        for fmt, path in args.report:
            _write_file(result, fmt, path, args.verbose, "--report")
        if args.output:
            _write_file(result, args.format, args.output, args.verbose, "--output")
            out.write(summary_line(result) + "\n")
        else:
            write(result, args.format, out, verbose=args.verbose)
    except SpectrumAclError as exc:
        return _could_not_run(exc, args, out, summary_file)
    if overflow:
        print(f"spectrum-acl lint: {overflow}", file=sys.stderr)
    if summary_file:
        _summary(summary_file, job_summary(result, summary_line(result), overflow))
    return result["exit_code"]


def _report_option(text):
    fmt, equals, path = text.partition("=")
    if not equals or fmt not in FORMATS or not path:
        raise argparse.ArgumentTypeError(f"expected FORMAT=FILE with FORMAT one of {', '.join(FORMATS)} (got {text!r})")
    return fmt, path


def _write_file(result, fmt, path, verbose, option):
    try:
        with open(path, "w", encoding="utf-8") as handle:
            write(result, fmt, handle, verbose=verbose)
    except OSError as exc:
        raise LintInfrastructureError(f"cannot write {option} {path!r}: {exc}") from None


def _could_not_run(exc, args, out, summary_file):
    """Exit 2: the error, and that it is not the change's fault, on stderr, as an annotation and in the summary."""
    message = str(exc)
    if args.format == "github" and not args.output:
        render = isinstance(exc, PillarRenderError)
        finding = {"severity": "error", "kind": "render" if render else "infrastructure", "app": None,
                   "file": display_path(exc.file) if render else None, "line": exc.line if render else None,
                   "message": f"{message} (exit 2: not a finding against the change under check)"}
        out.write(github_line(finding) + "\n")
    print(f"spectrum-acl: error: {message}", file=sys.stderr)
    print(f"spectrum-acl lint: {INFRASTRUCTURE_NOTE}", file=sys.stderr)
    if summary_file:
        _summary(summary_file, infrastructure_summary(message))
    return EXIT_ERROR


def _summary(path, text):
    problem = append_summary(path, text)
    if problem:
        print(f"spectrum-acl lint: warning: {problem}", file=sys.stderr)


# --------------------------------------------------------------------------- configuration


def _config_path(args):
    if args.minion_config and args.config_dir:
        raise LintConfigError("pass --minion-config FILE or -c DIR, not both")
    if args.config_dir:
        if not os.path.isdir(args.config_dir):
            raise LintConfigError(f"config dir {args.config_dir!r} is not a directory")
        return os.path.abspath(os.path.join(args.config_dir, "minion"))
    return os.path.abspath(args.minion_config) if args.minion_config else None


def _yaml_mapping(path, what):
    import salt.utils.yaml  # Salt is heavy to import: only when the lint runs

    try:
        with open(path, encoding="utf-8") as handle:
            data = salt.utils.yaml.safe_load(handle)
    except OSError as exc:
        raise LintConfigError(f"{what} {path!r} cannot be read: {exc.strerror or exc}") from None
    except Exception as exc:
        raise LintConfigError(f"{what} {path!r} is not valid YAML: {' '.join(str(exc).split())}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise LintConfigError(f"{what} {path!r} must be a YAML mapping (got {type(data).__name__})")
    return dict(data)


def _static_hosts(path):
    """A ``--static-hosts`` file, checked as ``spectrum_acl:static_hosts`` is."""
    hosts = _yaml_mapping(path, "static hosts file")
    problem = static_hosts_problem(hosts)
    if problem:
        raise LintConfigError(f"static hosts file {path!r}: {problem}")
    return hosts


def use_api_backend(section, url):
    """Point the ``spectrum_acl`` config ``section`` at the Addressing API at ``url``.

    The one place the lint is wired to the remote backend: the
    :class:`~saltext.spectrum_acl.runtime.Runtime` builds the client from
    ``spectrum_acl:backend: api`` and ``spectrum_acl:api:*`` (token from
    ``token_file``, ``token`` or ``$SPECTRUM_ACL_API_TOKEN``), exactly as for
    ``salt-call``.
    """
    section["backend"] = "api"
    api = dict(section.get("api") or {})
    api["url"] = url
    section["api"] = api


def _settings(args, opts):
    """The guard's settings: the minion config's ``spectrum_acl`` section, then the flags."""
    section = opts.get("spectrum_acl") or {}
    if not isinstance(section, Mapping):
        raise LintConfigError(f"spectrum_acl in the minion config must be a mapping (got {type(section).__name__})")
    section = dict(section)
    if args.cache_dir:
        section["cache_dir"] = os.path.abspath(args.cache_dir)
    elif "cache_dir" not in section:
        section["cache_dir"] = False  # the lint's cachedir is temporary: do not write a compiled index there
    data = args.data or (None if section.get("prefix_data") or args.api_url else os.environ.get(ENV_PREFIX_DATA))
    if data:  # the operator's flag, else the operator's environment when the config names no data
        if not os.path.isfile(data):
            raise LintConfigError(f"prefix data file {data!r} does not exist")
        section["prefix_data"] = os.path.abspath(data)
        section["backend"] = "local"
    if args.api_url:
        use_api_backend(section, args.api_url)
    if args.static_hosts:
        hosts = dict(section.get("static_hosts") or {}) if isinstance(section.get("static_hosts"), Mapping) else {}
        hosts.update(_static_hosts(args.static_hosts))
        section["static_hosts"] = hosts
    if args.pillar_key:
        section["pillar_key"] = args.pillar_key
    if args.accounts:
        section["accounts"] = list(args.accounts)
    if args.account_id:  # the operator's own flag: trusted like the config, so it is authorised too
        section["account_id"] = args.account_id
        if isinstance(section.get("accounts"), list) and args.account_id not in section["accounts"]:
            section["accounts"] = section["accounts"] + [args.account_id]
    try:
        return Settings.from_section(section)
    except ConfigError as exc:
        raise LintConfigError(str(exc)) from None


def _scrub_token_environment(settings):
    """Remove the API token variables from the environment: the PR's templates run next."""
    names = {ENV_TOKEN, settings.api.get("token_env") or ENV_TOKEN}
    for name in names:
        if isinstance(name, str):
            os.environ.pop(name, None)


# --------------------------------------------------------------------------- the run


def lint(args, progress=None):
    """Compile, check and collect; return the result document (the ``json`` format).

    Raises :class:`~saltext.spectrum_acl.errors.SpectrumAclError` when the pillar cannot be
    judged (exit 2): configuration, data, the Addressing API, a render error the change
    under check is not known to have caused.
    """
    try:
        return _lint(args, progress)
    finally:
        gc.unfreeze()


def _lint(args, progress):
    progress = progress or Progress("linting", delay=float("inf"))
    config_path = _config_path(args)
    file_config = read_config_file(config_path) if config_path else {}  # clear errors before Salt reads it
    minion_ids = list(dict.fromkeys(args.minion_ids or [str(file_config.get("id") or DEFAULT_MINION_ID)]))
    changed = changed_files(args)
    baseline = load_baseline(args.baseline, SCHEMA_ID) if args.baseline else None
    timings = {"render": 0.0, "data": 0.0, "check": 0.0, "report": 0.0}
    context, minions, rendered = {}, [], set()
    reuse = AppReuse() if len(minion_ids) > 1 else None  # apps shared by minion ids are judged once
    with Compiler(config_path) as compiler:
        opts = _load(compiler, minion_ids[0])
        settings = _settings(args, opts)
        grains = dict(opts.get("grains") or {}) if isinstance(opts.get("grains"), Mapping) else {}
        if args.grains:
            grains.update(_yaml_mapping(args.grains, "grains file"))
        roots = [os.path.abspath(root) for root in args.pillar_roots or []]
        compiler.configure(roots, args.pillarenv, grains)
        started = time.perf_counter()
        progress.update("loading prefix data")
        guard = _guard(compiler, settings, args.offline)
        outage = None
        if guard.remote is not None:  # an API failure is exit 2, not a denial of every origin
            guard.remote = outage = OutageWatch(guard.remote)
        timings["data"] += time.perf_counter() - started
        _scrub_token_environment(settings)  # read once above; PR templates run below
        key_parts = settings.pillar_key.split(":")
        # Lines of passing checks are shown only by json, junit and --verbose text.
        collector = Collector(key_parts, lines_for_passing=args.format in ("json", "junit") or args.verbose)
        for number, minion_id in enumerate(minion_ids):
            progress.update(f"{number}/{len(minion_ids)} minion renders")
            started = time.perf_counter()
            try:
                compiled = _compile(compiler, minion_id)
            except PillarRenderError as exc:
                timings["render"] += time.perf_counter() - started
                if changed is None:
                    raise
                own, elsewhere = blame_render_errors(exc, changed, compiler.pillar_roots_in_use)
                if elsewhere:
                    raise LintInfrastructureError(
                        f"{elsewhere[0]} (a pillar file the change did not touch"
                        + (f"; {len(elsewhere) - 1} more such errors" if len(elsewhere) > 1 else "") + ")"
                    ) from None
                for error in own:  # the change broke these files: findings of the change (exit 1)
                    collector.render(minion_id, error)
                rendered.update(exc.rendered)
                minions.append({"id": minion_id, "sls": [], "allowed": False, "report": None, "rendered": False})
                continue
            timings["render"] += time.perf_counter() - started
            rendered.update(record.path for record in compiled.records if record.path)
            minion = {
                "id": minion_id,
                "sls": [{"saltenv": r.saltenv, "sls": r.sls, "file": display_path(r.path)} for r in compiled.records],
                "allowed": True,
                "report": None,
            }
            minions.append(minion)
            progress.update(f"{number}/{len(minion_ids)} minion renders, checking {minion_id}")
            started = time.perf_counter()
            checked = _check(compiled, context, settings, guard, args, key_parts, reuse)
            timings["check"] += time.perf_counter() - started
            started = time.perf_counter()
            for key in pillar_settings_keys(compiled.pillar):
                collector.pillar_settings(compiled, key)
            if checked["report"] is None:
                collector.warn(minion_id, "no_apps", f"the pillar of minion {minion_id!r} has no {':'.join(key_parts)!r}: "
                               "top.sls targets no SLS with apps at this id (pass --minion-id for your edge minions)")
            else:
                minion["report"] = checked["report"]
                collector.add_minion(compiled, checked["raw_apps"], checked["report"], checked["default_account_id"])
            timings["report"] += time.perf_counter() - started
            # What this minion made (pillar, report) lives to the end of the run: collections for the
            # next minions need not walk it again.
            gc.collect(1)
            gc.freeze()
        pillar_roots = compiler.pillar_roots_in_use
    if outage is not None:
        outage.raise_if_failed()
    progress.update(f"{len(minion_ids)}/{len(minion_ids)} minion renders, reporting")
    rendered_minions = [minion for minion in minions if minion.pop("rendered", True)]
    if rendered_minions and all(minion["report"] is None for minion in rendered_minions):
        raise LintConfigError(
            f"no apps to lint: the pillar of {', '.join(repr(m) for m in minion_ids)} has no "
            f"{':'.join(key_parts)!r}; pass --minion-id with ids your top.sls targets"
        )
    started = time.perf_counter()
    for path in sls_files(pillar_roots):
        if path not in rendered and _mentions(path, key_parts[0]):
            collector.warn(minion_ids, "not_linted",
                           f"{display_path(path)} mentions {key_parts[0]!r} but is in the pillar of no linted minion "
                           f"({', '.join(minion_ids)}); its apps were not checked", file=path)
    result = _result(collector, minions, pillar_roots, timings)
    if baseline is not None:
        apply_baseline(result, baseline)
    timings["report"] += time.perf_counter() - started
    result["timings"] = {key: round(value, 4) for key, value in timings.items()}
    return result


def _load(compiler, minion_id):
    try:
        return compiler.load(minion_id)
    except SpectrumAclError:
        raise
    except (Exception, SystemExit) as exc:  # Salt exits on some config errors
        raise LintConfigError(f"Salt could not read the minion config {compiler.config_path!r}: "
                              f"{type(exc).__name__}: {' '.join(str(exc).split())}") from None


def _compile(compiler, minion_id):
    try:
        return compiler.compile(minion_id)
    except SpectrumAclError:
        raise
    except Exception as exc:  # Salt raises many kinds; the user needs one line
        raise LintConfigError(f"Salt could not compile the pillar of minion {minion_id!r}: {type(exc).__name__}: "
                              f"{' '.join(str(exc).split())}") from None


def _lookup(pillar, key_parts):
    node = pillar
    for part in key_parts:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


_MISSING = object()


def _guard(compiler, settings, offline):
    """The guard, built from trusted settings before any pillar is rendered (the token is read here)."""
    runtime = Runtime({"cp.cache_file": compiler.cache_file}, {}, {}, compiler.opts, settings=settings)
    guard = runtime.guard()
    if offline:
        guard.resolver = Resolver(settings.static_hosts, use_dns=False)
    return guard


def _check(compiled, context, settings, guard, args, key_parts, reuse):
    """Run ``check_apps`` through the Salt glue; ``{"report": None}`` when the pillar has no apps."""
    raw_apps = _lookup(compiled.pillar, key_parts)
    if raw_apps is _MISSING:
        return {"report": None}
    runtime = Runtime(None, context, compiled.pillar, compiled.opts, settings=settings, guard=guard)
    default_account_id = runtime.default_account_id(args.account_id)
    if reuse is None:
        # The very call salt-call spectrum_acl.check_apps makes: same pillar key, accounts and guard.
        report, _ = runtime.check_apps(account_id=args.account_id)
    else:  # many minion ids: the same call, with each app's part judged once (lint/reuse.py)
        report = reuse.report(runtime, raw_apps, default_account_id, args.account_id)
    return {"report": report, "raw_apps": raw_apps, "default_account_id": default_account_id}


def _mentions(path, word):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return f"{word}:" in handle.read()
    except OSError:
        return False


def _result(collector, minions, pillar_roots, timings):
    findings = collector.findings()
    checks = collector.checks()
    errors = [f for f in findings if f["severity"] == "error"]
    by_kind = {kind: sum(1 for f in findings if f["kind"] == kind) for kind in KINDS}
    by_kind = {kind: count for kind, count in by_kind.items() if count}
    apps = {c["app"] for c in checks if c["app"] is not None}
    failing_apps = {c["app"] for c in checks if c["app"] is not None and not c["passed"]}
    origin_checks = [c for c in checks if not c["name"].endswith(" definition") and c["app"] is not None]
    allowed = not errors
    failing = {minion_id for finding in errors for minion_id in finding["minions"]}
    for minion in minions:
        minion["allowed"] = minion["id"] not in failing and (minion["report"] is None or minion["report"]["allowed"])
    return {
        "schema": SCHEMA_ID,
        "allowed": allowed,
        "exit_code": EXIT_OK if allowed else EXIT_VIOLATIONS,
        "pillar_roots": {env: [display_path(r) for r in roots] for env, roots in pillar_roots.items()},
        "minions": minions,
        "findings": findings,
        "checks": checks,
        "summary": {
            "minions": len(minions),
            "apps": len(apps),
            "apps_failed": len(failing_apps),
            "origins": len(origin_checks),
            "origins_denied": sum(1 for c in origin_checks if not c["passed"]),
            "errors": len(errors),
            "warnings": len(findings) - len(errors),
            "by_kind": by_kind,
            "baseline": None,
        },
        "timings": timings,
    }
