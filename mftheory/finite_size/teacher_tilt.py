"""The tilt of the effective teacher with the loss's feedback (derivations/fluctuations.py): :func:`tilt`, from the
init and from the sample, for one fixed set held from its sliding onset."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.finite_size._common import (_a_growth, _check_feedback_inputs, _check_margin_density, _kernel_over,
                                          _kernel_over_pairs, _node_moments, _threshold_densities, _warn_small_sample)
from mftheory.finite_size.memorization import _finite_sample
from mftheory.finite_size.tilt_system import _propagate_tilt, _tilt_drive, _tilt_matrices
from mftheory.kernels.binding import bind


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


def tilt(solution: MeanFieldSolution, N: int | None = None, sample: str = "fixed",
         margin_density: str | None = None) -> TiltPrediction:
    """The tilt of the effective teacher over time, with the loss's feedback (hinge loss, Gaussian data).

    ``N=None``: an infinite training set (finite M only). Otherwise ``sample="fixed"``: one training set of N
    examples used at every step (its noise is the same from step to step); ``sample="fresh"``: N new examples
    at every step (``simulate(..., online=True)``). With one fixed set it follows that set's own clock (see
    :func:`predict`, also for ``margin_density``).
    """
    from mftheory.finite_size.prediction import _on_training_clock   # (that module imports this one)
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
