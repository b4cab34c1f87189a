"""Sphinx configuration: Markdown topic pages (MyST) and reference pages from the loader modules' docstrings."""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src")))

from saltext.spectrum_acl import __version__  # noqa: E402  (after the path is set)

project = "saltext-spectrum-acl"
author = "saltext-spectrum-acl developers"
release = version = __version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []

# The loader modules use Salt's dunders (__salt__, __opts__...), which exist only when
# Salt loads them; autodoc imports the modules themselves, which is fine.
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
nitpicky = False
