"""Compile pillar the way Salt does, for ``spectrum-acl lint``, and remember each SLS.

Salt's own machinery does the work: :func:`salt.config.minion_config` for the
options, :class:`salt.pillar.Pillar` for ``top.sls`` matching, ``include``,
Jinja and every other renderer, and its merge of the SLS files. Nothing talks
to a master: the file client is local and every cache Salt wants lives in a
temporary directory that is removed afterwards.

For attribution, :class:`RecordingPillar` keeps what each SLS file rendered to
*on its own* (before its ``include`` list is merged in): Salt stores exactly
that in the ``mods`` map of ``render_pstate``. The records come in merge
order (included files before the file that includes them, then top file
order), so for a key set in two files the later record is the one Salt keeps.

External pillars (``ext_pillar``) are not run: CI has no access to them, and
they are not part of a pillar repository.

The pillar comes from the pull request under check, so its templates are
untrusted code. They render with :data:`LINT_FUNCTIONS` as ``salt`` (read-only
lookups; calling anything else is a render error that says so), only the
:data:`LINT_RENDERERS` (no ``py``, ``pyobjects``, ``gpg``...), and ``opts``
without the guard's own ``spectrum_acl`` section. Salt renders Jinja in a
sandboxed environment.
"""

import contextlib
import functools
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from saltext.spectrum_acl.errors import SpectrumAclError

#: What PR pillar may call while the lint renders it: read-only lookups. Nothing that
#: runs commands, reads files or the environment, writes, or talks to the network.
LINT_FUNCTIONS = frozenset((
    "config.get", "config.option",
    "defaults.deepcopy", "defaults.merge", "defaults.update",
    "grains.get", "grains.has_value", "grains.item", "grains.items", "grains.ls",
    "match.compound", "match.glob", "match.grain", "match.list", "match.pcre",
    "pillar.get", "pillar.item", "pillar.items", "pillar.keys",
    "slsutil.merge", "slsutil.merge_all", "slsutil.update",
))
#: Renderers PR pillar may use: data and Jinja, no Python (py, pyobjects) and no decryption (gpg).
LINT_RENDERERS = ("jinja", "yaml", "json", "yamlex")

#: Minion id used when none is given: a plain name that ``'*'`` targets match.
DEFAULT_MINION_ID = "spectrum-acl-lint"
LOG_LEVELS = ("quiet", "critical", "error", "warning", "info", "debug")
_LOGGERS = ("salt", "saltext")


class LintConfigError(SpectrumAclError):
    """A lint option, minion config or pillar root that cannot be used (exit 2)."""


class PillarRenderError(SpectrumAclError):
    """Salt could not render the pillar: names the SLS file, the minion and why (exit 2)."""

    def __init__(self, message, file=None, line=None, sls=None, minion=None):
        super().__init__(message)
        self.file = file
        self.line = line
        self.sls = sls
        self.minion = minion


@dataclass
class SlsRecord:
    """One SLS file as Salt rendered it for one minion."""

    saltenv: str
    sls: str
    path: str  # absolute path of the source file, or None when it is missing
    data: object  # what the file rendered to on its own (includes not merged), or None


@dataclass
class CompiledPillar:
    minion_id: str
    pillar: dict
    records: list
    functions: object  # the minion's loaded execution modules (config.get, cp.cache_file)
    opts: dict


def configure_logging(level):
    """Keep Salt's log records off the CLI output; ``level`` other than quiet logs to stderr."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.propagate = False
        for handler in list(logger.handlers):
            if getattr(handler, "_spectrum_acl_lint", False):
                logger.removeHandler(handler)
        if level == "quiet":
            logger.setLevel(logging.CRITICAL + 10)
            continue
        logger.setLevel(getattr(logging, level.upper()))
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[%(levelname)-8s] %(name)s: %(message)s"))
        handler._spectrum_acl_lint = True
        logger.addHandler(handler)


def read_config_file(path):
    """The minion config at ``path`` as a mapping; :class:`LintConfigError` when it cannot be used."""
    import salt.utils.yaml  # Salt is heavy to import: only when the lint runs

    if not os.path.isfile(path):
        raise LintConfigError(f"minion config {path!r} does not exist")
    try:
        with open(path, encoding="utf-8") as handle:
            data = salt.utils.yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise LintConfigError(f"minion config {path!r} cannot be read: {exc}") from None
    except Exception as exc:  # YAML errors of any kind
        raise LintConfigError(f"minion config {path!r} is not valid YAML: {_one_line(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise LintConfigError(f"minion config {path!r} must be a YAML mapping (got {type(data).__name__})")
    return data


def _one_line(exc):
    return " ".join(str(exc).split())


class RestrictedFunctions(Mapping):
    """Salt's execution modules as PR templates see them: :data:`LINT_FUNCTIONS` only."""

    def __init__(self, loader, allowed=LINT_FUNCTIONS):
        self._loader = loader
        self._allowed = allowed
        self.pack = loader.pack  # Pillar sets __pillar__ in it

    def __getitem__(self, name):
        if name not in self._allowed:
            raise KeyError(name)
        return self._loader[name]

    def __contains__(self, name):
        return name in self._allowed and name in self._loader

    def __iter__(self):
        return iter(sorted(self._allowed))

    def __len__(self):
        return len(self._allowed)


