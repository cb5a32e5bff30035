"""Finite sample N (derivations/finite_sample.py): the memorization map, in which each training example memorizes
only while it is unsatisfied (:func:`finite_sample`), and one fixed set's own clock (:func:`_training_clock`)."""
from __future__ import annotations

import dataclasses
import warnings
import weakref

import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.finite_size import _common
from mftheory.finite_size._common import (_cell_masses, _check_solution, _moving_pile, _node_moments, _OnTrainingClock,
                                          _own_shifts, _warn_small_sample, _width_pulls)
from mftheory.finite_size.memorization_steps import _memorization_steps
from mftheory.finite_size.tilt_system import _own_tilt_system
from mftheory.kernels.binding import bind
from mftheory.model import check_int


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
    Gauss-Hermite nodes ``_common._ZETA``) and |x_par| cell of the rest's grid (``_common._REST_GRID``): which examples pull."""

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
    cell_share = to_cells[cell_of, np.arange(_common._MEMO_GRID.size)]
    masses = _cell_masses(_common._MEMO_GRID)
    masses /= masses.sum()
    systems = [] if tilt_systems is None else list(tilt_systems)
    A = np.zeros((len(systems), n, 2, 2))
    b = np.zeros((len(systems), n, 2))
    for s_index, (A_s, b_s) in enumerate(systems):
        A[s_index], b[s_index] = A_s, b_s
    with_rest = train_variance is not None
    rest = np.zeros((n, _common._MEMO_GRID.size)) if train_variance is None else np.ascontiguousarray(train_variance, float)
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
                        _common._ZETA, _common._ZETA_WEIGHTS, _common._MEMO_GRID, _common._REST_GRID.size, cell_of, cell_share, masses,
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
    lost = np.array([(1.0 - np.interp(crossing[j], _common._MEMO_GRID, fading[j])) * state.memorized[j] for j in range(n)])
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


def _memo_to_rest_cells():
    """(G_rest, G_memo): the share of each cell of the rest's grid that each point of the memorization grid holds
    (cells split at the midpoints between the rest's points; examples past the rest's last point go to its last
    cell)."""
    masses = _cell_masses(_common._MEMO_GRID)
    bounds = 0.5 * (_common._REST_GRID[1:] + _common._REST_GRID[:-1])
    cell = np.searchsorted(bounds, _common._MEMO_GRID)
    weights = np.zeros((_common._REST_GRID.size, _common._MEMO_GRID.size))
    weights[cell, np.arange(_common._MEMO_GRID.size)] = masses
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
    from mftheory.finite_size.feedback import _init_feedback   # (that module imports this one)
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
        fading = np.ones((n, _common._MEMO_GRID.size))
    else:
        damping = np.array([np.interp(_common._MEMO_GRID, feedback.x_par, row) for row in feedback.damping])
        fading = np.ones((n, _common._MEMO_GRID.size))
        np.divide(damping[1:], damping[:-1], out=fading[:-1], where=damping[:-1] > 0)
        fading = np.clip(fading, 0.0, 1.0)
    fading.flags.writeable = False   # shared by every map along this solution
    _MEMORY_FADING[key] = fading
    weakref.finalize(solution, _MEMORY_FADING.pop, key, None)
    return fading


_MEMORY_FADING: dict[int, np.ndarray] = {}


def finite_sample(solution: MeanFieldSolution, N: int) -> FiniteSamplePrediction:
    """Finite-N memorization along a mean-field solution (Gaussian data, hinge loss only)."""
    return _finite_sample(solution, N, hold_from=_sliding_onset_or_none(solution, N))[0]


def _sliding_onset_or_none(solution, N):
    """The sliding onset of one fixed set of N (:func:`tilt`), None where the tilt is not derived or N is not a
    valid size (the caller's own check reports it)."""
    from mftheory.finite_size.teacher_tilt import _tilt   # (that module imports this one)
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
