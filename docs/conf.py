"""Sphinx configuration for the infotrafic documentation."""

from __future__ import annotations

import infotrafic

project = "infotrafic"
author = "infotrafic developers"
copyright = "2026, infotrafic developers. Data: Ville de Paris (ODbL)"
release = infotrafic.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_click",
]

autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"infotrafic {release}"
html_static_path = ["_static"]
intersphinx_mapping: dict[str, tuple[str, None]] = {}
doctest_global_setup = "import pandas as pd\nimport numpy as np\nimport infotrafic"
nitpicky = False


def _skip_sklearn_plumbing(app, what, name, obj, skip, options):  # type: ignore[no-untyped-def]
    """Hide scikit-learn's generated metadata-routing methods from the reference."""
    if name == "get_metadata_routing" or (name.startswith("set_") and name.endswith("_request")):
        return True
    return None


def setup(app):  # type: ignore[no-untyped-def]
    app.connect("autodoc-skip-member", _skip_sklearn_plumbing)