class Compiler:
    """Compiles pillar for minion ids from one set of options; a context manager (temp dirs).

    :meth:`load` reads the minion config with Salt's loader (``minion.d`` included);
    :meth:`configure` applies the lint's own settings before the first :meth:`compile`.
    """

    def __init__(self, config_path=None):
        self.config_path = config_path
        self.opts = None
        self.grains = {}
        self._tmp = None
        self._pillars = []
        self._functions = None
        self._file_client = None

    def __enter__(self):
        self._tmp = tempfile.mkdtemp(prefix="spectrum-acl-lint-")
        return self

    def __exit__(self, *exc_info):
        for pillar_obj in self._pillars:
            with contextlib.suppress(Exception):
                pillar_obj.destroy()
        if self._file_client is not None:
            with contextlib.suppress(Exception):
                self._file_client.destroy()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def load(self, minion_id):
        """Salt's minion options from the config file (defaults only without one), read-only paths."""
        import salt.config  # Salt is heavy to import: only when the lint runs

        # Passing an id keeps Salt from guessing one from the host name.
        opts = dict(salt.config.minion_config(self.config_path, minion_id=minion_id))
        root = self._tmp
        opts.update(
            {
                "file_client": "local",
                "use_master_when_local": False,
                "master_type": "disable",
                "root_dir": root,
                "cachedir": os.path.join(root, "cache"),
                "extension_modules": os.path.join(root, "cache", "extmods"),
                "pki_dir": os.path.join(root, "pki"),
                "sock_dir": os.path.join(root, "sock"),
                "log_file": os.path.join(root, "minion.log"),
                # The lint is about the file and why: show the renderer's error, not
                # "Please see master log for details".
                "pillar_safe_render_error": False,
                "pillar_cache": False,
                "ext_pillar": [],
                "decrypt_pillar": [],
                "renderer_whitelist": list(LINT_RENDERERS),
                "renderer_blacklist": [],
            }
        )
        self.opts = opts
        return opts

    def cache_file(self, url):
        """Fetch a ``salt://`` URL from the config's ``file_roots`` (the lint's own prefix data)."""
        import salt.fileclient  # Salt is heavy to import: only when the lint runs

        if self._file_client is None:
            self._file_client = salt.fileclient.get_file_client(self.opts)
        return self._file_client.cache_file(url)

    def configure(self, pillar_roots=None, pillarenv=None, grains=None):
        """Apply ``--pillar-root`` (replaces ``pillar_roots``), ``--pillarenv`` and grains.

        The guard's own ``spectrum_acl`` section leaves the options here: PR templates see ``opts``.
        """
        opts = self.opts
        opts.pop("spectrum_acl", None)
        refused = refused_renderers(str(opts.get("renderer") or "jinja|yaml"))
        if refused:
            raise LintConfigError(
                f"renderer {opts.get('renderer')!r} of the minion config uses {', '.join(refused)}, which the lint "
                f"does not run on pull-request pillar (allowed: {', '.join(LINT_RENDERERS)})"
            )
        if pillar_roots:
            opts["pillar_roots"] = {"base": list(pillar_roots)}
        if pillarenv:
            opts["pillarenv"] = pillarenv
        if not isinstance(opts.get("pillar_roots"), Mapping) or not any(opts["pillar_roots"].values()):
            raise LintConfigError("no pillar to lint: pass --pillar-root DIR (or a minion config with pillar_roots)")
        opts["pillar_roots"] = {
            env: [os.path.abspath(os.path.expanduser(str(r))) for r in (roots or [])]
            for env, roots in opts["pillar_roots"].items()
        }
        for saltenv, roots in opts["pillar_roots"].items():
            for root_dir in roots:
                if not os.path.isdir(root_dir):
                    raise LintConfigError(f"pillar root {root_dir!r} (saltenv {saltenv!r}) is not a directory")
        self.grains = dict(grains or {})

    def _opts(self, minion_id):
        opts = dict(self.opts)
        opts["id"] = minion_id
        opts["grains"] = self.grains_of(minion_id)
        return opts

    def grains_of(self, minion_id):
        """The grains a minion is compiled with: its ``id`` plus the configured and ``--grains`` ones."""
        grains = {"id": minion_id}
        grains.update(self.grains)
        return grains

    @property
    def pillar_roots_in_use(self):
        return dict(self.opts["pillar_roots"]) if self.opts else {}

    def compile(self, minion_id):
        """Compile the pillar of ``minion_id``; raise :class:`PillarRenderError` when Salt reports errors."""
        import salt.pillar  # Salt is heavy to import: only when the lint runs

        opts = self._opts(minion_id)
        saltenv = opts.get("saltenv") or None
        pillar_obj = _recording_pillar_class(salt.pillar.Pillar)(
            opts, self.grains_of(minion_id), minion_id, saltenv, functions=self._restricted_functions(opts)
        )
        # Its file clients stay open until the compiler closes: the loaded modules use them
        # (cp.cache_file for salt:// prefix data).
        self._pillars.append(pillar_obj)
        compiled = pillar_obj.compile_pillar(ext=False)
        records = _dedupe(pillar_obj.lint_records)
        errors = compiled.pop("_errors", None) if isinstance(compiled, dict) else None
        if errors:
            raise _render_error(errors, records, minion_id, opts.get("pillar_roots"))
        return CompiledPillar(minion_id, compiled, records, pillar_obj.functions, opts)


    def _restricted_functions(self, opts):
        """The execution modules PR templates may call, loaded once per run."""
        import salt.loader  # Salt is heavy to import: only when the lint runs

        if self._functions is None:
            modules = sorted({name.split(".", 1)[0] for name in LINT_FUNCTIONS})
            loader = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), whitelist=modules)
            self._functions = RestrictedFunctions(loader)
        return self._functions


