"""Find the SLS file and line of an app, or of one of its fields, for ``spectrum-acl lint``.

Which **file**: the SLS whose own rendered data (see :mod:`lint_pillar`) holds
the app under the pillar key (``spectrum:apps`` by default). That is exact,
Jinja or not, because it is what Salt rendered.

Which **line**, by how the file is written:

- A file without template markup (no ``{{``, ``{%``, ``{#``) that is plain YAML
  renders to itself, so its YAML nodes give exact lines: the app's key, and
  for a field the key or list item itself (``origin_direct[1]`` is the line of
  the second URL). Only the app's own block of lines is composed when its name
  is written once as a key; otherwise the whole file is.
- A templated file renders to different text, so lines are found by searching
  the source: the line of the app's name as a literal key, when that name is
  written exactly once, and below it the line of the field's first key. When
  the name is generated (``{{ name }}:`` in a loop) or written more than once,
  the line is left out and only the file is given.
- An app that no SLS holds on its own under the pillar key (one pulled in by an
  ``include`` with ``key:``, or built by a Python renderer under another key)
  is looked for by name in the sources of the minion's SLS files; when that
  also fails, neither file nor line is given.
"""

import re
from collections.abc import Mapping

import yaml

from saltext.spectrum_acl.lint.compile import has_template_markers

_FIELD_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_KEY_LINE = re.compile(r"^(?P<indent>\s*)(?P<q>['\"]?)(?P<key>[^\s'\"#{}:][^'\"{}]*?)(?P=q)\s*:(\s|$)")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_SHEBANGS = ("#!yaml", "#!jinja|yaml", "#!yaml_jinja", "#!jinja | yaml")


def field_steps(field):
    """``'edge_ips.ips[0]'`` -> ``['edge_ips', 'ips', 0]``; app-level markers are dropped."""
    if not field:
        return []
    field = field.split("/", 1)[0]  # 'origin_direct/origin_dns': point at the first
    if field.startswith("(app)"):
        field = field[len("(app)"):].lstrip(".")
    if field in ("name", "(app)"):
        return []
    return [int(index) if index else key for key, index in _FIELD_STEP.findall(field)]


