"""Figures of the validation cases and sweeps, drawn on plain matplotlib Figures (no pyplot, no backend switch,
so the library never changes the backend of a user's session or notebook)."""
from __future__ import annotations

import os
import pathlib
import tempfile

from matplotlib.figure import Figure


def new_figure(rows: int = 1, cols: int = 1, figsize=(6, 4)):
    """A Figure and its axes (one Axes, or an array of them), like ``pyplot.subplots`` without pyplot."""
    fig = Figure(figsize=figsize, layout="constrained")   # labels of neighbouring panels never overlap
    return fig, fig.subplots(rows, cols)


def save_figure(fig, path: pathlib.Path, dpi: int = 110) -> pathlib.Path:
    """Write ``fig`` to ``path`` as PNG through a temporary file renamed over it (never a partial image)."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path
