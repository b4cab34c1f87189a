"""The default edge config: canonical JSON of the validated apps."""

import json

# One encoder for every line: json.dumps builds a new one per call when given options.
_ENCODE = json.JSONEncoder(sort_keys=True, ensure_ascii=True).encode
_QUOTE = json.encoder.encode_basestring_ascii  # what json.dumps gives for a str
#: From this many apps on, lines are made by msgspec in C (its import, ~5 ms, then pays for itself).
MSGSPEC_FROM = 2000


def app_configs(valid_apps):
    """The plain, normalised config of each validated app, by name (what templates get as ``apps``)."""
    return {name: app.config for name, app in sorted(valid_apps.items())}


def _line_encoder(count):
    """``json.dumps(value, sort_keys=True)`` for ``count`` values: by msgspec when that gives the same
    text (ASCII, nothing escaped; an app's config holds no floats), else by ``json``."""
    if count < MSGSPEC_FROM:
        return _ENCODE
    import msgspec  # only for big configs

    encode, layout = msgspec.json.Encoder(order="sorted").encode, msgspec.json.format

    def encode_line(value):
        try:
            encoded = layout(encode(value), indent=0)  # indent 0: one line, ", " and ": " as json writes them
        except (TypeError, ValueError, OverflowError):
            return _ENCODE(value)
        if encoded.isascii() and b"\\" not in encoded:
            return encoded.decode("ascii")
        return _ENCODE(value)

    return encode_line


def canonical_json(valid_apps):
    """``{"apps": {...}}`` with sorted keys and one app per line: byte-stable for the same
    apps, and a change to one app is a one-line diff."""
    encode_line = _line_encoder(len(valid_apps))
    lines = [
        f"    {_QUOTE(name) if type(name) is str else _ENCODE(name)}: {encode_line(config)}"
        for name, config in app_configs(valid_apps).items()
    ]
    if not lines:
        return '{\n  "apps": {}\n}\n'
    return '{\n  "apps": {\n' + ",\n".join(lines) + "\n  }\n}\n"
