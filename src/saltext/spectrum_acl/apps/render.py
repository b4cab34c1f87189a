"""The default edge config: canonical JSON of the validated apps."""

import json

# One encoder for every line: json.dumps builds a new one per call when given options.
_ENCODE = json.JSONEncoder(sort_keys=True, ensure_ascii=True).encode


def app_configs(valid_apps):
    """The plain, normalised config of each validated app, by name (what templates get as ``apps``)."""
    return {name: app.config for name, app in sorted(valid_apps.items())}


def canonical_json(valid_apps):
    """``{"apps": {...}}`` with sorted keys and one app per line: byte-stable for the same
    apps, and a change to one app is a one-line diff."""
    lines = [
        f"    {_ENCODE(name)}: {_ENCODE(config)}"
        for name, config in app_configs(valid_apps).items()
    ]
    if not lines:
        return '{\n  "apps": {}\n}\n'
    return '{\n  "apps": {\n' + ",\n".join(lines) + "\n  }\n}\n"
