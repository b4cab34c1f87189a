"""
Check Spectrum (layer-4 reverse proxy) origins before they reach the edge.

Each origin is judged against local prefix data (or the Addressing API): it is
denied when it points at a Spectrum edge IP, or at managed or reserved space the
account has no permission for.

Settings come only from the ``spectrum_acl:`` section of the minion config
(``minion.d/`` included), never from pillar or grains; see the configuration
page of the docs. Every account must be authorised there
(``spectrum_acl:accounts`` or ``spectrum_acl:account_id``).

The functions that read pillar compile it afresh for the call, as ``pillar.items``
does, so they judge the pillar the next ``state.apply`` would compile, not the
minion's in-memory copy from its last refresh (``fresh=False`` judges that one, and
says so in ``pillar_source``). A pillar that does not render is refused.

:depends: netaddr
"""

import logging
from collections.abc import Mapping

import salt.pillar
from salt.exceptions import CommandExecutionError, SaltException, SaltInvocationError

from saltext.spectrum_acl.apps import drift
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

# ``pillar_source`` in a result: which pillar was judged.
PILLAR_FRESH = "fresh"  # compiled for this call, as the next state.apply compiles it
PILLAR_IN_MEMORY = "in-memory"  # the minion's copy from its last pillar refresh (fresh=False)
PILLAR_NONE = "none"  # apps and account_id were given: pillar was not read


def __virtual__():
    if not HAS_NETADDR:
        return False, "spectrum_acl needs the netaddr library"
    return __virtualname__


def _runtime(pillar=None):
    return Runtime(__salt__, __context__, pillar, __opts__)


def _compiled_pillar(saltenv=None, pillarenv=None):
    """The pillar compiled now, as ``pillar.items`` does, with state.apply's saltenv and pillarenv."""
    if pillarenv is None:
        if saltenv is not None and __opts__.get("pillarenv_from_saltenv"):
            pillarenv = saltenv
        else:
            pillarenv = __opts__.get("pillarenv")
    if saltenv is None:
        saltenv = __opts__.get("saltenv")
    # Without the in-memory pillar: a local compile starts from opts["pillar"] and merges into
    # it, so an app removed since the last refresh would still be judged.
    opts = dict(__opts__)
    opts.pop("pillar", None)
    try:
        return salt.pillar.get_pillar(
            opts, dict(__grains__), opts["id"], saltenv=saltenv, pillarenv=pillarenv
        ).compile_pillar()
    except (SaltException, OSError) as exc:
        raise CommandExecutionError(f"the pillar could not be compiled, so nothing was judged: {exc}") from None


def _pillar(needed, fresh, saltenv, pillarenv):
    """``(pillar, pillar_source)``: fresh unless ``fresh`` is false; none when nothing needs it."""
    if not needed:
        return {}, PILLAR_NONE
    if fresh:
        return _rendered(_compiled_pillar(saltenv, pillarenv)), PILLAR_FRESH
    return _rendered(__pillar__), PILLAR_IN_MEMORY


# The helpers below use no Salt dunders: the salt-ssh wrapper (``wrapper/spectrum_acl.py``)
# runs the same code on the master with its own runtime and pillar.


def _rendered(pillar):
    """``pillar``, unless Salt recorded errors rendering it (``_errors``): then nothing is judged."""
    errors = pillar.get("_errors") if isinstance(pillar, Mapping) else None
    if errors:
        shown = "; ".join(str(error) for error in (errors if isinstance(errors, list) else [errors]))
        raise CommandExecutionError(f"the pillar did not render, so nothing was judged: {shown}")
    return pillar


def _denied_retcode(context, allowed):
    if not allowed:
        context["retcode"] = 1


def _report(runtime, pillar_source, apps, account_id, only=None):
    try:
        report, valid = runtime.check_apps(apps=apps, account_id=account_id, only=only)
    except SpectrumAclError as exc:
        raise CommandExecutionError(str(exc)) from None
    report["pillar_source"] = pillar_source
    return report, valid


