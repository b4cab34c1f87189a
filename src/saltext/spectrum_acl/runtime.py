"""What the Salt loader modules share: configuration, per-run caching and pillar access.

The execution and state modules hand in Salt's dunders (``__salt__``,
``__context__``, ``__pillar__``); this module imports nothing from Salt, so the
loader modules stay thin and every lookup has one home.

Configuration keys, read through ``config.get`` (minion config or pillar):

``spectrum_acl:backend``       ``local`` (default) or ``api`` (ask the Addressing API)
``spectrum_acl:prefix_data``   path or ``salt://`` URL of the prefix data, YAML or JSON (``local``)
``spectrum_acl:account_id``    account for apps and origins that name none
``spectrum_acl:static_hosts``  ``{name: [addresses]}`` answered without DNS
``spectrum_acl:pillar_key``    where the apps live in pillar (default ``spectrum:apps``)
``spectrum_acl:cache_dir``     compiled prefix index cache (default ``<cachedir>/spectrum_acl``; ``false`` disables)

With ``backend: api`` (see :mod:`saltext.spectrum_acl.api_client`), under ``spectrum_acl:api:``:

``url``             base URL, e.g. ``https://api.example.net/client/v4`` (required; https,
                    or http to a loopback address only)
``token_file``      file holding the bearer token (recommended), or
``token``           the token itself, or neither: the environment variable named by
``token_env``       (default ``SPECTRUM_ACL_API_TOKEN``)
``connect_timeout`` seconds (default 3.05); ``read_timeout`` seconds (default 10)
``verify``          ``true`` (default), or a CA bundle path; ``false`` only when set explicitly
``batch_size``      cidr values per request, 1 to 1000 (default 100)
``retries``         retries on connect errors, 429, 502, 503, 504 (default 3);
                    ``backoff_factor`` their exponential backoff (default 0.5)
``cache_ttl``       seconds an answer is reused within one ``__context__`` (default 60)
``tracing``         ``auto`` (default), ``true`` or ``false``: OpenTelemetry spans and ``traceparent``

Reserved space is still judged locally from the built-in table: an origin passes
only when both that table and the API allow it. The guard, with its one pooled
HTTP session and its answers, lives in ``__context__`` for the run.
"""

import os
from collections.abc import Mapping

from saltext.spectrum_acl import index, prefix_data, special_purpose
from saltext.spectrum_acl import apps as apps_engine
from saltext.spectrum_acl.errors import PrefixDataError, SpectrumAclError
from saltext.spectrum_acl.policy import OriginGuard
from saltext.spectrum_acl.resolver import StaticResolver

BACKENDS = ("local", "api")
CONTEXT_KEY = "spectrum_acl.guard"
ENV_PREFIX_DATA = "SPECTRUM_ACL_PREFIX_DATA"
ENV_CACHE_DIR = "SPECTRUM_ACL_CACHE_DIR"  # the CLI's --cache-dir default


class ConfigError(SpectrumAclError):
    """Configuration that is missing or wrong."""


