"""Sphinx configuration: the API from the docstrings, the equations from the derivations (rendered at build time
by the ``derivation`` directive in _ext/mftheory_docs.py), the conventions and status tables from the README."""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))                      # this checkout first, before any installed copy
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "_ext"))

project = "mftheory"
author = "the mftheory developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax", "myst_parser", "mftheory_docs"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "tour.ipynb", "**.ipynb_checkpoints"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
html_theme = "alabaster"
html_static_path = []
suppress_warnings = ["myst.header"]   # the README's included sections start below its top heading
