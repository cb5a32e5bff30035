"""The loss's feedback on F's degree-2 part along x_perp and on the linear part's bend (derivations/fluctuations.py):
what it leaves of the init's part and what the training sample puts in (:func:`rest_feedback`)."""
from __future__ import annotations

import dataclasses
import math
import warnings
import weakref

import numba
import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.feedback_spectrum import feedback_spectrum
from mftheory.finite_size import _common
from mftheory.finite_size._common import (_cell_masses, _check_degree2_spread, _check_feedback_inputs,
                                          _check_margin_density, _interp_rows, _node_moments)
from mftheory.finite_size.memorization import _finite_sample, _sliding_onset_or_none
from mftheory.kernels.binding import bind, kernel_template


@dataclasses.dataclass(frozen=True)
class RestFeedback:
    """The degree-2 part of F_M - F_t along x_perp (the first degree of the nonlinear rest) with the hinge loss's
    feedback (derivations/fluctuations.py, steps 6 and 7), at |x_par| = ``x_par`` (G points) and GD steps ``t``:
    ``damping`` (T+1, G), the amplitude of its init part with the feedback over its frozen-init amplitude;
    ``sample_variance`` (T+1, G), the variance of the part that the training sample puts in (the other
    examples' memorization, seen by fresh and training points alike; zero for N=None). Degrees >= 3 keep the
    frozen law. ``spread``: whether the init's part was pulled back with the feedback's spectrum at width M
    (its root mean square over the eigendirections) or at its isotropic average."""

    t: np.ndarray
    N: int | None
    sample: str
    x_par: np.ndarray
    damping: np.ndarray
    sample_variance: np.ndarray
    spread: bool = False


def rest_feedback(solution: MeanFieldSolution, N: int | None = None, sample: str = "fixed",
                  margin_density: str | None = None, spread: bool | None = None) -> RestFeedback | None:
    """The degree-2 part of F_M - F_t along x_perp with the hinge loss's feedback: its init part, and for N
    training examples the part the sample puts in (``sample="fixed"``: one set used at every step;
    ``"fresh"``: new examples at every step). Hinge loss, Gaussian data, clean labels; ``None`` for an
    activation whose degree-2 coefficient is not even in x_par (the derivation does not cover it). With one
    fixed set it follows that set's own clock (see :func:`predict`, also for ``margin_density`` and ``spread``,
    its ``degree2_spread``)."""
    from mftheory.finite_size.prediction import _on_training_clock   # (that module imports this one)
    _check_feedback_inputs(solution, N, sample, "the rest's feedback")
    margin_density = _check_margin_density(margin_density, N, sample)
    spread = _check_degree2_spread(spread, N is not None and sample == "fixed")
    return _rest_feedback(_on_training_clock(solution, N, sample, margin_density), N, sample, None, None, spread)


# rest_feedback(solution, None) per live solution (keyed by id, dropped when the solution is collected): the
# memorization map, the tilt and predict all need it, and it takes seconds at the paper's scale
_INIT_FEEDBACK: dict[tuple[int, bool], RestFeedback | None] = {}


def _init_feedback(solution, spread=False):
    """:func:`rest_feedback` with N=None (the init's part: it does not depend on the sample), computed once per
    solution and ``spread``."""
    key = (id(solution), bool(spread))
    if key not in _INIT_FEEDBACK:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _INIT_FEEDBACK[key] = rest_feedback(solution, None, spread=bool(spread))
        weakref.finalize(solution, _INIT_FEEDBACK.pop, key, None)
    return _INIT_FEEDBACK[key]


@dataclasses.dataclass(frozen=True)
class BendFeedback:
    """The bend of F's linear part along x_perp with |x_par| (derivations/finite_width.py, step linear_bend: each
    node's linear coefficient's part odd in w_par x_par; zero at x_par = 0, where the tilt is all of the linear
    part) with the hinge loss's feedback (derivations/fluctuations.py, step bend_feedback), at |x_par| = ``x_par``
    (G points) and GD steps ``t``: ``damping`` (T+1, G), its amplitude with the feedback over its frozen-init
    amplitude. The training sample's own part of the bend is left out (it is below the runs' resolution at the
    sizes measured)."""

    t: np.ndarray
    x_par: np.ndarray
    damping: np.ndarray
    sample_variance: np.ndarray


_BEND: dict[tuple, BendFeedback | None] = {}


