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

Many minion ids in one run share most of their SLS files. :class:`RenderCache`
keeps what is the same for all of them: the output of the data renderers
(``yaml``, ``json``, ``yamlex``) for a given text, Jinja's output for a text
with no template markers (nothing in it can read grains, ``id`` or pillar), and
the merge of the same rendered files in the same order. A template is rendered
again for every minion id; only when its output text is the same is the YAML
parse reused. The merge is Salt's, except that what it leaves alone is shared
rather than deep-copied (:func:`merge_shared`). The ``Pillar`` of each minion id
after the first shares the first one's file clients
(``RecordingPillar.for_minion``); its options, grains, matchers and renderers are
its own.

The pillar comes from the pull request under check, so its templates are
untrusted code. They render with :data:`LINT_FUNCTIONS` as ``salt`` (read-only
lookups; calling anything else is a render error that says so), only the
:data:`LINT_RENDERERS` (no ``py``, ``pyobjects``, ``gpg``...), and ``opts``
without the guard's own ``spectrum_acl`` section. Salt renders Jinja in a
sandboxed environment.
"""

import contextlib
import copy
import fnmatch
import functools
import io
import itertools
import logging
import os
import re
import shutil
import tempfile
from collections import OrderedDict
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
log = logging.getLogger(__name__)


class LintConfigError(SpectrumAclError):
    """A lint option, minion config or pillar root that cannot be used (exit 2)."""


class PillarRenderError(SpectrumAclError):
    """Salt could not render the pillar: names the SLS file, the minion and why (exit 2)."""

    def __init__(self, message, file=None, line=None, sls=None, minion=None, column=None, missing=None, detail=None):
        super().__init__(message)
        self.detail = detail or message  # without the file, line and minion: the same for every minion id
        self.file = file
        self.line = line
        self.column = column
        self.sls = sls
        self.minion = minion
        self.missing = missing or []  # where a missing SLS would be, for a missing-SLS error
        self.errors = [self]  # every error of the pillar, this one first (see _render_error)
        self.rendered = []  # the SLS files Salt rendered for the minion, failing ones included


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
        self.render_cache = None  # renders and merges kept for the next minion id (RenderCache)
        self.opts = None
        self.grains = {}
        self._tmp = None
        self._pillars = []  # the first minion's Pillar, which owns the file clients
        self._others = []  # the Pillars of the other minion ids (RecordingPillar.for_minion)
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
        self.render_cache = RenderCache(opts)

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
        functions = self._restricted_functions(opts)
        if not self._pillars:
            pillar_obj = _recording_pillar_class(salt.pillar.Pillar)(
                opts, self.grains_of(minion_id), minion_id, saltenv, functions=functions
            )
            # Its file clients stay open until the compiler closes: the loaded modules use them
            # (cp.cache_file for salt:// prefix data).
            self._pillars.append(pillar_obj)
        else:  # the next minion id: the first Pillar's file clients, the minion's own options and loaders
            pillar_obj = self._pillars[0].for_minion(opts, self.grains_of(minion_id), minion_id, saltenv)
            self._others.append(pillar_obj)
        pillar_obj.use_render_cache(self.render_cache)
        compiled = pillar_obj.compile_pillar(ext=False)
        records = _dedupe(pillar_obj.lint_records)
        errors = compiled.pop("_errors", None) if isinstance(compiled, dict) else None
        if errors:
            error = _render_error(errors, records, minion_id, opts.get("pillar_roots"))
            error.rendered = [record.path for record in records if record.path]
            raise error
        return CompiledPillar(minion_id, compiled, records, pillar_obj.functions, opts)


    def _restricted_functions(self, opts):
        """The execution modules PR templates may call, loaded once per run, for the minion of ``opts``."""
        import salt.loader  # Salt is heavy to import: only when the lint runs

        if self._functions is None:
            modules = sorted({name.split(".", 1)[0] for name in LINT_FUNCTIONS})
            loader = salt.loader.minion_mods(opts, utils=salt.loader.utils(opts), whitelist=modules)
            self._functions = RestrictedFunctions(loader)
        # The loader is shared by the minion ids of the run: grains.get, config.get and match.* read this one's.
        self._functions.pack["__grains__"] = opts["grains"]
        self._functions.pack["__opts__"] = opts
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

        def for_minion(self, opts, grains, minion_id, saltenv):
            """This Pillar for another minion id of the run.

            What Salt's constructor makes for a minion is made anew: the options (id, grains),
            the pillar data, and the matcher and renderer loaders that read them. The file
            clients, the list of pillar files and the external pillar loader (not run) are
            shared: they depend on the pillar roots alone, and building them is most of the
            constructor's time. Mirrors ``salt.pillar.Pillar.__init__`` of Salt 3008.
            """
            import salt.loader  # Salt is heavy to import: only when the lint runs

            other = copy.copy(self)
            other.lint_records = []
            other.minion_id = minion_id
            if opts.get("pillarenv_from_saltenv", False):
                opts["pillarenv"] = saltenv
            other.opts = other._Pillar__gen_opts(opts, grains, saltenv=saltenv)
            other.saltenv = saltenv
            pillar = other.opts.get("pillar", {})
            other.pillar_data = dict(pillar) if isinstance(pillar, dict) else {}
            if opts.get("file_client", "") == "local" and not opts.get("use_master_when_local", False):
                opts["grains"] = grains
            if hasattr(other.functions, "pack"):
                other.functions.pack["__pillar__"] = other.pillar_data
            inner = getattr(other.functions, "_dunder_salt", None)
            if inner is not None and hasattr(inner, "pack"):
                inner.pack["__pillar__"] = other.pillar_data
            other.opts["minion_id"] = minion_id
            other.matchers = salt.loader.matchers(other.opts, pillar=other.pillar_data)
            if hasattr(other.matchers, "pack"):
                other.matchers.pack["__pillar__"] = other.pillar_data
            other.rend = salt.loader.render(other.opts, other.functions, other.client, file_client=other.client,
                                            pillar=other.pillar_data)
            other.ignored_pillars = {}
            other._closing = True  # the first Pillar closes the shared file clients
            return other

        def use_render_cache(self, cache):
            """Render through ``cache`` (shared by the minion ids of a run) and memoise the merges."""
            self.lint_cache = cache
            self.rend = _CachingRenderers(self.rend, cache)

        def render_pillar(self, matches, errors=None):
            """Salt 3008's ``render_pillar``; with a render cache, its merges are memoised across minion ids."""
            cache = getattr(self, "lint_cache", None)
            if cache is None:
                return super().render_pillar(matches, errors)
            import salt.utils.secret  # Salt is heavy to import: only when the lint runs

            token = salt.utils.secret.mask_pillar.set(False)
            try:
                pillar = copy.copy(self.pillar_override)
                chain = None if self.pillar_override else RenderCache.EMPTY
                if errors is None:
                    errors = []
                env_order = self.opts.get("env_order") or []
                if env_order:
                    ordered = [env for env in env_order if env in matches]
                    ordered.extend(env for env in matches if env not in ordered)
                    ordered_matches = [(env, matches[env]) for env in ordered]
                else:
                    ordered_matches = list(matches.items())
                how = (self.merge_strategy, self.opts.get("renderer", "yaml"), self.opts.get("pillar_merge_lists", False))
                for saltenv, pstates in ordered_matches:
                    pstatefiles = []
                    mods = {}
                    for sls_match in pstates:
                        try:
                            matched = fnmatch.filter(self.avail[saltenv], sls_match)
                        except KeyError:
                            errors.extend([f"No matching pillar environment for environment '{saltenv}' found"])
                            matched = []
                        pstatefiles.extend(matched or [sls_match])
                    for sls in pstatefiles:
                        pstate, mods, err = self.render_pstate(sls, saltenv, mods)
                        if err:
                            errors += err
                        if pstate is None:
                            continue
                        if not isinstance(pstate, dict):
                            log.error("The rendered pillar sls file, '%s' state did not return the expected data format",
                                      sls)
                            continue
                        pillar, chain = cache.merge(pillar, chain, pstate, how)
                return pillar, errors
            finally:
                salt.utils.secret.mask_pillar.reset(token)

    return RecordingPillar


