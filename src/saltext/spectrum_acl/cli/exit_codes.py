"""The ``spectrum-acl`` exit codes, in one home.

``lint`` blames the right party with them: 1 is for the pillar's own findings (the
change's author has something to fix), 2 for whatever kept the lint from judging it
(:mod:`saltext.spectrum_acl.lint.blame`).
"""

#: Everything allowed (or the lint found nothing).
EXIT_OK = 0
#: Something is denied, or the lint found violations in the pillar.
EXIT_DENIED = EXIT_VIOLATIONS = 1
#: Usage, configuration, data or infrastructure errors: not a finding against the input.
EXIT_ERROR = 2
