"""The hand-written numba loops that the generators put after the SymPy-printed kernels, kept as real modules.

Each file is importable (linters and tests load it: its imports name the generated kernels it calls), and the
text below its marker line is what goes into the generated module, verbatim. The kernels' keys hash these files'
code, so editing a loop marks the generated modules stale.
"""
from __future__ import annotations

import pathlib

MARKER = "# ---- generated module body: everything below this line is copied into the module ----"
FOLDER = pathlib.Path(__file__).parent


def template_path(name: str) -> pathlib.Path:
    return FOLDER / f"{name}.py"


def template_body(name: str) -> str:
    """The text of template ``name`` below its marker line (what the generated module holds)."""
    text = template_path(name).read_text()
    _, marker, body = text.partition(MARKER + "\n")
    if not marker:
        raise ValueError(f"template {name!r} has no marker line {MARKER!r}")
    return body
