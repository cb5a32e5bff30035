"""The spectral density of the free convolution (Cardano), its support and the quadrature of the spectral integrals,
the fixed point's residual and the recovery risk.

Hand-written part of the quadratic network's kernel module (``derivations/quadratic_codegen.py``): the generator
copies the text below the marker line verbatim after the printed kernels. Above it, the imports make this a module
that linters and tests can load; they are not copied.
"""
import math

import numpy as np

from mftheory.kernels._jit import jit

# the SymPy-printed kernels and constants these functions use: the generated module defines them
from mftheory.kernels.generated.quadratic import (
    _GL_NODES,
    _GL_WEIGHTS,
    _PHI_PANELS,
    depressed_cubic,
    discriminant_scale,
    edge_quartic,
    flow_integrands,
    flow_mse,
    flow_square_correction,
    lambda_of_theta,
    noise,
    recovery_risk,
    risk,
    semicircle_density,
    semicircle_min2,
    teacher_density,
    teacher_edges,
)

# ---- generated module body: everything below this line is copied into the module ----
_SQRT3_2PI = math.sqrt(3.0) / (2.0 * math.pi)


@jit
def density(x, s, kappa_star):
    """Density of Y = Z* + sqrt(s) G at x: the imaginary part of the cubic's complex root (Cardano)."""
    p, q = depressed_cubic(x, s, kappa_star)
    # (q/2)^2 + (p/3)^3 from the quartic, whose terms do not cancel at small s (the two squares do)
    c4, c3, c2, c1, c0 = edge_quartic(s, kappa_star)
    disc = ((((c4 * x + c3) * x + c2) * x + c1) * x + c0) / discriminant_scale(s)
    if not disc > 0.0:
        return 0.0
    # the two real cube roots u, v with u v = -p/3; u taken where -q/2 and the root add, v from the product,
    # so that neither is a difference of nearly equal numbers
    half = -0.5 * q
    u = np.cbrt(half + math.copysign(math.sqrt(disc), half))
    return _SQRT3_2PI * abs(u + p / (3.0 * u))


@jit
def support(s, kappa_star):
    """The intervals where the density is positive, as an array of (left, right) rows."""
    coefficients = np.array(edge_quartic(s, kappa_star), dtype=np.complex128)
    roots = np.roots(coefficients)
    edges = np.sort(np.array([r.real for r in roots if abs(r.imag) <= 1e-9 * (1.0 + abs(r.real))]))
    out = np.empty((edges.size, 2))
    count = 0
    for i in range(edges.size - 1):
        if edges[i + 1] > edges[i] and density(0.5 * (edges[i] + edges[i + 1]), s, kappa_star) > 0.0:
            if count > 0 and out[count - 1, 1] == edges[i]:
                out[count - 1, 1] = edges[i + 1]
            else:
                out[count, 0] = edges[i]
                out[count, 1] = edges[i + 1]
                count += 1
    return out[:count]


@jit
def necks(s, kappa_star):
    """Where two parts of the support have just merged, the quartic's pair of complex roots sits close to the
    real axis, over a narrow neck of the density: the real parts of such pairs (the panels are cut there)."""
    roots = np.roots(np.array(edge_quartic(s, kappa_star), dtype=np.complex128))
    out = np.empty(roots.size)
    count = 0
    for r in roots:
        if r.imag > 1e-9 * (1.0 + abs(r.real)):
            out[count] = r.real
            count += 1
    return out[:count]


@jit
def _panels(intervals, splits):
    """The intervals cut at each of ``splits`` that falls inside one."""
    out = np.empty((intervals.shape[0] + splits.size, 2))
    count = 0
    ordered = np.sort(splits)
    for i in range(intervals.shape[0]):
        left, right = intervals[i, 0], intervals[i, 1]
        for cut in ordered:
            if left < cut < right:
                out[count, 0], out[count, 1] = left, cut
                count += 1
                left = cut
        out[count, 0], out[count, 1] = left, right
        count += 1
    return out[:count]


@jit
def _mapped_nodes(panels, s, kappa_star, semicircle_v):
    """Nodes and density-weighted weights over ``panels``; each is mapped by x = c - h cos(phi), which turns
    square-root edges into smooth integrands, and [0, pi] is cut into _PHI_PANELS Gauss-Legendre panels.
    The density is Y's (semicircle_v <= 0) or a semicircle's of variance semicircle_v."""
    n = _GL_NODES.size
    per_panel = n * _PHI_PANELS
    xs = np.empty(panels.shape[0] * per_panel)
    ws = np.empty(panels.shape[0] * per_panel)
    width = math.pi / _PHI_PANELS
    for k in range(panels.shape[0]):
        c = 0.5 * (panels[k, 0] + panels[k, 1])
        h = 0.5 * (panels[k, 1] - panels[k, 0])
        for p in range(_PHI_PANELS):
            for j in range(n):
                phi = width * (p + 0.5 * (_GL_NODES[j] + 1.0))
                i = k * per_panel + p * n + j
                xs[i] = c - h * math.cos(phi)
                rho = semicircle_density(xs[i], semicircle_v) if semicircle_v > 0 else density(xs[i], s, kappa_star)
                ws[i] = 0.5 * width * _GL_WEIGHTS[j] * h * math.sin(phi) * rho
    return xs, ws


