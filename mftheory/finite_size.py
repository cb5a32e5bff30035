"""Finite-size corrections to the mean-field predictions: finite width M (frozen init law; derivations/finite_width.py),
finite sample N (the self term of the empirical average; derivations/finite_sample.py) and the tilt of the
effective teacher with the loss's feedback (derivations/fluctuations.py); :func:`predict` puts them together."""
from __future__ import annotations

import dataclasses
import math
import warnings
import weakref

import numba
import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.kernels.binding import bind, kernel_template
from mftheory.model import _check_real, check_int
from mftheory.feedback_spectrum import feedback_spectrum
from mftheory.node_law import node_law as _node_law


@dataclasses.dataclass(frozen=True)
class FiniteWidthPrediction:
    """At GD steps ``t``: ``band_sd`` the sd of |x_par| at which examples get satisfied around x*(t) (Fig. 1d)
    over inits; ``band_scatter_sd`` the same within one run (the common part of F_M - F_t, the same for every
    x_perp, only shifts the band); ``band_rest_sd`` the nonlinear rest alone (the tilt removed too);
    ``test_error`` the finite-M test error P(y F_M(x) < 0). All O(1/sqrt(M)) from the frozen init law."""

    t: np.ndarray
    band_sd: np.ndarray
    band_scatter_sd: np.ndarray
    band_rest_sd: np.ndarray
    test_error: np.ndarray
    moments: np.ndarray  # (T+1, 3): E[a^2], E[w_par^2], E[a w_par]


def _check_solution(solution):
    if not isinstance(solution, MeanFieldSolution):
        raise ValueError(f"solution must be a mftheory.MeanFieldSolution (from mftheory.meanfield(setup, steps)), "
                         f"got {type(solution).__name__}")
    return solution.setup


def finite_width(solution: MeanFieldSolution) -> FiniteWidthPrediction:
    """Finite-M band and test error along a mean-field solution (Gaussian data only)."""
    setup = _check_solution(solution)
    if solution.variant.data.name != "gaussian":
        raise ValueError(f"data must be 'gaussian' for the finite-width corrections (derived for it only), got "
                         f"{solution.variant.data.name!r}")
    k = solution.kernels
    fw = solution.variant.finite_width_kernels()
    sa, sw = setup.sigma_a, setup.sigma_w
    all_moments = _node_moments(solution)
    moments = all_moments[:, :3]
    args = (setup.alpha, float(setup.M), float(setup.d), sw, setup.slope)
    band, scatter, rest = (np.full(len(solution.t), np.inf) for _ in range(3))
    error = np.full(len(solution.t), 0.5)
    steps = np.flatnonzero(moments[:, 2] > 0)   # at t = 0 F_t = 0: no threshold, every sign equally likely
    bind(_finite_width_rows, fw.band_sd, fw.band_scatter_sd, fw.band_rest_sd, fw.test_error)(
        np.ascontiguousarray(moments), steps, setup.h, args, band, scatter, rest, error)
    _warn_wide_band(solution, band, stacklevel=3)
    return FiniteWidthPrediction(t=solution.t, band_sd=band, band_scatter_sd=scatter, band_rest_sd=rest,
                                 test_error=error, moments=moments)


def _warn_wide_band(solution, band, stacklevel, what="finite_width"):
    """The range warning of the expansion in 1/sqrt(M), named after the public function ``what`` whose caller
    ``stacklevel`` points at."""
    with np.errstate(invalid="ignore"):
        relative_band = np.nanmax(np.where(np.isfinite(band), band / solution.x_star, np.nan)) if len(band) > 1 else 0
    if relative_band > 1.0:
        warnings.warn(f"{what}: the frozen-init band reaches {relative_band:.2g} x* (M = {solution.setup.M}): the "
                      f"expansion to first order in 1/sqrt(M) is outside its range (it needs band_sd < x*)",
                      stacklevel=stacklevel)


def _frozen_band_rest_sd(solution, what, stacklevel):
    """:func:`finite_width`'s ``band_rest_sd`` alone (with its range warning), without its test error (a
    quadrature)."""
    setup, fw = solution.setup, solution.variant.finite_width_kernels()
    moments = _node_moments(solution)
    args = (setup.alpha, float(setup.M), float(setup.d), setup.sigma_w, setup.slope)
    band, rest = np.full(len(solution.t), np.inf), np.full(len(solution.t), np.inf)
    steps = np.flatnonzero(moments[:, 2] > 0)
    for kernel, out in ((fw.band_sd, band), (fw.band_rest_sd, rest)):
        bind(_band_kernel_rows, kernel)(np.ascontiguousarray(moments[:, :3]), steps, setup.h, args, out)
    _warn_wide_band(solution, band, stacklevel + 1, what)
    return rest


@kernel_template(1)
def _band_kernel_rows(kernel, moments, steps, h, args, out):
    """out[i] = kernel(h, m_a2, m_w2, m_aw, *args) with the moments of each of ``steps``."""
    for i in steps:
        out[i] = kernel(h, moments[i, 0], moments[i, 1], moments[i, 2], *args)


@kernel_template(4)
def _finite_width_rows(band_sd, band_scatter_sd, band_rest_sd, test_error, moments, steps, h, args, band, scatter,
                       rest, error):
    """:func:`finite_width`'s four kernels at each of ``steps`` (moments (T+1, 3); args: alpha, M, d, sigma_w,
    leak), into ``band``, ``scatter``, ``rest`` and ``error``."""
    for i in steps:
        a2, w2, aw = moments[i, 0], moments[i, 1], moments[i, 2]
        band[i] = band_sd(h, a2, w2, aw, *args)
        scatter[i] = band_scatter_sd(h, a2, w2, aw, *args)
        rest[i] = band_rest_sd(h, a2, w2, aw, *args)
        error[i] = test_error(a2, w2, aw, *args)


@kernel_template(1)
def _kernel_over(kernel, xs, steps, fixed, out):
    """out[i] = kernel(xs[i], *fixed) for i in ``steps``."""
    for i in steps:
        out[i] = kernel(xs[i], *fixed)


@kernel_template(1)
def _kernel_over_pairs(kernel, xs, ys, steps, fixed, out):
    """out[i] = kernel(xs[i], ys[i], *fixed) for i in ``steps``."""
    for i in steps:
        out[i] = kernel(xs[i], ys[i], *fixed)


@dataclasses.dataclass(frozen=True)
class FiniteSamplePrediction:
    """First-order finite-N corrections at GD steps ``t`` for ``N`` training examples.

    ``self_kernel`` and ``memorizing_kernel`` are K(x, x) at the threshold x*(t) and its part of degree >= 2 along
    x_perp; ``shift`` and ``shift_full`` the predicted displacement of the |x_par| at which a training example is
    first satisfied (negative: below x*(t)), from the memorizing kernel and from the whole self kernel;
    ``onset_ratio`` R(t), self term over the mean-field drive at x*; ``onset`` the first step with R >= 1
    (None if R stays below 1), where train and test are predicted to part ways; ``tilt_ratio`` the norm of
    the random part of the empirical mean orthogonal to w*, per unit parallel drift.

    With memorization fed back into the map (``_memorization_map``): ``kappa`` the slope of F along x_par,
    ``memorized`` S(t) and ``spread`` sigma_S(t), the mean and sd over examples of the margin memorized so far,
    ``crossing`` the |x_par| at which training examples get satisfied on average, ``train_unsat`` the training f_unsat and
    ``test_unsat`` the fraction of fresh points with margin below h; ``memorized_mean`` the margin memorized so far
    averaged over all training examples (what a training point's margin exceeds a fresh point's by, on average);
    ``unsatisfied`` (T+1, Z, G) the share of the training examples unsatisfied at each step, spread value (the
    Gauss-Hermite nodes ``_ZETA``) and |x_par| cell of the rest's grid (``_REST_GRID``): which examples pull."""

    t: np.ndarray
    N: int
    self_kernel: np.ndarray
    memorizing_kernel: np.ndarray
    shift: np.ndarray
    shift_full: np.ndarray
    onset_ratio: np.ndarray
    onset: int | None
    tilt_ratio: np.ndarray
    kappa: np.ndarray
    memorized: np.ndarray
    spread: np.ndarray
    crossing: np.ndarray
    train_unsat: np.ndarray
    test_unsat: np.ndarray
    memorized_mean: np.ndarray
    unsatisfied: np.ndarray = dataclasses.field(repr=False, default=None)


# Gauss-Hermite (probabilists') nodes for the average over the spread zeta ~ N(0, 1) of the memorized margin
_ZETA, _ZETA_WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_ZETA_WEIGHTS = _ZETA_WEIGHTS / np.sqrt(2 * np.pi)
# |x_par| points at which each training example's own memorized margin is followed: dense near 0, where the late
# thresholds are (spacing 4e-3 at x_par = 0.1); past 6 lies a share 2e-9 of the examples
_MEMO_GRID = 6.0 * np.linspace(0.0, 1.0, 401) ** 2


@dataclasses.dataclass(frozen=True)
class _MapResult:
    """What :func:`_memorization_map` follows, at every step."""

    kappa: np.ndarray
    memorized: np.ndarray          # at the crossing
    spread: np.ndarray
    train_unsat: np.ndarray
    memorized_mean: np.ndarray
    unsatisfied: np.ndarray        # (T+1, Z, G_rest)
    train_rates: np.ndarray | None  # (T+1, 2): training error and f_unsat with the rest (train_variance given)
    tilt_sample_variance: np.ndarray | None  # (systems, T+1): the tilt's sample part (tilt_systems given)
    gamma_plus: np.ndarray         # the node map's exponents driven by the training set's unsatisfied examples
    gamma_minus: np.ndarray
    rate: np.ndarray               # the training set's drift rate g at every step (what moves the nodes)
    own_rate: np.ndarray           # the margin an unsatisfied example at the crossing gains per step on its own
    pile: np.ndarray               # share of the set stalled at the margin (:func:`_scan_the_margin`)
    node_moments: np.ndarray | None  # (T+1, 5) the node law with the own shifts (None: gamma_+- give it)
    excess: np.ndarray | None      # E[u (y F - kappa |x_par|)] over the set, what grows a (with the own shifts)
    a_growth: np.ndarray | None    # beta r: every a_i's growth per step from the own shifts
    snapshot: dict | None = None   # the classes at two steps (``snapshot_at``)


def _memorization_map(solution, N, fs, train_variance=None, tilt_systems=None, hold_from=None, snapshot_at=None):
    """The mean-field map with memorization fed back (derivations/finite_sample.py). A training example at |x_par|
    = x and spread zeta has margin kappa x + S(x, zeta, t) + L(x, zeta, t) + sigma_S(t) zeta: sigma_S is the
    spread from the other examples' memorizing terms, S its own memorizing term (the memorizing part of its self
    kernel at its own |x_par|) summed over the steps at which it was unsatisfied
    (the hinge stops pulling on a satisfied example, and pulls again if the others' terms push it back below
    h), and L the degree-1 part of its own term: the tilt along its own x_perp that its pulls put in, carried by
    the tilt's linear system with the loss's feedback (``tilt_own_margin``, derivations/fluctuations.py) and held
    from ``hold_from`` (the sliding onset, from which the tilt is held; None: never). The drift and the training
    f_unsat add up the unsatisfied examples over (x, zeta). The set's crowd stalled at the margin (the map's pile)
    keeps its margins, so it re-memorizes what every pull puts at its points: it takes its share of each
    example's own deposit (``crowd_kept``: of the degree-2 harmonic part, at the example's own |x_par|; the own
    step s, the pile's band, is the kept one) and holds back part of the variance of the others' degree-2 pulls
    that make the spread (``crowd_hold``, as for the sample's part of F, :func:`rest_feedback`).
    Returns kappa, the memorized margin at the crossing, sigma_S, the training f_unsat, the memorized margin
    averaged over all training examples and the share of examples unsatisfied per (zeta, cell of the rest's grid)
    at every step (N -> infinity gives the mean field).
    ``train_variance`` (T+1, G_memo), optional: the variance of the rest of a training point's margin (the
    finite-width rest and the tilt) on the memorization grid. It is as persistent as the spread (a fixed function
    of x that an example memorizes against alike), so it joins it: the margin is kappa x + S + sqrt(sigma_S^2 +
    V(x)) zeta. With it, also the training error and f_unsat at every step (NaN where F = 0), else None.
    ``tilt_systems``, optional: pairs (A (T+1, 2, 2), b (T+1, 2)) of the tilt's linear system X' = A_t X + b_t r_t
    (:func:`_propagate_tilt`); with them, the variance of v_k that the fixed sample's r_t puts in, r_t the mean
    over the examples unsatisfied at step t (each example class of the map keeps its own response, which it adds
    to while it is unsatisfied).
    ``snapshot_at``, optional: a step t; the result's ``snapshot`` then holds the example classes at t and t + 1
    (``memorized`` S and ``linear`` L (2, Z, G_memo), the offset's sd ``sigma`` (2, G_memo), ``below`` h (2, Z,
    G_memo), ``kappa`` (2,)) and the ``own`` term per grid point at t: a class's margin is kappa x + S + L + sigma
    zeta (the benches take its step apart)."""
    setup = solution.setup
    k = solution.kernels
    n = len(solution.t)
    to_cells = _memo_to_rest_cells()
    cell_of = np.argmax(to_cells > 0, axis=0)          # the cell of the rest's grid each memorization point is in
    cell_share = to_cells[cell_of, np.arange(_MEMO_GRID.size)]
    masses = _cell_masses(_MEMO_GRID)
    masses /= masses.sum()
    systems = [] if tilt_systems is None else list(tilt_systems)
    A = np.zeros((len(systems), n, 2, 2))
    b = np.zeros((len(systems), n, 2))
    for s_index, (A_s, b_s) in enumerate(systems):
        A[s_index], b[s_index] = A_s, b_s
    with_rest = train_variance is not None
    rest = np.zeros((n, _MEMO_GRID.size)) if train_variance is None else np.ascontiguousarray(train_variance, float)
    steps = bind(_memorization_steps, k.kappa_increments, k.gamma_from_increment_plus,
                          k.gamma_from_increment_minus, k.unsat_fraction, k.g_rate, k.moment_a2, k.moment_w2,
                          k.moment_aw, k.update_increment_plus, k.update_increment_minus, fs.self_kernel,
                          fs.low_degree_kernel, fs.quadratic_kernel, fs.width_kernel, fs.pull_amplitude,
                          fs.kernel_amplitude, fs.self_rate, fs.spread_step, fs.velocity_sd, fs.pile_unsat,
                          fs.pile_drift, fs.crowd_kept, fs.crowd_hold, fs.own_shift_rate, fs.transfer_step_aa,
                          fs.transfer_step_aw, fs.transfer_step_wa, fs.transfer_step_ww, fs.transfer_a2,
                          fs.transfer_w2, fs.transfer_aw, fs.transfer_da2, fs.transfer_dw2, fs.transfer_kappa)
    own_A, own_b, own_gain = _own_tilt_system(solution, N)
    own_shifts = _own_shifts(solution)
    (kappa, accumulated, spread, train, mean_memorized, unsatisfied, rates, tilt_variance, gammas, rates_g,
     own_rates, pile, node_moments, excess, a_growth, *snapshot) = steps(n, float(setup.d), setup.h, setup.label_noise, setup.sigma_a, setup.sigma_w,
                        solution.variant.odd_slope(setup.leak), setup.slope, setup.alpha, setup.beta, float(N),
                        float(setup.M),
                        _ZETA, _ZETA_WEIGHTS, _MEMO_GRID, _REST_GRID.size, cell_of, cell_share, masses,
                        _memory_fading(solution), rest, with_rest, A, b, own_A, own_b, own_gain,
                        n if hold_from is None else int(hold_from), _moving_pile(solution),
                        _width_pulls(solution), own_shifts, -1 if snapshot_at is None else int(snapshot_at))
    return _MapResult(kappa=kappa, memorized=accumulated, spread=np.sqrt(spread), train_unsat=train,
                      memorized_mean=mean_memorized, unsatisfied=unsatisfied, train_rates=rates if with_rest else None,
                      tilt_sample_variance=tilt_variance if systems else None, gamma_plus=gammas[0],
                      gamma_minus=gammas[1], rate=rates_g, own_rate=own_rates, pile=pile,
                      node_moments=node_moments if own_shifts else None, excess=excess if own_shifts else None,
                      a_growth=a_growth if own_shifts else None,
                      snapshot=None if snapshot_at is None else dict(zip(
                          ("memorized", "linear", "sigma", "below", "kappa", "own"), snapshot)))


