"""Placeholder: the `spectrum-acl server` subcommand is being built."""


def add_command(commands):  # pylint: disable=unused-argument
    """Register nothing yet."""
