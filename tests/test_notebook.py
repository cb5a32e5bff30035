"""The tour notebook (docs/tour.ipynb) runs from top to bottom, figures included."""
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs the [test] extra (nbclient, ipykernel)")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = pathlib.Path(__file__).resolve().parent.parent / "docs" / "tour.ipynb"


def test_tour_notebook_executes_with_inline_figures(tmp_path, monkeypatch):
    monkeypatch.setenv("MFTHEORY_CACHE", str(tmp_path / "cache"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                            ).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, "the comparison and the sweep figures must show inline"
    text = "".join(o.get("text", "") for o in outputs)
    assert "theory f_unsat(100)" in text and "label-noise fixed point" in text