#: Renderers whose output depends on their input text alone: no grains, pillar, opts or id.
_DATA_RENDERERS = frozenset(("yaml", "json", "yamlex"))
#: Jinja settings that change its syntax: with any of them, a text without ``{{ {% {#`` may still be a template.
_JINJA_SYNTAX = ("block_start_string", "variable_start_string", "comment_start_string", "line_statement_prefix",
                 "line_comment_prefix")


class RenderCache:
    """What the SLS files of one run render and merge to, shared by its minion ids.

    Correct by construction: a data renderer's output is keyed on its exact input text;
    Jinja's on its text only when the text has no template markers and the config keeps
    Jinja's default syntax; a merge on the rendered values it combines (their cache keys,
    in order) and how Salt merges. Everything handed out is a fresh top-level copy, since
    Salt changes rendered data in place (``include`` is popped from it); nested values are
    shared, and neither Salt's merge nor the lint writes to them.
    """

    EMPTY = 0  # the merge chain of an empty pillar

    def __init__(self, opts):
        self.jinja = not any(
            key in (opts.get(section) if isinstance(opts.get(section), Mapping) else {})
            for section in ("jinja_env", "jinja_sls_env") for key in _JINJA_SYNTAX
        )
        self._outputs = {}  # (renderer, argline, text) -> output: text for jinja, data for the others
        self._tokens = {}  # id(handed-out data) -> (the data, its token): a rendered value Salt merges as is
        self._merges = {}  # (chain, token, how) -> (merged pillar, its chain)
        self._ids = itertools.count(1)
        self._key_ids = {}
        self.renders = self.reused = 0

    def wrap(self, name, render):
        if name not in _DATA_RENDERERS and not (name == "jinja" and self.jinja):
            return render

        def cached_render(input_data, saltenv="base", sls="", **kwargs):
            return self.render(name, render, input_data, saltenv, sls, kwargs)

        cached_render.__module__ = render.__module__  # Salt logs the renderer by its module
        return cached_render

    def render(self, name, render, input_data, saltenv, sls, kwargs):
        text = input_data.getvalue() if isinstance(input_data, io.StringIO) else input_data
        if not isinstance(text, str) or (name == "jinja" and has_template_markers(text)):
            return render(input_data, saltenv, sls, **kwargs)
        key = (name, kwargs.get("argline", ""), text)
        self.renders += 1
        if key in self._outputs:
            self.reused += 1
            output = self._outputs[key]
        else:
            result = render(input_data, saltenv, sls, **kwargs)
            if result is None:
                return result
            output = result.getvalue() if isinstance(result, io.StringIO) else result
            self._outputs[key] = output
            if name == "jinja":
                return result
        if name == "jinja":
            return io.StringIO(output) if isinstance(output, str) else output
        handed = copy.copy(output)
        if isinstance(handed, dict) and "include" not in handed:  # merged by Salt exactly as rendered
            self._tokens[id(handed)] = (handed, self._key_ids.setdefault(key, next(self._ids)))
        return handed

    def _token(self, data):
        known = self._tokens.get(id(data))
        return known[1] if known is not None and known[0] is data else None

    def merge(self, pillar, chain, pstate, how):
        """Salt's merge of ``pstate`` into ``pillar``, memoised: ``(merged, chain)``; chain ``None`` when not known."""
        import salt.utils.dictupdate  # Salt is heavy to import: only when the lint runs

        token = self._token(pstate)
        key = (chain, token, how) if chain is not None and token is not None else None
        if key is not None and key in self._merges:
            merged, merged_chain = self._merges[key]
            return copy.copy(merged), merged_chain
        strategy, renderer, merge_lists = how
        if strategy == "smart":
            yamlex = renderer.split("|")[-1] == "yamlex" or renderer.startswith("yamlex_")
            strategy = "aggregate" if yamlex else "recurse"
        if strategy in ("recurse", "none") and isinstance(pillar, Mapping) and isinstance(pstate, Mapping):
            merged = merge_shared(pillar, pstate, merge_lists and strategy == "recurse")
        else:
            merged = salt.utils.dictupdate.merge(pillar, pstate, *how)
        if key is None:
            return merged, None
        merged_chain = next(self._ids)
        self._merges[key] = (copy.copy(merged), merged_chain)
        return merged, merged_chain


