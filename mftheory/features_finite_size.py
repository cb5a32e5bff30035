"""Finite width on the features law: the tilt with the loss's feedback and the test error of one-feature examples.

A finite network's output F_M - F_t splits, along the d - K noise coordinates, into a common part, a part linear
in them (the tilt, (alpha c / sqrt d) v . x_noise with v = (1/M) sum_i a_i w_i) and a nonlinear rest. The frozen-init
law (:meth:`mftheory.features.FeatureSolution.finite_width_test_error` with ``feedback=False``) lets every node
follow its mean-field map, so the tilt grows with the nodes. With the loss's feedback (derivations/features.py,
step 6) a tilt moves the margins, and the examples' pull takes it back: one noise coordinate of
X = (1/M) sum_i (a_i, w_i1, ..., w_iK) w_ik follows X' = (A_t + f_t b_t e_0^T) X, with A_t the node map,
f_t = -rho alpha c / sqrt(d) (rho = -E[u'(y F_t)]: for the hinge the density of margins at h) and
b_t = beta c / sqrt(d) (sigma_w^2 + E[a' a], E[w_1' a], ..., E[w_K' a]). The test error then takes the tilt with
its feedback in place of the frozen linear part and leaves out the common part (an offset seen by every example,
pulled back d times harder), as for Gaussian data; the nonlinear rest keeps its frozen-init law.
"""
from __future__ import annotations

import importlib
import math

import numba
import numpy as np

from mftheory.kernels.binding import bind, kernel_template

# |g| of the one-feature examples: Gauss-Legendre panels on [0, _G_MAX] (the half-normal density is below 1e-31
# of its peak past it), halving towards 0, where the error's integrand turns over on the scale sd / kappa of the
# fluctuation, from 1e-3 of the data's scale early to order one late
_G_MAX = 12.0
_EDGES = np.concatenate([[0.0], _G_MAX * 2.0 ** -np.arange(12.0, -1.0, -1.0)])
_GL_X, _GL_W = np.polynomial.legendre.leggauss(16)


def margin_responses(solution) -> np.ndarray:
    """(steps+1,): -E[u'(y F_t(x))] over the features law (K = 2), what the loss's pull-back takes from a tilt per
    unit tilt: the density of the margins at h for the hinge, the unsatisfied fraction for the quadratic hinge, a
    quadrature for the logistic loss."""
    setup = solution.setup
    kernels = importlib.import_module(f"mftheory.kernels.generated.features_{setup.loss}")
    (mu_1, mu_2), (p_1, p_2) = setup.feature_strength, setup.feature_freq
    return np.array([kernels.margin_response(k1, k2, mu_1, mu_2, p_1, p_2, setup.h)
                     for k1, k2 in solution.kappa_features])


def tilt_variance(solution, feedback: bool = True, N: int | None = None, sample: str = "fixed") -> np.ndarray:
    """(steps+1,): Var v_k of one noise coordinate k of v = (1/M) sum_i a_i w_i, with the hinge's feedback or
    (``feedback=False``) along the frozen-init law (then, with N None, sigma_w^2 E[a^2] / M exactly).

    Sources: the init (Var X_0 = sigma_w^2 diag(sigma_a^2, sigma_w^2, ...) / M) and, with N given, the training
    sample: the unsatisfied examples' mean of y x_k, of variance f_U / N, is a drive r_k of its own, independent
    from step to step with fresh data at every step (``sample="fresh"``) or, for one fixed set
    (``sample="fixed"``), the same examples step after step, Cov(r_t, r_s) = f_U(max(t, s)) / N (the unsatisfied
    set shrinks, nested, as the slopes grow)."""
    setup = solution.setup
    c = (1.0 + setup.slope) / 2.0
    d = float(setup.d)
    K = solution.features
    moments = solution.node_moments()
    density = margin_responses(solution) if feedback else np.zeros(len(moments))
    init = setup.sigma_w**2 * np.diag([setup.sigma_a**2] + [setup.sigma_w**2] * K) / setup.M
    out = np.empty(len(moments))
    _propagate(np.ascontiguousarray(solution.node_maps), moments, density, init, setup.beta * c / math.sqrt(d),
               -setup.alpha * c / math.sqrt(d), setup.sigma_w**2, np.asarray(solution.f_unsat, dtype=float),
               0.0 if N is None else 1.0 / N, sample == "fixed", out)
    return out


