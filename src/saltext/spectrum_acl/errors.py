"""Exceptions raised by the engine. Each message is meant for a person to act on."""

import reprlib

#: How a bad pillar value is quoted: bounded in length and depth, whatever the pillar holds.
_QUOTE = reprlib.Repr()
_QUOTE.maxstring = _QUOTE.maxother = 240
_QUOTE.maxlevel, _QUOTE.maxlist, _QUOTE.maxdict = 4, 12, 12


class SpectrumAclError(Exception):
    """Base class: every engine error is a clear, one-line message, never a traceback."""


class OriginSyntaxError(SpectrumAclError, ValueError):
    """An address, CIDR, port or origin URL that strict parsing refuses."""


class PrefixDataError(SpectrumAclError):
    """Prefix data that is missing, unreadable or inconsistent."""


class PillarShapeError(SpectrumAclError):
    """A Spectrum app in pillar whose shape is wrong. Names the app, field and value."""

    def __init__(self, app, field, value, problem):
        self.app = app
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"app {app!r}: field {field!r}: {problem} (got {_QUOTE.repr(value)})")


class PillarShapeErrors(PillarShapeError):
    """Every shape error of one app; reads as the first, ``errors`` holds them all."""

    def __init__(self, errors):
        first = errors[0]
        super().__init__(first.app, first.field, first.value, first.problem)
        self.errors = list(errors)


class BackendError(SpectrumAclError):
    """A remote backend (the Addressing API) failed or answered badly. The guard denies."""
