"""The spectrum of the loss's feedback on F's degree-2 part at finite width (derivations/fluctuations.py, step
degree2_spread).

The finite-width predictions pull F's degree-2 tensor along x_perp back at one rate per GD step, the feedback's
average over isotropic node directions (step rest_feedback). With M nodes the feedback is an operator on the
n = D(D+1)/2 - 1 traceless symmetric tensors (D = d - 1): a sum over the nodes of an a-part (one direction, the
traceless part of w_i w_i^T) and D - 1 turns, each a rank-one term with the node's own weight (h_2,i^2 and
a_i^2 h_2,i^2). Its spectrum spreads about the average, and what the feedback leaves of a fluctuation after many
steps sits in its slow directions. Two laws describe it, both in units of the operator's trace average:

* the law of the whole operator (what a tensor independent of the nodes sees): the weighted Marchenko-Pastur
  law, whose Stieltjes transform m solves 1/m = -z + (1/n) sum_j tau_j / (1 + tau_j m);
* the law the init's own degree-2 tensor sees: it is sum_i a_i h_2,i P_i, along the nodes' a-part directions, and
  P_i sees m / (1 + kappa_i m) (Sherman-Morrison on its own a-part, kappa_i; its own turns are orthogonal to it),
  mixed over the nodes with the init's weights (a_i h_2,i)^2.

The node population is the mean field's node law: a product Gauss-Hermite grid over the init (a_0, w_par,0), each
point carried along the mean-field node map (a, w_par) <- (a + beta g w_par, w_par + beta g a), |w_perp| at its
init mean. The laws move as the nodes grow (early the a-parts dominate and the init's directions sit far above the
bulk; as a grows they sink into it), so they are solved along the run and carried by the quantile coupling: the
eigendirection at quantile q of the law at step s has the eigenvalue x_s(q), pulled back at the isotropic rate
times x_s(q).
"""
from __future__ import annotations

import dataclasses
import math
import weakref

import numba
import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.kernels.binding import bind, kernel_template

__all__ = ["FeedbackSpectrum", "feedback_spectrum", "spectral_quantiles", "derived_rates", "operator_retention"]

# quantile levels of the laws (midpoints); points of the spectral grid; Gauss-Hermite points per init coordinate
# (at Fig. 1 and at d = 200, M = 100, 2500 points and 12 x 12 nodes move the retention by under 0.3%)
_LEVELS = 64
_POINTS = 1200
_NODES = 8
# the spectral grid's spacing at x = 0, in units of the trace average (it grows like x + _FINEST)
_FINEST = 0.02


@dataclasses.dataclass(frozen=True)
class FeedbackSpectrum:
    """The degree-2 feedback's spectral laws at GD steps ``t``, as quantile functions over ``levels`` in units of
    the operator's trace average (ones where F = 0 or the laws were not needed).

    ``aligned`` (len(t), Q): the law the init's own degree-2 tensor sees (the nodes' a-part directions, weighted
    by (a_i h_2,i)^2 at the first step); ``free`` (len(t), Q): the law of the whole operator (a tensor independent
    of the nodes). ``solved_at``: the steps at which the laws were solved (linear in t between them).
    ``retention(rates)``: what the quantile-coupled pull-back leaves of the init's degree-2 variance.
    """

    t: np.ndarray
    levels: np.ndarray
    aligned: np.ndarray
    free: np.ndarray
    solved_at: np.ndarray

    def retention(self, rates, law: str = "aligned") -> np.ndarray:
        """(len(t),): the average over the quantiles of prod_{s <= t} (1 - rates[s] x_s(q))^2, the share of a
        degree-2 variance pulled back at ``rates`` (the isotropic rate per step, len(t)) that is left after step
        t; ``law`` "aligned" (the init's tensor) or "free"."""
        x = self.aligned if law == "aligned" else self.free
        kept = np.cumprod((1.0 - np.asarray(rates, dtype=float)[:, None] * x) ** 2, axis=0)
        return kept.mean(axis=1)