def _own_tilt_system(solution, N):
    """What an example's own pull does through the tilt: the tilt's linear system with the loss's feedback
    (:func:`_propagate_tilt`'s A_t and b_t, (T+1, 2, 2) and (T+1, 2)) and the margin the example keeps per unit of
    its summed response (``tilt_own_margin``, derivations/fluctuations.py): the degree-1 part of its self term,
    a tilt along its own x_perp that the loss's feedback pulls back like any other. Zeros where the tilt is not
    derived (mislabelled examples, an activation without its kernels)."""
    setup, k = solution.setup, solution.kernels
    n = len(solution.t)
    if not (getattr(k, "HAS_TILT", False) and setup.label_noise == 0):
        return np.zeros((n, 2, 2)), np.zeros((n, 2)), 0.0
    d, beta, sw = float(setup.d), setup.beta, setup.sigma_w
    c = solution.variant.odd_slope(setup.leak)
    moments = _node_moments(solution)
    drive = _tilt_drive(solution, moments)
    response = _threshold_densities(solution, d, setup.h)
    A = _tilt_matrices(beta * solution.g, drive, k.tilt_gain(setup.alpha, c, d) * response, _a_growth(solution))
    return np.ascontiguousarray(A), np.ascontiguousarray(drive), k.tilt_own_margin(1.0, setup.alpha, c, d, float(N))


def _tilt_drive(solution, moments):
    """(T+1, 2): b_t of the tilt's linear system, the change of (v_k, u_k) per unit r_k in one step."""
    setup, k = solution.setup, solution.kernels
    d, beta, sw = float(setup.d), setup.beta, setup.sigma_w
    c = solution.variant.odd_slope(setup.leak)
    n = moments.shape[0]
    drive = np.empty((n, 2))
    bind(_tilt_drive_rows, k.tilt_drive_v, k.tilt_drive_u)(np.ascontiguousarray(moments[:, 0]),
                                                           np.ascontiguousarray(moments[:, 2]),
                                                           np.asarray(solution.g, dtype=float), (beta, sw, c, d), drive)
    return drive


@kernel_template(2)
def _tilt_drive_rows(tilt_drive_v, tilt_drive_u, m_a2, m_aw, g, fixed, out):
    """out[i] = (tilt_drive_v, tilt_drive_u) at step i (fixed: beta, sigma_w, odd slope, d)."""
    beta, sw, c, d = fixed
    for i in range(m_a2.shape[0]):
        out[i, 0] = tilt_drive_v(m_a2[i], m_aw[i], beta, g[i], sw, c, d)
        out[i, 1] = tilt_drive_u(m_a2[i], m_aw[i], beta, g[i], sw, c, d)


@dataclasses.dataclass(frozen=True)
class _OnTrainingClock(MeanFieldSolution):
    """A solution re-run on one fixed set's clock (:func:`_training_clock`), with that set's density of examples at
    the margin relative to the infinite set's at every step: the factor on the loss's feedback. ``moving_pile``:
    the memorization map along it moves the examples it holds at the margin (``predict``'s ``held_margins``);
    ``width_pulls``: its others' pulls have the width's part (``predict``'s ``others_pulls``); ``own_shifts``:
    its node map has the unsatisfied examples' own shifts (``predict``'s ``own_shifts``); ``node_moments``
    (T+1, 5) and ``a_growth`` (T+1,): the node law on this clock and a's growth per step from the own shifts,
    where the node map is not the mean field's in gamma_+- (with the own shifts)."""

    threshold_density_ratio: np.ndarray = dataclasses.field(default=None, repr=False)
    moving_pile: bool = False
    width_pulls: bool = False
    own_shifts: bool = False
    node_moments: np.ndarray = dataclasses.field(default=None, repr=False)
    a_growth: np.ndarray = dataclasses.field(default=None, repr=False)


def _moving_pile(solution):
    return bool(getattr(solution, "moving_pile", False))


def _own_shifts(solution):
    """Whether one fixed set's node map has its unsatisfied examples' own shifts (``predict``'s option)."""
    return bool(getattr(solution, "own_shifts", False))


def _a_growth(solution):
    """(T+1,): beta r, every a_i's growth per step from one fixed set's own shifts along ``solution`` (its training
    clock's; zeros along the mean field): the tilt's v_k = mean_i a_i w_ik grows with it."""
    growth = getattr(solution, "a_growth", None)
    return np.zeros(len(solution.t)) if growth is None else np.asarray(growth, dtype=float)


def _node_moments(solution):
    """(T+1, 5): the node law's (E a^2, E w_par^2, E a w_par, E (a-a0)^2, E (w_par-w0)^2) along ``solution``:
    the training clock's own where it has one, else the mean field's map in gamma_+- (a new array)."""
    own = getattr(solution, "node_moments", None)
    if own is not None:
        return np.array(own, dtype=float)
    setup = solution.setup
    moments = np.empty((len(solution.t), 5))
    solution.kernels.fill_moments(solution.gamma_plus, solution.gamma_minus, setup.sigma_a, setup.sigma_w, moments)
    return moments


def _width_pulls(solution):
    return bool(getattr(solution, "width_pulls", False))


def _with_options(solution, **options):
    """``solution`` with the memorization map's options (``moving_pile``, ``width_pulls``, ``own_shifts``)
    changed."""
    fields = {f.name: getattr(solution, f.name) for f in dataclasses.fields(MeanFieldSolution) if f.init}
    kept = {"moving_pile": _moving_pile(solution), "width_pulls": _width_pulls(solution),
            "own_shifts": _own_shifts(solution), "node_moments": getattr(solution, "node_moments", None),
            "a_growth": getattr(solution, "a_growth", None)}
    return _OnTrainingClock(**fields, threshold_density_ratio=getattr(solution, "threshold_density_ratio", None),
                            **{**kept, **options})


def _training_clock(solution, state, own_margin_density=False):
    """The solution's dynamics re-run on one fixed set's drift: the node map driven by the training set's
    unsatisfied examples (the memorization map's rate, ``state``) instead of the infinite set's. Its nodes, kappa
    and every fluctuation's growth move on this clock, which slows as the set gets memorized and stops when the
    whole set is satisfied; the unsatisfied fraction is the training set's, and with ``own_margin_density`` so is
    the density of examples at the margin that the loss's feedback counts (:func:`_threshold_density_ratio`)."""
    kappa = np.array(state.kappa, dtype=float)
    with np.errstate(divide="ignore"):
        x_star = np.where(kappa > 0, solution.setup.h / kappa, np.inf)
    fields = {f.name: getattr(solution, f.name) for f in dataclasses.fields(MeanFieldSolution) if f.init}
    fields.update(gamma_plus=state.gamma_plus, gamma_minus=state.gamma_minus, g=state.rate, kappa=kappa,
                  x_star=x_star, f_unsat=np.array(state.train_unsat, dtype=float))
    ratio = _threshold_density_ratio(solution, state) if own_margin_density else None
    return _OnTrainingClock(**fields, threshold_density_ratio=ratio, moving_pile=_moving_pile(solution),
                            width_pulls=_width_pulls(solution), own_shifts=_own_shifts(solution),
                            node_moments=state.node_moments, a_growth=state.a_growth)


