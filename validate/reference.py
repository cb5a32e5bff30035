"""A slow, plain NumPy reference of the GD of :mod:`mftheory.validate.simulator`, used only by the tests.

It is written straight from the definitions of :mod:`mftheory.model` (see :mod:`mftheory.validate.simulator` for the
conventions) with dense N x M matrices and no attempt at speed, so that it is easy to check by eye.
"""
from __future__ import annotations

import numpy as np


def _minus_loss_derivative(loss, margin, h):
    """u = -l'(margin) for each margin (an array)."""
    if loss == "hinge":  # l = max(0, h - z); u = Heaviside(h - z) with Heaviside(0) = 0
        return np.where(margin < h, 1.0, 0.0)
    if loss == "quadratic_hinge":  # l = max(0, h - z)^2 / 2
        return np.where(margin < h, h - margin, 0.0)
    if loss == "logistic":  # l = log(1 + exp(-z)); u = 1 / (1 + exp(z)), written without overflow
        e = np.exp(-np.abs(margin))
        return np.where(margin >= 0, e / (1.0 + e), 1.0 / (1.0 + e))
    raise ValueError(f"unknown loss {loss!r}")


def simulate_reference(setup, X, y, a0, W0, steps, return_margins=False):
    """Full-batch GD for ``steps`` steps from (a0, W0) on (X, y).

    Returns ``(a, W, f_unsat)``: the final a (M,) and W (M, d), and f_unsat (steps + 1,), the fraction of
    examples with y f < h at the states t = 0, ..., steps; with ``return_margins`` also the margins y f as a
    (steps + 1, N) array.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    a = np.array(a0, dtype=np.float64)
    W = np.array(W0, dtype=np.float64)
    N, d = X.shape
    M = a.shape[0]
    s = setup.slope
    f_unsat = np.empty(steps + 1)
    margins = np.empty((steps + 1, N))
    for t in range(steps + 1):
        z = X @ W.T / np.sqrt(d)                       # (N, M) pre-activations
        act = np.where(z > 0, z, s * z)                # sigma(z)
        dact = np.where(z > 0, 1.0, s)                 # sigma'(z)
        f = setup.alpha / M * (act @ a)                # (N,)
        margin = y * f
        f_unsat[t] = np.mean(margin < setup.h)
        margins[t] = margin
        if t == steps:
            break
        uy = _minus_loss_derivative(setup.loss, margin, setup.h) * y
        grad_a = np.mean(uy[:, None] * act, axis=0)                    # <u y sigma(z_i)>
        grad_w = (uy[:, None] * dact).T @ X / N                        # <u y sigma'(z_i) x>, (M, d)
        a, W = a + setup.beta * grad_a, W + setup.beta * a[:, None] * grad_w / np.sqrt(d)
    if return_margins:
        return a, W, f_unsat, margins
    return a, W, f_unsat