class SourceFile:
    """One SLS source, read once; answers line questions about the apps in it."""

    def __init__(self, path, key_parts):
        self.path = path
        self.key_parts = key_parts
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                self.text = handle.read()
        except OSError:
            self.text = ""
        self.lines = self.text.splitlines()
        first = self.lines[0].strip() if self.lines else ""
        plain_yaml = not has_template_markers(self.text) and (not first.startswith("#!") or first in _YAML_SHEBANGS)
        self._plain_yaml = plain_yaml
        self._apps = None  # {app name: (key node, value node)}, composed on first use
        self._keys = None  # {key as written: [(line index, indent)]}
        self._blocks = {}

    @property
    def exact(self):
        """True when lines come from the file's YAML nodes (a plain YAML file)."""
        return self._plain_yaml

    def _all_apps(self):
        """``{app name: (key node, value node)}`` from composing the whole file, once."""
        if self._apps is None:
            node = self._compose_apps() if self._plain_yaml else None
            self._apps = {} if node is None else {
                key.value: (key, value) for key, value in node.value if isinstance(key, yaml.ScalarNode)
            }
        return self._apps

    def _compose_apps(self):
        try:
            node = yaml.compose(self.text, Loader=_LOADER)
        except yaml.YAMLError:
            return None
        for part in self.key_parts:
            node = _child(node, part)
            if node is None:
                return None
        return node if isinstance(node, yaml.MappingNode) else None

    def line(self, app, field=None):
        """1-based line of ``app`` (and of ``field`` inside it when it can be found), or ``None``."""
        if not self._plain_yaml:
            return self._text_line(app, field)
        # Compose only the app's own lines (measured faster than the whole file, even for every app).
        found = self._block(app)
        if found is None:
            found = self._all_apps().get(str(app))
        if found is None:
            return None
        key_node, node, offset = found if len(found) == 3 else (*found, 0)
        line = key_node.start_mark.line + 1 + offset
        for step in field_steps(field):
            child = _child(node, step, want_key_line=True)
            if child is None:
                break
            node, line = child[0], child[1] + offset
        return line

    def scalar(self, app, field):
        """``(text as written, line)`` of an unquoted scalar field of ``app``, or ``None``.

        What YAML made of it may differ from what was written (``22:22`` is read as the
        base-60 number 1342), so the lint looks at the source for such fields.
        """
        steps = field_steps(field)
        if not steps:
            return None
        if self._plain_yaml:
            found = self._block(app) or self._all_apps().get(str(app))
            if found is None:
                return None
            node, offset = found[1], (found[2] if len(found) == 3 else 0)
            line = None
            for step in steps:
                child = _child(node, step, want_key_line=True)
                if child is None:
                    return None
                node, line = child[0], child[1] + offset
            if isinstance(node, yaml.ScalarNode) and not node.style:  # plain: None, or "" from libyaml
                return node.value, line
            return None
        line = self._text_line(app, field)
        key = steps[-1] if isinstance(steps[-1], str) else None
        if line is None or key is None:
            return None
        match = re.search(rf"(?:^|[{{,\s]){re.escape(key)}\s*:\s*([^\s,}}#]+)", self.lines[line - 1])
        return (match.group(1), line) if match else None

    def _block(self, app):
        """The app's key and value nodes composed from its own block of lines, or ``None``.

        Used when the name is written as a key exactly once; the block is the
        key's line and every following line indented deeper (blank lines and
        comments included), dedented and composed on its own.
        """
        name = str(app)
        if name not in self._blocks:
            self._blocks[name] = self._compose_block(name)
        return self._blocks[name]

    def _compose_block(self, name):
        hits = self._key_index().get(name, [])
        if len(hits) != 1:
            return None
        number, indent = hits[0]
        end = number + 1
        while end < len(self.lines):
            text = self.lines[end]
            stripped = text.strip()
            if stripped and not stripped.startswith("#") and len(text) - len(text.lstrip()) <= indent:
                break
            end += 1
        snippet = "\n".join(
            "" if not text.strip() or text.strip().startswith("#") else text[indent:] for text in self.lines[number:end]
        )
        try:
            node = yaml.compose(snippet, Loader=_LOADER)
        except yaml.YAMLError:
            return None
        if not isinstance(node, yaml.MappingNode) or len(node.value) != 1:
            return None
        key_node, value_node = node.value[0]
        if not isinstance(key_node, yaml.ScalarNode) or key_node.value != name:
            return None
        return key_node, value_node, number

    def line_by_name(self, app, field=None):
        """Like :meth:`line`, but by the name as written even when the app is not under the pillar key."""
        if self._plain_yaml and self._block(app) is not None:
            return self.line(app, field)
        return self._text_line(app, field)

    def _key_index(self):
        if self._keys is None:
            self._keys = {}
            for number, text in enumerate(self.lines):
                match = _KEY_LINE.match(text)
                if match:
                    self._keys.setdefault(match.group("key"), []).append((number, len(match.group("indent"))))
        return self._keys

    def _text_line(self, app, field):
        hits = self._key_index().get(str(app), [])
        if len(hits) != 1:
            return None
        number, indent = hits[0]
        keys = [step for step in field_steps(field) if isinstance(step, str)]
        if not keys:
            return number + 1
        key_pattern = re.compile(rf"^\s*(['\"]?){re.escape(keys[0])}\1\s*:")
        flow_pattern = re.compile(rf"[{{,]\s*(['\"]?){re.escape(keys[0])}\1\s*:")
        for later in range(number + 1, len(self.lines)):
            text = self.lines[later]
            stripped = text.strip()
            if not stripped or stripped.startswith("#") or stripped.startswith("{%") or stripped.startswith("{#"):
                continue
            if len(text) - len(text.lstrip()) <= indent:
                break
            if key_pattern.match(text) or flow_pattern.search(text):
                return later + 1
        return number + 1


def _child(node, step, want_key_line=False):
    if isinstance(step, int):
        if isinstance(node, yaml.SequenceNode) and 0 <= step < len(node.value):
            item = node.value[step]
            return (item, item.start_mark.line + 1) if want_key_line else item
        return None
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == step:
                return (value_node, key_node.start_mark.line + 1) if want_key_line else value_node
    return None


def apps_in(data, key_parts):
    """The app names an SLS's own rendered data defines under the pillar key."""
    node = data
    for part in key_parts:
        if not isinstance(node, Mapping) or part not in node:
            return []
        node = node[part]
    return [str(name) for name in node] if isinstance(node, Mapping) else []


class Locator:
    """File and line of apps for one compiled pillar, reading each source once per run."""

    def __init__(self, key_parts, cache=None):
        self.key_parts = key_parts
        self.sources = cache if cache is not None else {}

    def source(self, path):
        if path not in self.sources:
            self.sources[path] = SourceFile(path, self.key_parts)
        return self.sources[path]

    def definitions(self, records):
        """``{app: [record, ...]}`` in merge order, from each SLS's own rendered data."""
        found = {}
        for record in records:
            for name in apps_in(record.data, self.key_parts):
                defined = found.setdefault(name, [])
                if record not in defined:  # 1: and "1": in one file are one name here, not two files
                    defined.append(record)
        return found

    def find_by_name(self, app, records):
        """Paths of the sources among ``records`` that spell ``app`` as a key exactly once."""
        return [r.path for r in records if r.path and self.source(r.path).line_by_name(app) is not None]
