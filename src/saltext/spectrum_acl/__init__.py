"""Salt extension that refuses dangerous Spectrum (layer-4 reverse proxy) origins.

The address/policy engine lives in plain-Python modules of this package
(``addressing``, ``special_purpose``, ``index``, ``prefix_data``, ``policy``,
``apps``, ``render``); the Salt loader modules under ``modules/`` and ``states/``
are thin wrappers found through the ``salt.loader`` entry point.
"""

__version__ = "0.1.0"