def _threshold_density_ratio(solution, state):
    """(T+1,): one fixed set's density of examples at the margin over the infinite set's, by continuity
    (derivations/finite_sample.py, ``threshold_density``) from the memorization map's ``state``: the training
    set's net flux through the margin over the speed at which its examples cross it (kappa's growth at the
    crossing, plus the margin they gained on their own, less what the fading of their memorized margin took off:
    the map's own motion of an example at the crossing), against the infinite set's density. The flux is taken
    over +-10% of the elapsed steps: the map moves its examples across the margin in chunks of its grid. Ones
    where nothing is at the margin yet."""
    setup, k = solution.setup, solution.kernels
    fs = solution.variant.finite_sample_kernels()
    d, h = float(setup.d), setup.h
    kappa, train = np.asarray(state.kappa), np.asarray(state.train_unsat)
    n = kappa.size
    crossing = np.zeros(n)
    np.divide(np.maximum(h - np.asarray(state.memorized), 0.0), kappa, out=crossing, where=kappa > 0)
    fading = _memory_fading(solution)
    lost = np.array([(1.0 - np.interp(crossing[j], _MEMO_GRID, fading[j])) * state.memorized[j] for j in range(n)])
    # own[i], faded[i]: gained and lost over steps 0 .. i-1
    own = np.concatenate([[0.0], np.cumsum(state.own_rate[:-1])])
    faded = np.concatenate([[0.0], np.cumsum(lost[:-1])])
    ratio = np.ones(n)
    for i in np.flatnonzero(kappa > 0):
        window = max(1, i // 10)
        a, b = max(i - window, 0), min(i + window, n - 1)
        density = -k.tilt_response(kappa[i], d, h)
        train_flux, growth = max(train[a] - train[b], 0.0), kappa[b] - kappa[a]
        gained, lost_here = own[b] - own[a], faded[b] - faded[a]
        if density * (crossing[i] * growth + gained - lost_here) > _NOTHING_AT_THE_MARGIN:
            ratio[i] = fs.threshold_density_ratio(train_flux, density, crossing[i], growth, gained, lost_here)
    return ratio


# a share of examples at the margin below which the feedback is nil whatever its factor (early steps, x* far out)
_NOTHING_AT_THE_MARGIN = 1e-12


def _threshold_densities(solution, d, h):
    """(T+1,): :func:`_threshold_density` at every step (0 where kappa = 0)."""
    kappa = np.asarray(solution.kappa, dtype=float)
    out = np.zeros(kappa.size)
    bind(_kernel_over, solution.kernels.tilt_response)(kappa, np.flatnonzero(kappa > 0), (d, h), out)
    ratio = getattr(solution, "threshold_density_ratio", None)
    return out if ratio is None else out * ratio


def _threshold_density(solution, i, kappa, d, h):
    """E[u'] at step i, minus the density of examples at the margin that the loss's feedback counts (the infinite
    set's, scaled on one fixed set's clock by that set's own)."""
    response = solution.kernels.tilt_response(kappa, d, h)
    ratio = getattr(solution, "threshold_density_ratio", None)
    return response if ratio is None else response * ratio[i]


def _memo_to_rest_cells():
    """(G_rest, G_memo): the share of each cell of the rest's grid that each point of the memorization grid holds
    (cells split at the midpoints between the rest's points; examples past the rest's last point go to its last
    cell)."""
    masses = _cell_masses(_MEMO_GRID)
    bounds = 0.5 * (_REST_GRID[1:] + _REST_GRID[:-1])
    cell = np.searchsorted(bounds, _MEMO_GRID)
    weights = np.zeros((_REST_GRID.size, _MEMO_GRID.size))
    weights[cell, np.arange(_MEMO_GRID.size)] = masses
    return weights / weights.sum(axis=1, keepdims=True)


def _memory_fading(solution):
    """Per step and |x_par| on the memorization grid, the factor by which the hinge's feedback shrinks a degree-2
    part of F along x_perp (:func:`rest_feedback`, the init's part: the same pull acts on any such part, the
    margin an example has memorized included): damping(t + 1) / damping(t). Ones where that feedback is not
    derived (mislabelled examples, an activation without the degree-2 derivation): the memorized margins then stay
    as they were put in. Computed once per solution (every fixed-set prediction along it runs the map twice).

    On one fixed set's clock the pull counts the infinite set's density of examples at the margin, not the set's
    own by continuity (``threshold_density_ratio``): a memorized margin is a degree-2 deposit at the example's
    point, and GD takes such a deposit off one fixed set faster than the infinite set's density does
    (``bench/fixed_set_feedback.py``: retention 0.69 / 0.56 / 0.51 after 50 / 150 / 300 steps at N = 2.5e4 from
    t = 300, against 0.96 / 0.87 / 0.74 with the infinite set's density and 0.98 / 0.94 / 0.91 with the set's
    own); the set's crowd at the margin takes its share of each deposit at once, an example's own
    (``crowd_kept``, in :func:`_memorization_map`) and the sample's (``crowd_hold``). This pull goes on once the
    whole set is satisfied and GD stands still."""
    key = id(solution)
    if key in _MEMORY_FADING:
        return _MEMORY_FADING[key]
    n = len(solution.t)
    feedback = None
    if solution.setup.label_noise == 0 and getattr(solution.kernels, "HAS_TILT", False):
        pulled_by = solution
        if getattr(solution, "threshold_density_ratio", None) is not None:
            pulled_by = dataclasses.replace(solution, threshold_density_ratio=None)
        feedback = _init_feedback(pulled_by)
    if feedback is None:
        fading = np.ones((n, _MEMO_GRID.size))
    else:
        damping = np.array([np.interp(_MEMO_GRID, feedback.x_par, row) for row in feedback.damping])
        fading = np.ones((n, _MEMO_GRID.size))
        np.divide(damping[1:], damping[:-1], out=fading[:-1], where=damping[:-1] > 0)
        fading = np.clip(fading, 0.0, 1.0)
    fading.flags.writeable = False   # shared by every map along this solution
    _MEMORY_FADING[key] = fading
    weakref.finalize(solution, _MEMORY_FADING.pop, key, None)
    return fading


_MEMORY_FADING: dict[int, np.ndarray] = {}


# The class sweeps below are the memorization map's time (16 040 classes at each of 2000 steps, several sweeps
# per step, for each of the map's passes in ``predict``): written row by row with no branch in the inner loop, so
# that they vectorize. A row's weighted sum is taken apart (``reassoc`` lets it vectorize; its order then differs
# from a plain loop's by rounding, the same on every run); every other operation keeps its order.
@numba.njit(cache=True, fastmath={"reassoc"})
def _weighted_sum(weights, values):
    """sum(weights * values)."""
    total = 0.0
    for i in range(values.shape[0]):
        total += weights[i] * values[i]
    return total


@numba.njit(cache=True, fastmath={"reassoc"})
def _weighted_square_sum(weights, values):
    """sum(weights * values^2)."""
    total = 0.0
    for i in range(values.shape[0]):
        total += weights[i] * values[i] * values[i]
    return total


@numba.njit(cache=True)
def _tilt_response_step(responses, class_mass, below, A, b, advance):
    """One step of the tilt's response per example class (``responses`` (2, Z, G_memo): v_k and u_k): returns
    sum(class_mass * v^2) before the step; with ``advance``, v, u <- A (v, u) + b [class below the margin]."""
    total = 0.0
    v, u = responses[0], responses[1]
    a00, a01, a10, a11, b0, b1 = A[0, 0], A[0, 1], A[1, 0], A[1, 1], b[0], b[1]
    for j in range(v.shape[0]):
        v_row, u_row, below_row = v[j], u[j], below[j]
        total += _weighted_square_sum(class_mass[j], v_row)
        if advance:
            for i in range(v_row.shape[0]):
                pulled = 1.0 if below_row[i] else 0.0
                v_old, u_old = v_row[i], u_row[i]
                v_row[i] = a00 * v_old + a01 * u_old + pulled * b0
                u_row[i] = a10 * v_old + a11 * u_old + pulled * b1
    return total


@numba.njit(cache=True)
def _scan_the_margin(kappa, grid, memorized, own_response, own_gain, sigma, zeta, h, cell_of, cell_share, band,
                     class_mass, linear, total_memorized, below, unsatisfied, near, fading=None):
    """One pass over the example classes at a step (one pass, not four: the map's time is these sweeps). Each
    class's margin kappa x + S + L + sigma zeta, from its memorized part S and the margin L = own_gain v that its
    own pull holds through the tilt (``linear`` and ``total_memorized`` filled); the classes under the margin h
    (``below``, and ``unsatisfied`` their share per cell of the rest's grid); the share stalled at the margin:
    within ``band`` (one step of an example's own term) of h at this step and at the last one (``near``: the
    classes within the band at the last step, updated). A class the drift carries across passes the band in one
    step while the drift outruns the own term; one that its own term lifts just over the margin after the drift
    has slowed stays there. Returns that share, the last grid point with a class below the margin (-1: none) and
    the classes below the margin's mass times what their margin exceeds kappa x_par by (their memorized part and
    offset; :func:`_memorization_steps`' own shifts), and the last grid point with a class below the margin once its
    memorized part has faded by ``fading`` (per grid point; None: not faded), as :func:`_fade_and_memorize` finds
    it: the own term must be known that far, a class above the margin now can fall below it there."""
    unsatisfied[:] = 0.0
    total, total_x, last, excess, last_faded = 0.0, 0.0, -1, 0.0, -1
    G = grid.shape[0]
    margin, over_mean_field, held = np.empty(G), np.empty(G), np.empty(G)
    faded_below = np.zeros(G, dtype=np.bool_)
    faded = fading if fading is not None else np.ones(G)
    banded = band > 0.0
    for j in range(zeta.shape[0]):
        offset = zeta[j]
        linear_row, memorized_row, total_row = linear[j], memorized[j], total_memorized[j]
        own_row, below_row, near_row, mass_row = own_response[0, j], below[j], near[j], class_mass[j]
        for i in range(G):
            linear_row[i] = own_gain * own_row[i]
        for i in range(G):
            total_row[i] = memorized_row[i] + linear_row[i]
        for i in range(G):
            margin[i] = kappa * grid[i] + total_row[i] + sigma[i] * offset
        for i in range(G):
            is_below = margin[i] < h
            below_row[i] = is_below
            over_mean_field[i] = (margin[i] - kappa * grid[i]) if is_below else 0.0
        for i in range(G):   # the fade's own expression, operation for operation
            faded_below[i] = kappa * grid[i] + memorized_row[i] * faded[i] + linear_row[i] + sigma[i] * offset < h
        for i in range(G):
            inside = banded & (abs(margin[i] - h) < band)
            held[i] = 1.0 if inside & near_row[i] else 0.0
            near_row[i] = inside
        excess += _weighted_sum(mass_row, over_mean_field)
        total += _weighted_sum(mass_row, held)
        for i in range(G):
            held[i] *= grid[i]
        total_x += _weighted_sum(mass_row, held)
        unsatisfied_row = unsatisfied[j]
        for i in range(G):
            if below_row[i]:
                unsatisfied_row[cell_of[i]] += cell_share[i]
                if i > last:
                    last = i
        for i in range(G - 1, last_faded, -1):
            if faded_below[i]:
                last_faded = i
                break
    return total, total_x, last, excess, last_faded


@numba.njit(cache=True)
def _fade_and_memorize(memorized, fading, linear, kappa, h, sigma, zeta, zeta_weights, grid, rate, masses):
    """One step of the memorized margins in one pass: each fades by ``fading`` (per grid point), then gains
    ``rate`` where its class is below the margin (an example's own term is its own self kernel's memorizing part,
    at its own |x_par|; ``linear``: the margin each class holds from its own pull's degree-1 part, the tilt along
    its own x_perp); returns the memorized margin averaged over the classes."""
    total = 0.0
    for j in range(zeta.shape[0]):
        offset, memorized_row, linear_row = zeta[j], memorized[j], linear[j]
        for i in range(grid.shape[0]):
            faded = memorized_row[i] * fading[i]
            below = kappa * grid[i] + faded + linear_row[i] + sigma[i] * offset < h
            memorized_row[i] = faded + (rate[i] if below else 0.0)
        total += zeta_weights[j] * _weighted_sum(masses, memorized_row)
    return total


@kernel_template(2)
def _unsatisfied_examples(unsat_fraction, g_rate, kappa, d, h, eps, slope, sigma, zeta, zeta_weights, grid,
                          memorized):
    """The training f_unsat and the drift rate from the examples below the margin h (given h = 0: the training
    error and its drift), and the memorized margin of the examples at the crossing (averaged over zeta); an
    example's persistent offset is sigma zeta, ``sigma`` per grid point. Between grid points the margin is taken linear in x_par,
    and the examples' share comes from the derived cumulative laws: unsat_fraction(kappa, d, kappa x) and
    g_rate(kappa, d, kappa x) count the correctly labelled examples with |x_par| < x, their value at x = 0 the
    mislabelled ones (always unsatisfied under the hinge in this map)."""
    G = grid.shape[0]
    cum_unsat, cum_rate = np.empty(G), np.empty(G)
    base_unsat, base_rate = _cumulative_laws(unsat_fraction, g_rate, kappa, d, eps, slope, grid, G - 1, cum_unsat,
                                             cum_rate)
    return _count_unsatisfied(unsat_fraction, g_rate, kappa, d, h, eps, slope, sigma, zeta, zeta_weights, grid,
                              memorized, base_unsat, base_rate, cum_unsat, cum_rate, G - 1)


@kernel_template(2)
def _cumulative_laws(unsat_fraction, g_rate, kappa, d, eps, slope, grid, upto, cum_unsat, cum_rate):
    """The derived cumulative laws at the grid points 0 .. ``upto`` (``cum_unsat``, ``cum_rate`` filled there,
    relative to x = 0); returns their values at x = 0 (the mislabelled examples). They do not depend on the
    threshold, so one fill serves the counts below h and below 0, nor (under the hinge) on kappa, so one fill
    serves every step of :func:`_memorization_steps`."""
    base_unsat = unsat_fraction(kappa, d, 0.0, eps)
    base_rate = g_rate(kappa, d, 0.0, eps, slope)
    for i in range(upto + 1):
        cum_unsat[i] = unsat_fraction(kappa, d, kappa * grid[i], eps) - base_unsat
        cum_rate[i] = g_rate(kappa, d, kappa * grid[i], eps, slope) - base_rate
    return base_unsat, base_rate


@kernel_template(2)
def _count_unsatisfied(unsat_fraction, g_rate, kappa, d, h, eps, slope, sigma, zeta, zeta_weights, grid, memorized,
                       base_unsat, base_rate, cum_unsat, cum_rate, upto):
    """:func:`_unsatisfied_examples` from the cumulative laws already filled (:func:`_cumulative_laws`), walking
    the grid up to point ``upto``: at least one past the last point with a class below h (G - 1 for all), as no
    class is below there (late in a run the classes below reach a third of the grid)."""
    G = upto + 1
    total_unsat, total_rate, at_crossing = base_unsat, base_rate, 0.0
    for j in range(zeta.shape[0]):
        w = zeta_weights[j]
        crossing_memorized = memorized[j, 0]
        below = kappa * grid[0] + memorized[j, 0] + sigma[0] * zeta[j] - h
        for i in range(G - 1):
            above = kappa * grid[i + 1] + memorized[j, i + 1] + sigma[i + 1] * zeta[j] - h
            if below < 0.0 and above < 0.0:
                total_unsat += w * (cum_unsat[i + 1] - cum_unsat[i])
                total_rate += w * (cum_rate[i + 1] - cum_rate[i])
            elif (below < 0.0) != (above < 0.0):
                share = below / (below - above)
                x = grid[i] + share * (grid[i + 1] - grid[i])
                u = unsat_fraction(kappa, d, kappa * x, eps) - base_unsat
                r = g_rate(kappa, d, kappa * x, eps, slope) - base_rate
                if below < 0.0:
                    total_unsat += w * (u - cum_unsat[i])
                    total_rate += w * (r - cum_rate[i])
                    crossing_memorized = memorized[j, i] + share * (memorized[j, i + 1] - memorized[j, i])
                else:
                    total_unsat += w * (cum_unsat[i + 1] - u)
                    total_rate += w * (cum_rate[i + 1] - r)
            below = above
        if below < 0.0:   # unsatisfied up to the end of the grid: the tail beyond it (2e-9 of the examples)
            total_unsat += w * (unsat_fraction(kappa, d, np.inf, eps) - base_unsat - cum_unsat[G - 1])
            total_rate += w * (g_rate(kappa, d, np.inf, eps, slope) - base_rate - cum_rate[G - 1])
            crossing_memorized = memorized[j, G - 1]
        at_crossing += w * crossing_memorized
    return total_unsat, total_rate, at_crossing


# the largest change of the share below 0 across one cell of the trapezoid over |x_par| in the training error
_SHARE_STEP = 0.01


@numba.njit(cache=True)
def _share_below_zero(left, right, s, zeta, cdf):
    """The share of the offsets zeta ~ N(0, 1) whose margin is below 0, at the point a share ``s`` of the way across
    a cell of the grid: ``left`` and ``right`` hold each Gauss-Hermite node's margin at the cell's ends (linear in
    |x_par| between them), ``cdf`` the normal cdf at the nodes. Between nodes the margin is linear in zeta, beyond
    the outer nodes it keeps their sign."""
    below = 0.0
    previous = (1.0 - s) * left[0] + s * right[0]
    if previous < 0.0:
        below += cdf[0]
    for j in range(zeta.shape[0] - 1):
        current = (1.0 - s) * left[j + 1] + s * right[j + 1]
        if previous < 0.0 and current < 0.0:
            below += cdf[j + 1] - cdf[j]
        elif (previous < 0.0) != (current < 0.0):
            crossing = zeta[j] + previous / (previous - current) * (zeta[j + 1] - zeta[j])
            cdf_crossing = 0.5 * math.erfc(-crossing / math.sqrt(2.0))
            below += cdf_crossing - cdf[j] if previous < 0.0 else cdf[j + 1] - cdf_crossing
        previous = current
    if previous < 0.0:
        below += 1.0 - cdf[zeta.shape[0] - 1]
    return below


@kernel_template(1)
def _count_misclassified(unsat_fraction, kappa, d, eps, sigma, zeta, grid, memorized, base_unsat, cum_unsat, upto):
    """The training error: the share of the examples with a margin below 0, continuous in the offset zeta.
    Counted at the Gauss-Hermite nodes, as the examples below h are, it would move in steps of a node's weight,
    and late in a run the few misclassified examples lie in the tail of zeta, where one weight is as large as their
    whole share. Between nodes the margin kappa x + S + sigma zeta is taken linear in zeta, which is exact between
    classes that were unsatisfied at every step (their memorized parts S are then the same function of x), and the
    share of zeta below 0 is its exact Gaussian mass (:func:`_share_below_zero`). Over |x_par|, the trapezoid with
    the derived law's mass (``cum_unsat``, :func:`_cumulative_laws`), on the grid's cells split where the share
    changes by more than ``_SHARE_STEP`` across one (early in a run it falls from 1/2 to 0 within a few cells near
    x_par = 0), the margins linear in |x_par| across a cell as in :func:`_count_unsatisfied`; past ``upto`` no
    class is below h, hence none below 0. The mislabelled examples (``base_unsat``) are all counted."""
    Z, G = zeta.shape[0], grid.shape[0]
    cdf, left, right = np.empty(Z), np.empty(Z), np.empty(Z)
    for j in range(Z):
        cdf[j] = 0.5 * math.erfc(-zeta[j] / math.sqrt(2.0))
        left[j] = kappa * grid[0] + memorized[j, 0] + sigma[0] * zeta[j]
    share_left = _share_below_zero(left, left, 0.0, zeta, cdf)
    total = base_unsat
    for i in range(upto):
        for j in range(Z):
            right[j] = kappa * grid[i + 1] + memorized[j, i + 1] + sigma[i + 1] * zeta[j]
        share_right = _share_below_zero(left, right, 1.0, zeta, cdf)
        parts = min(int(abs(share_right - share_left) / _SHARE_STEP) + 1, 100)
        cum_previous, share_previous = cum_unsat[i], share_left
        for part in range(1, parts):
            s = part / parts
            cum_here = unsat_fraction(kappa, d, kappa * (grid[i] + s * (grid[i + 1] - grid[i])), eps) - base_unsat
            share_here = _share_below_zero(left, right, s, zeta, cdf)
            total += (cum_here - cum_previous) * 0.5 * (share_previous + share_here)
            cum_previous, share_previous = cum_here, share_here
        total += (cum_unsat[i + 1] - cum_previous) * 0.5 * (share_previous + share_right)
        for j in range(Z):
            left[j] = right[j]
        share_left = share_right
    if upto == G - 1 and share_left > 0.0:   # past the grid's end (2e-9 of the examples)
        total += share_left * (unsat_fraction(kappa, d, np.inf, eps) - base_unsat - cum_unsat[G - 1])
    return total


@kernel_template(34)
def _memorization_steps(kappa_increments, gamma_plus, gamma_minus, unsat_fraction, g_rate, moment_a2, moment_w2,
                        moment_aw, update_plus, update_minus, self_kernel, low_degree_kernel, quadratic_kernel,
                        width_kernel, pull_amplitude, kernel_amplitude, self_rate, spread_step, velocity_sd,
                        pile_unsat, pile_drift, crowd_kept, crowd_hold, own_shift_rate, transfer_step_aa,
                        transfer_step_aw, transfer_step_wa, transfer_step_ww, transfer_a2, transfer_w2, transfer_aw,
                        transfer_da2, transfer_dw2, transfer_kappa, n,
                        d, h, eps, sa, sw, odd_slope, slope, alpha, beta, N, M, zeta,
                        zeta_weights, grid, rest_cells, cell_of, cell_share, masses, fading, rest, with_rest, A, b,
                        own_A, own_b, own_gain, hold_from, moving_pile, width_pulls, own_shifts, snapshot_step):
    """The steps of :func:`_memorization_map`, compiled as one recursion. ``rest`` (T+1, G_memo): the rest's
    variance (zeros unless ``with_rest``); ``A``, ``b``: the tilt systems stacked, (S, T+1, 2, 2) and (S, T+1, 2);
    ``width_pulls``: the others' pulls with the width's random features and rho^2 less its mean
    (``pull_amplitude``), else as first derived (``kernel_amplitude``); ``own_shifts``: the node map with the
    unsatisfied examples' own shifts (``own_shift_rate``: every a_i grows by beta r per step, the node law then
    follows its transfer matrix P, (a, w_par) = P (a0, w0)), else the mean field's map (gamma_+-). Also returns
    the node law's moments (T+1, 5) with ``own_shifts`` (else zeros), and the classes at ``snapshot_step`` and the
    step after it (-1: none; :func:`_memorization_map`'s ``snapshot_at``)."""
    Z, G, S = zeta.shape[0], grid.shape[0], A.shape[0]
    kappa, accumulated, spread, train, mean_memorized = (np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n),
                                                         np.zeros(n))
    memorized = np.zeros((Z, G))   # S at each (zeta, x_par) point
    # at snapshot_step and the step after: S, L, the offset's sd per grid point, the classes below h, kappa; the own
    # term per grid point at snapshot_step
    snap_memorized, snap_linear, snap_sigma = np.zeros((2, Z, G)), np.zeros((2, Z, G)), np.zeros((2, G))
    snap_below, snap_kappa, snap_own = np.zeros((2, Z, G), dtype=np.bool_), np.zeros(2), np.zeros(G)
    unsatisfied = np.zeros((n, Z, rest_cells))
    below = np.zeros((Z, G), dtype=np.bool_)
    rates = np.full((n, 2), np.nan)
    class_mass = np.empty((Z, G))
    for j in range(Z):
        for i in range(G):
            class_mass[j, i] = zeta_weights[j] * masses[i]
    # each system's response of v_k (index 0) and u_k (index 1) per example class
    tilt_responses = np.zeros((S, 2, Z, G))
    tilt_variance = np.zeros((S, n))
    sigmas = np.empty(G)
    always_pulling = 0.0   # a mislabelled example is never satisfied in this map: it gains every step's rate
    e_plus = e_minus = cumulative = 0.0
    gammas, rates_g, own_rates = np.zeros((2, n)), np.zeros(n), np.zeros(n)
    pile = np.zeros(n)
    near = np.zeros((Z, G), dtype=np.bool_)   # the classes within one own step of the margin at the last step
    own_at = np.zeros(G)   # the own term per grid point at this step
    # the derived cumulative laws on the grid: under the hinge they count the examples with |x_par| < x (kappa x
    # against the threshold kappa x), so kappa cancels from them and one fill serves every step
    cum_unsat, cum_rate = np.empty(G), np.empty(G)
    base_unsat, base_rate = _cumulative_laws(unsat_fraction, g_rate, 1.0, d, eps, odd_slope, grid, G - 1, cum_unsat,
                                             cum_rate)
    # each class's own pull along its own x_perp: the tilt's response (v, u) to it, with the loss's feedback, and
    # the margin it holds, own_gain * v
    own_response = np.zeros((2, Z, G))
    linear = np.zeros((Z, G))
    total_memorized = np.zeros((Z, G))
    transfer = np.zeros(4)   # P - I of the node map with the own shifts: aa, aw, wa, ww
    node_moments = np.zeros((n, 5))
    excesses, a_growth = np.zeros(n), np.zeros(n)
    for i in range(n):
        gammas[0, i], gammas[1, i] = gamma_plus(e_plus), gamma_minus(e_minus)
        if own_shifts:
            e_aa, e_aw, e_wa, e_ww = transfer[0], transfer[1], transfer[2], transfer[3]
            node_moments[i, 0] = transfer_a2(e_aa, e_aw, e_wa, e_ww, sa, sw)
            node_moments[i, 1] = transfer_w2(e_aa, e_aw, e_wa, e_ww, sa, sw)
            node_moments[i, 2] = transfer_aw(e_aa, e_aw, e_wa, e_ww, sa, sw)
            node_moments[i, 3] = transfer_da2(e_aa, e_aw, e_wa, e_ww, sa, sw)
            node_moments[i, 4] = transfer_dw2(e_aa, e_aw, e_wa, e_ww, sa, sw)
            kap = transfer_kappa(node_moments[i, 2], alpha, odd_slope, d)
        else:
            kap = kappa_increments(e_plus, e_minus, alpha, d, sa, sw, odd_slope)
        kappa[i] = kap
        sigma = np.sqrt(spread[i])
        has_rest = with_rest and np.all(np.isfinite(rest[i]))
        for g in range(G):
            sigmas[g] = np.sqrt(spread[i] + rest[i, g]) if has_rest else np.sqrt(spread[i] + 0.0)
        pile[i], pile_x, last_below, excess, last_faded = _scan_the_margin(
            kap, grid, memorized, own_response, own_gain, sigmas, zeta, h, cell_of, cell_share,
            own_rates[i - 1] if i > 0 else 0.0, class_mass, linear, total_memorized, below, unsatisfied[i], near,
            fading[i])
        if i == snapshot_step or (snapshot_step >= 0 and i == snapshot_step + 1):
            q = i - snapshot_step
            snap_memorized[q] = memorized
            snap_linear[q] = linear
            snap_sigma[q] = sigmas
            snap_below[q] = below
            snap_kappa[q] = kap
        if i < hold_from:   # from the sliding onset the tilt is held, each example's own share of it too
            _tilt_response_step(own_response, class_mass, below, own_A[i], own_b[i], i + 1 < n)
        for s_index in range(S):
            tilt_variance[s_index, i] = _tilt_response_step(tilt_responses[s_index], class_mass, below, A[s_index, i],
                                                            b[s_index, i], i + 1 < n) / N
        if kap > 0:
            # the counts walk up to one point past the last class below h (below 0 is a subset of below h)
            upto = min(last_below + 1, G - 1)
            train[i], rate, accumulated[i] = _count_unsatisfied(unsat_fraction, g_rate, kap, d, h, eps, odd_slope,
                                                                sigmas, zeta, zeta_weights, grid, total_memorized,
                                                                base_unsat, base_rate, cum_unsat, cum_rate, upto)
            if has_rest:
                rates[i, 0] = _count_misclassified(unsat_fraction, kap, d, eps, sigmas, zeta, grid, total_memorized,
                                                   base_unsat, cum_unsat, upto)
                rates[i, 1] = train[i]
        else:   # F = 0 (t = 0): every example is unsatisfied and nothing is memorized yet
            unsat, rate = 0.0, 0.0
            for j in range(Z):
                threshold = max(h - sigma * zeta[j], 0.0)
                unsat += zeta_weights[j] * unsat_fraction(kap, d, threshold, eps)
                rate += zeta_weights[j] * g_rate(kap, d, threshold, eps, odd_slope)
            train[i] = unsat
        # with ``moving_pile``: the examples the map holds at the margin (its pile) are moved by the others' pulls
        # at a persistent velocity, which its classes (one margin each, offsets that only grow) lack: those it
        # pushes down pull at a share of the steps (pile_unsat) and drive g (pile_drift); the velocity comes from
        # the examples below the margin, which pull at every step (not the pile's own pulls)
        pulling = N * train[i]
        if own_shifts:
            a2, w2, aw = node_moments[i, 0], node_moments[i, 1], node_moments[i, 2]
        else:
            gp, gm = gammas[0, i], gammas[1, i]
            a2, w2, aw = moment_a2(gp, gm, sa, sw), moment_w2(gp, gm, sa, sw), moment_aw(gp, gm, sa, sw)
        if moving_pile and pile[i] > 0.0 and aw > 0 and kap > 0:
            x_c = max(h - accumulated[i], 0.0) / kap
            step_c = self_rate(self_kernel(x_c, a2, w2, aw, d, sw, slope)
                               - low_degree_kernel(x_c, a2, w2, aw, d, sw, slope), alpha, beta, N)
            if step_c > 0.0:
                held_c = crowd_hold(N * pile[i], quadratic_kernel(x_c, a2, w2, aw, d, sw, slope),
                                    self_kernel(x_c, a2, w2, aw, d, sw, slope)
                                    - low_degree_kernel(x_c, a2, w2, aw, d, sw, slope), d)
                amplitude_c = _pulls_amplitude(quadratic_kernel, width_kernel, pull_amplitude, kernel_amplitude,
                                               width_pulls, x_c, a2, w2, aw, d, sw, slope, M, held_c)
                held_unsat, held_drift = _held_examples_pulling(velocity_sd, pile_unsat, pile_drift, pulling,
                                                                amplitude_c, alpha, beta, N, d, pile[i], step_c,
                                                                pile_x / pile[i], odd_slope)
                train[i] += held_unsat
                if has_rest:
                    rates[i, 1] = train[i]
                rate += held_drift
        rates_g[i] = rate
        if i + 1 == n:
            break
        if aw > 0:
            x_par = max(h - accumulated[i], 0.0) / kap
            memorizing = (self_kernel(x_par, a2, w2, aw, d, sw, slope)
                          - low_degree_kernel(x_par, a2, w2, aw, d, sw, slope))
            # the set's crowd stalled at the margin (its pile, at the crossing) re-memorizes what any pull puts at
            # its points: it holds back part of the others' degree-2 pulls and takes its share of each example's
            # own deposit (crowd_hold, crowd_kept)
            crowd = N * pile[i]
            quadratic_c = quadratic_kernel(x_par, a2, w2, aw, d, sw, slope)
            held = crowd_hold(crowd, quadratic_c, memorizing, d) if crowd > 0.0 else 1.0
            amplitude = _pulls_amplitude(quadratic_kernel, width_kernel, pull_amplitude, kernel_amplitude,
                                         width_pulls, x_par, a2, w2, aw, d, sw, slope, M, held)
            own_rate = self_rate(memorizing, alpha, beta, N)
            if crowd > 0.0:
                own_rate *= crowd_kept(crowd, quadratic_c, memorizing, quadratic_c, memorizing, d)
            own_rates[i] = own_rate
            # each example gains its own self term, at its own |x_par|: the misclassified ones near x_par = 0
            # more than those at the crossing (K_mem falls with |x_par| as the nodes align)
            # the kernels are evaluated only up to the last grid point with an example below the margin, now or once
            # its memorized part has faded this step (all of them when mislabelled examples, unsatisfied at every
            # |x_par|, need the average)
            reach = G - 1 if eps > 0 else max(last_below, last_faded)
            mislabelled_rate = 0.0
            for g in range(reach + 1):
                memorizing_g = (self_kernel(grid[g], a2, w2, aw, d, sw, slope)
                                - low_degree_kernel(grid[g], a2, w2, aw, d, sw, slope))
                own_at[g] = self_rate(memorizing_g, alpha, beta, N)
                if crowd > 0.0:
                    own_at[g] *= crowd_kept(crowd, quadratic_c, memorizing,
                                            quadratic_kernel(grid[g], a2, w2, aw, d, sw, slope), memorizing_g, d)
                mislabelled_rate += masses[g] * own_at[g]
            total = _fade_and_memorize(memorized, fading[i], linear, kap, h, sigmas, zeta, zeta_weights, grid,
                                       own_at, masses)
            if i == snapshot_step:
                snap_own[:] = own_at
            always_pulling += mislabelled_rate
            mean_memorized[i + 1] = (1 - eps) * total + eps * always_pulling
            # the other examples' memorized parts fade alike: their coherent sum, at the crossing, shrinks by f
            f = np.interp(x_par, grid, fading[i])
            cumulative *= f
            spread[i + 1] = spread_step(f * f * spread[i], amplitude, cumulative, pulling, alpha, beta, N)
            cumulative += amplitude
        if own_shifts:
            # the unsatisfied examples' margins over the mean field's (the mislabelled ones: what they memorized)
            excesses[i] = (1.0 - eps) * excess + eps * always_pulling
            r = own_shift_rate(excesses[i], alpha, a2) if kap > 0 else 0.0
            a_growth[i] = beta * r
            e_aa, e_aw, e_wa, e_ww = transfer[0], transfer[1], transfer[2], transfer[3]
            transfer[0] = transfer_step_aa(e_aa, e_aw, e_wa, e_ww, beta, rate, r)
            transfer[1] = transfer_step_aw(e_aa, e_aw, e_wa, e_ww, beta, rate, r)
            transfer[2] = transfer_step_wa(e_aa, e_aw, e_wa, e_ww, beta, rate, r)
            transfer[3] = transfer_step_ww(e_aa, e_aw, e_wa, e_ww, beta, rate, r)
        e_plus, e_minus = update_plus(e_plus, beta, rate), update_minus(e_minus, beta, rate)
    return (kappa, accumulated, spread, train, mean_memorized, unsatisfied, rates, tilt_variance, gammas, rates_g,
            own_rates, pile, node_moments, excesses, a_growth, snap_memorized, snap_linear, snap_sigma, snap_below,
            snap_kappa, snap_own)