def _recording_pillar_class(base):
    class RecordingPillar(base):
        """A :class:`salt.pillar.Pillar` that records each SLS it renders, in merge order."""

        def __init__(self, *args, **kwargs):
            self.lint_records = []
            super().__init__(*args, **kwargs)

        def render_pstate(self, sls, saltenv, mods, defaults=None):
            path = self.client.get_state(sls, saltenv).get("dest") or None
            path = os.path.abspath(path) if path else None
            refused = _refused_renderer(path)
            if refused:
                self.lint_records.append(SlsRecord(saltenv, sls, path, None))
                return {}, mods, [f"Rendering SLS '{sls}' failed, render error: {refused}"]
            state, mods, errors = super().render_pstate(sls, saltenv, mods, defaults)
            # ``mods[sls]`` is what the file rendered to on its own; ``state`` has its includes merged in.
            self.lint_records.append(SlsRecord(saltenv, sls, path, mods.get(sls)))
            return state, mods, errors

    return RecordingPillar


def refused_renderers(pipe):
    """The renderers of a pipe (``jinja|yaml``) that PR pillar may not use."""
    import salt.template  # Salt is heavy to import: only when the lint runs

    pipe = salt.template.OLD_STYLE_RENDERERS.get(pipe.strip(), pipe)
    names = [part.strip().split(" ", 1)[0] for part in pipe.split("|")]
    return [name for name in names if name not in LINT_RENDERERS]


