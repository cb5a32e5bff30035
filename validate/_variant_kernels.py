"""Dense GD for a user's own activation or loss: the model's definition compiled, nothing derived.

A user's ``Activation`` and ``Loss`` are SymPy expressions; the simulator needs sigma(z), sigma'(z) and
u(m) = -l'(m), which are the *definition* of the model (what autodiff would give a training script), not
results of the mean-field theory. They are lambdified to plain ``math`` code and compiled with numba, then
passed to one jitted GD loop that computes every margin at every step (no screening: its bound assumes a
1-Lipschitz sigma with |sigma(z)| <= |z|). The conventions, the recorded quantities and the order of the
updates are those of :mod:`validate._kernels`.
"""
from __future__ import annotations

import functools
import math

import numba
import numpy as np
import sympy as sp

from mftheory.derivations import symbols as S
from mftheory.validate._kernels import record_parameters


@functools.lru_cache(maxsize=None)
def model_functions(activation, loss, leak: float, h: float):
    """Compiled (sigma, sigma', u) of a user's activation (at ``leak``) and loss (at margin ``h``).

    sigma' is SymPy's derivative of the Piecewise form (so at a kink it takes the value of the branch SymPy
    assigns the kink to); u = -l' likewise, which for a hinge-type loss gives u = 0 at y f = h (satisfied)."""
    values = {S.leak: leak, S.h: h}
    sigma = activation.expr.rewrite(sp.Piecewise).subs(values)
    dsigma = sp.diff(sigma, S.z)
    weight = (-sp.diff(loss.expr.rewrite(sp.Piecewise), S.z)).subs(values)
    compiled = []
    for name, expr in (("sigma", sigma), ("dsigma", dsigma), ("u", weight)):
        extra = expr.free_symbols - {S.z}
        if extra:
            raise ValueError(f"{name} of the user's model depends on {sorted(map(str, extra))} besides z: only "
                             f"z, the leak s and the margin h can be set by a Setup")
        compiled.append(numba.njit(sp.lambdify(S.z, expr, modules="math")))
    return tuple(compiled)


@numba.njit
def _forward(X, W, a, sigma, alpha, f):
    """f[mu] = (alpha/M) sum_i a_i sigma(w_i.x_mu / sqrt d) for every row of X."""
    N, d = X.shape
    M = a.shape[0]
    Z = X @ W.T
    inv = 1.0 / math.sqrt(d)
    for mu in range(N):
        acc = 0.0
        for i in range(M):
            acc += a[i] * sigma(Z[mu, i] * inv)
        f[mu] = alpha / M * acc
    return Z


@numba.njit
def gd_dense(X, y, a, W, steps, record_steps, h, alpha, beta, sigma, dsigma, u, X_test, y_test, rec_a, rec_wpar,
             rec_wperp2, rec_v, rec_train_err, rec_unsat, rec_test_err, t_sat):
    """Run ``steps`` full-batch GD steps in place on a (M,), W (M, d), float64; the arguments and records are
    those of :func:`validate._kernels.gd_kernel` (without screening)."""
    N, d = X.shape
    M = a.shape[0]
    inv = 1.0 / math.sqrt(d)
    f = np.empty(N)
    f_test = np.empty(X_test.shape[0])
    G = np.empty((N, M))
    pulling = np.empty(N, dtype=np.int64)
    ri = 0
    for t in range(steps + 1):
        Z = _forward(X, W, a, sigma, alpha, f)
        n_err = 0
        n_unsat = 0
        for mu in range(N):
            m = y[mu] * f[mu]
            if m <= 0.0:
                n_err += 1
            if m < h:
                n_unsat += 1
            elif t_sat[mu] < 0:
                t_sat[mu] = t
        if ri < record_steps.shape[0] and record_steps[ri] == t:
            record_parameters(ri, a, W, rec_a, rec_wpar, rec_wperp2, rec_v)
            rec_train_err[ri] = n_err
            rec_unsat[ri] = n_unsat
            if X_test.shape[0] > 0:
                _forward(X_test, W, a, sigma, alpha, f_test)
                n_test = 0
                for r in range(X_test.shape[0]):
                    if y_test[r] * f_test[r] <= 0.0:
                        n_test += 1
                rec_test_err[ri] = n_test
            ri += 1
        if t == steps:
            break
        # <u y sigma(z_i)> and <u y sigma'(z_i) x>, every parameter updated from the old ones; an example with
        # u = 0 (satisfied, under a hinge-type loss) adds nothing, so the backward pass runs over the others only
        ga = np.zeros(M)
        rows = 0
        for mu in range(N):
            uy = u(y[mu] * f[mu]) * y[mu]
            if uy == 0.0:
                continue
            for i in range(M):
                z = Z[mu, i] * inv
                ga[i] += uy * sigma(z)
                G[rows, i] = uy * dsigma(z)
            pulling[rows] = mu
            rows += 1
        if rows == 0:   # nothing pulls: the parameters stay
            continue
        gW = G[:rows].T @ X[pulling[:rows]]
        for i in range(M):
            ci = beta * a[i] * inv / N
            for k in range(d):
                W[i, k] += ci * gW[i, k]
            a[i] += beta * ga[i] / N