@numba.njit(cache=True)
def _propagate(maps, moments, density, init, drive_scale, gain, sw2, unsat, inv_n, fixed, out):
    """Second moments of X' = (A_t + f_t b_t e_0^T) X + b_t r_t (module docstring) from Cov X_0 = ``init`` and the
    sample's r_t (variance f_U(t) inv_n; for one fixed set the examples satisfied at a step stop adding to it, so
    their share of the response is frozen from then on); fills Var X_0."""
    cov = init.copy()
    m = init.shape[0]
    c_sample = np.zeros((m, m))
    active = np.zeros(m)     # one fixed set: the response to the examples still unsatisfied, one unit of r per step
    b = np.empty(m)
    n = out.shape[0]
    for t in range(n):
        out[t] = cov[0, 0] + c_sample[0, 0]
        if fixed and t > 0:
            out[t] += active[0] ** 2 * unsat[t - 1] * inv_n
        if t + 1 == n:
            break
        A = maps[t].copy()
        moved = maps[t] @ moments[t]    # E[s' a] for s = (a, w_1, ..., w_K): column 0
        f = gain * density[t]
        for j in range(m):
            b[j] = drive_scale * (moved[j, 0] + (sw2 if j == 0 else 0.0))
            A[j, 0] += f * b[j]
        cov = A @ cov @ A.T
        if fixed:
            left = (unsat[t - 1] if t > 0 else 1.0) - unsat[t]
            c_sample += np.outer(active, active) * left * inv_n
            c_sample = A @ c_sample @ A.T
            active = A @ active + b
        else:
            c_sample = A @ c_sample @ A.T + np.outer(b, b) * unsat[t] * inv_n
    return out


def one_feature_test_error(solution, feedback: bool = True, N: int | None = None, sample: str = "fixed") -> np.ndarray:
    """(steps+1, K): the test error on fresh examples with feature k alone at finite M (see the module docstring);
    ``feedback=False`` gives the frozen-init law; with N given the tilt also has the training sample's part
    (:func:`tilt_variance`)."""
    setup = solution.setup
    fw = importlib.import_module(f"mftheory.kernels.generated.finite_width_{setup.activation}")
    moments = solution.node_moments()
    K, d = solution.features, float(setup.d)
    c = (1.0 + setup.slope) / 2.0
    out = np.full((len(moments), K), 0.5)
    if not feedback:
        for i, C in enumerate(moments):
            for k, mu in enumerate(setup.feature_strength):
                if C[0, k + 1] > 0:
                    out[i, k] = fw.test_error_noise(d - K, C[0, 0], mu**2 * C[k + 1, k + 1], mu * C[0, k + 1],
                                                    setup.alpha, float(setup.M), d, setup.sigma_w, setup.slope)
        return out
    tilt = (setup.alpha * c) ** 2 * (d - K) / d * tilt_variance(solution, feedback=True, N=N, sample=sample)
    edges = _EDGES
    half = 0.5 * np.diff(edges)
    points = (0.5 * (edges[:-1] + edges[1:])[:, None] + half[:, None] * _GL_X).ravel()
    weights = (half[:, None] * _GL_W).ravel() * 2.0 * np.exp(-0.5 * points**2) / math.sqrt(2.0 * math.pi)
    rows = bind(_one_feature_error_rows, fw.output_variance, fw.common_second, fw.common_mean, fw.linear_second)
    strength = np.asarray(setup.feature_strength, dtype=float)
    rows(points, weights, moments, solution.kappa_features, strength, tilt, setup.alpha, float(setup.M), d,
         setup.sigma_w, setup.slope, K, out)
    return out


@kernel_template(4, parallel=True)
def _one_feature_error_rows(output_variance, common_second, common_mean, linear_second, points, weights, moments,
                            kappa, strength, tilt, alpha, M, d, sigma_w, s, K, out):
    """E over |g| of P(kappa_k mu_k |g| + delta < 0), delta Gaussian with the rest's variance at x_par = mu_k |g|
    (the node's moments along u_k rescaled by mu_k, d - K noise coordinates) plus the tilt's; every step with
    E[a w_k] > 0 (the others keep 1/2)."""
    n = moments.shape[0]
    for i in numba.prange(n):
        for k in range(K):
            a2 = moments[i, 0, 0]
            w2, aw = strength[k] ** 2 * moments[i, k + 1, k + 1], strength[k] * moments[i, 0, k + 1]
            if aw <= 0.0:
                continue
            total = 0.0
            for q in range(points.shape[0]):
                x = points[q]
                whole = output_variance(x, d - K, a2, w2, aw, alpha, M, d, sigma_w, s)
                common = (common_second(x, a2, w2, aw, alpha, M, d, sigma_w, s)
                          - common_mean(x, a2, w2, aw, alpha, M, d, sigma_w, s) ** 2)
                # the frozen linear part over d - K noise coordinates (the kernel's is over d - 1)
                linear = linear_second(x, a2, w2, aw, alpha, M, d, sigma_w, s) * (d - K) / (d - 1.0)
                rest = max(whole - alpha * alpha / M * (common + linear), 0.0)
                var = rest + tilt[i]
                margin = kappa[i, k] * strength[k] * x
                total += weights[q] * 0.5 * math.erfc(margin / math.sqrt(2.0 * var))
            out[i, k] = total
