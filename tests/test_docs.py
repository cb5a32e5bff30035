"""The documentation (docs/: the API from the docstrings, the equations rendered from the derivations, the
conventions and status tables from the README) builds without a warning."""
import pathlib

from sphinx.cmd.build import build_main

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"


def test_docs_build_without_warnings(tmp_path):
    status = build_main(["-E", "-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"),
                         str(DOCS), str(tmp_path / "html")])
    assert status == 0
    hinge = (tmp_path / "html" / "models" / "hinge.html").read_text()
    assert hinge.count('class="math') > 40          # the derivations' equations are there
    assert "Assumptions:" in hinge
    quadratic = (tmp_path / "html" / "models" / "quadratic.html").read_text()
    assert quadratic.count('class="math') > 10 and "Stein" in quadratic
    api = (tmp_path / "html" / "api.html").read_text()
    assert "mftheory.finite_size.predict" in api and "mftheory.validate.simulator.simulate" in api