def merge_shared(dest, upd, merge_lists=False):
    """``salt.utils.dictupdate.merge_recurse(dest, upd, merge_lists)``, without copying what it leaves alone.

    Salt deep-copies ``dest`` and updates the copy; this copies only the mappings
    on the path of a change, so the result shares the rest with ``dest`` (which is
    not changed). Equal to Salt's result, value for value; mappings other than
    ``dict`` are merged by Salt itself.
    """
    import salt.utils.dictupdate  # Salt is heavy to import: only when the lint runs

    if type(dest) not in (dict, OrderedDict):
        return salt.utils.dictupdate.merge_recurse(dest, upd, merge_lists)
    result = copy.copy(dest)
    if not set(dest) & set(upd):
        for key in upd:
            result[key] = upd[key]
        return result
    for key in list(upd):
        value = upd[key]
        current = dest.get(key, None)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            result[key] = merge_shared(current, value, merge_lists)
        elif isinstance(current, list) and isinstance(value, list) and merge_lists:
            merged = copy.deepcopy(current)
            merged.extend([item for item in value if item not in merged])
            result[key] = merged
        else:
            result[key] = value
    return result


class _CachingRenderers(Mapping):
    """A Pillar's renderers, each wrapped by :meth:`RenderCache.wrap`."""

    def __init__(self, renderers, cache):
        self._renderers = renderers
        self._cache = cache

    def __getitem__(self, name):
        return self._cache.wrap(name, self._renderers[name])

    def __contains__(self, name):
        return name in self._renderers

    def __iter__(self):
        return iter(self._renderers)

    def __len__(self):
        return len(self._renderers)

    def __getattr__(self, name):  # the loader's own attributes (pack, ...)
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._renderers, name)


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
_COLUMN = re.compile(r"\bline (\d+), column (\d+)")
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
    """The first pillar error as a :class:`PillarRenderError` naming file, line and why.

    Its ``errors`` are all of them, one :class:`PillarRenderError` each (for the lint to tell
    apart errors in files a change touched from errors elsewhere).
    """
    by_sls = {record.sls: record for record in records}
    more = f" (and {len(errors) - 1} more pillar errors)" if len(errors) > 1 else ""
    first = _one_render_error(str(errors[0]), by_sls, minion_id, pillar_roots, more)
    first.errors = [_one_render_error(str(error), by_sls, minion_id, pillar_roots) for error in errors]
    return first