@jit
def spectral_nodes(s, kappa_star, theta):
    """Nodes and weights (density included) of the quadrature over Y's spectrum, panels split at theta."""
    splits = np.append(necks(s, kappa_star), theta)
    return _mapped_nodes(_panels(support(s, kappa_star), splits), s, kappa_star, 0.0)


@jit
def divided_difference_integral(xs, ws, theta):
    """D = sum_ij w_i w_j (f(x_i) - f(x_j)) / (x_i - x_j) for f(x) = (x - theta)_+ (f' on the diagonal)."""
    return cut_divided_difference_integral(xs, ws, theta, theta)


@jit
def cut_divided_difference_integral(xs, ws, theta, cut):
    """D for f(x) = (x - theta) [x > cut], cut >= theta (the rank-limited map; cut = theta: the soft threshold).
    A kept eigenvalue against a dropped one: (high - theta) / (high - low); two kept: 1; two dropped: 0."""
    total = 0.0
    for i in range(xs.size):
        for j in range(xs.size):
            above_i = xs[i] > cut
            above_j = xs[j] > cut
            if above_i and above_j:
                total += ws[i] * ws[j]
            elif above_i != above_j:
                high = max(xs[i], xs[j])
                low = min(xs[i], xs[j])
                total += ws[i] * ws[j] * (high - theta) / (high - low)
    return total


@jit
def mass_above(s, kappa_star, y):
    """The share of Y's spectrum above y."""
    xs, ws = spectral_nodes(s, kappa_star, y)
    total = 0.0
    for i in range(xs.size):
        if xs[i] > y:
            total += ws[i]
    return total


@jit
def rank_cut(s, kappa_star, kappa, theta):
    """Where the rank limit cuts Y's spectrum: the point above which a share kappa of it lies, or theta where the
    soft threshold keeps less than kappa (bisection to the double precision of the support's scale)."""
    if mass_above(s, kappa_star, theta) <= kappa:
        return theta
    low = theta
    high = support(s, kappa_star)[-1, 1]
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle <= low or middle >= high:
            break
        if mass_above(s, kappa_star, middle) > kappa:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


@jit
def cut_functionals(s, kappa_star, theta, cut):
    """(mass, I_cut, D, rank fraction, Tr Z / d) of the rank-limited map f(y) = (y - theta) [y > cut] of Y's
    spectrum (cut >= theta): I_cut = int (y - f(y))^2 dmu, theta^2 for a kept eigenvalue and y^2 for a dropped
    one (cut = theta: I_min2 of the soft threshold)."""
    splits = np.append(necks(s, kappa_star), np.array([theta, cut]))
    xs, ws = _mapped_nodes(_panels(support(s, kappa_star), splits), s, kappa_star, 0.0)
    mass = 0.0
    residual = 0.0
    above = 0.0
    trace = 0.0
    for i in range(xs.size):
        mass += ws[i]
        if xs[i] > cut:
            residual += ws[i] * theta * theta
            above += ws[i]
            trace += ws[i] * (xs[i] - theta)
        else:
            residual += ws[i] * xs[i] * xs[i]
    return mass, residual, cut_divided_difference_integral(xs, ws, theta, cut), above, trace


@jit
def spectral_functionals(s, kappa_star, theta):
    """(mass, I_min2, D, rank fraction, Tr Z / d) of the soft threshold at theta of Y's spectrum: the rank-limited
    map with its cut at theta."""
    return cut_functionals(s, kappa_star, theta, theta)


@jit
def fixed_point_residual(log_s, theta, alpha, lam, Delta, kappa_star):
    """The two equations of the long-time fixed point, zero at the solution, and the solution's functionals."""
    s = math.exp(log_s)
    mass, min2, D, rank, trace = spectral_functionals(s, kappa_star, theta)
    m = risk(min2, s, D)
    return (math.log(noise(m, alpha, Delta)) - log_s, lambda_of_theta(theta, D, alpha) - lam), (m, D, rank, trace, mass)


@jit
def rank_limited_residual(log_s, theta, alpha, lam, Delta, kappa_star, kappa):
    """:func:`fixed_point_residual` with the rank limit: the spectrum cut at :func:`rank_cut` (the same two
    equations, the rank-limited map's I_cut and D); the functionals end with the cut."""
    s = math.exp(log_s)
    cut = rank_cut(s, kappa_star, kappa, theta)
    mass, residual, D, rank, trace = cut_functionals(s, kappa_star, theta, cut)
    m = risk(residual, s, D)
    return ((math.log(noise(m, alpha, Delta)) - log_s, lambda_of_theta(theta, D, alpha) - lam),
            (m, D, rank, trace, mass, cut))


