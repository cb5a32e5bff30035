"""The ``derivation`` directive: the steps of one derivation (title, equation, assumptions), rendered from the
SymPy objects of ``derivations/`` at build time, so the documentation shows the equations the kernels are
generated from.

    .. derivation:: meanfield relu hinge gaussian
    .. derivation:: finite_width relu
    .. derivation:: finite_sample relu
    .. derivation:: tilt relu hinge gaussian
"""
from __future__ import annotations

import sympy as sp
from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def _steps(kind: str, args: list[str]):
    from mftheory.derivations.meanfield import derive
    if kind == "meanfield":
        return derive(*args).steps
    if kind == "tilt":
        from mftheory.derivations.fluctuations import derive_tilt
        return derive_tilt(derive(*args)).steps
    if kind == "finite_width":
        from mftheory.derivations.finite_width import derive_finite_width
        return derive_finite_width(*args).steps
    if kind == "finite_sample":
        from mftheory.derivations.finite_sample import derive_finite_sample
        return derive_finite_sample(*args).steps
    if kind == "features":
        from mftheory.derivations.features import derive_features
        return derive_features().steps
    if kind == "many_features":
        from mftheory.derivations.many_features import derive_many_features
        return derive_many_features(*args).steps
    if kind == "quadratic":
        from mftheory.derivations.quadratic import derive_quadratic
        return derive_quadratic().steps
    raise ValueError(f"derivation kind must be meanfield, tilt, finite_width, finite_sample, features, many_features or quadratic, got {kind!r}")


def _text_with_math(text: str) -> list[nodes.Node]:
    """Plain text, with $...$ as inline mathematics (built as nodes, so no reST markup is read into it)."""
    parts = text.split("$")
    if len(parts) % 2 == 0:
        parts = [text]
    return [nodes.math(part, part) if i % 2 else nodes.Text(part) for i, part in enumerate(parts) if part]


class DerivationDirective(SphinxDirective):
    required_arguments = 1
    optional_arguments = 3

    def run(self):
        kind, *args = self.arguments
        out = []
        for step in _steps(kind, args):
            out.append(nodes.rubric("", "", *_text_with_math(step.title[0].upper() + step.title[1:])))
            latex = sp.latex(step.equation)
            out.append(nodes.math_block(latex, latex, nowrap=False, number=None))
            if step.assumptions:
                paragraph = nodes.paragraph()
                paragraph += nodes.emphasis("", "Assumptions: ")
                paragraph += _text_with_math(step.assumptions)
                out.append(paragraph)
        return out


def _plain_bars(app, what, name, obj, options, lines):
    """The docstrings write |x| for absolute values, never reST substitutions: escape the bars (outside
    ``literals``) so that docutils reads them as text."""
    for i, line in enumerate(lines):
        pieces = line.split("``")
        lines[i] = "``".join(piece if j % 2 else piece.replace("|", "\\|") for j, piece in enumerate(pieces))


def setup(app):
    app.add_directive("derivation", DerivationDirective)
    app.connect("autodoc-process-docstring", _plain_bars)
    return {"parallel_read_safe": True, "version": "1"}