def _one_render_error(error, by_sls, minion_id, pillar_roots, more=""):
    missing = _MISSING_SLS.match(error)
    if missing:
        sls, env = missing.group("sls"), missing.group("env")
        message = (
            f"the pillar of minion {minion_id!r} names SLS {sls!r} (saltenv {env!r}) "
            f"in top.sls or an include, but no such file is in the pillar roots{more}"
        )
        wanted = [os.path.join(root, sls.replace(".", os.sep) + ending)
                  for root in (pillar_roots or {}).get(env, []) for ending in (".sls", os.sep + "init.sls")]
        detail = (f"the pillar names SLS {sls!r} (saltenv {env!r}) in top.sls or an include, but no such file "
                  "is in the pillar roots")
        named = [path for path in [_top_file(pillar_roots)] + [record.path for record in by_sls.values()] if path]
        path, line, column = _named_at(named, sls)
        return PillarRenderError(message, file=path, line=line, column=column, sls=sls, minion=minion_id,
                                 missing=wanted, detail=detail)
    top = _TOP_ERROR.match(error)
    if top:
        path = _top_file(pillar_roots, top.group("sls"))
        why = _clean_why(top.group("why"))
        line, column = _position(why) if path else (None, None)
        where = (display_path(path) + (f":{line}" if line else "")) if path else "the pillar top file"
        return PillarRenderError(f"{where}: cannot render the top file for minion {minion_id!r}: {why}{more}",
                                 file=path, line=line, minion=minion_id, column=column,
                                 detail=f"cannot render the top file: {why}")
    match = _SLS_ERROR.match(error)
    if not match:
        return PillarRenderError(f"pillar for minion {minion_id!r} does not compile: {_one_line(error)}{more}",
                                 minion=minion_id, detail=f"the pillar does not compile: {_one_line(error)}")
    sls = match.group("sls")
    why = _clean_why(match.group("why"))
    line, column = _position(why)
    record = by_sls.get(sls)
    path = record.path if record else None
    where = display_path(path) if path else f"SLS {sls!r}"
    location = f"{where}:{line}" if path and line else where
    rendered_note = ""
    if path and line and _has_template_markers(path) and "Jinja" not in why:
        rendered_note = " (the line is in the Jinja output, not the source)"
    message = f"{location}: cannot render SLS {sls!r} for minion {minion_id!r}: {why}{rendered_note}{more}"
    return PillarRenderError(message, file=path, line=line, sls=sls, minion=minion_id, column=column,
                             detail=f"cannot render SLS {sls!r}: {why}{rendered_note}")


def _named_at(paths, sls):
    """``(path, line, column)`` of the first of ``paths`` that names ``sls`` as a list item, else ``None`` thrice."""
    item = re.compile(rf"^\s*-\s*['\"]?{re.escape(sls)}['\"]?\s*(:|#|$)")
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines = handle.read().splitlines()
        except OSError:
            continue
        for number, text in enumerate(lines, 1):
            if item.match(text):
                return path, number, text.index(sls) + 1
    return None, None, None


def _position(why):
    """``(line, column)`` of the last place Salt's message names (``line 29, column 5``), else ``(None, None)``."""
    lines = _LINE.findall(why)
    if not lines:
        return None, None
    columns = _COLUMN.findall(why)
    column = int(columns[-1][1]) if columns and columns[-1][0] == lines[-1] else None
    return int(lines[-1]), column


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
