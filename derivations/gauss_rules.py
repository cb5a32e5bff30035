"""Quadrature rules written into the generated kernels, correctly rounded.

NumPy's ``leggauss`` (an eigenvalue solver) and its vectorised ``exp`` can differ in the last bit from one CPU to
another, which would make the generated text, and its golden-text tests, depend on the machine that derived it. The
rules here are polished in mpmath at 40 digits and rounded once to float, so every machine writes the same text.
"""
from __future__ import annotations

import functools

import mpmath
import numpy as np

_DIGITS = 40


@functools.cache
def gauss_legendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the n-point Gauss-Legendre rule on [-1, 1], each the float nearest the exact value."""
    return tuple(_rounded(values) for values in _exact_gauss_legendre(n))


@functools.cache
def half_normal_rule(n: int, cutoff: float, panels: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights for E f(|g|), g ~ N(0, 1), on [0, cutoff]: ``panels`` equal panels of the n-point
    Gauss-Legendre rule, the half-normal density folded into the weights."""
    with mpmath.workdps(_DIGITS):
        nodes, weights = [], []
        width = mpmath.mpf(cutoff) / panels
        for k in range(panels):
            for x, w in zip(*_exact_gauss_legendre(n)):
                g = width * (k + (x + 1) / 2)
                nodes.append(g)
                weights.append(width / 2 * w * 2 * mpmath.exp(-g * g / 2) / mpmath.sqrt(2 * mpmath.pi))
        return _rounded(nodes), _rounded(weights)


@functools.cache
def _exact_gauss_legendre(n):
    """The rule at 40 digits: NumPy's nodes polished by Newton's method on P_n, weights 2 / ((1 - x^2) P_n'(x)^2)."""
    with mpmath.workdps(_DIGITS):
        nodes, weights = [], []
        for start in np.polynomial.legendre.leggauss(n)[0]:
            x = mpmath.findroot(lambda y: mpmath.legendre(n, y), mpmath.mpf(float(start)), solver="newton")
            derivative = n * (x * mpmath.legendre(n, x) - mpmath.legendre(n - 1, x)) / (x * x - 1)
            nodes.append(x)
            weights.append(2 / ((1 - x * x) * derivative**2))
        return nodes, weights


def _rounded(values):
    return np.array([float(v) for v in values])
