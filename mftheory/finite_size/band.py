"""The within-run band of Fig. 1d with the loss's feedback (:func:`within_run_band`): the sd of the |x_par| at
which training examples get satisfied, and its centre."""
from __future__ import annotations

import dataclasses

import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.finite_size._common import (_check_feedback_inputs, _check_margin_density, _node_moments, _rest_params,
                                          _warn_small_sample)
from mftheory.finite_size.feedback import (_bend_feedback, _bend_variance_rows, _degree2_removed_rows,
                                           _quiet_finite_sample, _rest_feedback, _sample_variance_rows)
from mftheory.finite_size.frozen_width import _frozen_band_rest_sd
from mftheory.finite_size.teacher_tilt import _tilt


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
    from mftheory.finite_size.prediction import _on_training_clock   # (that module imports this one)
    setup, N = _check_feedback_inputs(solution, N, sample, "the band")
    margin_density = _check_margin_density(margin_density, N, sample)
    _warn_small_sample("within_run_band", setup, N, sample)
    solution = _on_training_clock(solution, N, sample, margin_density)
    tilt_part = _tilt(solution, N, sample, frozen=False)
    memo, state = (_quiet_finite_sample(solution, N, tilt_part.sliding_onset) if N is not None and sample == "fixed"
                   else (None, None))
    return _band(solution, N, sample, _rest_feedback(solution, N, sample, memo, state), memo, tilt_part,
                 _bend_feedback(solution, N, sample, memo))


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
