"""What the finite-size modules share: the classes of training examples the memorization map follows (offsets
zeta, |x_par| grid), the rest's grid, the node law along a solution, one fixed set's clock and its options, and
the checks of the inputs."""
from __future__ import annotations

import dataclasses
import math
import warnings

import numba
import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.kernels.binding import bind, kernel_template
from mftheory.model import check_int


def _check_solution(solution):
    if not isinstance(solution, MeanFieldSolution):
        raise ValueError(f"solution must be a mftheory.MeanFieldSolution (from mftheory.meanfield(setup, steps)), "
                         f"got {type(solution).__name__}")
    return solution.setup


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


# Gauss-Hermite (probabilists') nodes for the average over the spread zeta ~ N(0, 1) of the memorized margin
_ZETA, _ZETA_WEIGHTS = np.polynomial.hermite_e.hermegauss(40)
_ZETA_WEIGHTS = _ZETA_WEIGHTS / np.sqrt(2 * np.pi)
# |x_par| points at which each training example's own memorized margin is followed: dense near 0, where the late
# thresholds are (spacing 4e-3 at x_par = 0.1); past 6 lies a share 2e-9 of the examples
_MEMO_GRID = 6.0 * np.linspace(0.0, 1.0, 401) ** 2


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


def _warn_small_sample(what, setup, N, sample):
    """The range warning of every prediction for N training examples (None: infinite): the expansion in 1/N
    needs N >> d. Called by the public function (``stacklevel`` points at its caller)."""
    if N is not None and N < setup.d:
        memorized = " is memorized from the first steps," if sample == "fixed" else " (a new one at every step) is"
        warnings.warn(f"{what}: N = {N} < d = {setup.d}: a sample this small{memorized} outside the range of the "
                      f"expansion in 1/N (it needs N >> d)", stacklevel=3)


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


@numba.njit(cache=True)
def _interp_rows(xs, xp, fp, steps):
    """(T+1, P): np.interp(xs[i], xp, fp[i]) for each step i in ``steps``, zeros elsewhere."""
    out = np.zeros(xs.shape)
    for i in steps:
        out[i] = np.interp(xs[i], xp, fp[i])
    return out


def _check_degree2_spread(spread, fixed):
    """predict's ``degree2_spread``: None -> True without one fixed set, False with one."""
    if spread is None:
        return not fixed
    if not isinstance(spread, (bool, np.bool_)):
        raise TypeError(f"degree2_spread must be True, False or None, got {spread!r}")
    return bool(spread)


def _rest_params(moments, setup):
    """(T+1, 8): the finite-width kernels' parameters (m_a2, m_w2, m_aw, alpha, M, d, sigma_w, leak) per step."""
    n = moments.shape[0]
    params = np.empty((n, 8))
    params[:, :3] = moments[:, :3]
    params[:, 3:] = (setup.alpha, float(setup.M), float(setup.d), setup.sigma_w, setup.slope)
    return params
