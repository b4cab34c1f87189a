"""What the Salt loader modules share: trusted settings, per-run caching and pillar access.

The execution and state modules hand in Salt's dunders (``__salt__``,
``__context__``, ``__pillar__``, ``__opts__``); this module imports nothing from
Salt, so the loader modules stay thin and every lookup has one home.

**Settings come only from trusted configuration**: ``__opts__["spectrum_acl"]``,
which is the minion config (``minion.d/`` included), or the master config for
master-side code. Never ``config.get``: it falls back to grains and pillar, and
without ``omit_master`` to pillar's ``master`` key, and whoever writes pillar is
the person the guard checks. A ``spectrum_acl`` section in pillar (or under its
``master`` key) is ignored, with a warning in the log and the state comment. The
keys are listed and checked in :mod:`saltext.spectrum_acl.settings`; the
``api:`` keys in :mod:`saltext.spectrum_acl.api.client`.

Pillar says only which apps exist (``spectrum:apps``) and a default account for
them (``spectrum:account_id``); every account must be one that
``spectrum_acl:accounts`` (or ``spectrum_acl:account_id``) authorises.

Reserved space is still judged locally from the built-in table with ``backend:
api``: an origin passes only when both that table and the API allow it. The guard,
with its one pooled HTTP session and its answers, lives in ``__context__`` for the run.
"""

import logging
import os
from collections.abc import Mapping

from saltext.spectrum_acl.apps import check as apps_check
from saltext.spectrum_acl.apps.model import plain
from saltext.spectrum_acl.core import index, reserved
from saltext.spectrum_acl.core.guard import OriginGuard
from saltext.spectrum_acl.core.resolver import Resolver
from saltext.spectrum_acl.data import prefix_data
from saltext.spectrum_acl.errors import PrefixDataError
from saltext.spectrum_acl.settings import ConfigError, Settings, ignored_settings_notice, pillar_settings_keys

log = logging.getLogger(__name__)

CONTEXT_KEY = "spectrum_acl.guard"
WARNED_KEY = "spectrum_acl.warned_pillar_settings"


