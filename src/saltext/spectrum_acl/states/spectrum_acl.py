"""
Render Spectrum edge proxy config only when every origin passes the guard.

.. code-block:: yaml

    /etc/spectrum/apps.json:
      spectrum_acl.app_config: []

    spectrum-origins:
      spectrum_acl.origins_allowed: []

When any origin fails, ``app_config`` returns ``result: False`` with one line
per failing origin, reports no changes, and leaves the existing file
byte-identical, so ``onchanges``/``watch`` requisites do not fire.
"""

from saltext.spectrum_acl.apps.render import app_configs, canonical_json
from saltext.spectrum_acl.errors import SpectrumAclError
from saltext.spectrum_acl.runtime import Runtime

__virtualname__ = "spectrum_acl"


def __virtual__():
    if "spectrum_acl.check_apps" not in __salt__:
        return False, "the spectrum_acl execution module is not available"
    return __virtualname__


def _checked(ret, apps, account_id):
    """Run the guard; on any failure fill ``ret`` and return ``None``."""
    runtime = Runtime(__salt__, __context__, __pillar__, __opts__)
    notice = runtime.ignored_pillar_settings()
    warning = f"Warning: {notice}\n" if notice else ""
    try:
        report, valid = runtime.check_apps(apps=apps, account_id=account_id, details=False)
    except SpectrumAclError as exc:
        ret["comment"] = f"{warning}Spectrum origin guard could not run, nothing was written: {exc}"
        return None
    if not report["allowed"]:
        lines = report["errors"] + report["denials"]
        ret["comment"] = f"{warning}Spectrum origin guard denied, nothing was written:\n" + "\n".join(lines)
        return None
    origins = sum(len(entry["origins"]) for entry in report["apps"].values())
    ret["comment"] = f"{warning}Spectrum origin guard: {len(valid)} apps, {origins} origins allowed."
    return valid


def app_config(name, apps=None, account_id=None, source=None, template="jinja", **kwargs):
    """
    Render the edge config to ``name`` when every origin of every app passes.

    name
        Path of the edge config file.

    apps
        Mapping of app name to app; defaults to pillar ``spectrum:apps``.

    account_id
        Default account for apps that name none.

    source
        Optional ``salt://`` template. It gets ``apps`` (the validated, normalised
        apps by name) in its context. Without it the file is canonical JSON.

    template
        Template engine for ``source`` (default ``jinja``).

    Other keyword arguments (``user``, ``group``, ``mode``, ``makedirs``,
    ``backup``...) go to ``file.managed``, which gives the diff, the atomic
    replace and test mode.
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    valid = _checked(ret, apps, account_id)
    if valid is None:
        return ret
    verdict_comment = ret["comment"]
    if source:
        context = dict(kwargs.pop("context", None) or {}, apps=app_configs(valid))
        file_ret = __states__["file.managed"](name=name, source=source, template=template, context=context, **kwargs)
    else:
        file_ret = __states__["file.managed"](name=name, contents=canonical_json(valid), **kwargs)
    ret.update(result=file_ret["result"], changes=file_ret["changes"])
    ret["comment"] = f"{verdict_comment}\n{file_ret['comment']}"
    return ret


def origins_allowed(name, apps=None, account_id=None):
    """
    Pass only when every origin of every app passes; change nothing.

    Put it in front of a state you already have with ``require``.

    name
        A label for the check.

    apps
        Mapping of app name to app; defaults to pillar ``spectrum:apps``.

    account_id
        Default account for apps that name none.
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    if _checked(ret, apps, account_id) is not None:
        ret["result"] = True
    return ret