def _bend_feedback(solution, N=None, sample="fixed", memo=None):
    """:class:`BendFeedback` along ``solution`` (the mean field or one fixed set's clock, whose density at the
    margin it uses), computed once per solution, N and sample; None for an activation the derivation does not
    cover. ``memo``: one fixed set's :func:`finite_sample` prediction (its map's unsatisfied examples pull)."""
    key = (id(solution), N, sample)
    if key not in _BEND:
        _BEND[key] = _derive_bend_feedback(solution, N, sample, memo)
        weakref.finalize(solution, _BEND.pop, key, None)
    return _BEND[key]


def _derive_bend_feedback(solution, N, sample, memo):
    setup, k = solution.setup, solution.kernels
    fw = solution.variant.finite_width_kernels()
    if not getattr(fw, "HAS_BEND", False) or not hasattr(k, "bend_feedback"):
        return None
    n = len(solution.t)
    moments = _node_moments(solution)
    ratio = getattr(solution, "threshold_density_ratio", None)
    d = float(setup.d)
    mode, unsatisfied, unit = _NO_SAMPLE, np.zeros((1, 1, 1)), 0.0
    if N is not None:
        unit = k.bend_sample_variance(1.0, 1.0, setup.alpha, setup.beta, d, float(N))
        if sample == "fixed":
            if memo is None:
                memo = _quiet_finite_sample(solution, N, "auto")[0]
            mode, unsatisfied = _FIXED_SAMPLE, np.ascontiguousarray(memo.unsatisfied, dtype=float)
        else:
            mode = _FRESH_SAMPLE
    # the degree-2 part's recursion with the bend's kernels: the same rank-one pull-back at the threshold, and
    # the same accumulation of the pulling examples' deposits
    recursion = bind(_rest_recursion, fw.linear_odd_second, k.bend_feedback, fw.linear_odd_cross,
                     fw.linear_odd_cross_a2, k.bend_kernel, k.tilt_response)
    damping, sample_variance = recursion(
        moments, np.asarray(solution.x_star, dtype=float), np.asarray(solution.kappa, dtype=float),
        np.ones(n) if ratio is None else np.asarray(ratio, dtype=float), setup.alpha, float(setup.M), d,
        setup.sigma_w, setup.slope, setup.beta, setup.h, _common._REST_GRID, _cell_masses(_common._REST_GRID), _common._ZETA_WEIGHTS,
        unsatisfied, mode, unit, np.ones((n, 1)))
    return BendFeedback(t=solution.t, x_par=_common._REST_GRID.copy(), damping=damping, sample_variance=sample_variance)


def _bend_variance_rows(fw, bend, xs, params, steps, with_sample=True):
    """(T+1, P): the variance of the bend (with the loss's feedback) at the points xs[i], parameters params[i]
    (:func:`_rest_params`), for each step i in ``steps``: its init part and (``with_sample``) the training
    sample's; zeros elsewhere and without the bend."""
    if bend is None:
        return np.zeros(xs.shape)
    xs = np.ascontiguousarray(xs, dtype=float)
    out = bind(_damped_rows, fw.bend_variance)(xs, params, bend.x_par, bend.damping, steps, False)
    if with_sample:
        out += _interp_rows(xs, bend.x_par, bend.sample_variance, steps)
    return out


def _rest_feedback(solution, N, sample, memo, state=None, spread=False):
    """:func:`rest_feedback`, with ``memo`` and ``state`` the :func:`finite_sample` prediction for a fixed sample
    and its memorization map's state when the caller has them already (None: computed here); ``spread``: the
    init's part with the feedback's spectrum (:func:`mftheory.feedback_spectrum.feedback_spectrum`) instead of its
    isotropic average."""
    setup, N = _check_feedback_inputs(solution, N, sample, "the rest's feedback")
    k = solution.kernels
    fw = solution.variant.finite_width_kernels()
    if not getattr(fw, "HAS_DEGREE2", False):
        return None
    grid = _common._REST_GRID
    n = len(solution.t)
    moments = _node_moments(solution)
    d = float(setup.d)
    unit = 0.0 if N is None else k.rest_sample_variance(1.0, 1.0, setup.alpha, setup.beta, d, float(N))
    # the examples still unsatisfied put their share in: for fresh data those below x*(t); for one fixed set
    # those the memorization map finds below the margin, per spread value zeta (an example memorized past its
    # margin stops pulling, and pulls again once its memorized margin has faded)
    mode, unsatisfied = _NO_SAMPLE, np.zeros((1, 1, 1))
    if N is not None and sample == "fixed":
        mode = _FIXED_SAMPLE
        if memo is None or state is None:
            memo, state = _quiet_finite_sample(solution, N, "auto")
        unsatisfied = memo.unsatisfied
        if getattr(solution, "threshold_density_ratio", None) is not None:
            # the set's own density at the margin: its crowd there holds its share of every new deposit
            unsatisfied = unsatisfied * np.sqrt(_crowd_hold(solution, N, state))[:, None, None]
    elif N is not None:
        mode = _FRESH_SAMPLE
    ratio = getattr(solution, "threshold_density_ratio", None)
    recursion = bind(_rest_recursion, fw.degree2_second, k.rest_feedback, fw.degree2_cross, fw.degree2_cross_a2,
                     k.degree2_kernel, k.tilt_response)
    damping, sample_variance = recursion(
        moments, np.asarray(solution.x_star, dtype=float), np.asarray(solution.kappa, dtype=float),
        np.ones(n) if ratio is None else np.asarray(ratio, dtype=float), setup.alpha, float(setup.M), d,
        setup.sigma_w, setup.slope, setup.beta, setup.h, grid, _cell_masses(grid), _common._ZETA_WEIGHTS,
        np.ascontiguousarray(unsatisfied, dtype=float), mode, unit,
        # a writable copy: the solved laws are shared and read-only, and the compiled recursion takes one array type
        np.array(feedback_spectrum(solution, reach=float(grid[-1])).aligned) if spread else np.ones((n, 1)))
    return RestFeedback(t=solution.t, N=N, sample=sample, x_par=grid.copy(), damping=damping,
                        sample_variance=sample_variance, spread=bool(spread))