@kernel_template(4)
def _pulls_amplitude(quadratic_kernel, width_kernel, pull_amplitude, kernel_amplitude, width_pulls, x_par, a2, w2, aw,
                     d, sw, slope, M, held):
    """The sd of one pulling example's degree >= 2 term at another at |x_par| (per alpha beta / N), with the width's
    part or as first derived; ``held``: the share of the kernel's degree-2 part's variance that a crowd at the
    margin leaves (``crowd_hold``; 1 without one)."""
    quadratic = math.sqrt(held) * quadratic_kernel(x_par, a2, w2, aw, d, sw, slope)
    if width_pulls:
        return pull_amplitude(quadratic, width_kernel(x_par, a2, w2, aw, d, sw, slope), M, d)
    return kernel_amplitude(quadratic, d)


@kernel_template(3)
def _held_examples_pulling(velocity_sd, pile_unsat, pile_drift, pulling, amplitude, alpha, beta, N, d, pile, own_step,
                           pile_x, odd_slope):
    """The share of the set held at the margin that pulls at a step, and its part of the drift rate
    (``pile_unsat``, ``pile_drift``), against the velocity the examples below the margin give it: averaged over the
    Poisson law of their number, of mean ``pulling`` (the map's expected count; a set whose every example is
    satisfied moves nothing, and a fraction of an example moves a margin only with that probability)."""
    if pulling >= _POISSON_UP_TO:
        velocity = velocity_sd(amplitude, pulling, alpha, beta, N)
        return pile_unsat(pile, velocity, own_step), pile_drift(pile, velocity, own_step, pile_x, odd_slope, d)
    weight = math.exp(-pulling)
    share = drift = 0.0
    for k in range(1, int(pulling + 12.0 * math.sqrt(pulling) + 30.0)):
        weight *= pulling / k
        velocity = velocity_sd(amplitude, float(k), alpha, beta, N)
        share += weight * pile_unsat(pile, velocity, own_step)
        drift += weight * pile_drift(pile, velocity, own_step, pile_x, odd_slope, d)
    return share, drift


# past this mean number of pulling examples the Poisson average of the held examples' pulls is its value at the mean
# (the share goes as the square root of the count: E[sqrt K] = sqrt(U) (1 - 1 / (8 U) + ...), 0.3% off at 40)
_POISSON_UP_TO = 40.0


def _warn_small_sample(what, setup, N, sample):
    """The range warning of every prediction for N training examples (None: infinite): the expansion in 1/N
    needs N >> d. Called by the public function (``stacklevel`` points at its caller)."""
    if N is not None and N < setup.d:
        memorized = " is memorized from the first steps," if sample == "fixed" else " (a new one at every step) is"
        warnings.warn(f"{what}: N = {N} < d = {setup.d}: a sample this small{memorized} outside the range of the "
                      f"expansion in 1/N (it needs N >> d)", stacklevel=3)


def finite_sample(solution: MeanFieldSolution, N: int) -> FiniteSamplePrediction:
    """Finite-N memorization along a mean-field solution (Gaussian data, hinge loss only)."""
    return _finite_sample(solution, N, hold_from=_sliding_onset_or_none(solution, N))[0]


