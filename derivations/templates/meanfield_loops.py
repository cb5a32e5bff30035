"""The exact discrete GD map, the flow and the per-step fills of the mean field: loops over the SymPy-printed kernels
of the same module.

Hand-written part of every mean-field kernel module (``derivations/codegen.py``, one per data law x loss): the
generator copies the text below the marker line verbatim after the printed kernels. Above it, the imports make this
a module that linters and tests can load; they are not copied.
"""
import math

import numpy as np

from mftheory.kernels._jit import jit

# the generated functions these loops call: the generated module defines them
from mftheory.kernels.generated.gaussian_hinge import (
    g_rate,
    gamma_from_increment_minus,
    gamma_from_increment_plus,
    kappa_flow,
    kappa_increments,
    moment_a2,
    moment_aw,
    moment_da2,
    moment_dw2,
    moment_w2,
    unsat_fraction,
    update_increment_minus,
    update_increment_plus,
)


# ---- generated module body: everything below this line is copied into the module ----
# the functions of kappa a table can stand for (``which``): 0 the rate g, 1 the unsatisfied fraction
@jit
def _of_kappa(which, kappa, d, h, eps, odd_slope):
    if which == 0:
        return g_rate(kappa, d, h, eps, odd_slope)
    return unsat_fraction(kappa, d, h, eps)


@jit
def table_panel(which, lo, hi, d, h, eps, odd_slope, coeffs):
    """Chebyshev coefficients (written to ``coeffs``, n of them) of G(s) = (1 + kappa)^2 q(kappa) over the panel
    [lo, hi] of s = kappa / (1 + kappa), q the function ``which`` (0: g, 1: the unsatisfied fraction), from G at
    the n Chebyshev points of the panel (g falls like 1/kappa^2 for the margin losses: G stays of one size, so an
    error relative to the panel's largest |G| is relative to g too). Returns the largest difference between the
    expansion and G at the n + 1 points halfway between them (the panel's ends included), relative to the largest
    |G| met on the panel: the error of the table, measured."""
    n = coeffs.shape[0]
    values = np.empty(n)
    scale = 0.0
    for j in range(n):
        u = math.cos(math.pi * (j + 0.5) / n)
        s = 0.5 * (lo + hi) + 0.5 * (hi - lo) * u
        values[j] = _of_kappa(which, s / (1.0 - s), d, h, eps, odd_slope) / (1.0 - s) ** 2
        scale = max(scale, abs(values[j]))
    for m in range(n):
        total = 0.0
        for j in range(n):
            total += values[j] * math.cos(math.pi * m * (j + 0.5) / n)
        coeffs[m] = total * (2.0 / n if m > 0 else 1.0 / n)
    worst = 0.0
    for j in range(n + 1):
        u = math.cos(math.pi * j / n)
        s = 0.5 * (lo + hi) + 0.5 * (hi - lo) * u
        exact = _of_kappa(which, s / (1.0 - s), d, h, eps, odd_slope) / (1.0 - s) ** 2
        scale = max(scale, abs(exact))
        worst = max(worst, abs(_clenshaw(coeffs, u) - exact))
    return worst / scale if scale > 0.0 else worst


@jit
def _clenshaw(coeffs, u):
    b1 = 0.0
    b2 = 0.0
    for m in range(coeffs.shape[0] - 1, 0, -1):
        b1, b2 = 2.0 * u * b1 - b2 + coeffs[m], b1
    return u * b1 - b2 + coeffs[0]


@jit
def table_value(which, kappa, d, h, eps, odd_slope, edges, coeffs):
    """The function ``which`` of :func:`table_panel` at kappa from its piecewise Chebyshev table (``edges``
    (P + 1,) in s = kappa / (1 + kappa), ``coeffs`` (P, n)); a panel of NaN coefficients, an empty table or kappa
    outside it fall back to the kernel itself."""
    last = edges.shape[0] - 1
    if last < 1 or not kappa >= 0.0:
        return _of_kappa(which, kappa, d, h, eps, odd_slope)
    s = kappa / (1.0 + kappa)
    if s >= edges[last]:
        return _of_kappa(which, kappa, d, h, eps, odd_slope)
    lo = 0
    hi = last
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if edges[mid] <= s:
            lo = mid
        else:
            hi = mid
    if math.isnan(coeffs[lo, 0]):
        return _of_kappa(which, kappa, d, h, eps, odd_slope)
    u = (2.0 * s - edges[lo] - edges[lo + 1]) / (edges[lo + 1] - edges[lo])
    return _clenshaw(coeffs[lo], u) * (1.0 - s) ** 2


