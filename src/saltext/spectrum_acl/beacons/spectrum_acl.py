"""
Drift audit beacon: judge the deployed edge config again, and say when it no longer passes.

An app that passed when ``spectrum_acl.app_config`` wrote it can become invalid later: a
delegation is revoked, a binding is added, or its ``origin_dns`` name points elsewhere.
Every ``interval`` this beacon reads the deployed edge config (``config_path``: the
canonical JSON that ``spectrum_acl.app_config`` writes without ``source``) and judges its
apps with the current prefix data (or Addressing API) and the current DNS, using the
``spectrum_acl:`` settings of the minion config.

When something drifted it returns one event, tagged
``salt/beacon/<minion id>/<beacon name>/drift``, and also fires ``spectrum_acl/drift``
(``event.send``) with the same payload, so one reactor tag serves the beacon and
``spectrum_acl.audit_drift`` alike. The same drift is not fired again until it changes,
or ``realert_interval`` seconds have passed; a deployed config that cannot be read, prefix
data that cannot be loaded or an Addressing API that does not answer is itself a drift,
``cause: infrastructure``.

The beacon's config is trusted only from the minion config (``minion.d/`` included, or
``beacons.add``): Salt also merges pillar's ``beacons`` into what it hands a beacon, so
a ``spectrum_acl`` beacon that pillar defines or changes does not run.

.. code-block:: yaml

    beacons:
      spectrum_acl:
        - config_path: /etc/spectrum/apps.json
        - interval: 300                  # seconds between audits
        - realert_interval: 3600         # fire the same drift again after an hour
        - disable_during_state_run: True
"""

import logging
import time

from saltext.spectrum_acl.apps import drift
from saltext.spectrum_acl.runtime import Runtime

log = logging.getLogger(__name__)

__virtualname__ = "spectrum_acl"


def __virtual__():
    return __virtualname__


def validate(config):
    """
    Check the beacon config: ``config_path`` (an absolute path) is required,
    ``realert_interval`` (seconds, default 3600, ``0``: fire the same drift only once) is optional.
    """
    problem = drift.beacon_config_problem(config)
    if problem:
        return False, problem
    return True, "Valid beacon configuration"


def beacon(config):
    """
    Audit the deployed edge config; return ``[{"tag": "drift", ...payload}]`` when something
    drifted that was not fired already, else ``[]``.
    """
    opts = __opts__
    context = __context__
    settings, refused = drift.trusted_beacon_settings(config, opts.get("beacons"))
    if refused:
        if not context.get("spectrum_acl.drift.refused"):
            context["spectrum_acl.drift.refused"] = True
            log.error("spectrum_acl beacon does not run: %s", refused)
        return []
    path = settings["config_path"]
    runtime = Runtime(__salt__, context, None, opts)
    result = drift.run(path, runtime, source="beacon")
    realert = settings.get("realert_interval", drift.DEFAULT_REALERT_INTERVAL)
    if not drift.due(context, result, time.time(), realert, settings["_beacon_name"]):
        return []
    try:
        __salt__["event.send"](drift.DRIFT_TAG, result)
    except Exception as exc:  # the beacon's own event still goes out
        log.error("spectrum_acl beacon could not send %s: %s", drift.DRIFT_TAG, exc)
    return [dict(result, tag=drift.BEACON_TAG_SUFFIX)]