def plain(value):
    """A plain copy of pillar data: Salt 3008 hands in masking dict/list types."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


class Runtime:
    """One Salt call's view of the guard: ``salt``, ``context`` and ``pillar`` are the dunders."""

    def __init__(self, salt, context, pillar, opts=None):
        self.salt = salt
        self.context = context
        self.pillar = pillar
        self.opts = opts or {}

    def _cache_dir(self):
        default = os.path.join(self.opts["cachedir"], "spectrum_acl") if self.opts.get("cachedir") else None
        configured = self.option("cache_dir", default)
        return configured or None

    def option(self, key, default=None):
        return plain(self.salt["config.get"](f"spectrum_acl:{key}", default))

    def prefix_data_source(self):
        """The configured prefix data path or ``salt://`` URL (minion config, pillar, then environment)."""
        return self.option("prefix_data") or os.environ.get(ENV_PREFIX_DATA)

    def _prefix_data_path(self):
        source = self.prefix_data_source()
        if not source:
            raise ConfigError(
                "no prefix data configured: set spectrum_acl:prefix_data in the minion config or pillar "
                f"(or {ENV_PREFIX_DATA} in the environment)"
            )
        if not isinstance(source, str):
            raise ConfigError(f"spectrum_acl:prefix_data must be a path or salt:// URL (got {source!r})")
        if source.startswith("salt://"):
            cached = self.salt["cp.cache_file"](source)
            if not cached:
                raise PrefixDataError(f"prefix data {source!r} could not be fetched from the file server")
            return cached
        return os.path.expanduser(source)

    def guard(self):
        """The origin guard, built once per run and cached in ``__context__``."""
        backend = self.option("backend", "local")
        if backend not in BACKENDS:
            raise ConfigError(f"spectrum_acl:backend {backend!r} is not one of {', '.join(BACKENDS)}")
        if backend == "api":
            return self._api_guard()
        path = self._prefix_data_path()
        hosts = self._static_hosts()
        try:
            stat = os.stat(path)
            signature = (backend, path, stat.st_mtime_ns, stat.st_size, plain(hosts))
        except OSError:
            signature = None
        cached = self.context.get(CONTEXT_KEY)
        if cached is not None and signature is not None and cached[0] == signature:
            return cached[1]
        guard = OriginGuard(prefix_data.load_index(path, cache_dir=self._cache_dir()), resolver=StaticResolver(hosts))
        self.context[CONTEXT_KEY] = (signature, guard)
        return guard

    def _static_hosts(self):
        hosts = self.option("static_hosts") or {}
        if not isinstance(hosts, Mapping):
            raise ConfigError(f"spectrum_acl:static_hosts must be a mapping of name to addresses (got {hosts!r})")
        return hosts

    def api_settings(self):
        """Checked ``spectrum_acl:api:*`` settings; :class:`ConfigError` names the bad key, never the token."""
        from saltext.spectrum_acl import api_client  # pylint: disable=import-outside-toplevel  # requests: api only
        section = self.option("api")
        if section is not None and not isinstance(section, Mapping):
            raise ConfigError(f"spectrum_acl:api must be a mapping of settings (got {type(section).__name__})")
        unknown = api_client.unknown_keys(section or {})
        if unknown:
            known = ", ".join(sorted(api_client.KNOWN_KEYS))
            raise ConfigError(f"spectrum_acl:api:{unknown[0]} is not a setting (known: {known})")
        try:
            return api_client.ApiSettings.from_config(lambda key, default: self.option(f"api:{key}", default))
        except api_client.ApiConfigError as exc:
            raise ConfigError(str(exc)) from None

    def _api_tracing(self, mode):
        from saltext.spectrum_acl import tracing  # pylint: disable=import-outside-toplevel
        salt_tracing = None
        if (self.opts.get("tracing") or {}).get("enabled"):
            import salt.utils.tracing as salt_tracing  # pylint: disable=import-outside-toplevel
        try:
            return tracing.client_tracing(mode, salt_tracing=salt_tracing)
        except tracing.TracingUnavailable as exc:
            raise ConfigError(f"spectrum_acl:api:tracing is true, but {exc}") from None

    def _api_guard(self):
        """Reserved-only local index plus the Addressing API client, cached in ``__context__``."""
        from saltext.spectrum_acl import api_client  # pylint: disable=import-outside-toplevel
        settings = self.api_settings()
        hosts = self._static_hosts()
        signature = ("api", settings, hosts)
        cached = self.context.get(CONTEXT_KEY)
        if cached is not None and cached[0] == signature:
            return cached[1]
        if cached is not None and isinstance(cached[1].remote, api_client.AddressingApiClient):
            cached[1].remote.close()
        client = api_client.AddressingApiClient(settings, tracing=self._api_tracing(settings.tracing))
        reserved_only = index.PrefixIndex(special_purpose.reserved_entries())
        guard = OriginGuard(reserved_only, resolver=StaticResolver(hosts), remote=client)
        self.context[CONTEXT_KEY] = (signature, guard)
        return guard

    def default_account_id(self, account_id=None):
        if account_id is not None:
            return account_id
        spectrum = self.pillar.get("spectrum")
        if isinstance(spectrum, Mapping) and spectrum.get("account_id") is not None:
            return plain(spectrum["account_id"])
        return self.option("account_id")

    def pillar_apps(self, apps=None):
        """The apps to check: ``apps`` when given, else the pillar key (``spectrum:apps``)."""
        if apps is not None:
            return plain(apps)
        key = self.option("pillar_key", "spectrum:apps")
        node = self.pillar
        for part in key.split(":"):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"pillar has no {key!r}: nothing to check (target the pillar to this minion, or pass apps=)")
            node = node[part]
        return plain(node)

    def check_apps(self, apps=None, account_id=None, only=None):
        """``(report, valid_apps)`` for the pillar apps (or ``apps``)."""
        raw_apps = self.pillar_apps(apps)
        return apps_engine.check_apps(raw_apps, self.guard(), self.default_account_id(account_id), only=only)
