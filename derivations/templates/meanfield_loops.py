"""The exact discrete GD map, the flow and the per-step fills of the mean field: loops over the SymPy-printed kernels
of the same module.

Hand-written part of every mean-field kernel module (``derivations/codegen.py``, one per data law x loss): the
generator copies the text below the marker line verbatim after the printed kernels. Above it, the imports make this
a module that linters and tests can load; they are not copied.
"""
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
@jit
def discrete_map(steps, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope, gamma_plus, gamma_minus, kappa, g):
    """Iterate the exact discrete GD map from gamma_+ = gamma_- = 0, filling the four arrays (length steps+1).

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
        rate = g_rate(kap, d, h, eps, odd_slope)
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
def fill_unsat_fraction(kappa, d, h, eps, out):
    """out[k] = unsat_fraction(kappa[k], d, h, eps) for every step."""
    for k in range(kappa.shape[0]):
        out[k] = unsat_fraction(kappa[k], d, h, eps)


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
def _flow_rate(gam, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope):
    return beta * g_rate(kappa_flow(gam, alpha, d, sigma_a, sigma_w, odd_slope), d, h, eps, odd_slope)


@jit
def flow(steps, substeps, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope, gamma):
    """d gamma / dt = beta g(kappa(gamma)) from gamma = 0, by classical RK4 with `substeps` per GD step;
    fills gamma[0..steps]."""
    gam = 0.0
    dt = 1.0 / substeps
    gamma[0] = 0.0
    for k in range(steps):
        for _ in range(substeps):
            k1 = _flow_rate(gam, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope)
            k2 = _flow_rate(gam + 0.5 * dt * k1, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope)
            k3 = _flow_rate(gam + 0.5 * dt * k2, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope)
            k4 = _flow_rate(gam + dt * k3, beta, alpha, d, h, eps, sigma_a, sigma_w, odd_slope)
            gam += dt * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
        gamma[k + 1] = gam
