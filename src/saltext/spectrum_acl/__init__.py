"""Salt extension that refuses dangerous Spectrum (layer-4 reverse proxy) origins.

The Salt loader modules (``modules/``, ``states/``) are thin; beneath them:

- ``core``: the decision, Salt-free: parse, classify, index, judge;
- ``data``: prefix data in, compiled index out;
- ``apps``: Spectrum apps from pillar: the model, the checks, the rendering;
- ``api``: the Addressing API protocol, client, reference server and tracing;
- ``lint``: pillar pull requests checked in CI;
- ``cli``: the ``spectrum-acl`` command.

The small public API, for people who embed the guard::

    >>> from saltext.spectrum_acl import load_guard
    >>> guard = load_guard("examples/prefixes.yaml")
    >>> guard.check_origin("tcp://104.16.5.20:22", "crossbow").allowed
    True
    >>> guard.check_batch(["104.16.5.20", "104.16.9.1"], "crossbow").allowed
    [True, False]
"""

__version__ = "0.2.0"
__all__ = ["__version__", "load_guard"]


def load_guard(prefix_data, cache_dir=None, resolver=None):
    """An :class:`~saltext.spectrum_acl.core.guard.OriginGuard` over prefix data (YAML or JSON).

    ``cache_dir`` keeps a compiled index there for fast repeat loads (trusted only when
    safe); ``resolver`` answers ``origin_dns`` names (DNS by default). Raises
    :class:`~saltext.spectrum_acl.errors.PrefixDataError` for bad or unsafe data.

    Runtime complexity: ``O(n log n)`` for ``n`` entries on a cold load; a cached load maps
    the index in ``O(1)`` plus a checksum pass. ``check_origin`` is ``O(log n + k)`` for
    ``k`` segments the origin covers; ``check_batch`` judges ``m`` origins in ``O(m log n)``.
    """
    # Imported here: `import saltext.spectrum_acl` is what Salt's loader does at every start.
    from saltext.spectrum_acl.core.guard import OriginGuard
    from saltext.spectrum_acl.data.prefix_data import load_index

    return OriginGuard(load_index(prefix_data, cache_dir=cache_dir), resolver=resolver)
