"""The README's Python examples run as written: every ```python block at the start of a line, in order, in one
namespace (the later blocks use what the first imports), from a scratch working directory (the sweep example writes
``runs/demo``). The indented blocks inside a list are deployment recipes that need a cluster (SLURM, PBS) and are
not run."""
import pathlib
import re

import matplotlib
import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def readme_blocks():
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)


def test_the_readme_has_its_examples():
    blocks = readme_blocks()
    assert len(blocks) >= 5
    assert any("finite_size.predict" in block for block in blocks)


@pytest.mark.slow
def test_every_readme_example_runs(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme_examples"}
    for number, block in enumerate(readme_blocks(), 1):
        exec(compile(block, f"README.md, python block {number}", "exec"), namespace)
    assert (tmp_path / "runs" / "demo").is_dir()   # the sweep example wrote its results where it says
    pred = namespace["pred"]                        # the quadratic example's long-time prediction, the last
    assert pred.mse.shape == (30,)
