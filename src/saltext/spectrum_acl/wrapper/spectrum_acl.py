"""
The ``spectrum_acl`` checks under salt-ssh: they run on the master.

Under salt-ssh a plain execution module runs on the target with no pillar and no
file server, so ``spectrum_acl.check_apps`` would find no apps and a ``salt://``
prefix data URL could not be fetched. These wrappers run the same checks on the
master instead, with:

- the pillar the master compiles for the target on this call (always fresh, as the
  next ``state.apply`` would compile it);
- the trusted settings: the ``spectrum_acl:`` section of the minion options salt-ssh
  gives the target (``ssh_minion_opts`` in the master config, ``minion_opts`` in the
  roster), read from the master's own copy. Pillar never sets them;
- prefix data from the master's file server: ``prefix_data`` must be a ``salt://``
  URL (a local path names a file on the target, which the master cannot read);
- the compiled index cached in the master's cachedir
  (``salt-ssh/<target id>/spectrum_acl``).

The ``spectrum_acl.app_config`` state still runs on the target, inside
``state.apply``; see the salt-ssh page of the docs for what the target needs.

:depends: netaddr
"""

import dataclasses
import os

import salt.pillar
from salt.exceptions import CommandExecutionError

# The execution module's dunder-free helpers: one home for what each function returns.
from saltext.spectrum_acl.modules.spectrum_acl import (
    PILLAR_FRESH,
    PILLAR_NONE,
    _check_app,
    _check_apps,
    _check_origin,
    _data_info,
    _render,
    _rendered,
)
from saltext.spectrum_acl.runtime import Runtime
from saltext.spectrum_acl.settings import ConfigError, Settings

try:
    import netaddr  # noqa: F401

    HAS_NETADDR = True
except ImportError:
    HAS_NETADDR = False

__virtualname__ = "spectrum_acl"


def __virtual__():
    if not HAS_NETADDR:
        return False, "spectrum_acl needs the netaddr library on the salt-ssh master"
    return __virtualname__


def _settings_section():
    """The ``spectrum_acl`` section salt-ssh sends the target, from the master's own copy."""
    minion_opts = getattr(__salt__, "minion_opts", None)
    return (minion_opts if minion_opts is not None else __opts__).get("spectrum_acl")


def _master_cache_dir():
    caller_cachedir = __opts__.get("_caller_cachedir") or (__opts__.get("__master_opts__") or {}).get("cachedir")
    if not caller_cachedir:
        return None
    return os.path.join(caller_cachedir, "salt-ssh", str(__opts__["id"]), "spectrum_acl")


def _settings():
    """Checked settings, with the compiled index cached on the master (where the check runs)."""
    section = _settings_section()
    try:
        settings = Settings.from_section(section)
    except ConfigError as exc:
        raise CommandExecutionError(str(exc)) from None
    if settings.backend == "local" and settings.prefix_data and not settings.prefix_data.startswith("salt://"):
        raise CommandExecutionError(
            f"spectrum_acl:prefix_data {settings.prefix_data!r} is a path on the target, and under salt-ssh "
            "spectrum_acl's checks run on the master: set it to a salt:// URL the master's file server serves"
        )
    caching = not (section and section.get("cache_dir") is False)
    return dataclasses.replace(settings, cache_dir=_master_cache_dir() if caching else None)


def _cache_on_master(url):
    """``url`` from the master's file server, cached on the master for this target; its path, or ``False``."""
    client = __context__.get("fileclient")
    if client is None:
        return False
    return client.cache_file(url, __opts__.get("saltenv") or "base", cachedir=os.path.join("salt-ssh", str(__opts__["id"])))


def _runtime(pillar):
    return Runtime({"cp.cache_file": _cache_on_master}, __context__, pillar, __opts__, settings=_settings())


def _pillar(needed, saltenv, pillarenv):
    """``(pillar, pillar_source)``: the master's pillar for this call, or one compiled for other environments."""
    if not needed:
        return {}, PILLAR_NONE
    if saltenv is None and pillarenv is None:
        return _rendered(__pillar__), PILLAR_FRESH
    # As salt-ssh compiles the target's pillar: the master's options over the target's.
    opts = dict(__opts__)
    opts.update(__opts__.get("__master_opts__") or {})
    opts.pop("pillar", None)
    compiled = salt.pillar.Pillar(
        opts, dict(__grains__), __opts__["id"], saltenv or __opts__.get("saltenv") or "base", pillarenv=pillarenv
    ).compile_pillar()
    return _rendered(compiled), PILLAR_FRESH


def check_origin(origin, account_id=None, fresh=True, saltenv=None, pillarenv=None):
    """
    Judge one origin for an account and say why, on the salt-ssh master.

    As the execution module's ``check_origin``; the default account comes from
    the pillar the master compiles for the target. ``fresh`` has no effect:
    that pillar is always compiled for the call.

    CLI Example:

    .. code-block:: bash

        salt-ssh edge1 spectrum_acl.check_origin 104.16.9.1 account_id=crossbow
    """
    pillar, _ = _pillar(account_id is None, saltenv, pillarenv)
    return _check_origin(_runtime(pillar), __context__, origin, account_id)


def check_apps(apps=None, account_id=None, fresh=True, saltenv=None, pillarenv=None):
    """
    Check every app under pillar ``spectrum:apps`` (or the ``apps`` given), on the salt-ssh master.

    As the execution module's ``check_apps``, on the pillar the master compiles
    for the target (``pillar_source: fresh``; ``fresh`` has no effect).

    CLI Example:

    .. code-block:: bash

        salt-ssh edge1 spectrum_acl.check_apps
        salt-ssh edge1 --out=json spectrum_acl.check_apps
    """
    pillar, source = _pillar(apps is None or account_id is None, saltenv, pillarenv)
    return _check_apps(_runtime(pillar), __context__, source, apps, account_id)


def check_app(name, apps=None, account_id=None, fresh=True, saltenv=None, pillarenv=None):
    """
    Check one app from pillar ``spectrum:apps``, with the bindings of all apps, on the salt-ssh master.

    CLI Example:

    .. code-block:: bash

        salt-ssh edge1 spectrum_acl.check_app crossbow-ssh
    """
    pillar, source = _pillar(apps is None or account_id is None, saltenv, pillarenv)
    return _check_app(_runtime(pillar), __context__, source, name, apps, account_id)


def render(apps=None, account_id=None, fresh=True, saltenv=None, pillarenv=None):
    """
    Return the edge config JSON the ``spectrum_acl.app_config`` state would write, on the salt-ssh master.

    CLI Example:

    .. code-block:: bash

        salt-ssh edge1 spectrum_acl.render
    """
    pillar, source = _pillar(apps is None or account_id is None, saltenv, pillarenv)
    return _render(_runtime(pillar), source, apps, account_id)


def data_info():
    """
    Describe the backend and prefix data the salt-ssh master judges with for this target.

    CLI Example:

    .. code-block:: bash

        salt-ssh edge1 spectrum_acl.data_info
    """
    return _data_info(_runtime({}))
