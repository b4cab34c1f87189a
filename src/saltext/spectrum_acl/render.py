"""The default edge config: canonical JSON of the validated apps."""

import json


def app_configs(valid_apps):
    """The plain, normalised config of each validated app, by name (what templates get as ``apps``)."""
    return {name: app.config for name, app in sorted(valid_apps.items())}


def canonical_json(valid_apps):
    """Sorted keys, two-space indent, trailing newline: byte-stable for the same apps."""
    return json.dumps({"apps": app_configs(valid_apps)}, sort_keys=True, indent=2, ensure_ascii=True) + "\n"
