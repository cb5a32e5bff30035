"""The obvious vectorized NumPy implementation of the GD of :mod:`mftheory.validate.simulator` (benchmark baseline).

Dense N x M matrices for the pre-activations, activations and their derivatives, two BLAS products per step
(forward X W^T, backward G^T X) plus a few matrix-vector products.  Same conventions as the simulator
(the conventions of mftheory.model); kept deliberately plain: this is what one would write first.
"""
from __future__ import annotations

import math

import numpy as np


def numpy_gd(setup, X, y, a0, W0, steps, dtype=np.float64):
    """``steps`` full-batch GD steps from (a0, W0) on (X, y), all arrays in ``dtype``.

    Returns ``(a, W, n_unsat)``: the final parameters (float64) and n_unsat (steps + 1,) int64, the number of
    training examples with y f < h at each state t = 0, ..., steps.
    """
    dt = np.dtype(dtype)
    X = np.ascontiguousarray(X, dtype=dt)
    y = np.asarray(y, dtype=dt)
    a = np.array(a0, dtype=dt)
    W = np.array(W0, dtype=dt)
    N, d = X.shape
    M = a.shape[0]
    s, h, beta = setup.slope, setup.h, setup.beta
    inv_sqrt_d = dt.type(1.0 / math.sqrt(d))
    n_unsat = np.empty(steps + 1, dtype=np.int64)
    for t in range(steps + 1):
        Z = X @ W.T                       # (N, M)
        Z *= inv_sqrt_d
        on = Z > 0                         # sigma'(z) = 1 where on, s elsewhere
        act = np.where(on, Z, dt.type(s) * Z)
        del Z
        f = act @ a
        f *= dt.type(setup.alpha / M)
        margin = y * f
        n_unsat[t] = np.count_nonzero(margin < h)
        if t == steps:
            break
        if setup.loss == "hinge":
            u = (margin < h).astype(dt)
        elif setup.loss == "quadratic_hinge":
            u = np.maximum(dt.type(h) - margin, 0)
        else:
            e = np.exp(-np.abs(margin))
            u = np.where(margin >= 0, e / (1 + e), 1 / (1 + e))
        uy = u * y
        grad_a = (act.T @ uy) / N
        del act
        G = np.where(on, uy[:, None], uy[:, None] * dt.type(s)) if s else on * uy[:, None]
        del on
        grad_w = (G.T @ X) / N
        del G
        W += (dt.type(beta) * inv_sqrt_d) * a[:, None] * grad_w
        a += dt.type(beta) * grad_a
    return a.astype(np.float64), W.astype(np.float64), n_unsat
