"""The guard's own settings: the ``spectrum_acl:`` section of trusted configuration.

Trusted means the minion config (``minion.d/`` included) for minion-side code, the
master config for master-side code, and the operator's command line. Pillar and
grains are never read here: whoever writes them is the person the guard checks
(``SPEC.md``, "Trust model"). The Salt glue hands in ``__opts__["spectrum_acl"]``;
nothing else reaches :meth:`Settings.from_section`.

Every key is checked against :data:`KEYS`; an unknown key (``prefix_date``,
``cache_dri``) is refused with its name, as are keys of the wrong type. Keys under
``api:`` are checked by the Addressing API client, which owns them.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from saltext.spectrum_acl.errors import SpectrumAclError

BACKENDS = ("local", "api")
#: Environment variables: the CLI's defaults for --data and --cache-dir, and the API token's
#: default variable. The Salt modules read none of them except the token's (``api:token_env``).
ENV_PREFIX_DATA = "SPECTRUM_ACL_PREFIX_DATA"
ENV_CACHE_DIR = "SPECTRUM_ACL_CACHE_DIR"
ENV_TOKEN = "SPECTRUM_ACL_API_TOKEN"
DEFAULT_PILLAR_KEY = "spectrum:apps"
#: Where pillar may try to configure the guard: both are ignored.
PILLAR_SETTINGS_KEYS = (("spectrum_acl",), ("master", "spectrum_acl"))
#: Seconds one name may take to resolve, all its queries together.
DEFAULT_DNS_TIMEOUT = 5.0


class ConfigError(SpectrumAclError):
    """Trusted configuration that is missing or wrong. Never quotes a secret."""


def _is_text(value):
    return isinstance(value, str) and bool(value)


def _is_text_list(value):
    return isinstance(value, list) and bool(value) and all(_is_text(item) for item in value)


def static_hosts_problem(hosts):
    """Why ``hosts`` is not a ``{name: [addresses]}`` mapping, naming the first bad entry; else ``None``."""
    if not isinstance(hosts, Mapping):
        return f"must be a mapping of name to a list of addresses (got {type(hosts).__name__})"
    for name, addresses in hosts.items():
        if not _is_text(name) or not (_is_text(addresses) or _is_text_list(addresses)):
            return f"entry {name!r} must map a name to a list of addresses (got {addresses!r})"
    return None


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_pillar_key(value):
    return _is_text(value) and all(value.split(":"))


#: Every ``spectrum_acl:`` key: ``(accepts(value), what it must be)``. ``api`` is a
#: mapping here; the client checks its keys (``api_client.KNOWN_KEYS``).
KEYS = {
    "backend": (lambda v: v in BACKENDS, f"one of {', '.join(BACKENDS)}"),
    "prefix_data": (_is_text, "a path or salt:// URL of the prefix data"),
    "account_id": (_is_text, "an account id"),
    "accounts": (_is_text_list, "a non-empty list of account ids"),
    "static_hosts": (lambda v: static_hosts_problem(v) is None, "a mapping of name to a list of addresses"),
    "pillar_key": (_is_pillar_key, f"a colon-separated pillar key like {DEFAULT_PILLAR_KEY!r}"),
    "cache_dir": (lambda v: v is False or _is_text(v), "a directory path, or false to turn the cache off"),
    "pin_dns": (lambda v: isinstance(v, bool), "true or false"),
    "dns_timeout": (lambda v: _is_number(v) and 0 < v <= 60, "a number of seconds above 0, at most 60"),
    "nameservers": (_is_text_list, "a non-empty list of nameserver addresses"),
    "dns_port": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536, "a port from 1 to 65535"),
    "api": (lambda v: isinstance(v, Mapping), "a mapping of Addressing API settings"),
    # The master's runner reads it (api/snapshot.py checks it); minions ignore it.
    "snapshot": (lambda v: isinstance(v, Mapping), "a mapping of snapshot settings (see the runner)"),
}


@dataclass(frozen=True)
class Settings:
    """Checked ``spectrum_acl:`` settings from trusted configuration."""

    backend: str = "local"
    prefix_data: str = None
    account_id: str = None
    accounts: tuple = None
    static_hosts: dict = field(default_factory=dict)
    pillar_key: str = DEFAULT_PILLAR_KEY
    cache_dir: object = None  # a path, or None for no cache
    pin_dns: bool = False
    dns_timeout: float = DEFAULT_DNS_TIMEOUT
    nameservers: tuple = None
    dns_port: int = 53
    api: dict = field(default_factory=dict)

    @classmethod
    def from_section(cls, section, default_cache_dir=None):
        """Check a ``spectrum_acl`` mapping from trusted configuration; ``ConfigError`` names the key."""
        if section is None:
            section = {}
        if not isinstance(section, Mapping):
            raise ConfigError(f"spectrum_acl must be a mapping of settings (got {type(section).__name__})")
        unknown = sorted(str(key) for key in section if key not in KEYS)
        if unknown:
            raise ConfigError(
                f"spectrum_acl:{unknown[0]} is not a setting (known: {', '.join(sorted(KEYS))}); "
                "fix the minion (or master) config: a misspelt setting would silently not apply"
            )
        if "static_hosts" in section and static_hosts_problem(section["static_hosts"]):
            raise ConfigError(f"spectrum_acl:static_hosts {static_hosts_problem(section['static_hosts'])}")
        for key, value in section.items():
            accepts, expected = KEYS[key]
            if not accepts(value):
                shown = type(value).__name__ if key in ("api", "snapshot") else f"{value!r}"
                raise ConfigError(f"spectrum_acl:{key} must be {expected} (got {shown})")
        accounts = tuple(dict.fromkeys(section["accounts"])) if "accounts" in section else None
        account_id = section.get("account_id")
        if accounts is not None and account_id is not None and account_id not in accounts:
            raise ConfigError(
                f"spectrum_acl:account_id {account_id!r} is not in spectrum_acl:accounts ({', '.join(accounts)})"
            )
        hosts = {
            name.lower().rstrip("."): [addresses] if isinstance(addresses, str) else list(addresses)
            for name, addresses in (section.get("static_hosts") or {}).items()
        }
        cache_dir = section.get("cache_dir", default_cache_dir)
        return cls(
            backend=section.get("backend", "local"),
            prefix_data=section.get("prefix_data"),
            account_id=account_id,
            accounts=accounts,
            static_hosts=hosts,
            pillar_key=section.get("pillar_key", DEFAULT_PILLAR_KEY),
            cache_dir=cache_dir or None,
            pin_dns=section.get("pin_dns", False),
            dns_timeout=float(section.get("dns_timeout", DEFAULT_DNS_TIMEOUT)),
            nameservers=tuple(section["nameservers"]) if "nameservers" in section else None,
            dns_port=section.get("dns_port", 53),
            api=dict(section.get("api") or {}),
        )

    def authorised_accounts(self):
        """The accounts whose apps may be served here; ``ConfigError`` when none is configured."""
        if self.accounts is not None:
            return frozenset(self.accounts)
        if self.account_id is not None:
            return frozenset((self.account_id,))
        raise ConfigError(
            "no account is authorised on this minion: set spectrum_acl:accounts (the account ids whose apps "
            "it may serve) or spectrum_acl:account_id in the minion config; pillar cannot grant accounts"
        )


def pillar_settings_keys(pillar):
    """The keys of ``pillar`` that try to configure the guard (``spectrum_acl``, ``master:spectrum_acl``)."""
    found = []
    for path in PILLAR_SETTINGS_KEYS:
        node = pillar
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            found.append(":".join(path))
    return found


def ignored_settings_notice(keys):
    """The words said when pillar tries to configure the guard."""
    return (
        f"ignored pillar {' and '.join(keys)}: the guard's settings come only from the minion config "
        "(pillar is what the guard checks, so it cannot configure it)"
    )