_NO_SAMPLE, _FIXED_SAMPLE, _FRESH_SAMPLE = 0, 1, 2


def _crowd_hold(solution, N, state):
    """(T+1,): the share of a new degree-2 deposit's variance that one fixed set's crowd at the margin leaves
    (derivations/finite_sample.py, ``crowd_hold``): the crowd is the memorization map's examples stalled at the
    margin (its pile, N times its share), at the |x_par| where the set's examples get satisfied; ones where none
    is stalled."""
    return _at_the_crowd(solution, N, state, "crowd_hold", 1.0)


def _at_the_crowd(solution, N, state, name, nobody):
    """(T+1,): the generated finite-sample kernel ``name`` (crowd, A_2, K_mem, d) of one fixed set's crowd at the
    margin at every step (see :func:`_crowd_hold`), ``nobody`` where none is stalled."""
    setup = solution.setup
    fs = solution.variant.finite_sample_kernels()
    kernel = getattr(fs, name)
    n = len(solution.t)
    moments = _node_moments(solution)
    d = float(setup.d)
    out = np.full(n, nobody)
    kappa = np.asarray(state.kappa, dtype=float)
    for i in np.flatnonzero((np.asarray(state.pile) > 0) & (kappa > 0) & (moments[:, 2] > 0)):
        args = (max(setup.h - state.memorized[i], 0.0) / kappa[i], *moments[i, :3], d, setup.sigma_w, setup.slope)
        quadratic = fs.quadratic_kernel(*args)
        out[i] = kernel(N * state.pile[i], quadratic, fs.self_kernel(*args) - fs.low_degree_kernel(*args), d)
    return out