def _check_origin(runtime, context, origin, account_id):
    try:
        verdict = runtime.guard().check_origin(str(origin), runtime.authorised_account(account_id))
    except OriginSyntaxError as exc:
        raise SaltInvocationError(str(exc)) from None
    except SpectrumAclError as exc:
        raise CommandExecutionError(str(exc)) from None
    _denied_retcode(context, verdict.allowed)
    return verdict.as_dict()


def _check_apps(runtime, context, pillar_source, apps, account_id):
    report, _ = _report(runtime, pillar_source, apps, account_id)
    _denied_retcode(context, report["allowed"])
    return report


def _check_app(runtime, context, pillar_source, name, apps, account_id):
    report, _ = _report(runtime, pillar_source, apps, account_id, only=name)
    if name not in report["apps"]:
        raise SaltInvocationError(f"app {name!r} is not in spectrum:apps")
    _denied_retcode(context, report["allowed"])
    return dict(report["apps"][name], pillar_source=pillar_source)


def _render(runtime, pillar_source, apps, account_id):
    report, valid = _report(runtime, pillar_source, apps, account_id)
    if not report["allowed"]:
        raise CommandExecutionError("\n".join(report["errors"] + report["denials"]))
    return canonical_json(valid)


def _data_info(runtime):
    try:
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


def check_origin(origin, account_id=None, fresh=True, saltenv=None, pillarenv=None):
    """
    Judge one origin for an account and say why.

    Returns ``allowed``, ``is_managed``, ``is_delegated``, ``is_reserved``,
    ``has_binding`` and ``reasons``. The exit code is 1 when it is denied.

    origin
        An IP address, a CIDR, or an ``origin_direct`` URL such as
        ``tcp://192.0.2.1:22`` or ``tcp://[2001:db8::1]:1000-2000``.

    account_id
        The account that wants to use it. Defaults to pillar
        ``spectrum:account_id`` (compiled afresh, as in ``check_apps``), then
        ``spectrum_acl:account_id``. It must be an account the minion config
        authorises.

    fresh, saltenv, pillarenv
        As in ``check_apps``; used only when ``account_id`` is not given.

    CLI Example:

    .. code-block:: bash

        salt-call spectrum_acl.check_origin 104.16.5.20 account_id=crossbow
        salt-call spectrum_acl.check_origin 'tcp://[2606:4700::6810:5:14]:22'
    """
    pillar, _ = _pillar(account_id is None, fresh, saltenv, pillarenv)
    return _check_origin(_runtime(pillar), __context__, origin, account_id)


def check_apps(apps=None, account_id=None, fresh=True, saltenv=None, pillarenv=None):
    """
    Check every app under pillar ``spectrum:apps`` (or the ``apps`` given).

    Returns ``allowed`` for the whole set, a per-app entry with its verdicts
    and shape ``errors``, ``denials``: one line per failing origin,
    ``warnings`` (a ``spectrum_acl`` section in pillar, which is ignored) and
    ``pillar_source``: which pillar was judged (``fresh``, ``in-memory``, or
    ``none`` when ``apps`` and ``account_id`` were both given). Static edge
    IPs of all apps count as bindings. The exit code is 1 when anything fails.

    The pillar is compiled afresh for the call, as ``pillar.items`` does: the
    pillar the next ``state.apply`` would compile, without a
    ``saltutil.refresh_pillar`` first. A pillar that does not render is
    refused (nothing is judged).

    apps
        A mapping of app name to app, instead of pillar.

    account_id
        Default account for apps that name none (else pillar
        ``spectrum:account_id``, then ``spectrum_acl:account_id``).

    fresh
        ``False`` judges the minion's in-memory pillar from its last refresh
        instead (``pillar_source: in-memory``). Default ``True``.

    saltenv, pillarenv
        The environments to compile the pillar for, as with ``state.apply``.
        Default: the minion's ``saltenv`` and ``pillarenv`` (with
        ``pillarenv_from_saltenv``, a ``saltenv`` given here).

    CLI Example:

    .. code-block:: bash

        salt-call spectrum_acl.check_apps
        salt-call --out=json spectrum_acl.check_apps
        salt-call spectrum_acl.check_apps pillarenv=staging
        salt-call spectrum_acl.check_apps fresh=False
    """
    pillar, source = _pillar(apps is None or account_id is None, fresh, saltenv, pillarenv)
    return _check_apps(_runtime(pillar), __context__, source, apps, account_id)