@jit
def discrete_map(steps, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope, gamma_plus, gamma_minus, kappa, g, edges,
                 coeffs):
    """Iterate the exact discrete GD map from gamma_+ = gamma_- = 0, filling the four arrays (length steps+1);
    g(kappa) from its table (``edges``, ``coeffs``) of :func:`table_value` (empty arrays: the kernel itself).

    Returns the number of steps filled: fewer than steps + 1 when beta g reaches 1, where
    prod(1 - beta g_k) would change sign (the learning rate is too large for the map).
    """
    # the recursion carries E_+- = P_+- - 1, which needs no transcendental function per step and keeps full
    # relative precision while beta g is tiny; gamma_+- = +-log1p(E_+-) is taken in a second, independent pass
    e_plus = 0.0
    e_minus = 0.0
    filled = steps + 1
    for k in range(steps + 1):
        kap = kappa_increments(e_plus, e_minus, alpha, d, sigma_a, sigma_w, odd_slope)
        rate = table_value(0, kap, d, h, eps, odd_slope, edges, coeffs)
        gamma_plus[k] = e_plus
        gamma_minus[k] = e_minus
        kappa[k] = kap
        g[k] = rate
        if k == steps:
            break
        if beta * rate >= 1.0:
            filled = k + 1
            break
        e_plus, e_minus = update_increment_plus(e_plus, beta, rate), update_increment_minus(e_minus, beta, rate)
    for k in range(filled):
        gamma_plus[k] = gamma_from_increment_plus(gamma_plus[k])
        gamma_minus[k] = gamma_from_increment_minus(gamma_minus[k])
    return filled


@jit
def fill_unsat_fraction(kappa, d, h, eps, out, edges, coeffs):
    """out[k] = unsat_fraction(kappa[k], d, h, eps) for every step, from its table of :func:`table_value` (empty
    arrays: the kernel itself)."""
    for k in range(kappa.shape[0]):
        out[k] = table_value(1, kappa[k], d, h, eps, 0.0, edges, coeffs)


@jit
def fill_moments(gamma_plus, gamma_minus, sigma_a, sigma_w, out):
    """out[k] = (E a^2, E w_par^2, E a w_par, E (a-a0)^2, E (w_par-w0)^2) at every step."""
    for k in range(gamma_plus.shape[0]):
        p = gamma_plus[k]
        m = gamma_minus[k]
        out[k, 0] = moment_a2(p, m, sigma_a, sigma_w)
        out[k, 1] = moment_w2(p, m, sigma_a, sigma_w)
        out[k, 2] = moment_aw(p, m, sigma_a, sigma_w)
        out[k, 3] = moment_da2(p, m, sigma_a, sigma_w)
        out[k, 4] = moment_dw2(p, m, sigma_a, sigma_w)


@jit
def _flow_rate(gam, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope, edges, coeffs):
    return beta * table_value(0, kappa_flow(gam, alpha, d, sigma_a, sigma_w, odd_slope), d, h, eps, odd_slope,
                              edges, coeffs)


@jit
def flow(steps, substeps, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope, gamma, edges, coeffs):
    """d gamma / dt = beta g(kappa(gamma)) from gamma = 0, by classical RK4 with `substeps` per GD step;
    fills gamma[0..steps]; g as in :func:`discrete_map`."""
    gam = 0.0
    dt = 1.0 / substeps
    gamma[0] = 0.0
    for k in range(steps):
        for _ in range(substeps):
            k1 = _flow_rate(gam, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope, edges, coeffs)
            k2 = _flow_rate(gam + 0.5 * dt * k1, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope, edges, coeffs)
            k3 = _flow_rate(gam + 0.5 * dt * k2, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope, edges, coeffs)
            k4 = _flow_rate(gam + dt * k3, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope, edges, coeffs)
            gam += dt * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
        gamma[k + 1] = gam