@kernel_template(6)
def _rest_recursion(degree2_second, rest_feedback, cross, cross_a2, degree2_kernel, tilt_response, moments, x_star,
                    kappa, density_ratio, alpha, M, d, sigma_w, slope, beta, h, grid, masses, zeta_weights,
                    unsatisfied, mode, unit, spread):
    """The steps of :func:`rest_feedback`, compiled as one recursion over GD steps (the steps of
    :func:`_degree2_step_maps`): returns the damping of the init's degree-2 part and the variance the sample puts
    in, (T+1, G) each. ``mode``: ``_NO_SAMPLE``, ``_FIXED_SAMPLE`` (``unsatisfied`` (T+1, Z, G): the map's
    share of unsatisfied examples per spread value and cell) or ``_FRESH_SAMPLE`` (the examples below x*(t));
    ``density_ratio`` (T+1,): the factor on the infinite set's density at the margin (ones: that density);
    ``spread`` (T+1, Q): the init's part split over Q eigendirections of the feedback, each pulled back at the rate
    times its eigenvalue over the average (:func:`mftheory.feedback_spectrum.feedback_spectrum`; (T+1, 1) ones:
    the isotropic average, the damping then signed), the damping their root mean square."""
    n, G = moments.shape[0], grid.shape[0]
    Q = spread.shape[1]
    damping, sample_variance = np.ones((n, G)), np.zeros((n, G))
    Z = zeta_weights.shape[0]
    responses = np.zeros((Z, G, G)) if mode == _FIXED_SAMPLE else np.zeros((1, 1, 1))
    covariance = np.zeros((G, G))   # fresh data: covariance of the sample's part between grid points
    amplitude, frozen, previous, growth = np.zeros((Q, G)), np.zeros(G), np.zeros(G), np.ones(G)
    rates, at = np.zeros(G), np.zeros(G)
    started = False
    for i in range(n):
        a2, w2, aw = moments[i, 0], moments[i, 1], moments[i, 2]
        if not aw > 0:   # t = 0: F = 0, no threshold yet
            continue
        for g in range(G):
            frozen[g] = math.sqrt(degree2_second(grid[g], a2, w2, aw, alpha, M, d, sigma_w, slope))
        # what the feedback took out (and what the sample put in) grows with the nodes as the fluctuation does
        for g in range(G):
            growth[g] = frozen[g] / previous[g] if started and previous[g] > 0 else 1.0
            for q in range(Q):
                amplitude[q, g] = amplitude[q, g] * growth[g] if started else frozen[g]
            if Q == 1:
                damping[i, g] = amplitude[0, g] / frozen[g] if frozen[g] > 0 else 1.0
            elif frozen[g] > 0:
                kept = 0.0
                for q in range(Q):
                    kept += amplitude[q, g] ** 2
                damping[i, g] = math.sqrt(kept / Q) / frozen[g]
            previous[g] = frozen[g]
        started = True
        if mode == _FIXED_SAMPLE:
            sample_variance[i] = unit * _grow_responses(responses, growth, zeta_weights, masses)
        elif mode == _FRESH_SAMPLE:
            for p in range(G):
                for q in range(G):
                    covariance[p, q] *= growth[p] * growth[q]
                sample_variance[i, p] = unit * covariance[p, p]
        x, kap = x_star[i], kappa[i]
        if not (i + 1 < n and kap > 0 and x < grid[G - 1]):
            continue
        # the hinge's pull-back: I - rates at^T (rank one; ``at`` interpolates at the threshold)
        e_u_prime = tilt_response(kap, d, h) * density_ratio[i]
        j = 0
        while j < G - 2 and grid[j + 1] <= x:
            j += 1
        width = grid[j + 1] - grid[j]
        at[:] = 0.0
        at[j] = (-1.0 / width) * (x - grid[j]) + 1.0       # np.interp's own arithmetic on a unit vector
        at[j + 1] = (1.0 / width) * (x - grid[j])
        for g in range(G):
            rates[g] = rest_feedback(e_u_prime, beta, alpha, cross(grid[g], x, a2, w2, aw, alpha, M, d, sigma_w, slope),
                                     cross_a2(grid[g], x, a2, w2, aw, alpha, M, d, sigma_w, slope), d, sigma_w)
        for q in range(Q):
            there = 0.0
            for g in range(G):
                there += at[g] * amplitude[q, g]
            there *= spread[i, q]
            for g in range(G):
                amplitude[q, g] -= rates[g] * there
        if mode == _FIXED_SAMPLE:
            _pull_responses(responses, rates, at, j)
            injected = np.empty(G)
            # cells where a share above 1e-12 of the examples pulls (the kernel is a quadrature: skip the rest)
            for c in range(G):
                share = 0.0
                for z in range(Z):
                    share += zeta_weights[z] * unsatisfied[i, z, c]
                if share > 1e-12:
                    for g in range(G):
                        injected[g] = degree2_kernel(cross(grid[g], grid[c], a2, w2, aw, alpha, M, d, sigma_w, slope),
                                                     cross_a2(grid[g], grid[c], a2, w2, aw, alpha, M, d, sigma_w,
                                                              slope), d, sigma_w)
                    for z in range(Z):   # each response row in memory order
                        for g in range(G):
                            responses[z, c, g] += unsatisfied[i, z, c] * injected[g]
        elif mode == _FRESH_SAMPLE:
            # ``at`` has two nonzero entries (j, j + 1): its products with the covariance written out (a BLAS call
            # per step would cost more than the product)
            at_cov = np.empty(G)
            for q in range(G):
                at_cov[q] = at[j] * covariance[j, q] + at[j + 1] * covariance[j + 1, q]
            for p in range(G):
                for q in range(G):
                    covariance[p, q] -= rates[p] * at_cov[q]
            cov_at = np.empty(G)
            for p in range(G):
                cov_at[p] = covariance[p, j] * at[j] + covariance[p, j + 1] * at[j + 1]
            for p in range(G):
                for q in range(G):
                    covariance[p, q] -= cov_at[p] * rates[q]
            below = 0
            while below < G and grid[below] < x:
                below += 1
            if below:
                # injected[c, g]: the kernel between source cell c and grid point g; each (p, q) sum runs over c in
                # order from 0, as a plain triple loop would, but the innermost loop runs over q (independent sums)
                injected = np.empty((below, G))
                for g in range(G):
                    for c in range(below):
                        injected[c, g] = degree2_kernel(cross(grid[g], grid[c], a2, w2, aw, alpha, M, d, sigma_w, slope),
                                                        cross_a2(grid[g], grid[c], a2, w2, aw, alpha, M, d, sigma_w,
                                                                 slope), d, sigma_w)
                # the added covariance is symmetric: each pair (p, q >= p) summed once, then mirrored
                totals = np.zeros(G)
                for p in range(G):
                    totals[p:] = 0.0
                    for c in range(below):
                        weighted = injected[c, p] * masses[c]
                        for q in range(p, G):
                            totals[q] += weighted * injected[c, q]
                    covariance[p, p] += totals[p]
                    for q in range(p + 1, G):
                        covariance[p, q] += totals[q]
                        covariance[q, p] += totals[q]
    return damping, sample_variance