@numba.njit(cache=True)
def _schedule(steps):
    """The steps the laws are solved at: every step to 5, then every t // 4 steps, at most 200 apart, and the
    last (the laws move slowly, and are linear in t between: at Fig. 1 and at d = 200, M = 100 the retention
    moves by under 1% against solving at every step to 10 and every t // 10 to 50 apart)."""
    out = np.empty(steps.shape[0], dtype=np.int64)
    count = 0
    for t in steps:
        if count == 0 or t <= 5 or t - out[count - 1] >= max(1, min(200, t // 4)):
            out[count] = t
            count += 1
    if steps.shape[0] and out[count - 1] != steps[-1]:
        out[count] = steps[-1]
        count += 1
    return out[:count].copy()


def _init_grid(sigma_a, sigma_w, nodes):
    """(a_0, w_0, weights): the product Gauss-Hermite rule of the init's Gaussian, weights summing to 1, with each
    pair of mirror points (a_0, w_0), (-a_0, -w_0) taken once at twice the weight: the node map is linear and the
    weights depend on a^2 and on h_2, even in w_par."""
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    w = w / w.sum()
    a0, w0 = np.meshgrid(sigma_a * x, sigma_w * x, indexing="ij")
    weights = np.outer(w, w)
    half = nodes // 2
    if nodes % 2:   # the middle row a_0 = 0 pairs with itself along w_0
        middle = np.concatenate([weights[half, :half] * 2.0, weights[half, half:half + 1]])
        return (np.concatenate([a0[half + 1:].ravel(), a0[half, :half + 1]]),
                np.concatenate([w0[half + 1:].ravel(), w0[half, :half + 1]]),
                np.concatenate([2.0 * weights[half + 1:].ravel(), middle]))
    return a0[half:].ravel(), w0[half:].ravel(), 2.0 * weights[half:].ravel()


def feedback_spectrum(solution: MeanFieldSolution, reach: float = 4.0, levels: int = _LEVELS, nodes: int = _NODES,
                      points: int = _POINTS) -> FeedbackSpectrum:
    """The degree-2 feedback's spectral laws along a mean-field solution (hinge loss, Gaussian data), for the
    width M of its setup (:class:`FeedbackSpectrum`), at the steps where the threshold x* is below ``reach`` (the
    feedback acts there; the init's tensor is taken at the first of them). ``levels``: quantile levels; ``nodes``: Gauss-Hermite points
    per init coordinate; ``points``: points of the grid the laws' densities are computed on.

    The laws depend on the solution alone, not on N or the sample: they are solved once per solution and
    arguments and kept while the solution lives, so a repeated call (``predict`` at several N) returns the same
    object, whose arrays are read-only (copy them to change them)."""
    if not reach > 0:
        raise ValueError(f"reach must be > 0, got {reach!r}")
    for name, value, least in (("levels", levels, 1), ("nodes", nodes, 2), ("points", points, 50)):
        if int(value) != value or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    # the laws depend on the solution alone (not on N or the sample): kept while the solution lives, so that
    # predictions at several N along one solution solve them once
    key = (id(solution), float(reach), int(levels), int(nodes), int(points))
    if key in _SOLVED:
        return _SOLVED[key]
    spectrum = _feedback_spectrum(solution, float(reach), int(levels), int(nodes), int(points))
    for array in (spectrum.aligned, spectrum.free, spectrum.solved_at):
        array.flags.writeable = False
    _SOLVED[key] = spectrum
    weakref.finalize(solution, _SOLVED.pop, key, None)
    return spectrum


_SOLVED: dict[tuple, FeedbackSpectrum] = {}


def _feedback_spectrum(solution, reach, levels, nodes, points):
    """:func:`feedback_spectrum`, solved."""
    setup = solution.setup
    k = solution.kernels
    if not hasattr(k, "spread_law_term"):
        raise NotImplementedError(f"the degree-2 feedback's spectrum is derived for a loss with u^2 = u on Gaussian "
                                  f"data, not {setup.loss} on {setup.data}")
    fw = solution.variant.finite_width_kernels()
    if not getattr(fw, "HAS_DEGREE2", False):
        raise NotImplementedError(f"{setup.activation} has no degree-2 part with h_2 even in mu")
    n = len(solution.t)
    q = (np.arange(levels) + 0.5) / levels
    aligned, free = np.ones((n, levels)), np.ones((n, levels))
    a0, w0, weights = _init_grid(setup.sigma_a, setup.sigma_w, nodes)
    g = np.asarray(solution.g, dtype=float)
    kappa = np.asarray(solution.kappa, dtype=float)
    x_star = np.asarray(solution.x_star, dtype=float)
    # the mean-field node map acts on a + w and a - w by 1 + beta g and 1 - beta g
    grow_plus = np.concatenate([[1.0], np.cumprod(1.0 + setup.beta * g[: n - 1])])
    grow_minus = np.concatenate([[1.0], np.cumprod(1.0 - setup.beta * g[: n - 1])])
    with np.errstate(invalid="ignore"):
        live = np.flatnonzero((kappa > 0) & (x_star < reach))
    solved = _schedule(live)
    if solved.size:
        laws = bind(_laws_at, k.spread_law_term, k.spread_law_slope, k.spread_aligned, k.spread_turn_weight,
                    k.spread_a_weight, fw.degree2_node)
        out_free, out_aligned = laws(a0, w0, weights, grow_plus, grow_minus, x_star, solved, float(setup.M),
                                     float(setup.d), setup.sigma_w, setup.slope, q, int(points))
        for row in range(levels):
            free[live, row] = np.interp(live, solved, out_free[:, row])
            aligned[live, row] = np.interp(live, solved, out_aligned[:, row])
    return FeedbackSpectrum(t=np.asarray(solution.t), levels=q, aligned=aligned, free=free, solved_at=solved)


def spectral_quantiles(taus, counts, dimension: float, own=None, start=None, levels: int = _LEVELS,
                       points: int = _POINTS):
    """(free, aligned): the quantiles at ``levels`` midpoints of the law of sum_j tau_j p_j p_j^T over
    ``dimension`` dimensions (``counts[j]`` rank-one terms of weight ``taus[j]``, their directions p_j isotropic),
    in units of its trace average; and of the mixture, with weights ``start``, of the laws of the directions along
    its terms of weight ``own`` (m / (1 + kappa m), Sherman-Morrison). ``own`` None: the free law twice. The
    weighted Marchenko-Pastur law of derivations/fluctuations.py, step degree2_spread, for any population."""
    from mftheory.kernels.generated import gaussian_hinge as k
    taus, counts = np.asarray(taus, dtype=float), np.asarray(counts, dtype=float)
    if taus.shape != counts.shape or taus.ndim != 1 or not taus.size:
        raise ValueError("taus and counts must be 1-d arrays of the same, nonzero length")
    if not (np.all(taus >= 0) and np.all(counts >= 0) and (taus * counts).sum() > 0):
        raise ValueError("taus and counts must be >= 0 with a positive trace")
    if not dimension > 0:
        raise ValueError(f"dimension must be > 0, got {dimension!r}")
    total = (taus * counts).sum() / dimension
    own = np.zeros(1) if own is None else np.asarray(own, dtype=float)
    start = np.ones(own.size) if start is None else np.asarray(start, dtype=float)
    if own.shape != start.shape or own.ndim != 1:
        raise ValueError("own and start must be 1-d arrays of the same length")
    q = (np.arange(levels) + 0.5) / levels
    quantiles = bind(_law_quantiles, k.spread_law_term, k.spread_law_slope, k.spread_aligned)
    return quantiles(taus / total, counts / dimension, own / total, start, q, int(points))


def derived_rates(sol, reach: float = 4.0):
    """(len(t),): the derived isotropic rate of the degree-2 feedback at the threshold at each step (zero where
    the threshold is at or past ``reach``): the rate :func:`FeedbackSpectrum.retention` takes."""
    from mftheory.finite_size._common import _node_moments   # finite_size imports this module
    moments = _node_moments(sol)
    setup, k, fw = sol.setup, sol.kernels, sol.variant.finite_width_kernels()
    d = float(setup.d)
    rates = np.zeros(len(sol.t))
    for t in range(1, len(sol.t)):
        x, kappa = float(sol.x_star[t]), float(sol.kappa[t])
        if kappa > 0 and x < reach:
            pair = (x, x, *moments[t, :3], setup.alpha, float(setup.M), d, setup.sigma_w, setup.slope)
            rates[t] = k.rest_feedback(k.tilt_response(kappa, d, setup.h), setup.beta, setup.alpha,
                                       fw.degree2_cross(*pair), fw.degree2_cross_a2(*pair), d, setup.sigma_w)
    return rates


def operator_retention(sol, rates, seed: int, report) -> dict:
    """{t: (retention of the nodes' own tensor, of an isotropic random one)} at the steps ``report``, with the
    feedback operator of M nodes drawn from the init (``seed``) and moved along the mean field's node map, built
    term by term (each node's a-part and its D - 1 turns, with the generated weights) and pulled back at
    ``rates`` over its trace average (``rates``: :func:`derived_rates`): what the laws stand for at finite M, for
    checks. F's degree-2 tensor starts as the nodes' own at the first step with a nonzero rate."""
    setup, k, fw = sol.setup, sol.kernels, sol.variant.finite_width_kernels()
    M, d, D = setup.M, float(setup.d), setup.d - 1
    dim = D * (D + 1) / 2 - 1
    rng = np.random.default_rng(seed)
    a, w_par = setup.sigma_a * rng.standard_normal(M), setup.sigma_w * rng.standard_normal(M)
    U = rng.standard_normal((M, D))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    h2_of = np.vectorize(lambda mu: fw.degree2_node(mu, setup.sigma_w, d, setup.slope))
    tensors, out = None, {}
    for t in range(1, len(sol.t)):
        step = setup.beta * float(sol.g[t - 1])
        a, w_par = a + step * w_par, w_par + step * a
        if rates[t] == 0 and tensors is None:
            continue
        h2 = h2_of(w_par * float(sol.x_star[t]) / math.sqrt(d))
        frozen = (U.T * (a * h2)) @ U
        frozen -= np.trace(frozen) / D * np.eye(D)
        norm = np.linalg.norm(frozen)
        if tensors is None:
            G = rng.standard_normal((D, D))
            free = (G + G.T) / 2
            free -= np.trace(free) / D * np.eye(D)
            tensors, previous = [frozen, free * norm / np.linalg.norm(free)], norm
        else:
            tensors = [T * norm / previous for T in tensors]
            previous = norm
        own = np.array([k.spread_a_weight(h, d) for h in h2])
        turn = np.array([k.spread_turn_weight(ai, h, setup.sigma_w, d) for ai, h in zip(a, h2)])
        average = (own.sum() + turn.sum() * (D - 1)) / dim
        for j, T in enumerate(tensors):
            Y = U @ T
            q = np.einsum("ij,ij->i", Y, U)
            L = (U.T * (own / (1 - 1 / D) * q)) @ U
            side = ((Y - q[:, None] * U).T * turn) @ U
            L += side + side.T
            L -= np.trace(L) / D * np.eye(D)
            tensors[j] = T - (rates[t] / average) * L
        if t in report:
            out[t] = tuple((np.linalg.norm(T) / norm) ** 2 for T in tensors)
    return out


@kernel_template(6, parallel=True)
def _laws_at(law_term, law_slope, aligned_transform, turn_weight, a_weight, degree2_node, a0, w0, weights,
             grow_plus, grow_minus, x_star, solved, M, d, sigma_w, slope, levels, points):
    """The quantiles at ``levels`` of both laws at each step of ``solved`` ((S, Q) each: free, aligned). The
    solves are independent of each other and run in parallel (each writes its own rows: the result does not
    depend on the number of threads)."""
    S, Q, K = solved.shape[0], levels.shape[0], a0.shape[0]
    D = d - 1.0
    n = D * (D + 1.0) / 2.0 - 1.0
    out_free, out_aligned = np.ones((S, Q)), np.ones((S, Q))
    # the init's tensor is the nodes' own at the first solved step: its weights (a_i h_2,i)^2 there
    start = np.empty(K)
    for c in range(K):
        i = solved[0]
        plus, minus = (a0[c] + w0[c]) * grow_plus[i], (a0[c] - w0[c]) * grow_minus[i]
        a, w = (plus + minus) / 2.0, (plus - minus) / 2.0
        h2 = degree2_node(w * x_star[i] / math.sqrt(d), sigma_w, d, slope)
        start[c] = weights[c] * (a * h2) ** 2
    for j in numba.prange(S):
        i = solved[j]
        taus, shares, kappas = np.empty(2 * K), np.empty(2 * K), np.empty(K)
        total = 0.0
        for c in range(K):
            plus, minus = (a0[c] + w0[c]) * grow_plus[i], (a0[c] - w0[c]) * grow_minus[i]
            a, w = (plus + minus) / 2.0, (plus - minus) / 2.0
            h2 = degree2_node(w * x_star[i] / math.sqrt(d), sigma_w, d, slope)
            taus[c] = turn_weight(a, h2, sigma_w, d)
            shares[c] = M * weights[c] * (D - 1.0) / n
            taus[K + c] = a_weight(h2, d)
            shares[K + c] = M * weights[c] / n
            total += shares[c] * taus[c] + shares[K + c] * taus[K + c]
        for c in range(2 * K):
            taus[c] /= total
        for c in range(K):
            kappas[c] = taus[K + c]
        free, aligned = _law_quantiles(law_term, law_slope, aligned_transform, taus, shares, kappas, start, levels,
                                       points)
        out_free[j] = free
        out_aligned[j] = aligned
    return out_free, out_aligned


@kernel_template(3)
def _law_quantiles(law_term, law_slope, aligned_transform, taus, shares, kappas, start, levels, points):
    """Quantiles at ``levels`` of the law with population ``taus`` (shares_j: how many rank-one terms of weight
    tau_j per dimension; sum_j shares_j taus_j = 1, the trace average) and of the mixture over ``kappas`` (weights
    ``start``) of the laws m / (1 + kappa m) of directions along one of its own terms."""
    top = 0.0
    for c in range(taus.shape[0]):
        if shares[c] > 0.0 and taus[c] > top:
            top = taus[c]
    # points dense in the bulk (about 1) and sparse out where single nodes' directions sit alone
    x = _FINEST * np.expm1(np.linspace(0.0, math.log1p((1.2 * top + 4.0) / _FINEST), points))
    # the laws are read off m(x + i eta) (a Cauchy smoothing of width eta): eta the grid's local spacing, the
    # least that still resolves a narrow band sampled at that spacing
    eta = np.empty(points)
    for p in range(points):
        eta[p] = (x[min(p + 1, points - 1)] - x[max(p - 1, 0)]) / 2.0
    m = _stieltjes(law_term, law_slope, taus, shares, x, eta)
    free_density, aligned_density = np.empty(points), np.empty(points)
    for p in range(points):
        free_density[p] = max(m[p].imag, 0.0)
        acc = 0.0
        for c in range(kappas.shape[0]):
            acc += start[c] * max(aligned_transform(m[p], kappas[c]).imag, 0.0)
        aligned_density[p] = acc
    return _quantiles(x, free_density, levels), _quantiles(x, aligned_density, levels)


@kernel_template(2)
def _stieltjes(law_term, law_slope, taus, shares, x, eta):
    """m(x + i eta) on the grid ``x`` (``eta`` per point) from 1/m = -z + sum_j shares_j law_term(tau_j, m): Newton from the top of
    the grid down, each point starting from the quadratic through the three above, or from the one above (m ~ -1/z
    far above the spectrum); a damped fixed point where Newton leaves the upper half plane or does not converge."""
    P = x.shape[0]
    m_out = np.empty(P, dtype=np.complex128)
    m = -1.0 / complex(x[P - 1], eta[P - 1])
    for p in range(P - 1, -1, -1):
        z = complex(x[p], eta[p])
        good = False
        starts = 1
        start = m
        if p < P - 3:
            # first from the quadratic through the three points above (m is smooth on the grid's scale: it saves
            # Newton steps), then, should that fail, from the point above
            x0, x1, x2 = x[p + 1], x[p + 2], x[p + 3]
            start = (m * ((x[p] - x1) * (x[p] - x2) / ((x0 - x1) * (x0 - x2)))
                     + m_out[p + 2] * ((x[p] - x0) * (x[p] - x2) / ((x1 - x0) * (x1 - x2)))
                     + m_out[p + 3] * ((x[p] - x0) * (x[p] - x1) / ((x2 - x0) * (x2 - x1))))
            starts = 2 if start.imag > 0.0 else 1
            if starts == 1:
                start = m
        for attempt in range(starts):
            trial = start if attempt == 0 else m
            for _ in range(60):
                total, derivative = 0j, 0j
                for c in range(taus.shape[0]):
                    total += shares[c] * law_term(taus[c], trial)
                    derivative += shares[c] * law_slope(taus[c], trial)
                f = 1.0 / trial + z - total
                step = f / (-1.0 / trial ** 2 - derivative)
                trial = trial - step
                if abs(step) <= 1e-13 * abs(trial):
                    good = trial.imag > 0.0
                    break
            if good:
                break
        if not good:
            trial = -1.0 / z
            for _ in range(20000):
                total = 0j
                for c in range(taus.shape[0]):
                    total += shares[c] * law_term(taus[c], trial)
                new = 1.0 / (-z + total)
                if abs(new - trial) <= 1e-13 * abs(new):
                    trial = new
                    break
                trial = 0.5 * trial + 0.5 * new
        m = trial
        m_out[p] = m
    return m_out


@numba.njit(cache=True)
def _quantiles(x, density, levels):
    """The quantile function of the (unnormalized) ``density`` on ``x`` at ``levels`` (trapezoid rule)."""
    P = x.shape[0]
    cdf = np.zeros(P)
    for p in range(1, P):
        cdf[p] = cdf[p - 1] + 0.5 * (density[p] + density[p - 1]) * (x[p] - x[p - 1])
    if not cdf[P - 1] > 0.0:
        return np.ones(levels.shape[0])
    return np.interp(levels, cdf / cdf[P - 1], x)
