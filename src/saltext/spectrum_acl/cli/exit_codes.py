"""The ``spectrum-acl`` exit codes, in one home."""

#: Everything allowed (or the lint found nothing).
EXIT_OK = 0
#: Something is denied, or the lint found violations in the pillar.
EXIT_DENIED = EXIT_VIOLATIONS = 1
#: Usage, configuration, data or infrastructure errors.
EXIT_ERROR = 2
