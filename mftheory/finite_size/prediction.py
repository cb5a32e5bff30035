"""The finite-size prediction a user calls (:func:`predict`): test and train error, f_unsat, the band and the
tilt over GD steps, every part with the loss's feedback."""
from __future__ import annotations

import dataclasses
import math
import warnings

import numba
import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.finite_size import _common
from mftheory.finite_size._common import (_check_degree2_spread, _check_feedback_inputs, _check_margin_density,
                                          _check_solution, _node_moments, _rest_params, _warn_small_sample,
                                          _with_options)
from mftheory.finite_size.band import _band
from mftheory.finite_size.feedback import (_bend_feedback, _bend_variance_rows, _damped_rows, _degree2_removed_rows,
                                           _init_feedback, _rest_feedback, _sample_variance_rows)
from mftheory.finite_size.memorization import _finite_sample, _MapResult, _training_clock
from mftheory.finite_size.teacher_tilt import _tilt
from mftheory.kernels.binding import bind, kernel_template
from mftheory.model import check_int
from mftheory.node_law import node_law as _node_law


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

    Time (2 cores, Fig. 1, 2000 steps): about 45 ms with N=None, 50-65 ms with ``sample="fresh"`` (30 ms of each
    the feedback's spectrum, solved on numba's threads) and 0.65 s with one fixed set (its memorization map runs
    four times over 16 040 classes of training examples). The first call in
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
_TRAIN_REST_POINTS = _common._MEMO_GRID[-1] * np.linspace(0.0, 1.0, 49) ** 2


def _training_rest_variance(solution, tilt_part, feedback, moments):
    """(T+1, G_memo): the variance of a training point's margin apart from its memorization and the spread: the
    finite-width rest (its degree-2 part with the loss's feedback), the linear part's bend and the tilt; NaN where
    F = 0."""
    setup = solution.setup
    fw = solution.variant.finite_width_kernels()
    n = len(solution.t)
    out = np.full((n, _common._MEMO_GRID.size), np.nan)
    steps = np.flatnonzero(moments[:, 2] > 0)
    params = _rest_params(moments, setup)
    points = np.broadcast_to(_TRAIN_REST_POINTS, (n, _TRAIN_REST_POINTS.size))
    rest_variance_rows = bind(_rest_variance_rows, fw.output_variance, fw.common_second, fw.common_mean,
                              fw.linear_second)
    rests = rest_variance_rows(np.ascontiguousarray(points), float(setup.d), params, steps)
    rests = np.maximum(rests - _degree2_removed_rows(fw, feedback, points, params, steps), 0.0)
    # the bend rises from 0 at x_par = 0 faster than the points above resolve: taken on the grid itself
    bends = _bend_variance_rows(fw, _bend_feedback(solution), np.broadcast_to(_common._MEMO_GRID, (n, _common._MEMO_GRID.size)),
                                params, steps)
    for i in steps:
        out[i] = np.interp(_common._MEMO_GRID, _TRAIN_REST_POINTS, rests[i]) + bends[i] + tilt_part.output_sd[i] ** 2
    return out


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