def _sliding_onset_or_none(solution, N):
    """The sliding onset of one fixed set of N (:func:`tilt`), None where the tilt is not derived or N is not a
    valid size (the caller's own check reports it)."""
    if not (getattr(solution.kernels, "HAS_TILT", False) and solution.setup.label_noise == 0
            and solution.variant.data.name == "gaussian" and solution.variant.loss.name == "hinge"):
        return None
    try:
        N = check_int("N", N, 1)
    except (TypeError, ValueError):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _tilt(solution, N, "fixed", frozen=False).sliding_onset


def _finite_sample(solution, N, train_variance=None, tilt_systems=None, hold_from=None, at_threshold=True,
                   snapshot_at=None):
    """:func:`finite_sample` and the whole :class:`_MapResult` (``train_variance``, ``tilt_systems`` and
    ``hold_from``: see :func:`_memorization_map`). ``at_threshold=False``: the map's parts alone, without the
    kernels at the mean field's threshold (``self_kernel``, ``memorizing_kernel``, ``shift``, ``shift_full``,
    ``onset_ratio`` and ``tilt_ratio`` NaN, ``onset`` None), which :func:`predict` does not use."""
    setup = _check_solution(solution)
    variant = solution.variant
    if variant.data.name != "gaussian" or variant.loss.name != "hinge":
        raise ValueError(f"data and loss must be 'gaussian' and 'hinge' for the finite-sample corrections (derived "
                         f"for them only), got data={variant.data.name!r}, loss={variant.loss.name!r}")
    N = check_int("N", N, 1)
    _warn_small_sample("finite_sample", setup, N, "fixed")
    k = solution.kernels
    fs = variant.finite_sample_kernels()
    moments = _node_moments(solution)
    d = float(setup.d)
    n = len(solution.t)
    full, mem, ratio, tilt = (np.full(n, np.nan) for _ in range(4))
    for i in range(n if at_threshold else 0):
        a2, w2, aw = moments[i, :3]
        if aw <= 0:  # t = 0: no threshold yet
            continue
        x_star = float(solution.x_star[i])
        args = (x_star, a2, w2, aw, d, setup.sigma_w, setup.slope)
        full[i] = fs.self_kernel(*args)
        mem[i] = full[i] - fs.low_degree_kernel(*args)
        if i + 1 < n:
            ratio[i] = fs.onset_ratio(mem[i], setup.alpha, setup.beta, float(N),
                                      float(solution.kappa[i + 1] - solution.kappa[i]), x_star)
        tilt[i] = fs.tilt_ratio(k.unsat_probability(solution.kappa[i], d, setup.h),
                                k.clean_average(solution.kappa[i], d, setup.h), d, float(N))
    def crossing_shift(kernel):
        # S(t): the self term summed over the steps before t (an example unsatisfied at t was unsatisfied since 0)
        rates = [fs.self_rate(v, setup.alpha, setup.beta, float(N)) if v == v else 0.0 for v in kernel]
        accumulated = np.concatenate([[0.0], np.cumsum(rates)[:-1]])
        return np.array([fs.crossing_shift(s, kap) if kap > 0 else np.nan
                         for s, kap in zip(accumulated, solution.kappa)])

    shift, shift_full = ((crossing_shift(mem), crossing_shift(full)) if at_threshold
                         else (np.full(n, np.nan), np.full(n, np.nan)))
    above = np.flatnonzero(ratio >= 1)
    state = _memorization_map(solution, N, fs, train_variance, tilt_systems, hold_from, snapshot_at)
    kappa_n, accumulated_n, spread_n = state.kappa, state.memorized, state.spread
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing = np.maximum(setup.h - accumulated_n, 0.0) / kappa_n
    test = np.array([k.unsat_probability(kap, d, setup.h) for kap in kappa_n])
    return FiniteSamplePrediction(t=solution.t, N=int(N), self_kernel=full, memorizing_kernel=mem, shift=shift,
                                  shift_full=shift_full, onset_ratio=ratio,
                                  onset=int(solution.t[above[0]]) if above.size else None, tilt_ratio=tilt,
                                  kappa=kappa_n, memorized=accumulated_n, spread=spread_n, crossing=crossing,
                                  # fractions: rounding in the sums over zeta can put them 1 ulp past 1
                                  train_unsat=np.clip(state.train_unsat, 0.0, 1.0), test_unsat=np.clip(test, 0.0, 1.0),
                                  memorized_mean=state.memorized_mean, unsatisfied=state.unsatisfied), state


@dataclasses.dataclass(frozen=True)
class TiltPrediction:
    """The tilt of the effective teacher at GD steps ``t`` (derivations/fluctuations.py).

    ``angle`` is the rms angle theta between the effective linear weight (1/M) sum_i a_i w_i and w*, with the
    loss's feedback; ``angle_frozen`` the same without it (every node on its own mean-field trajectory, the
    frozen-init picture); ``angle_init`` and ``angle_sample`` split ``angle`` into its two sources (the init's
    sampling of M nodes and the training sample; they add in quadrature). ``N`` and ``sample`` are as given.
    tan(angle) is also the sd over training examples of the |x_par| at which the tilt alone makes them
    satisfied, in units of x*(t) times kappa / kappa = 1 (the tilt's part of the Fig. 1d band). ``output_sd`` is
    the sd over x_perp of the tilt's part of F (with the feedback) at a fresh point. ``sliding_onset`` (one fixed
    set): the step from which the set's examples stalled at the margin hold the tilt's perpendicular part where
    it is (see :func:`predict`), None if it does not come within the steps."""

    t: np.ndarray
    N: int | None
    sample: str
    angle: np.ndarray
    angle_frozen: np.ndarray
    angle_init: np.ndarray
    angle_sample: np.ndarray
    output_sd: np.ndarray
    sliding_onset: int | None = None


SAMPLES = ("fixed", "fresh")
# whose density of examples at the margin the loss's feedback counts with one fixed training set
MARGIN_DENSITIES = ("infinite", "training")


def _check_margin_density(margin_density, N, sample):
    """The density of examples at the margin a prediction counts: ``margin_density`` checked, None resolved to
    the training set's own for one fixed set and to the infinite set's otherwise (without a fixed set, new
    examples at every step or none at all, the examples at the margin are the infinite set's)."""
    fixed = N is not None and sample == "fixed"
    if margin_density is None:
        return "training" if fixed else "infinite"
    if not isinstance(margin_density, str) or margin_density not in MARGIN_DENSITIES:
        raise ValueError(f"margin_density must be None or one of {', '.join(map(repr, MARGIN_DENSITIES))}, got "
                         f"{margin_density!r}")
    if margin_density == "training" and not fixed:
        raise ValueError("margin_density='training' needs one fixed training set: N given and sample='fixed'")
    return margin_density


def _check_feedback_inputs(solution, N, sample, what):
    """The inputs of a prediction with the hinge's feedback, checked before any work: (setup, N)."""
    setup = _check_solution(solution)
    if not getattr(solution.kernels, "HAS_TILT", False):
        raise ValueError(f"{what} is derived for the hinge loss on Gaussian data, got loss "
                         f"{solution.variant.loss.name!r} and data {solution.variant.data.name!r}")
    if N is not None:
        N = check_int("N (None for an infinite training set)", N, 1)
    if sample not in SAMPLES:
        raise ValueError(f"sample must be one of {', '.join(map(repr, SAMPLES))}, got {sample!r}")
    if setup.label_noise > 0:
        raise ValueError(f"{what} is derived for clean labels (label_noise = 0)")
    return setup, N


def tilt(solution: MeanFieldSolution, N: int | None = None, sample: str = "fixed",
         margin_density: str | None = None) -> TiltPrediction:
    """The tilt of the effective teacher over time, with the loss's feedback (hinge loss, Gaussian data).

    ``N=None``: an infinite training set (finite M only). Otherwise ``sample="fixed"``: one training set of N
    examples used at every step (its noise is the same from step to step); ``sample="fresh"``: N new examples
    at every step (``simulate(..., online=True)``). With one fixed set it follows that set's own clock (see
    :func:`predict`, also for ``margin_density``).
    """
    setup, N = _check_feedback_inputs(solution, N, sample, "the tilt")
    margin_density = _check_margin_density(margin_density, N, sample)
    _warn_small_sample("tilt", setup, N, sample)
    return _tilt(_on_training_clock(solution, N, sample, margin_density), N, sample)


def _tilt(solution, N, sample, nested=False, frozen=True):
    """:func:`tilt`; ``nested=True``: for one fixed set, the unsatisfied examples at each step are those below
    x*(t) (nested sets, no memorization) instead of the memorization map's (the two agree as N -> infinity).
    ``frozen=False``: without ``angle_frozen`` (NaN; :func:`predict` does not use it, and for one fixed set it
    costs the memorization map a second tilt system)."""
    setup, N = _check_feedback_inputs(solution, N, sample, "the tilt")
    k = solution.kernels
    d, beta, sw = float(setup.d), setup.beta, setup.sigma_w
    c = solution.variant.odd_slope(setup.leak)
    n = len(solution.t)
    moments = _node_moments(solution)
    m_aw = moments[:, 2]
    drive = _tilt_drive(solution, moments)
    gain = k.tilt_gain(setup.alpha, c, d)
    response = _threshold_densities(solution, d, setup.h)
    init = np.array([k.tilt_init_var_v(setup.sigma_a, sw, float(setup.M)), k.tilt_init_var_u(sw, float(setup.M))])
    unsat = solution.f_unsat
    inv_n = 0.0 if N is None else 1.0 / N
    m_aw = np.ascontiguousarray(m_aw)
    tilt_angles = bind(_kernel_over_pairs, k.tilt_angle)
    live = np.flatnonzero(m_aw > 0)

    def angle_of(var):
        out = np.full(n, np.pi / 2)
        tilt_angles(np.ascontiguousarray(var, dtype=float), m_aw, live, (d,), out)
        return out
    var_init, var_sample = (np.empty(n) for _ in range(2))
    frozen_init, frozen_sample = np.empty(n), np.empty(n)
    fixed = N is not None and sample == "fixed"
    # one fixed set: the examples unsatisfied at each step come from the memorization map (below)
    inv_n_here = 0.0 if fixed and not nested else inv_n
    growth = _a_growth(solution)
    _propagate_tilt(beta * solution.g, drive, gain * response, growth, init, unsat, inv_n_here, fixed, var_init,
                    var_sample)
    _propagate_tilt(beta * solution.g, drive, np.zeros(n), growth, init, unsat, inv_n_here, fixed, frozen_init,
                    frozen_sample)
    onset = None
    if fixed and not nested:
        systems = [(_tilt_matrices(beta * solution.g, drive, feedback, growth), drive)
                   for feedback in ((gain * response, np.zeros(n)) if frozen else (gain * response,))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # finite_sample's range warning is the caller's
            state = _finite_sample(solution, N, tilt_systems=systems, at_threshold=False)[1]
        var_sample = state.tilt_sample_variance[0]
        frozen_sample = state.tilt_sample_variance[1] if frozen else np.full(n, np.nan)
        onset = _sliding_onset(solution, state, drive[:, 0] * gain)
        if onset is not None:
            # from the onset the examples stalled at the margin hold the tilt where it is
            var_init[onset:], var_sample[onset:] = var_init[onset], var_sample[onset]
    var_v = var_init + var_sample
    output_variance = np.empty(n)
    bind(_kernel_over, k.tilt_output_variance)(np.ascontiguousarray(var_v, dtype=float), np.arange(n),
                                               (setup.alpha, c, d), output_variance)
    output_sd = np.sqrt(output_variance)
    return TiltPrediction(t=solution.t, N=None if N is None else int(N), sample=sample,
                          angle=angle_of(var_v), angle_frozen=angle_of(frozen_init + frozen_sample),
                          angle_init=angle_of(var_init), angle_sample=angle_of(var_sample), output_sd=output_sd,
                          sliding_onset=onset)


def _sliding_onset(solution, state, pull):
    """The first GD step from which one fixed set's examples stalled at the margin (``state.pile``, the
    memorization map's) make the tilt's linear response overshoot: its multiplier per step,
    1 + pull_t (E[u'] - pile_t / (2 s_t)) (``pull`` = f b_v per unit of E[u'], s_t an example's own gain per step,
    the band the pile sits in), at or below 0 over a window of a tenth of the elapsed steps (the map moves its
    classes across the margin one grid point at a time). None when that does not happen within the steps."""
    setup = solution.setup
    d, h = float(setup.d), setup.h
    n = len(state.kappa)
    multiplier = np.ones(n)
    for i in range(1, n):
        own, kappa = state.own_rate[i - 1], state.kappa[i]
        if own > 0 and kappa > 0:
            density = solution.kernels.tilt_response(kappa, d, h) - state.pile[i] / (2 * own)
            multiplier[i] = 1.0 + pull[i] * density
    for i in range(1, n):
        window = max(1, i // 10)
        if i + window >= n:
            return None
        if np.all(multiplier[i:i + window + 1] <= 0.0):
            return i
    return None


def _tilt_matrices(beta_g, drive, feedback, growth):
    """(T+1, 2, 2): A_t of :func:`_propagate_tilt`'s linear system."""
    A = np.ones((beta_g.shape[0], 2, 2))
    A[:, 0, 0] = 1.0 + growth + feedback * drive[:, 0]
    A[:, 0, 1] = beta_g
    A[:, 1, 0] = beta_g + feedback * drive[:, 1]
    return A


@numba.njit(cache=True)
def _propagate_tilt(beta_g, drive, feedback, growth, init, unsat, inv_n, fixed, var_init, var_sample):
    """Second moments of the linear system X' = A_t X + b_t r_t, X = (v_k, u_k), A_t = [[1 + g_a + f_t b_v, beta g],
    [beta g + f_t b_u, 1]] (f_t = ``feedback``: r per unit v from the loss; g_a = ``growth``, a's growth per step
    from one fixed set's own shifts, zeros for the mean field's node map), from the init covariance ``init``
    and a sample noise r_t of variance f_U(t) inv_n, independent between steps (fixed=False) or the mean over one
    fixed set whose unsatisfied part shrinks (fixed=True: Cov(r_t, r_s) = f_U(max(t, s)) inv_n). Fills the
    variance of v_k from each source at every step."""
    n = beta_g.shape[0]
    # the 2 x 2 products written out: numba's matrix product calls BLAS, whose set-up costs more than the product
    i00, i01, i11 = init[0], 0.0, init[1]       # the init's covariance (symmetric)
    s00, s01, s11 = 0.0, 0.0, 0.0               # finished shells (fixed) or all past noise (fresh)
    act0, act1 = 0.0, 0.0                       # fixed: response to the examples still unsatisfied, one unit of r each step
    for t in range(n):
        var_init[t] = i00
        var_sample[t] = s00
        if fixed and t > 0:
            var_sample[t] += act0 ** 2 * unsat[t - 1] * inv_n
        if t + 1 == n:
            break
        a00 = 1.0 + growth[t] + feedback[t] * drive[t, 0]
        a01 = beta_g[t]
        a10 = beta_g[t] + feedback[t] * drive[t, 1]
        a11 = 1.0
        i00, i01, i11 = _congruence(a00, a01, a10, a11, i00, i01, i11)
        if fixed:
            # the examples satisfied at this step stop adding to r: their share of the response is frozen
            left = ((unsat[t - 1] if t > 0 else 1.0) - unsat[t]) * inv_n
            s00 += act0 * act0 * left
            s01 += act0 * act1 * left
            s11 += act1 * act1 * left
            s00, s01, s11 = _congruence(a00, a01, a10, a11, s00, s01, s11)
            act0, act1 = a00 * act0 + a01 * act1 + drive[t, 0], a10 * act0 + a11 * act1 + drive[t, 1]
        else:
            s00, s01, s11 = _congruence(a00, a01, a10, a11, s00, s01, s11)
            noise = unsat[t] * inv_n
            s00 += drive[t, 0] * drive[t, 0] * noise
            s01 += drive[t, 0] * drive[t, 1] * noise
            s11 += drive[t, 1] * drive[t, 1] * noise


@numba.njit(cache=True, inline="always")
def _congruence(a00, a01, a10, a11, c00, c01, c11):
    """A C A^T for a 2 x 2 A and a symmetric C (its entries 00, 01, 11)."""
    r00, r01 = a00 * c00 + a01 * c01, a00 * c01 + a01 * c11    # first row of A C
    r10, r11 = a10 * c00 + a11 * c01, a10 * c01 + a11 * c11    # second row
    return r00 * a00 + r01 * a01, r00 * a10 + r01 * a11, r10 * a10 + r11 * a11


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


# |x_par| points of the recursion, denser near 0 where late thresholds and errors are; past 4 the threshold's
# density (phi(4) ~ 1e-4) feeds back nothing
_REST_GRID = 4.0 * np.linspace(0.0, 1.0, 33) ** 2


def _cell_masses(grid):
    """Share of the examples in the cell of each grid point: trapezoid weights of the density 2 phi of |x_par|
    (the Gaussian data law's definition)."""
    density = 2.0 * np.exp(-0.5 * grid**2) / math.sqrt(2.0 * math.pi)
    weights = np.zeros_like(grid)
    widths = np.diff(grid)
    weights[:-1] += widths / 2
    weights[1:] += widths / 2
    return density * weights


def rest_feedback(solution: MeanFieldSolution, N: int | None = None, sample: str = "fixed",
                  margin_density: str | None = None, spread: bool | None = None) -> RestFeedback | None:
    """The degree-2 part of F_M - F_t along x_perp with the hinge loss's feedback: its init part, and for N
    training examples the part the sample puts in (``sample="fixed"``: one set used at every step;
    ``"fresh"``: new examples at every step). Hinge loss, Gaussian data, clean labels; ``None`` for an
    activation whose degree-2 coefficient is not even in x_par (the derivation does not cover it). With one
    fixed set it follows that set's own clock (see :func:`predict`, also for ``margin_density`` and ``spread``,
    its ``degree2_spread``)."""
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
        setup.sigma_w, setup.slope, setup.beta, setup.h, _REST_GRID, _cell_masses(_REST_GRID), _ZETA_WEIGHTS,
        unsatisfied, mode, unit, np.ones((n, 1)))
    return BendFeedback(t=solution.t, x_par=_REST_GRID.copy(), damping=damping, sample_variance=sample_variance)


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
    grid = _REST_GRID
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
        setup.sigma_w, setup.slope, setup.beta, setup.h, grid, _cell_masses(grid), _ZETA_WEIGHTS,
        np.ascontiguousarray(unsatisfied, dtype=float), mode, unit,
        feedback_spectrum(solution, reach=float(grid[-1])).aligned if spread else np.ones((n, 1)))
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


