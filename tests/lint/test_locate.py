"""Line finding in SLS sources (real files), in process."""

import pytest
import yaml

from saltext.spectrum_acl.lint.locate import SourceFile, field_steps

PLAIN = """# comment
spectrum:
  apps:
    web:
      protocol: tcp/443
      dns:
        type: CNAME
        name: web.example.com
      edge_ips:
        type: static
        ips:
          - 192.0.2.1
          - 192.0.2.2
      origin_direct:
        - tcp://198.51.100.1:443
        - "tcp://198.51.100.2:443"
    "quoted.app": {protocol: tcp/22, origin_direct: ["tcp://198.51.100.3:22"]}
    '123':
      protocol: tcp/1
"""

TEMPLATED = """{% set port = 443 %}
spectrum:
  apps:
    web:
      protocol: tcp/{{ port }}
{% if true %}
      dns: {type: CNAME, name: web.example.com}
{% endif %}
      origin_direct: ["tcp://198.51.100.1:{{ port }}"]
    twice: {}
    other:
      twice: 1
"""


@pytest.mark.parametrize(
    "field, steps",
    [
        ("origin_direct[1]", ["origin_direct", 1]),
        ("edge_ips.ips[0]", ["edge_ips", "ips", 0]),
        ("(app).typo", ["typo"]),
        ("origin_direct/origin_dns", ["origin_direct"]),
        ("name", []),
        (None, []),
    ],
)
def test_field_steps(field, steps):
    assert field_steps(field) == steps


@pytest.mark.parametrize(
    "app, field, line",
    [
        ("web", None, 4),
        ("web", "origin_direct[1]", 16),
        ("web", "origin_direct[0]", 15),
        ("web", "edge_ips.ips[1]", 13),
        ("web", "dns.name", 8),
        ("web", "origin_direct[9]", 14),  # no such item: the list's key
        ("web", "tls", 4),  # not written: the app's line
        ("quoted.app", "origin_direct[0]", 17),
        (123, "name", 18),
        ("missing", None, None),
    ],
)
def test_plain_yaml_lines_are_exact(tmp_path, app, field, line):
    path = tmp_path / "apps.sls"
    path.write_text(PLAIN)
    source = SourceFile(str(path), ["spectrum", "apps"])
    assert source.exact
    assert source.line(app, field) == line


@pytest.mark.parametrize(
    "app, field, line",
    [
        ("web", None, 4),
        ("web", "origin_direct[0]", 9),
        ("web", "dns.type", 7),
        ("web", "tls", 4),
        ("twice", None, None),  # written twice as a key: ambiguous, no line
        ("nothere", None, None),
    ],
)
def test_templated_lines_are_searched_in_the_source(tmp_path, app, field, line):
    path = tmp_path / "apps.sls"
    path.write_text(TEMPLATED)
    source = SourceFile(str(path), ["spectrum", "apps"])
    assert not source.exact
    assert source.line(app, field) == line


def test_python_renderer_files_are_searched_as_text(tmp_path):
    path = tmp_path / "apps.sls"
    path.write_text("#!py\ndef run():\n    return {'spectrum': {'apps': {'x': {}}}}\n")
    assert not SourceFile(str(path), ["spectrum", "apps"]).exact


# -- the per-app block compose agrees with composing the whole file -----------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_names = st.from_regex(r"[a-z][a-z0-9_.-]{0,12}", fullmatch=True)
_urls = st.lists(st.integers(0, 255).map(lambda n: f"tcp://198.51.100.{n}:22"), min_size=1, max_size=4)
_apps = st.dictionaries(_names, st.fixed_dictionaries({"protocol": st.just("tcp/22"), "origin_direct": _urls}),
                        min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(apps=_apps, flow=st.booleans(), comments=st.lists(st.integers(0, 200), max_size=6), indent=st.sampled_from([2, 4]))
def test_block_lines_match_the_whole_file(tmp_path, apps, flow, comments, indent):
    text = yaml.safe_dump({"spectrum": {"apps": apps}}, default_flow_style=flow, indent=indent, sort_keys=False)
    lines = text.splitlines()
    for position in sorted(set(comments), reverse=True):  # comments and blank lines anywhere between lines
        lines.insert(min(position, len(lines)), "# note" if position % 2 else "")
    path = tmp_path / "apps.sls"
    path.write_text("\n".join(lines) + "\n")
    source = SourceFile(str(path), ["spectrum", "apps"])
    whole = SourceFile(str(path), ["spectrum", "apps"])
    whole._block = lambda app: None  # force the whole-file compose
    for name, app in apps.items():
        assert whole.line(name) is not None
        for field in [None] + [f"origin_direct[{i}]" for i in range(len(app["origin_direct"]))]:
            assert source.line(name, field) == whole.line(name, field), (name, field, path.read_text())