def check_app(name, apps=None, account_id=None, fresh=True, saltenv=None, pillarenv=None):
    """
    Check one app from pillar ``spectrum:apps``, with the bindings of all apps.

    Returns the app's entry of ``check_apps``, with ``pillar_source``.

    name
        The app's key under ``spectrum:apps``.

    apps, account_id, fresh, saltenv, pillarenv
        As in ``check_apps``.

    CLI Example:

    .. code-block:: bash

        salt-call spectrum_acl.check_app crossbow-ssh
    """
    pillar, source = _pillar(apps is None or account_id is None, fresh, saltenv, pillarenv)
    return _check_app(_runtime(pillar), __context__, source, name, apps, account_id)


def render(apps=None, account_id=None, fresh=True, saltenv=None, pillarenv=None):
    """
    Return the edge config JSON the ``spectrum_acl.app_config`` state would write.

    Fails, with one line per failing origin, unless every origin of every
    app passes. The pillar is compiled afresh, as in ``check_apps``.

    apps, account_id, fresh, saltenv, pillarenv
        As in ``check_apps``.

    CLI Example:

    .. code-block:: bash

        salt-call spectrum_acl.render
    """
    pillar, source = _pillar(apps is None or account_id is None, fresh, saltenv, pillarenv)
    return _render(_runtime(pillar), source, apps, account_id)


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
    return _data_info(_runtime())


def audit_drift(config_path=None, fire_event=True):
    """
    Judge the apps of the deployed edge config again, with the current prefix data (or
    Addressing API) and DNS, and say which no longer pass: a drift audit.

    Returns ``config_path``, ``checked`` (apps judged), ``drifted`` (one item per drifted
    origin or field: ``app``, ``field``, ``origin``, ``cause``, ``allowed``, ``message``,
    ``decided_by``, ``changed``), ``causes``, ``source`` and ``event_fired``. A deployed
    config that cannot be read, prefix data that cannot be loaded or an Addressing API
    that does not answer is one item with ``cause: infrastructure``. When anything drifted,
    it fires ``spectrum_acl/drift`` with the same payload (unless ``fire_event`` is false)
    and the exit code is 1.

    config_path
        The deployed edge config: the canonical JSON that ``spectrum_acl.app_config``
        writes without ``source``. Defaults to the ``config_path`` of the
        ``spectrum_acl`` beacon in the minion config.

    fire_event
        Fire ``spectrum_acl/drift`` when something drifted (default ``True``).

    CLI Example:

    .. code-block:: bash

        salt-call spectrum_acl.audit_drift config_path=/etc/spectrum/apps.json
        salt-call spectrum_acl.audit_drift fire_event=False
    """
    path = config_path or drift.default_config_path(__opts__.get("beacons"))
    if not path:
        raise SaltInvocationError(
            "no config_path given, and no spectrum_acl beacon in the minion config names one: "
            "pass config_path=/etc/spectrum/apps.json (the deployed edge config)"
        )
    result = drift.run(str(path), _runtime(__pillar__), source="audit_drift")
    fired = False
    if result["drifted"]:
        __context__["retcode"] = 1
        if fire_event:
            fired = __salt__["event.send"](drift.DRIFT_TAG, dict(result)) is not False
    return dict(result, event_fired=fired)