class Runtime:
    """One Salt call's view of the guard: ``salt``, ``context``, ``pillar`` and ``opts`` are the dunders.

    ``settings`` defaults to the ``spectrum_acl`` section of ``opts``: trusted configuration
    only. ``guard``, when given, is used instead of building one (the lint builds it
    before it renders any pillar).
    """

    def __init__(self, salt, context, pillar, opts=None, settings=None, guard=None):
        self.salt = salt
        self.context = context
        self.pillar = pillar if pillar is not None else {}
        self.opts = opts or {}
        self._settings = settings
        self._guard = guard

    @property
    def settings(self):
        """The checked ``spectrum_acl`` settings of the minion (or master) config; ``ConfigError`` when wrong."""
        if self._settings is None:
            cachedir = self.opts.get("cachedir")
            default_cache_dir = os.path.join(cachedir, "spectrum_acl") if cachedir else None
            self._settings = Settings.from_section(self.opts.get("spectrum_acl"), default_cache_dir)
        return self._settings

    def ignored_pillar_settings(self):
        """A notice when pillar carries guard settings, which are ignored; logged once per run. Else ``None``."""
        keys = pillar_settings_keys(self.pillar)
        if not keys:
            return None
        notice = ignored_settings_notice(keys)
        if not self.context.get(WARNED_KEY):
            self.context[WARNED_KEY] = True
            log.warning("spectrum_acl: %s", notice)
        return notice

    def prefix_data_source(self):
        """The configured prefix data path or ``salt://`` URL."""
        return self.settings.prefix_data

    def _prefix_data_path(self):
        source = self.prefix_data_source()
        if not source:
            raise ConfigError(
                "no prefix data configured: set spectrum_acl:prefix_data in the minion config "
                "(or spectrum_acl:backend: api); the guard does not run without it"
            )
        if source.startswith("salt://"):
            cached = self.salt["cp.cache_file"](source)
            if not cached:
                raise PrefixDataError(f"prefix data {source!r} could not be fetched from the file server")
            return cached
        return os.path.expanduser(source)

    def resolver(self):
        """Static hosts, then localhost, then DNS with the configured timeout and nameservers."""
        settings = self.settings
        return Resolver(settings.static_hosts, settings.dns_timeout, settings.nameservers, settings.dns_port)

    def _resolver_key(self):
        settings = self.settings
        hosts = tuple(sorted((name, tuple(addresses)) for name, addresses in settings.static_hosts.items()))
        return hosts, settings.dns_timeout, settings.nameservers, settings.dns_port

    def guard(self):
        """The origin guard, built once per run and cached in ``__context__``."""
        if self._guard is not None:
            return self._guard
        settings = self.settings
        if settings.backend == "api":
            return self._api_guard()
        path = self._prefix_data_path()
        try:
            stat = os.stat(path)
            signature = ("local", path, stat.st_mtime_ns, stat.st_size, settings.cache_dir, self._resolver_key())
        except OSError:
            signature = None
        cached = self.context.get(CONTEXT_KEY)
        if cached is not None and signature is not None and cached[0] == signature:
            return cached[1]
        built = prefix_data.load_index(path, cache_dir=settings.cache_dir)
        guard = OriginGuard(built, resolver=self.resolver())
        self.context[CONTEXT_KEY] = (signature, guard)
        return guard

    def api_settings(self):
        """Checked ``spectrum_acl:api:*`` settings; :class:`ConfigError` names the bad key, never the token."""
        from saltext.spectrum_acl.api import client as api_client  # requests: api only

        section = self.settings.api
        unknown = api_client.unknown_keys(section)
        if unknown:
            known = ", ".join(sorted(api_client.KNOWN_KEYS))
            raise ConfigError(f"spectrum_acl:api:{unknown[0]} is not a setting (known: {known})")
        try:
            return api_client.ApiSettings.from_config(lambda key, default: section.get(key, default))
        except api_client.ApiConfigError as exc:
            raise ConfigError(str(exc)) from None

    def _api_tracing(self, mode):
        from saltext.spectrum_acl.api import tracing  # requests and tracing: only for backend api

        salt_tracing = None
        if (self.opts.get("tracing") or {}).get("enabled"):
            import salt.utils.tracing as salt_tracing  # optional: Salt's own tracing, when enabled
        try:
            return tracing.client_tracing(mode, salt_tracing=salt_tracing)
        except tracing.TracingUnavailable as exc:
            raise ConfigError(f"spectrum_acl:api:tracing is true, but {exc}") from None

    def _api_guard(self):
        """Reserved-only local index plus the Addressing API client, cached in ``__context__``."""
        from saltext.spectrum_acl.api import client as api_client  # requests and tracing: only for backend api

        settings = self.api_settings()
        signature = ("api", settings, self._resolver_key())
        cached = self.context.get(CONTEXT_KEY)
        if cached is not None and cached[0] == signature:
            return cached[1]
        if cached is not None and isinstance(cached[1].remote, api_client.AddressingApiClient):
            cached[1].remote.close()
        client = api_client.AddressingApiClient(settings, tracing=self._api_tracing(settings.tracing))
        reserved_only = index.PrefixIndex(reserved.reserved_entries())
        guard = OriginGuard(reserved_only, resolver=self.resolver(), remote=client)
        self.context[CONTEXT_KEY] = (signature, guard)
        return guard

    def default_account_id(self, account_id=None):
        """``account_id`` when given, else pillar ``spectrum:account_id``, else ``spectrum_acl:account_id``."""
        if account_id is not None:
            return account_id
        spectrum = self.pillar.get("spectrum")
        if isinstance(spectrum, Mapping) and spectrum.get("account_id") is not None:
            return plain(spectrum["account_id"])
        return self.settings.account_id

    def authorised_account(self, account_id=None):
        """The account an origin is judged for; ``ConfigError`` unless trusted config authorises it."""
        accounts = self.settings.authorised_accounts()
        account = self.default_account_id(account_id)
        if account is not None and account not in accounts:
            raise ConfigError(
                f"account_id {account!r} is not authorised on this minion "
                f"(spectrum_acl:accounts allows {', '.join(sorted(accounts))})"
            )
        return account

    def pillar_apps(self, apps=None):
        """The apps to check: ``apps`` when given, else the pillar key (``spectrum:apps``).

        Not copied here: the engine copies each app plainly, with a bound on its depth. Read
        with ``get``: Salt 3008's pillar proxy deep-copies the whole pillar when ``[]`` reads a
        mapping from it, and ``get`` reads the same value without that copy.
        """
        if apps is not None:
            return apps
        key = self.settings.pillar_key
        node = self.pillar
        for part in key.split(":"):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(f"pillar has no {key!r}: nothing to check (target the pillar to this minion, or pass apps=)")
            node = node.get(part)
        return node

    def check_apps(self, apps=None, account_id=None, only=None, details=True):
        """``(report, valid_apps)`` for the pillar apps (or ``apps``).

        The report carries ``warnings`` (pillar settings that were ignored). ``details`` false
        leaves reasons out of allowed origins' entries (a state run shows only denials).
        """
        settings = self.settings
        accounts = settings.authorised_accounts()
        raw_apps = self.pillar_apps(apps)
        report, valid = apps_check.check_apps(
            raw_apps, self.guard(), self.default_account_id(account_id), only=only,
            accounts=accounts, pin_dns=settings.pin_dns, details=details,
        )
        notice = self.ignored_pillar_settings()
        report["warnings"] = [notice] if notice else []
        return report, valid