def _refused_renderer(path):
    """Why the file's ``#!`` renderer line is refused, or ``None``: Salt itself would skip it silently."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            first = handle.readline().strip()
    except OSError:
        return None
    if not first.startswith("#!") or first.startswith("#!/"):
        return None
    refused = refused_renderers(first[2:])
    if not refused:
        return None
    return (
        f"the {', '.join(refused)} renderer is not available to the lint: pull-request pillar renders with "
        f"{', '.join(LINT_RENDERERS)} only; line 1"
    )


def _dedupe(records):
    seen, result = set(), []
    for record in records:
        key = record.path or (record.saltenv, record.sls)
        if key not in seen:
            seen.add(key)
            result.append(record)
    return result


_SLS_ERROR = re.compile(r"Rendering SLS '(?P<sls>[^']+)' failed(?:, render error)?:?\s*(?P<why>.*)", re.S)
_LINE = re.compile(r"\bline (\d+)")
_MISSING_SLS = re.compile(r"Specified SLS '(?P<sls>[^']+)' in environment '(?P<env>[^']+)' (is not available|was not found)")
_TOP_ERROR = re.compile(r"Rendering (?:Primary )?Top file (?:(?P<sls>\S+) )?failed, render error:\s*(?P<why>.*)", re.S)


_REFUSED_FUNCTION = re.compile(r"has no attribute '(?P<name>[A-Za-z0-9_]+\.[A-Za-z0-9_]+)'")


def _clean_why(why):
    why = why.split("\n---", 1)[0]  # Salt appends the template around a Jinja error
    refused = _REFUSED_FUNCTION.search(why)
    if refused and refused.group("name") not in LINT_FUNCTIONS:
        line = _LINE.search(why)
        return (
            f"{refused.group('name')} is not available to the lint: it renders pull-request pillar with read-only "
            f"lookups only ({', '.join(sorted(LINT_FUNCTIONS))})" + (f"; {line.group(0)}" if line else "")
        )
    return _one_line(why.replace(' in "<unicode string>",', " at"))


def _top_file(pillar_roots, sls=None):
    for roots in (pillar_roots or {}).values():
        for root in roots:
            relative = (sls.replace(".", os.sep) + ".sls") if sls else "top.sls"
            candidate = os.path.join(root, relative)
            if os.path.isfile(candidate):
                return candidate
    return None


def _render_error(errors, records, minion_id, pillar_roots):
    """The first pillar error as a :class:`PillarRenderError` naming file, line and why."""
    by_sls = {record.sls: record for record in records}
    first = str(errors[0])
    more = f" (and {len(errors) - 1} more pillar errors)" if len(errors) > 1 else ""
    missing = _MISSING_SLS.match(first)
    if missing:
        message = (
            f"the pillar of minion {minion_id!r} names SLS {missing.group('sls')!r} (saltenv {missing.group('env')!r}) "
            f"in top.sls or an include, but no such file is in the pillar roots{more}"
        )
        return PillarRenderError(message, sls=missing.group("sls"), minion=minion_id)
    top = _TOP_ERROR.match(first)
    if top:
        path = _top_file(pillar_roots, top.group("sls"))
        why = _clean_why(top.group("why"))
        lines = _LINE.findall(why)
        line = int(lines[-1]) if lines and path else None
        where = (display_path(path) + (f":{line}" if line else "")) if path else "the pillar top file"
        return PillarRenderError(f"{where}: cannot render the top file for minion {minion_id!r}: {why}{more}",
                                 file=path, line=line, minion=minion_id)
    match = _SLS_ERROR.match(first)
    if not match:
        return PillarRenderError(f"pillar for minion {minion_id!r} does not compile: {_one_line(first)}{more}", minion=minion_id)
    sls = match.group("sls")
    why = _clean_why(match.group("why"))
    lines = _LINE.findall(why)
    line = int(lines[-1]) if lines else None
    record = by_sls.get(sls)
    path = record.path if record else None
    where = display_path(path) if path else f"SLS {sls!r}"
    location = f"{where}:{line}" if path and line else where
    rendered_note = ""
    if path and line and _has_template_markers(path) and "Jinja" not in why:
        rendered_note = " (the line is in the Jinja output, not the source)"
    message = f"{location}: cannot render SLS {sls!r} for minion {minion_id!r}: {why}{rendered_note}{more}"
    return PillarRenderError(message, file=path, line=line, sls=sls, minion=minion_id)


def _has_template_markers(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return False
    return has_template_markers(text)


def has_template_markers(text):
    return "{{" in text or "{%" in text or "{#" in text


@functools.lru_cache(maxsize=4096)
def display_path(path):
    """``path`` relative to the working directory when it is below it, else absolute."""
    if not path:
        return path
    absolute = os.path.abspath(path)
    try:
        relative = os.path.relpath(absolute)
    except ValueError:
        return absolute
    return absolute if relative.startswith(os.pardir) else relative


def sls_files(pillar_roots):
    """Every ``.sls`` file under the pillar roots except the top files, as absolute paths."""
    found = []
    for roots in pillar_roots.values():
        for root in roots:
            for directory, subdirs, files in os.walk(root):
                subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
                for name in sorted(files):
                    if name.endswith(".sls") and not (directory == root and name == "top.sls"):
                        found.append(os.path.abspath(os.path.join(directory, name)))
    return found