def _degree2_step_maps(solution, moments):
    """Per GD step i with F != 0: (i, the kernels' args, the frozen-init amplitude of F's degree-2 part on the
    rest's grid, its growth since the last step, and the hinge's pull-back of this step, None at the last
    step or where there is no threshold on the grid). A degree-2 part of F is carried from step to step as
    growth (elementwise), then pull: the matrix I - rates at^T, given as the pair (rates, at) (rank one: ``at``
    interpolates at the threshold, ``rates`` is what the feedback takes out per unit there)."""
    setup, k = solution.setup, solution.kernels
    fw = solution.variant.finite_width_kernels()
    grid = _REST_GRID
    G = grid.size
    d, M = float(setup.d), float(setup.M)
    n = len(solution.t)
    previous = None
    feedback_rates = bind(_feedback_rates, k.rest_feedback, fw.degree2_cross, fw.degree2_cross_a2)
    degree2_second = bind(_kernel_at, fw.degree2_second)
    for i in range(n):
        a2, w2, aw = moments[i, :3]
        if not aw > 0:   # t = 0: F = 0, no threshold yet
            continue
        args = (a2, w2, aw, setup.alpha, M, d, setup.sigma_w, setup.slope)
        frozen = np.sqrt(degree2_second(grid, args))
        # what the feedback took out (and what the sample put in) grows with the nodes as the fluctuation does
        growth = np.ones(G) if previous is None else np.divide(frozen, previous, out=np.ones(G), where=previous > 0)
        previous = frozen
        x_star, kappa = float(solution.x_star[i]), float(solution.kappa[i])
        pull = None
        if i + 1 < n and kappa > 0 and x_star < grid[-1]:
            e_u_prime = _threshold_density(solution, i, kappa, d, setup.h)
            at_threshold = _interpolation_weights(x_star, grid)
            rates = feedback_rates(grid, x_star, e_u_prime, setup.beta, d, setup.sigma_w, args)
            pull = (rates, at_threshold)
        yield i, args, frozen, growth, pull


@dataclasses.dataclass(frozen=True)
class Degree2Propagator:
    """What is left of a degree-2 part of F along x_perp (for example the change one GD step on one example makes
    there) ``t`` steps after it was put in at step ``start`` from a source at |x_par| = ``source``:
    ``retention`` (len(t), G), its amplitude at each of ``x_par`` relative to its amplitude there when it was put
    in; the hinge's pull-back and the nodes' growth, as :func:`rest_feedback` carries F's degree-2 parts.
    ``growth_only`` (len(t), G): the same without the pull-back (what is left when no example changes its hinge
    status because of the deposit)."""

    start: int
    source: float
    t: np.ndarray
    x_par: np.ndarray
    retention: np.ndarray
    growth_only: np.ndarray


def degree2_propagator(solution: MeanFieldSolution, start: int, source: float = 0.0) -> Degree2Propagator:
    """The propagator of a degree-2 part of F along x_perp under the hinge's feedback, from a deposit at step
    ``start`` (the kernel's degree-2 part from a source at |x_par| = ``source``) to the end of ``solution``.
    Hinge loss, Gaussian data, clean labels."""
    setup, _ = _check_feedback_inputs(solution, None, "fixed", "the degree-2 propagator")
    n = len(solution.t)
    start = check_int("start", start, 1)
    if start > n - 2:
        raise ValueError(f"start must be a step of the solution before its last, 1 to {n - 2}, got {start}")
    source = _check_real("source (an |x_par|)", source, 0.0, float(_REST_GRID[-1]))
    fw = solution.variant.finite_width_kernels()
    if not getattr(fw, "HAS_DEGREE2", False):
        raise ValueError(f"the degree-2 propagator needs the degree-2 derivation, which the activation "
                         f"{solution.variant.activation.name!r} does not have")
    moments = _node_moments(solution)
    deposit = response = grown = None
    out, out_grown = [], []
    ratio = lambda part: np.divide(part, deposit, out=np.zeros_like(part), where=deposit != 0)
    for i, args, _frozen, growth, pull in _degree2_step_maps(solution, moments):
        if response is not None:
            response, grown = response * growth, grown * growth
            out.append(ratio(response))
            out_grown.append(ratio(grown))
            if pull is not None:
                rates, at = pull
                response = response - rates * (at @ response)
        if i == start:   # put in after this step's pull, as the sample's parts are
            k = solution.kernels
            deposit = _degree2_kernel_matrix(fw.degree2_cross, fw.degree2_cross_a2, k.degree2_kernel, _REST_GRID,
                                             np.array([source]), float(setup.d), setup.sigma_w, args)[:, 0]
            response, grown = deposit.copy(), deposit.copy()
            out.append(np.ones_like(deposit))
            out_grown.append(np.ones_like(deposit))
    if deposit is None:
        raise ValueError(f"start = {start}: F is still 0 there (no threshold yet); choose a later step")
    return Degree2Propagator(start=start, source=source, t=np.arange(len(out)), x_par=_REST_GRID.copy(),
                             retention=np.array(out), growth_only=np.array(out_grown))


def _interpolation_weights(x, grid):
    """(G,): w with w @ values = np.interp(x, grid, values) for any values on ``grid`` (x inside it)."""
    weights = np.zeros(grid.size)
    j = min(int(np.searchsorted(grid, x, side="right")) - 1, grid.size - 2)
    width = grid[j + 1] - grid[j]
    weights[j] = (-1.0 / width) * (x - grid[j]) + 1.0       # np.interp's own arithmetic on a unit vector
    weights[j + 1] = (1.0 / width) * (x - grid[j])
    return weights


@kernel_template(1)
def _kernel_at(kernel, xs, args):
    """kernel(x, *args) at each of xs (args: the finite-width kernels' eight parameters)."""
    a2, w2, aw, alpha, M, d, sw, s = args
    out = np.empty(xs.shape[0])
    for i in range(xs.shape[0]):
        out[i] = kernel(xs[i], a2, w2, aw, alpha, M, d, sw, s)
    return out


@kernel_template(3)
def _feedback_rates(rest_feedback, cross, cross_a2, xs, x_star, e_u_prime, beta, d, sigma_w, args):
    """The per-step pull-back of F's degree-2 part at each of xs per unit of it at the threshold x_star."""
    a2, w2, aw, alpha, M, _, sw, s = args
    out = np.empty(xs.shape[0])
    for i in range(xs.shape[0]):
        out[i] = rest_feedback(e_u_prime, beta, alpha, cross(xs[i], x_star, a2, w2, aw, alpha, M, d, sw, s),
                               cross_a2(xs[i], x_star, a2, w2, aw, alpha, M, d, sw, s), d, sigma_w)
    return out


@kernel_template(3)
def _degree2_kernel_matrix(cross, cross_a2, kernel, xs, ys, d, sigma_w, args):
    """lambda(x, y) for x in xs, y in ys: the kernel's degree-2 part from the node averages."""
    a2, w2, aw, alpha, M, _, sw, s = args
    out = np.empty((xs.shape[0], ys.shape[0]))
    for i in range(xs.shape[0]):
        for j in range(ys.shape[0]):
            out[i, j] = kernel(cross(xs[i], ys[j], a2, w2, aw, alpha, M, d, sw, s),
                               cross_a2(xs[i], ys[j], a2, w2, aw, alpha, M, d, sw, s), d, sigma_w)
    return out


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


@numba.njit(cache=True)
def _interp_rows(xs, xp, fp, steps):
    """(T+1, P): np.interp(xs[i], xp, fp[i]) for each step i in ``steps``, zeros elsewhere."""
    out = np.zeros(xs.shape)
    for i in steps:
        out[i] = np.interp(xs[i], xp, fp[i])
    return out


def _sample_variance_rows(feedback, xs, steps):
    """(T+1, P): the variance the training sample puts in (``feedback.sample_variance``) at the points xs[i]."""
    if feedback is None:
        return np.zeros(xs.shape)
    return _interp_rows(np.ascontiguousarray(xs, dtype=float), feedback.x_par, feedback.sample_variance, steps)


@dataclasses.dataclass(frozen=True)
class BandPrediction:
    """The Fig. 1d band within one run at GD steps ``t``: training examples get satisfied at |x_par| around
    ``crossing`` with sd ``band_sd``, whose parts add in quadrature: ``rest_sd`` the nonlinear rest of F_M - F_t
    (its degree-2 part with the loss's feedback, :func:`rest_feedback`; ``rest_sd_frozen`` all of it with the
    frozen init law), ``tilt_sd`` = tan(angle) of :func:`tilt` (with the loss's feedback), ``bend_sd`` the
    linear part's bend with |x_par| (each node's linear coefficient's part odd in w_par x_par: zero at x_par = 0,
    where the tilt is measured, and moving both labels alike at x*; with the loss's feedback) and, for a finite
    training set, ``sample_sd`` the degree-2 part the sample puts in (the other examples' memorization, with the
    feedback; :func:`rest_feedback`), all in units of |x_par| (divided by kappa); ``crossing`` is x*(t) (N=None
    or fresh data) or the memorization-corrected crossing. The common part of F_M - F_t shifts every example of
    a run alike and is not part of the band."""

    t: np.ndarray
    N: int | None
    crossing: np.ndarray
    band_sd: np.ndarray
    rest_sd: np.ndarray
    tilt_sd: np.ndarray
    bend_sd: np.ndarray
    sample_sd: np.ndarray
    rest_sd_frozen: np.ndarray


def within_run_band(solution: MeanFieldSolution, N: int | None = None, sample: str = "fixed",
                    margin_density: str | None = None) -> BandPrediction:
    """The band of Fig. 1d within one run, composed of the finite-width rest, the tilt and (N given) the training
    sample's part, each with the loss's feedback. Hinge loss, Gaussian data, clean labels. ``sample="fresh"``:
    N new examples at every step, nothing is memorized. With one fixed set it follows that set's own clock
    (see :func:`predict`, also for ``margin_density``)."""
    setup, N = _check_feedback_inputs(solution, N, sample, "the band")
    margin_density = _check_margin_density(margin_density, N, sample)
    _warn_small_sample("within_run_band", setup, N, sample)
    solution = _on_training_clock(solution, N, sample, margin_density)
    tilt_part = _tilt(solution, N, sample, frozen=False)
    memo, state = (_quiet_finite_sample(solution, N, tilt_part.sliding_onset) if N is not None and sample == "fixed"
                   else (None, None))
    return _band(solution, N, sample, _rest_feedback(solution, N, sample, memo, state), memo, tilt_part,
                 _bend_feedback(solution, N, sample, memo))


def _quiet_finite_sample(solution, N, hold_from):
    """:func:`finite_sample`'s whole prediction and its map's state without its range warning (the caller's own
    call gives it), each example's share of the tilt held from ``hold_from`` (``"auto"``: the sliding onset of
    :func:`tilt`)."""
    if hold_from == "auto":
        hold_from = _sliding_onset_or_none(solution, N)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite_sample(solution, N, hold_from=hold_from)


def _band(solution, N, sample, feedback, memo, tilt_part, bend, what="within_run_band", stacklevel=3):
    """The band's parts (:class:`BandPrediction`); ``what`` and ``stacklevel``: the public function whose range
    warning this gives and its caller's frame, counted from here."""
    rest_frozen = _frozen_band_rest_sd(solution, what, stacklevel + 1)
    rest = rest_frozen.copy()
    bend_sd = np.zeros(len(solution.t))
    setup, fw = solution.setup, solution.variant.finite_width_kernels()
    moments = _node_moments(solution)
    live = np.flatnonzero(np.isfinite(rest_frozen) & (solution.kappa > 0))
    x_star = np.asarray(solution.x_star, dtype=float)[:, None]
    params = _rest_params(moments, setup)
    if feedback is not None:
        removed = _degree2_removed_rows(fw, feedback, x_star, params, live)[live, 0]
        rest[live] = np.sqrt(np.maximum(rest_frozen[live] ** 2 - removed / solution.kappa[live] ** 2, 0.0))
    bend_sd[live] = np.sqrt(_bend_variance_rows(fw, bend, x_star, params, live)[live, 0]) / solution.kappa[live]
    tilt_sd = np.tan(tilt_part.angle)
    crossing = np.array(solution.x_star, dtype=float)
    if N is not None and sample == "fixed":
        crossing = memo.crossing
    sample_sd = np.zeros(len(solution.t))
    if feedback is not None and N is not None:
        live = np.flatnonzero(solution.kappa > 0)
        x_star = np.asarray(solution.x_star, dtype=float)[:, None]
        sample_sd[live] = np.sqrt(_sample_variance_rows(feedback, x_star, live)[live, 0]) / solution.kappa[live]
    return BandPrediction(t=solution.t, N=None if N is None else int(N), crossing=crossing,
                          band_sd=np.sqrt(rest**2 + tilt_sd**2 + bend_sd**2 + sample_sd**2), rest_sd=rest,
                          tilt_sd=tilt_sd, bend_sd=bend_sd, sample_sd=sample_sd, rest_sd_frozen=rest_frozen)


