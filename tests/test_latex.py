import os
import shutil
import subprocess
import sys

import pytest


def test_latex_document_compiles_with_pdflatex(tmp_path):
    tex = tmp_path / "mf.tex"
    out = subprocess.run([sys.executable, "-m", "mftheory", "latex", "-o", str(tex), "--loss", "all", "--data", "all"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    text = tex.read_text()
    assert text.count(r"\begin{equation}") >= 6 * 15 and "Assumptions" in text
    assert "Finite width M, relu" in text and "eq:finite_width:relu:test_error" in text
    assert "Finite sample N, relu" in text and "eq:finite_sample:relu:memorization" in text
    assert "Small label noise, relu, hinge, gaussian" in text
    assert "Tilt of the effective teacher with the loss's feedback, relu, hinge, gaussian" in text
    assert "eq:tilt:relu:hinge:gaussian:tilt_step" in text
    if shutil.which("pdflatex") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have pdflatex (.ci/run installs it)")
        pytest.skip("pdflatex not installed")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (tmp_path / "mf.pdf").stat().st_size > 10000


def test_jupyter_rendering():
    from mftheory.derivations.meanfield import derive
    html = derive()._repr_latex_()
    assert r"\frac" in html and "kappa" in html
