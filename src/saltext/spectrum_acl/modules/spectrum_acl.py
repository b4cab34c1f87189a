"""
Check Spectrum (layer-4 reverse proxy) origins before they reach the edge.

Each origin is judged against local prefix data (or the Addressing API): it is
denied when it points at a Spectrum edge IP, or at managed or reserved space the
account has no permission for.

Settings come only from the ``spectrum_acl:`` section of the minion config
(``minion.d/`` included), never from pillar or grains; see the configuration
page of the docs. Every account must be authorised there
(``spectrum_acl:accounts`` or ``spectrum_acl:account_id``).

:depends: netaddr
"""

import logging

from salt.exceptions import CommandExecutionError, SaltInvocationError

from saltext.spectrum_acl.apps.render import canonical_json
from saltext.spectrum_acl.errors import OriginSyntaxError, SpectrumAclError
from saltext.spectrum_acl.runtime import Runtime

try:
    import netaddr  # noqa: F401

    HAS_NETADDR = True
except ImportError:
    HAS_NETADDR = False

log = logging.getLogger(__name__)

__virtualname__ = "spectrum_acl"


def __virtual__():
    if not HAS_NETADDR:
        return False, "spectrum_acl needs the netaddr library"
    return __virtualname__


def _runtime():
    return Runtime(__salt__, __context__, __pillar__, __opts__)


def _denied_retcode(allowed):
    if not allowed:
        __context__["retcode"] = 1


def check_origin(origin, account_id=None):
    """
    Judge one origin for an account and say why.

    Returns ``allowed``, ``is_managed``, ``is_delegated``, ``is_reserved``,
    ``has_binding`` and ``reasons``. The exit code is 1 when it is denied.

    origin
        An IP address, a CIDR, or an ``origin_direct`` URL such as
        ``tcp://192.0.2.1:22`` or ``tcp://[2001:db8::1]:1000-2000``.

    account_id
        The account that wants to use it. Defaults to pillar
        ``spectrum:account_id``, then ``spectrum_acl:account_id``. It must be
        an account the minion config authorises.

    CLI Example:

    .. code-block:: bash

        salt-call spectrum_acl.check_origin 104.16.5.20 account_id=crossbow
        salt-call spectrum_acl.check_origin 'tcp://[2606:4700::6810:5:14]:22'
    """
    try:
        runtime = _runtime()
        verdict = runtime.guard().check_origin(str(origin), runtime.authorised_account(account_id))
    except OriginSyntaxError as exc:
        raise SaltInvocationError(str(exc)) from None
    except SpectrumAclError as exc:
        raise CommandExecutionError(str(exc)) from None
    _denied_retcode(verdict.allowed)
    return verdict.as_dict()


def check_apps(apps=None, account_id=None):
    """
    Check every app under pillar ``spectrum:apps`` (or the ``apps`` given).

    Returns ``allowed`` for the whole set, a per-app entry with its verdicts
    and shape ``errors``, ``denials``: one line per failing origin, and
    ``warnings`` (a ``spectrum_acl`` section in pillar, which is ignored).
    Static edge IPs of all apps count as bindings. The exit code is 1 when
    anything fails.

    apps
        A mapping of app name to app, instead of pillar.

    account_id
        Default account for apps that name none.

    CLI Example:

    .. code-block:: bash

        salt-call spectrum_acl.check_apps
        salt-call --out=json spectrum_acl.check_apps
    """
    try:
        report, _ = _runtime().check_apps(apps=apps, account_id=account_id)
    except SpectrumAclError as exc:
        raise CommandExecutionError(str(exc)) from None
    _denied_retcode(report["allowed"])
    return report


def check_app(name, apps=None, account_id=None):
    """
    Check one app from pillar ``spectrum:apps``, with the bindings of all apps.

    name
        The app's key under ``spectrum:apps``.

    CLI Example:

    .. code-block:: bash

        salt-call spectrum_acl.check_app crossbow-ssh
    """
    try:
        report, _ = _runtime().check_apps(apps=apps, account_id=account_id, only=name)
    except SpectrumAclError as exc:
        raise CommandExecutionError(str(exc)) from None
    if name not in report["apps"]:
        raise SaltInvocationError(f"app {name!r} is not in spectrum:apps")
    _denied_retcode(report["allowed"])
    return report["apps"][name]


def render(apps=None, account_id=None):
    """
    Return the edge config JSON the ``spectrum_acl.app_config`` state would write.

    Fails, with one line per failing origin, unless every origin of every
    app passes.

    CLI Example:

    .. code-block:: bash

        salt-call spectrum_acl.render
    """
    try:
        report, valid = _runtime().check_apps(apps=apps, account_id=account_id)
    except SpectrumAclError as exc:
        raise CommandExecutionError(str(exc)) from None
    if not report["allowed"]:
        raise CommandExecutionError("\n".join(report["errors"] + report["denials"]))
    return canonical_json(valid)


def data_info():
    """
    Describe the backend in use: the prefix data (or Addressing API URL), how
    many entries the local index has (only reserved blocks with ``backend: api``),
    and the trusted settings that shape verdicts (authorised accounts, pillar key,
    DNS pinning, cache directory).

    CLI Example:

    .. code-block:: bash

        salt-call spectrum_acl.data_info
    """
    try:
        runtime = _runtime()
        settings = runtime.settings
        guard = runtime.guard()
        info = {
            "backend": settings.backend,
            "entries": dict(guard.prefix_index.counts),
            "accounts": sorted(settings.authorised_accounts()),
            "pillar_key": settings.pillar_key,
            "pin_dns": settings.pin_dns,
        }
        if settings.backend == "api":
            info["api_url"] = runtime.api_settings().url
        else:
            info["prefix_data"] = runtime.prefix_data_source()
            info["cache_dir"] = settings.cache_dir
    except SpectrumAclError as exc:
        raise CommandExecutionError(str(exc)) from None
    return info
