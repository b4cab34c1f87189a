"""
Take the prefix data snapshot on the master, once, for every minion.

The snapshot is read from the provider's public Addressing API (each account's
prefixes, their delegations and bindings, and ``GET /ips``), checked, and written
into the master's file roots, from where minions fetch it with
``spectrum_acl:prefix_data: salt://spectrum_acl/prefixes.json``: they then make no
API request at all. Nothing is written unless all of it was read and checked; the
file in place stays byte-identical otherwise (see
:mod:`saltext.spectrum_acl.api.snapshot`).

Settings come only from the ``spectrum_acl:snapshot`` section of the master config
(``master.d/`` included), never from pillar:

.. code-block:: yaml

    spectrum_acl:
      snapshot:
        url: https://api.example.net/client/v4
        token_file: /etc/salt/spectrum_acl/api.token
        accounts: [acme, crossbow]
        output: salt://spectrum_acl/prefixes.json   # the first file_roots directory of base

``output`` may also be an absolute path. The other keys (``provider_account``,
``per_page``, ``max_pages``, ``max_shrink``, ``concurrency``, ``saltenv``, and the
transport keys of ``spectrum_acl:api``: ``connect_timeout``, ``read_timeout``,
``deadline``, ``retries``, ``backoff_factor``, ``verify``, ``proxy``, ``token_env``)
are described in the fleet page of the docs.

:depends: requests, msgspec
"""

import logging
import os
import time
from collections.abc import Mapping

import salt.utils.url
from salt.exceptions import SaltInvocationError

from saltext.spectrum_acl.api.snapshot import (
    CONFIG,
    SnapshotError,
    SnapshotSettings,
    file_roots_path,
    meta_path,
    read_meta,
    take_snapshot,
)

log = logging.getLogger(__name__)

__virtualname__ = "spectrum_acl"


def __virtual__():
    return __virtualname__


def _section():
    """A plain copy of ``spectrum_acl:snapshot`` from the master config."""
    settings = __opts__.get("spectrum_acl")
    if not isinstance(settings, Mapping) or not isinstance(settings.get("snapshot"), Mapping):
        raise SnapshotError(
            "no snapshot configured: set spectrum_acl:snapshot (url, token_file, accounts, output) in the master config",
            CONFIG,
        )
    return dict(settings["snapshot"])


def _output_path(section):
    """Where ``output`` (a ``salt://`` URL below the file roots, or an absolute path) is on the master."""
    output = section.get("output")
    if isinstance(output, str) and output.startswith("salt://"):
        relative, saltenv = salt.utils.url.parse(output)
        saltenv = saltenv or section.get("saltenv", "base")
        if not isinstance(saltenv, str) or not saltenv:
            raise SnapshotError(f"spectrum_acl:snapshot:saltenv must be a saltenv name (got {saltenv!r})", CONFIG)
        roots = (__opts__.get("file_roots") or {}).get(saltenv)
        return file_roots_path(relative, roots)
    if isinstance(output, str) and os.path.isabs(output):
        return output
    raise SnapshotError(
        f"spectrum_acl:snapshot:output must be a salt:// URL or an absolute path of a .json file (got {output!r})", CONFIG
    )


def _flag(value, name):
    if not isinstance(value, bool):
        raise SaltInvocationError(f"{name} must be True or False (got {value!r})")
    return value


def snapshot(allow_shrink=False, test=False):
    """
    Take the prefix data snapshot from the Addressing API and write it into the file roots.

    Returns ``result`` (false when nothing was written), ``changed`` (false when the
    file was already identical), ``path``, ``sha256``, ``bytes``, ``counts``
    (prefixes, provider ranges, delegations, bindings, by account), ``requests``
    made, ``seconds`` and a ``comment``; a failure has ``reason`` (its class:
    ``http_status``, ``timeout``, ``bad_field``, ``shrink``...) and ``where``. The
    exit code is 1 when nothing was written.

    allow_shrink
        Write even when more than ``max_shrink`` of the prefixes (or entries) are gone,
        or an account has none left: for an intended shrink, once.

    test
        Read and check everything, write nothing.

    CLI Example:

    .. code-block:: bash

        salt-run spectrum_acl.snapshot
        salt-run spectrum_acl.snapshot test=True
        salt-run spectrum_acl.snapshot allow_shrink=True
    """
    allow_shrink, test = _flag(allow_shrink, "allow_shrink"), _flag(test, "test")
    try:
        section = _section()
        section["output"] = _output_path(section)
        settings = SnapshotSettings.from_mapping(section)
    except SnapshotError as exc:
        report = {"result": False, "changed": False, "path": None, "requests": 0, **exc.as_dict()}
    else:
        report = take_snapshot(settings, allow_shrink=allow_shrink, dry_run=test)
    if report["result"]:
        log.info("spectrum_acl: snapshot %s: %s", report["comment"], report.get("sha256"))
    else:
        log.error("spectrum_acl: snapshot not taken (%s): %s", report["reason"], report["comment"])
        __context__["retcode"] = 1
        report["retcode"] = 1  # salt-run's exit code
    return report


def status():
    """
    Say what the snapshot in place is: when it was taken, its sha256 and counts.

    Returns ``path``, ``exists``, ``current`` (true when the sidecar ``.meta.json``
    describes the file beside it), ``taken_at``, ``age_seconds``, ``sha256``,
    ``bytes``, ``counts`` and ``requests``. The exit code is 1 when there is no
    current snapshot.

    CLI Example:

    .. code-block:: bash

        salt-run spectrum_acl.status
    """
    try:
        path = _output_path(_section())
    except SnapshotError as exc:
        __context__["retcode"] = 1
        return {"exists": False, "current": False, "retcode": 1, **exc.as_dict()}
    meta, current = read_meta(path)
    report = {"path": path, "exists": os.path.isfile(path), "current": current}
    if meta is not None:
        report.update({key: meta.get(key) for key in ("taken_at", "sha256", "bytes", "counts", "requests", "source")})
        try:
            report["age_seconds"] = round(time.time() - os.stat(meta_path(path)).st_mtime)
        except OSError:
            report["age_seconds"] = None
    if not current:
        __context__["retcode"] = 1
        report["retcode"] = 1
    return report