@jit
def semicircle_divided_difference(t, v):
    """D_0(t): the divided-difference integral of (u - t)_+ for u ~ semicircle of variance v."""
    edge = 2.0 * math.sqrt(v)
    xs, ws = _mapped_nodes(_panels(np.array([[-edge, edge]]), np.array([t])), 0.0, 0.0, v)
    return divided_difference_integral(xs, ws, t)


@jit
def recovery_risk_at(t, kappa_star):
    """M(t): risk per unit noise of the denoiser near perfect recovery, theta = t sqrt(s), s -> 0."""
    v = 1.0 - kappa_star
    if v <= 0.0:
        return recovery_risk(t, kappa_star, 0.0, 0.0)
    t_in = min(max(t, -2.0 * math.sqrt(v)), 2.0 * math.sqrt(v))
    j_null = semicircle_min2(t_in, v) if t_in == t else (v if t > 0 else t * t)
    return recovery_risk(t, kappa_star, semicircle_divided_difference(t, v), j_null)


@jit
def teacher_nodes(kappa_star):
    """Nodes and weights of Z*'s spectrum: the atom at 0 (mass max(1 - kappa*, 0)) first, then the free Poisson
    density (mass min(kappa*, 1)) by the same mapped Gauss-Legendre panels as Y's."""
    low, high = teacher_edges(kappa_star)
    n = _GL_NODES.size
    xs = np.empty(1 + n * _PHI_PANELS)
    ws = np.empty(1 + n * _PHI_PANELS)
    xs[0] = 0.0
    ws[0] = max(1.0 - kappa_star, 0.0)
    c = 0.5 * (low + high)
    h = 0.5 * (high - low)
    width = math.pi / _PHI_PANELS
    for p in range(_PHI_PANELS):
        for j in range(n):
            phi = width * (p + 0.5 * (_GL_NODES[j] + 1.0))
            i = 1 + p * n + j
            xs[i] = c - h * math.cos(phi)
            ws[i] = 0.5 * width * _GL_WEIGHTS[j] * h * math.sin(phi) * kappa_star * teacher_density(xs[i], kappa_star)
    return xs, ws


@jit
def _flow_atoms(t, lam, xs):
    """Per eigen-direction of Z*: a = 2 (zeta - lam), log r = -2 |a| t and khat = 4 t (1 - r) / (2 |a| t)."""
    n = xs.size
    a = np.empty(n)
    log_r = np.empty(n)
    khat = np.empty(n)
    for i in range(n):
        a[i] = 2.0 * (xs[i] - lam)
        x = 2.0 * abs(a[i]) * t
        log_r[i] = -x
        khat[i] = 4.0 * t if x == 0.0 else 4.0 * t * (-math.expm1(-x)) / x
    return a, log_r, khat


@jit
def _scaled(a, log_r, khat, u, gamma):
    """(e0, e1, e2) at g = exp(-u) (derivations/quadratic.py, step 8d)."""
    if a > 0:
        ratio = math.exp(min(log_r + u, 700.0))
        return flow_integrands(ratio, 1.0, 1.0, ratio, khat, gamma)
    g = math.exp(-u)
    rg = math.exp(log_r - u)
    return flow_integrands(1.0, g, rg, rg, khat, gamma)


@jit
def flow_traces(t, lam, gamma, kappa, kappa_star, xs, ws):
    """(MSE, Tr Z/d, Tr Z^2/d, Tr Z Z*/d, -log g) of the population gradient flow at time t (derivations/
    quadratic.py, step 8), averaged over Z*'s spectrum (``teacher_nodes``). g = exp(-u) solves
    1 = g + E[e0]/kappa, decreasing in u, by bisection in u (g falls like exp(-2 a t) when kappa < kappa*)."""
    a, log_r, khat = _flow_atoms(t, lam, xs)
    low = 0.0
    high = 50.0
    for i in range(xs.size):
        high = max(high, 50.0 - log_r[i])
    for _ in range(400):
        u = 0.5 * (low + high)
        total = math.exp(-u)
        for i in range(xs.size):
            total += ws[i] * _scaled(a[i], log_r[i], khat[i], u, gamma)[0] / kappa
        if total > 1.0:
            low = u
        else:
            high = u
        if high - low <= 1e-15 * max(1.0, high):
            break
    u = 0.5 * (low + high)
    e00 = 0.0
    trace = 0.0
    cross = 0.0
    e11 = 0.0
    e2 = 0.0
    for i in range(xs.size):
        e0, e1, e2_i = _scaled(a[i], log_r[i], khat[i], u, gamma)
        e00 += ws[i] * e0 * e0
        trace += ws[i] * e1
        cross += ws[i] * xs[i] * e1
        e11 += ws[i] * e1 * e1
        e2 += ws[i] * e2_i
    square = e11 - flow_square_correction(e00, e2, kappa)
    return flow_mse(square, cross, kappa_star), trace, square, cross, u