@numba.njit(cache=True)
def _grow_responses(responses, growth, zeta_weights, masses):
    """responses[z, j, :] *= growth (the nodes' growth of the sample's parts, (Z, G sources, G points)); returns
    sum_z,j zeta_weights[z] masses[j] responses[z, j, :]^2."""
    out = np.zeros(responses.shape[2])
    for z in range(responses.shape[0]):
        for j in range(responses.shape[1]):
            for g in range(responses.shape[2]):
                responses[z, j, g] *= growth[g]
                out[g] += zeta_weights[z] * masses[j] * responses[z, j, g] ** 2
    return out


@numba.njit(cache=True)
def _pull_responses(responses, rates, at, first):
    """The hinge's pull-back on every response: responses[z, j, :] <- responses[z, j, :] (I - rates at^T)^T.
    ``at`` is zero except at ``first`` and ``first + 1`` (it interpolates at the threshold), so each response's
    value there is those two terms, added in the order of the full sum (the zeros would add exact zeros)."""
    for z in range(responses.shape[0]):
        for j in range(responses.shape[1]):
            there = 0.0
            there += responses[z, j, first] * at[first]
            there += responses[z, j, first + 1] * at[first + 1]
            for g in range(responses.shape[2]):
                responses[z, j, g] -= there * rates[g]


def _degree2_removed_rows(fw, feedback, xs, params, steps):
    """(T+1, P): :func:`_degree2_removed` at the points xs[i] with the parameters params[i] (:func:`_rest_params`)
    for each step i in ``steps``, zeros elsewhere (and everywhere without the feedback)."""
    if feedback is None:
        return np.zeros(xs.shape)
    return bind(_damped_rows, fw.degree2_variance)(np.ascontiguousarray(xs, dtype=float), params, feedback.x_par,
                                                    feedback.damping, steps, True)


@kernel_template(1)
def _damped_rows(variance, xs, params, x_par, damping, steps, removed):
    """variance(x) times the share the feedback took out of it, 1 - damping(x)^2 (``removed``), or the share it
    kept, damping(x)^2, at xs[i] with the parameters params[i] for each step i in ``steps``; zeros elsewhere."""
    out = np.zeros(xs.shape)
    for i in steps:
        args = (params[i, 0], params[i, 1], params[i, 2], params[i, 3], params[i, 4], params[i, 5], params[i, 6],
                params[i, 7])
        kept = np.interp(xs[i], x_par, damping[i])
        for p in range(xs.shape[1]):
            share = 1.0 - kept[p] ** 2 if removed else kept[p] ** 2
            out[i, p] = variance(xs[i, p], *args) * share
    return out


def _sample_variance_rows(feedback, xs, steps):
    """(T+1, P): the variance the training sample puts in (``feedback.sample_variance``) at the points xs[i]."""
    if feedback is None:
        return np.zeros(xs.shape)
    return _interp_rows(np.ascontiguousarray(xs, dtype=float), feedback.x_par, feedback.sample_variance, steps)


def _quiet_finite_sample(solution, N, hold_from):
    """:func:`finite_sample`'s whole prediction and its map's state without its range warning (the caller's own
    call gives it), each example's share of the tilt held from ``hold_from`` (``"auto"``: the sliding onset of
    :func:`tilt`)."""
    if hold_from == "auto":
        hold_from = _sliding_onset_or_none(solution, N)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite_sample(solution, N, hold_from=hold_from)
