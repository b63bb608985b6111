"""Sphinx configuration of the skdiec documentation.

Build (offline, warnings as errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import os
import re
import sys
from pathlib import Path

# Document (and run the examples of) this checkout, not an installed copy.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Nothing may reach the network, and figures render without a display.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import skdiec  # noqa: E402

project = "skdiec"
author = "skdiec developers"
copyright = "skdiec developers, BSD 3-Clause"
version = release = skdiec.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.codeobj.json"]
templates_path = ["_templates"]
default_role = "literal"
# "fit", not "DiffusionEmbeddedClustering.fit", in the page's table of contents.
toc_object_entries_show_parents = "hide"

# -- API reference -------------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- Markdown (BENCHMARKS.md and README.md are included, not copied) -------------
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

# -- Example gallery -----------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skdiec",),
    "backreferences_dir": "gen_modules/backreferences",
    # Only skdiec's own objects are linked: other libraries' inventories
    # would be downloaded, and the build runs offline.
    "reference_url": {"skdiec": None},
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "download_all_examples": False,
    "show_memory": False,
    # The timing summary page loads its table scripts from a CDN, which an
    # offline reader cannot reach; each example still shows its own time.
    "write_computation_times": False,
}

# -- HTML ------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skdiec {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_context = {"default_mode": "light"}
html_sidebars = {"index": [], "getting_started": [], "benchmarks": []}
html_show_sourcelink = False
html_static_path = ["_static"]
html_css_files = ["custom.css"]


# -- Methods inherited from scikit-learn -----------------------------------------
# Their docstrings link to labels of scikit-learn's own documentation, which
# this site cannot resolve offline: keep the link text, drop the link.
_REF_WITH_TEXT = re.compile(r":ref:`([^`<]+?)\s*<[^>`]+>`")
_REF_BARE = re.compile(r":ref:`[^`]+`")


def _unlink_sklearn_refs(app, what, name, obj, options, lines):
    if getattr(obj, "__module__", "").startswith("sklearn."):
        lines[:] = [_REF_BARE.sub("scikit-learn's documentation",
                                  _REF_WITH_TEXT.sub(r"scikit-learn's \1", line)) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _unlink_sklearn_refs)
