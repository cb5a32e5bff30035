import os
import re
import shutil
import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def document_tex(tmp_path_factory):
    """The document of every loss and data law, written once for this module's tests."""
    tex = tmp_path_factory.mktemp("latex") / "mf.tex"
    out = subprocess.run([sys.executable, "-m", "mftheory", "latex", "-o", str(tex), "--loss", "all", "--data", "all"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return tex


def test_latex_document_compiles_with_pdflatex(document_tex):
    tex, tmp_path = document_tex, document_tex.parent
    text = tex.read_text()
    assert text.count(r"\begin{equation}") >= 80 and "Assumptions" in text
    # an equation SymPy evaluated (for example a symbol equated to a matrix) prints as a bare truth value
    assert r"\text{False}" not in text and r"\text{True}" not in text
    assert "Finite width M, relu" in text and "eq:finite_width:relu:test_error" in text
    assert "Finite sample N, relu" in text and "eq:finite_sample:relu:memorization" in text
    # the label-noise family (gaussian and sphere data) is one section; its variant-specific equations keep their labels
    assert text.count(r"\section{Small label noise") == 1
    assert "Small label noise, relu, hinge, gaussian and sphere data" in text
    assert "eq:label_noise:relu:hinge:gaussian:" in text and "eq:label_noise:relu:hinge:sphere:" in text
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
    # no equation runs off the page: the wide ones are broken (vectors a component a row, long sums term by term).
    # 20pt is under half the 1.6cm (45pt) margin, so a box that much too wide still lies on the paper, clear of its
    # edge, and it leaves room for the line-breaker's width estimate (off by up to ~20 %); the equations this
    # catches ran off by 112 to 300pt.
    _assert_nothing_runs_off_the_page(tmp_path / "mf.log")


def _assert_nothing_runs_off_the_page(log_path):
    log = log_path.read_text(errors="replace")
    overfull = [float(w) for w in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert max(overfull, default=0.0) <= 20.0, overfull


def test_every_activation_fits_the_page(tmp_path):
    """The leaky ReLU's expressions are the widest (its slope s in every branch): its document too keeps every
    equation on the page."""
    if shutil.which("pdflatex") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have pdflatex (.ci/run installs it)")
        pytest.skip("pdflatex not installed")
    tex = tmp_path / "all.tex"
    out = subprocess.run([sys.executable, "-m", "mftheory", "latex", "-o", str(tex), "--activation", "all"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert r"\textit{leaky\_relu:}" in tex.read_text()
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:]
    _assert_nothing_runs_off_the_page(tmp_path / "all.log")


def _meanfield_section(text):
    sections = text.split(r"\section{")
    (section,) = [s for s in sections if s.startswith("Mean-field derivation")]
    return section


def test_meanfield_derivation_is_written_once(document_tex):
    """The mean-field derivation is one section: each step a paragraph once, its variants' results under it."""
    text = document_tex.read_text()
    assert text.count(r"\section{Mean-field derivation") == 1
    section = _meanfield_section(text)
    assert section.count(r"\paragraph{Reduction conditions") == 1  # the conditions depend on the activation only
    paragraphs = section.split(r"\paragraph{")[1:]
    titles = [p.split("\n", 1)[0] for p in paragraphs]
    assert len(titles) == len(set(titles)), titles
    where: dict[str, set[int]] = {}
    for i, paragraph in enumerate(paragraphs):
        for label in re.findall(r"\\label\{eq:([^}]*)\}", paragraph):
            where.setdefault(label.rsplit(":", 1)[1], set()).add(i)
    assert all(len(at) == 1 for at in where.values()), where  # each step key under one paragraph
    assert len(where) >= 17 and {"network", "weight", "drift", "fixed_point", "late_time"} <= set(where)
    # shared steps are one equation; the loss's and the data law's results one each, tagged
    assert "eq:meanfield:network" in section and "eq:meanfield:threshold" in section
    for loss in ("hinge", "quadratic_hinge", "logistic"):
        for data in ("gaussian", "sphere"):
            assert f"eq:{data}:{loss}:relu:drift}}" in section
    assert r"\textit{hinge, gaussian data:}" in section
    labels = re.findall(r"\\label\{([^}]*)\}", text)
    assert len(labels) == len(set(labels))


def test_jupyter_rendering():
    from mftheory.derivations.meanfield import derive
    html = derive()._repr_latex_()
    assert r"\frac" in html and "kappa" in html