@dataclasses.dataclass(frozen=True)
class FiniteSizePrediction:
    """What a network of width M trained on N examples does, at GD steps ``t``: first order in 1/sqrt(M) and 1/N
    around the mean-field solution.

    Rates (P over the data and the init): ``test_error`` and ``test_unsat`` at a fresh point, P(y F(x) < 0) and
    P(y F(x) < h); ``train_error`` and ``train_unsat`` the shares of the training set with y F(x) < 0 and < h,
    from the memorization map (each training example carries its own memorized margin, which it gains only while
    unsatisfied, against a persistent offset: the other examples' memorization, the finite-width rest and the
    tilt); with ``N=None`` or ``sample="fresh"`` nothing is memorized and train equals test.
    Fig. 1d: ``band_sd`` and ``crossing``, the within-run sd and centre of the |x_par| at which training examples
    get satisfied. ``tilt``: the rms angle between (1/M) sum_i a_i w_i and w* (radians).
    Parts: ``kappa`` the slope of F along x_par at fresh points (memorization slows it), ``memorized`` a training
    point's memorized margin (its own term), ``rest_sd`` the sd of the nonlinear rest of F_M - F_t at x_par = 0
    (``rest_sd_frozen`` without the loss's feedback), ``sample_sd`` the sd of the degree-2 part the training
    sample puts in there (the other examples' memorization), and ``tilt_sd`` the tilt's part of F's sd at a
    fresh point. ``degree2_sd``: the sd of F's degree-2 part along x_perp at x_par = 0 (the init's part after the
    loss's feedback, with the node law's weights, and the sample's; zeros for an activation without one).
    ``crowd``: the number of training examples the memorization map stalls at the margin (one fixed
    set; zeros otherwise), which with ``margin_density="training"`` hold their share of each new degree-2 deposit
    of the sample. ``sliding_onset``: the GD step from which one fixed set's examples stalled at the margin hold the
    tilt (see :func:`predict`; None: not within the steps, or no fixed set). ``node_moments`` (T+1, 3): the node
    law's E a^2, E w_par^2 and E a w_par (one fixed set: on its own clock; equal E a^2 and E w_par^2 when sigma_a
    = sigma_w, unless ``own_shifts``). ``node_law``: the rest's node weights, ``"feedback"`` or ``"frozen"`` (see
    :func:`predict`). ``degree2_spread``: whether the init's degree-2 part was pulled back with the feedback's
    spectrum at width M (see :func:`predict`).

    Approximations (the validation case ``finite_size`` measures each): the nonlinear rest of F_M - F_t keeps the
    frozen init law's node directions (its node weights the feedback's, ``node_law``) except its degree-2 part
    along x_perp, which carries the loss's feedback and the training sample's part (:func:`rest_feedback`); the tilt carries the loss's feedback (:func:`tilt`); the common part of F_M - F_t (the same at every x_perp) is left
    out: the hinge's feedback on a common offset is of order one per step, d times the tilt's, which it outruns.
    """

    t: np.ndarray
    N: int | None
    sample: str
    test_error: np.ndarray
    train_error: np.ndarray
    test_unsat: np.ndarray
    train_unsat: np.ndarray
    band_sd: np.ndarray
    crossing: np.ndarray
    tilt: np.ndarray
    kappa: np.ndarray
    memorized: np.ndarray
    sample_sd: np.ndarray
    rest_sd: np.ndarray
    rest_sd_frozen: np.ndarray
    tilt_sd: np.ndarray
    crowd: np.ndarray
    sliding_onset: int | None = None
    node_moments: np.ndarray | None = dataclasses.field(default=None, repr=False)
    node_law: str = "frozen"
    degree2_spread: bool = False
    degree2_sd: np.ndarray | None = None

    def table(self, every: int | None = None) -> str:
        """A plain-text table of the rates over GD steps (every ``every``-th step and the last; about 20 rows by
        default): kappa, the test error, the train error and training f_unsat, the tilt and the band's sd, and
        for one fixed set the examples stalled at the margin (``crowd``)."""
        every = max(1, len(self.t) // 20) if every is None else check_int("every", every, 1)
        fixed = self.N is not None and self.sample == "fixed"
        head = (f"{'t':>8} {'kappa':>9} {'test error':>11} {'train error':>12} {'train unsat':>12} "
                f"{'tilt (rad)':>11} {'band sd':>9}" + (f" {'crowd':>8}" if fixed else ""))
        rows = [head]
        for i in sorted(set(range(0, len(self.t), every)) | {len(self.t) - 1}):
            rows.append(f"{self.t[i]:>8d} {self.kappa[i]:>9.4g} {self.test_error[i]:>11.5f} "
                        f"{self.train_error[i]:>12.5f} {self.train_unsat[i]:>12.5f} {self.tilt[i]:>11.5f} "
                        f"{self.band_sd[i]:>9.4f}" + (f" {self.crowd[i]:>8.0f}" if fixed else ""))
        return "\n".join(rows)


# Gauss-Legendre rule per panel of the average over |x_par|, and the points where the rest's variance is evaluated
_GL_X, _GL_W = np.polynomial.legendre.leggauss(24)
_REST_POINTS = 13
_TAIL = 9.0  # panels reach 9 sd of the fluctuation past a crossing: the rest of the integrand is below 1e-18


def predict(solution: MeanFieldSolution, N: int | None = None, sample: str = "fixed",
            margin_density: str | None = None, held_margins: str = "still",
            others_pulls: str = "kernel", own_shifts: bool = False, node_law: str | None = None,
            degree2_spread: bool | None = None) -> FiniteSizePrediction:
    """Finite-size prediction along a mean-field solution: what a network of width M trained on N examples does
    over GD steps (hinge loss, Gaussian data, clean labels).

    Parameters
    ----------
    solution : MeanFieldSolution
        From :func:`mftheory.meanfield`; its setup gives the width M.
    N : int >= 1 or None
        The number of training examples; None: an infinite training set (finite width M only).
    sample : "fixed" or "fresh"
        ``"fixed"``: one training set of N examples used at every step; ``"fresh"``: N new examples at every step
        (``simulate(..., online=True)``).
    margin_density : None, "training" or "infinite"
        Whose density of examples at the margin the loss's feedback on a fluctuation counts. None (default): the
        training set's own for one fixed set (the examples crossing the margin, by continuity, and the crowd the
        memorization map stalls there), the infinite set's otherwise. ``"infinite"`` with one fixed set: the
        fresh-data physics, which keeps pulling the set's fluctuations down after the set is all satisfied.
    held_margins : "still" or "moving"
        Experimental, one fixed set only. ``"still"`` (default): the examples the memorization map holds at the
        margin stay where it put them. ``"moving"``: the other examples' pulls move them at a persistent velocity
        (``velocity_sd``) and they pull when pushed below the margin.
    others_pulls : "kernel" or "kernel+width"
        Experimental, one fixed set only: the other unsatisfied examples' degree >= 2 pulls on a training margin
        as first derived (default), or with rho^2's mean taken out and the width's random features added
        (``pull_amplitude``, ``width_kernel``). The width's part matters at small width: at d = 200, M = 100,
        N = 4e4 the default memorizes the set far too fast (training f_unsat 0.41 of GD's at t = 600) and
        ``"kernel+width"`` keeps it within 7% to t = 600, but its train error is 2 to 90 times GD's from t = 300
        (its offsets, persistent and Gaussian, leave training examples below 0 that GD's moving ones do not).
    own_shifts : bool
        Experimental, one fixed set only. False (default): the nodes follow the mean field's node map, driven by
        the set's unsatisfied examples. True: also the growth of every output weight a_i that their own past
        pulls put in: each pull moved the example's own preactivations, so its next pull on a_i is larger than
        the mean field's, in proportion to how far its margin exceeds kappa |x_par| (``own_shift_rate``,
        derivations/finite_sample.py). It gives the node law GD has (E a^2 above E w_par^2) and a larger kappa
        (at Fig. 1, N = 1e5, t = 2000: 0.91 of GD's, 0.85 without), but the memorization map then satisfies the
        set too fast (training f_unsat 0.64 of GD's at N = 2.5e4, t = 400, 0.86 without): see the
        documentation's finite-size page.
    node_law : None, "frozen" or "feedback"
        The node weights of the nonlinear rest of F_M - F_t. ``"feedback"``: the node law with the loss's feedback
        on each node (:func:`mftheory.node_law`: each node's own pull-back shrinks the w_perp of the nodes with
        large a, the feedback's turns lengthen it, an effect of order 1/M that grows with d / M), the rest's
        variance taken times its factor E[a^2 s^2] / (E[a^2] s_0^2) (exact at x_par = 0 for a 1-homogeneous
        activation, sigma(c z) = c sigma(z) for c > 0, such as ReLU and leaky ReLU; the same factor taken at every
        x_par); derived without a fixed set only (``N=None`` or ``sample="fresh"``). ``"frozen"``: the frozen init
        law's node weights. None (default): ``"feedback"`` where it is derived (no fixed set, a 1-homogeneous
        activation), ``"frozen"`` otherwise; the result's ``node_law`` says which. With fresh data, test error
        theory / GD at t = 100 / 300 / 600 / 999: d = 200, M = 100 1.01 / 1.01 / 1.04 / 1.06 (frozen 1.04 / 1.17 /
        1.36 / 1.56), d = 50, M = 200 0.95 / 0.95 / 0.85 / 0.97 (frozen 0.99 / 1.03 / 0.94 / 1.09); at Fig. 1
        0.90-0.97 of GD's from t = 100 to 2000 (frozen 0.96-1.10), these with ``degree2_spread=False``; the
        documentation's finite-size page has the rest.
    degree2_spread : None, True or False
        How the loss's feedback pulls back the init's degree-2 part of F. True: with its spectrum at width M
        (:func:`mftheory.feedback_spectrum.feedback_spectrum`): the feedback is a sum of M nodes' rank-one terms
        whose spectrum spreads about its average (a weighted Marchenko-Pastur law), and the init's tensor lies
        along the nodes' own a-part directions; each eigendirection is pulled back at the average rate times its
        eigenvalue over the average. False: at the average for every direction. None (default): True without one
        fixed set, False with one (the set's coherent pulls and its crowd at the margin, which take the set's
        deposits off faster than derived, are not in the spectrum); the result's ``degree2_spread`` says which.
        The sample's part (fresh data) keeps the average. At Fig. 1 with fresh data, test error theory / GD from
        t = 100 to 2000 0.95-1.11 (False: 0.94-1.00) and F's degree-2 part at x_par = 0 1.27 of GD's at t = 2000
        (False: 0.44); with fresh data at d = 200, M = 100 0.94-1.05 from t = 30 to 999 (False: 1.01-1.06), at
        d = 50, M = 200 0.93-1.02 (False: 0.85-0.98); the rest, and where the remaining excess comes from: the
        documentation's finite-size page.

    Returns
    -------
    FiniteSizePrediction
        Arrays over GD steps: ``test_error``, ``train_error``, ``train_unsat``, ``test_unsat``, ``band_sd`` and
        ``crossing`` (Fig. 1d), ``tilt``, and the parts (``kappa``, ``rest_sd``, ``sample_sd``, ``tilt_sd``,
        ``crowd``, ``sliding_onset``); ``.table()`` prints them.

    How it is built: first order in 1/sqrt(M) and 1/N around the mean field, every part with the loss's feedback
    (the tilt, :func:`tilt`; the nonlinear rest's degree-2 part and the sample's, :func:`rest_feedback`; degrees
    >= 3 keep the frozen init law's directions, with the node law's weights, ``node_law``; the common part is left out: the hinge pulls it back d times harder than the
    tilt). One fixed set adds the memorization map (:func:`finite_sample`: each training example memorizes only
    while it is unsatisfied, against a persistent offset; the set's crowd at the margin takes its share of each
    deposit, ``crowd_kept``, ``crowd_hold``) and runs every part on the set's own clock: its unsatisfied
    examples drive the node map, so the nodes, kappa and every fluctuation slow down as the set is memorized and
    stop once it is all satisfied. From the sliding onset (``sliding_onset``) the examples stalled at the margin
    hold the tilt.

    Time (2 cores, Fig. 1, 2000 steps): about 0.1 s with N=None, 0.15 s with ``sample="fresh"`` (70-90 ms of
    each the feedback's spectrum; 25 and 45 ms with ``degree2_spread=False``) and 1 s with one
    fixed set (its memorization map runs four times over 16 040 classes of training examples). The first call in
    a new installation also compiles the loops, about a minute, once per machine (numba's cache).

    Where it holds against gradient descent, option by option, with every measurement and the command behind it
    (Fig. 1 and a second setting; what is missing and why): the documentation's pages "What holds, and where" and
    "Finite-size predictions" (docs/status.md, docs/finite_size_fig1.md, the section "What predict's options do at
    Fig. 1").
    """
    setup = _check_solution(solution)
    if N is not None:
        N = check_int("N (None for an infinite training set)", N, 1)
    _check_feedback_inputs(solution, N, sample, "the finite-size prediction")   # before any long work
    margin_density = _check_margin_density(margin_density, N, sample)
    if held_margins not in HELD_MARGINS:
        raise ValueError(f"held_margins must be one of {HELD_MARGINS}, got {held_margins!r}")
    if others_pulls not in OTHERS_PULLS:
        raise ValueError(f"others_pulls must be one of {OTHERS_PULLS}, got {others_pulls!r}")
    if others_pulls == "kernel+width":
        if N is None or sample != "fixed":
            raise ValueError("others_pulls='kernel+width' needs one fixed training set (N given, sample='fixed'): "
                             "only its memorization map has the others' pulls")
        solution = _with_options(solution, width_pulls=True)
    if held_margins == "moving":
        if N is None or sample != "fixed":
            raise ValueError("held_margins='moving' needs one fixed training set (N given, sample='fixed'): only "
                             "its memorization map holds examples at the margin")
        solution = _with_options(solution, moving_pile=True)
    if not isinstance(own_shifts, (bool, np.bool_)):
        raise TypeError(f"own_shifts must be True or False, got {own_shifts!r}")
    if own_shifts:
        if N is None or sample != "fixed":
            raise ValueError("own_shifts=True needs one fixed training set (N given, sample='fixed'): with fresh "
                             "data no example pulls twice")
        solution = _with_options(solution, own_shifts=True)
    node_law = _check_node_law(solution, node_law, N is not None and sample == "fixed")
    degree2_spread = _check_degree2_spread(degree2_spread, N is not None and sample == "fixed")
    _warn_small_sample("predict", setup, N, sample)
    return _along(_on_training_clock(solution, N, sample, margin_density), N, sample, node_law,
                  degree2_spread).prediction


# predict's node_law: the nonlinear rest with the frozen init law's node weights, or with the feedback's on each node
NODE_LAWS = ("frozen", "feedback")


def _check_degree2_spread(spread, fixed):
    """predict's ``degree2_spread``: None -> True without one fixed set, False with one."""
    if spread is None:
        return not fixed
    if not isinstance(spread, (bool, np.bool_)):
        raise TypeError(f"degree2_spread must be True, False or None, got {spread!r}")
    return bool(spread)


def _check_node_law(solution, node_law, fixed):
    """``predict``'s node law checked, None resolved: the feedback's where it is derived (no fixed set, a
    1-homogeneous activation), the frozen init law's otherwise."""
    homogeneous = bool(getattr(solution.variant.finite_width_kernels(), "ONE_HOMOGENEOUS", False))
    if node_law is None:
        return "feedback" if homogeneous and not fixed else "frozen"
    if node_law not in NODE_LAWS:
        raise ValueError(f"node_law must be one of {NODE_LAWS} or None, got {node_law!r}")
    if node_law == "feedback" and fixed:
        raise ValueError("node_law='feedback' is derived without a fixed training set (N=None or "
                         "sample='fresh'): one fixed set's memorization grows the same nodes' w_perp instead")
    if node_law == "feedback" and not homogeneous:
        raise ValueError(f"node_law='feedback' scales the rest by E[a^2 s^2], which holds for a 1-homogeneous "
                         f"activation (sigma(c z) = c sigma(z) for c > 0) only; {solution.setup.activation!r} is "
                         f"not: use node_law='frozen'")
    return node_law
# predict's held_margins: the memorization map's examples held at the margin stay where it put them, or move at the
# velocity the others' pulls give them (experimental)
HELD_MARGINS = ("still", "moving")
# predict's others_pulls: the other unsatisfied examples' degree >= 2 pulls on a training margin, as first derived or
# with rho^2's mean out and the width's random features in (experimental)
OTHERS_PULLS = ("kernel", "kernel+width")


def _on_training_clock(solution, N, sample, margin_density="infinite"):
    """For one fixed set of N examples, the solution re-run on that set's own drift (:func:`_training_clock`,
    from a first pass of the whole prediction along the mean field); otherwise the solution itself."""
    if N is None or sample != "fixed":
        return solution
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the range warnings are the caller's
        state = _fixed_sample_state(solution, N, _tilt(solution, N, sample, frozen=False))[1]
    return _training_clock(solution, state, margin_density == "training")


@dataclasses.dataclass(frozen=True)
class _Along:
    prediction: FiniteSizePrediction
    state: _MapResult | None


def _along(solution, N, sample, node_law="frozen", degree2_spread=False):
    """:func:`predict` along ``solution`` (the mean field, or one fixed set's clock from :func:`_training_clock`),
    with the memorization map's state (None without a fixed set)."""
    setup = solution.setup
    tilt_part = _tilt(solution, N, sample, frozen=False)
    k = solution.kernels
    fw = solution.variant.finite_width_kernels()
    n = len(solution.t)
    moments = _node_moments(solution)
    memo = train_rates = state = None
    if N is not None and sample == "fixed":
        memo, state = _fixed_sample_state(solution, N, tilt_part, moments)
        train_rates = state.train_rates
    feedback = _rest_feedback(solution, N, sample, memo, state, degree2_spread)
    bend = _bend_feedback(solution, N, sample, memo)
    band = _band(solution, N, sample, feedback, memo, tilt_part, bend, "predict", 4)
    if memo is not None:
        kappa, memorized = memo.kappa, memo.memorized
    else:
        kappa, memorized = np.array(solution.kappa, dtype=float), np.zeros(n)
    test_error, train_error = np.full(n, 0.5), np.full(n, 0.5)
    test_unsat, train_unsat = np.ones(n), np.ones(n)
    rest_sd, rest_sd_frozen, sample_sd = np.zeros(n), np.zeros(n), np.zeros(n)
    d = float(setup.d)
    steps = np.flatnonzero((moments[:, 2] > 0) & (kappa > 0))   # t = 0: F = 0, every sign equally likely
    params = _rest_params(moments, setup)
    extra = tilt_part.output_sd ** 2
    with np.errstate(divide="ignore"):
        x_star = np.where(kappa > 0, setup.h / kappa, 0.0)
    # the rest varies on the node law's scale, slowly against the crossings: a few points, then interpolated
    probes = np.column_stack([np.zeros(n), x_star])
    rest_variance_rows = bind(_rest_variance_rows, fw.output_variance, fw.common_second, fw.common_mean,
                              fw.linear_second)
    at_probes = rest_variance_rows(probes, d, params, steps) + _bend_variance_rows(fw, bend, probes, params, steps)
    reach, coarse = np.zeros(n), np.zeros((n, _REST_POINTS))
    at_probes_sample = _sample_variance_rows(feedback, probes, steps)
    reach[steps] = np.sqrt(at_probes[steps].max(axis=1) + extra[steps]
                           + at_probes_sample[steps].max(axis=1)) / kappa[steps]
    coarse[steps] = np.linspace(0.0, np.minimum(x_star[steps] + _TAIL * reach[steps], 12.0), _REST_POINTS).T
    rests = rest_variance_rows(coarse, d, params, steps)
    rest_sd_frozen[steps] = np.sqrt(rests[steps, 0])
    rests[steps] = np.maximum(rests[steps] - _degree2_removed_rows(fw, feedback, coarse, params, steps)[steps], 0.0)
    law_factor = _node_law(solution).variance_factor if node_law == "feedback" else np.ones(n)
    rests[steps] *= law_factor[steps, None]
    rest_sd[steps] = np.sqrt(rests[steps, 0])
    rests[steps] += _bend_variance_rows(fw, bend, coarse, params, steps)[steps]
    added = _sample_variance_rows(feedback, coarse, steps)
    sample_sd[steps] = np.sqrt(added[steps, 0])
    degree2_sd = np.zeros(n)
    if feedback is not None:   # F's degree-2 part at x_par = 0: the init's after the feedback, and the sample's
        kept = bind(_damped_rows, fw.degree2_variance)(np.zeros((n, 1)), params, feedback.x_par, feedback.damping,
                                                        steps, False)[:, 0]
        degree2_sd[steps] = np.sqrt(kept[steps] * law_factor[steps] + added[steps, 0])
    rests[steps] += added[steps]
    bind(_average_rates, k.margin_below)(_GL_X, _GL_W, coarse, rests, kappa, reach, extra, setup.h, steps,
                                         test_error, test_unsat)
    if train_rates is None:   # nothing memorized: a training point is a fresh one
        train_error, train_unsat = test_error.copy(), test_unsat.copy()
    else:
        known = np.isfinite(train_rates[:, 0])
        train_error[known], train_unsat[known] = train_rates[known, 0], train_rates[known, 1]
    return _Along(FiniteSizePrediction(t=solution.t, N=None if N is None else int(N), sample=sample,
                                       test_error=test_error, train_error=train_error, test_unsat=test_unsat,
                                       train_unsat=train_unsat, band_sd=band.band_sd, crossing=band.crossing,
                                       tilt=tilt_part.angle, kappa=kappa, memorized=memorized, sample_sd=sample_sd,
                                       rest_sd=rest_sd, rest_sd_frozen=rest_sd_frozen, tilt_sd=tilt_part.output_sd,
                                       degree2_sd=degree2_sd,
                                       crowd=np.zeros(n) if state is None else N * np.asarray(state.pile, dtype=float),
                                       sliding_onset=tilt_part.sliding_onset,
                                       node_moments=_map_node_moments(solution, state, moments), node_law=node_law,
                                       degree2_spread=bool(degree2_spread)),
                  state)


def _map_node_moments(solution, state, moments):
    """(T+1, 3): E a^2, E w_par^2, E a w_par of the node law behind ``predict``'s kappa: the memorization map's
    (``state``; with the own shifts its transfer matrix's, else its gamma_+-), or ``moments`` without a fixed set."""
    if state is None:
        return np.array(moments[:, :3])
    if state.node_moments is not None:
        return np.array(state.node_moments[:, :3])
    setup = solution.setup
    out = np.empty((len(state.kappa), 5))
    solution.kernels.fill_moments(np.asarray(state.gamma_plus, dtype=float), np.asarray(state.gamma_minus, dtype=float),
                                  setup.sigma_a, setup.sigma_w, out)
    return out[:, :3]


def _fixed_sample_state(solution, N, tilt_part, moments=None, snapshot_at=None):
    """The memorization map along ``solution`` for one fixed set of N examples: its :func:`finite_sample`
    prediction and its state. A training point's margin: the map's own memorized part and spread, plus the rest
    and the tilt (whose feedback does not depend on the sample). ``snapshot_at``: see :func:`_memorization_map`."""
    if moments is None:
        setup = solution.setup
        moments = _node_moments(solution)
    variance = _training_rest_variance(solution, tilt_part, _init_feedback(solution), moments)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite_sample(solution, N, variance, hold_from=tilt_part.sliding_onset, at_threshold=False,
                              snapshot_at=snapshot_at)


# |x_par| points at which a training point's rest variance is evaluated before it is interpolated onto the
# memorization grid: it varies on the node law's scale, but the misclassified examples sit within a few rest sd /
# kappa of x_par = 0, so the points are dense there (13 evenly spaced ones put the training error 1.4% off the
# test error where nothing is memorized; these, 0.1%)
_TRAIN_REST_POINTS = _MEMO_GRID[-1] * np.linspace(0.0, 1.0, 49) ** 2


def _training_rest_variance(solution, tilt_part, feedback, moments):
    """(T+1, G_memo): the variance of a training point's margin apart from its memorization and the spread: the
    finite-width rest (its degree-2 part with the loss's feedback), the linear part's bend and the tilt; NaN where
    F = 0."""
    setup = solution.setup
    fw = solution.variant.finite_width_kernels()
    n = len(solution.t)
    out = np.full((n, _MEMO_GRID.size), np.nan)
    steps = np.flatnonzero(moments[:, 2] > 0)
    params = _rest_params(moments, setup)
    points = np.broadcast_to(_TRAIN_REST_POINTS, (n, _TRAIN_REST_POINTS.size))
    rest_variance_rows = bind(_rest_variance_rows, fw.output_variance, fw.common_second, fw.common_mean,
                              fw.linear_second)
    rests = rest_variance_rows(np.ascontiguousarray(points), float(setup.d), params, steps)
    rests = np.maximum(rests - _degree2_removed_rows(fw, feedback, points, params, steps), 0.0)
    # the bend rises from 0 at x_par = 0 faster than the points above resolve: taken on the grid itself
    bends = _bend_variance_rows(fw, _bend_feedback(solution), np.broadcast_to(_MEMO_GRID, (n, _MEMO_GRID.size)),
                                params, steps)
    for i in steps:
        out[i] = np.interp(_MEMO_GRID, _TRAIN_REST_POINTS, rests[i]) + bends[i] + tilt_part.output_sd[i] ** 2
    return out


def _rest_params(moments, setup):
    """(T+1, 8): the finite-width kernels' parameters (m_a2, m_w2, m_aw, alpha, M, d, sigma_w, leak) per step."""
    n = moments.shape[0]
    params = np.empty((n, 8))
    params[:, :3] = moments[:, :3]
    params[:, 3:] = (setup.alpha, float(setup.M), float(setup.d), setup.sigma_w, setup.slope)
    return params


@kernel_template(4, parallel=True)
def _rest_variance_rows(output_variance, common_second, common_mean, linear_second, xs, d, params, steps):
    """:func:`_rest_variance` at the points xs[i] with the parameters params[i], for each step i in ``steps``
    (one call for every step: passing the kernels into numba costs more than evaluating them once); the steps
    on the machine's cores (two of the kernels are quadratures)."""
    out = np.zeros(xs.shape)
    for j in numba.prange(steps.shape[0]):
        i = steps[j]
        args = (params[i, 0], params[i, 1], params[i, 2], params[i, 3], params[i, 4], d, params[i, 6], params[i, 7])
        out[i] = _rest_variance(output_variance, common_second, common_mean, linear_second, xs[i], d, args)
    return out


@kernel_template(1, parallel=True)
def _average_rates(margin_below, nodes, weights, coarse, rests, kappa, reach, extra, h, steps, test_error,
                   test_unsat):
    """:func:`_rate_at_threshold` at the thresholds 0 (``test_error``) and h (``test_unsat``) for each step in
    ``steps``. The steps run on the machine's cores: each writes its own entries, so the result does not depend on
    the thread count."""
    for j in numba.prange(steps.shape[0]):
        i = steps[j]
        test_error[i] = _rate_at_threshold(margin_below, nodes, weights, coarse[i], rests[i], kappa[i], reach[i],
                                           extra[i], 0.0)
        test_unsat[i] = _rate_at_threshold(margin_below, nodes, weights, coarse[i], rests[i], kappa[i], reach[i],
                                           extra[i], h)


@kernel_template(1)
def _rate_at_threshold(margin_below, nodes, weights, coarse, rest, kappa, reach, extra, threshold):
    """:func:`_average_rate` at one step and ``threshold``: panels split at the threshold's crossing and _TAIL
    reaches either side of it; clipped to [0, 1]."""
    x_hi = coarse[-1]
    centre = threshold / kappa
    points = np.array([0.0, centre - _TAIL * reach, centre, centre + _TAIL * reach, x_hi])
    edges = np.unique(np.minimum(np.maximum(points, 0.0), x_hi))
    rate = _average_rate(margin_below, edges, nodes, weights, coarse, rest, kappa, 0.0, threshold, extra)
    # a share: the quadrature's rounding can put it a few ulp past 1 where every example is below
    return min(max(rate, 0.0), 1.0)


@kernel_template(4)
def _rest_variance(output_variance, common_second, common_mean, linear_second, xs, d, args):
    """Variance of the nonlinear rest of F_M - F_t at |x_par| = xs, |x_perp|^2 = d - 1: the whole variance less
    its common and linear parts (derivations/finite_width.py), floored at 0 against rounding."""
    a2, w2, aw, alpha, M, _, sw, s = args
    out = np.empty(xs.shape[0])
    for j in range(xs.shape[0]):
        x = xs[j]
        whole = output_variance(x, d - 1.0, a2, w2, aw, alpha, M, d, sw, s)
        common = common_second(x, a2, w2, aw, alpha, M, d, sw, s) - common_mean(x, a2, w2, aw, alpha, M, d, sw, s) ** 2
        linear = linear_second(x, a2, w2, aw, alpha, M, d, sw, s)
        out[j] = max(whole - alpha * alpha / M * (common + linear), 0.0)
    return out


@kernel_template(1)
def _average_rate(margin_below, edges, nodes, weights, coarse, rest, kappa, shift, threshold, extra):
    """E over |x_par| (density 2 phi, Gaussian data) of P(kappa |x_par| + shift + delta < threshold), delta of
    variance rest(|x_par|) (interpolated between the ``coarse`` points) + ``extra``; Gauss-Legendre per panel
    between consecutive ``edges``."""
    panels, Q = edges.shape[0] - 1, nodes.shape[0]
    xs = np.empty(panels * Q)
    for p in range(panels):
        lo, hi = edges[p], edges[p + 1]
        half, mid = 0.5 * (hi - lo), 0.5 * (hi + lo)
        for q in range(Q):
            xs[p * Q + q] = mid + half * nodes[q]
    # one interpolation over every node (a scalar np.interp allocates its result on each call)
    rest_at = np.interp(xs, coarse, rest)
    total = 0.0
    for p in range(panels):
        half = 0.5 * (edges[p + 1] - edges[p])
        for q in range(Q):
            x = xs[p * Q + q]
            var = rest_at[p * Q + q] + extra
            density = 2.0 * math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
            total += half * weights[q] * density * margin_below(kappa * x + shift, threshold, var)
    # past the last edge every point is far above both thresholds, except for the Gaussian tail of the data
    # itself when the panels stop at 12: there P(margin < threshold) is 0 to double precision
    return total
