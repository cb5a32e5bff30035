"""Finite width M with the init law frozen (derivations/finite_width.py): the test error and the band of Fig. 1d
without the loss's feedback (:func:`finite_width`)."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.finite_size._common import _check_solution, _node_moments
from mftheory.kernels.binding import bind, kernel_template


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


def finite_width(solution: MeanFieldSolution) -> FiniteWidthPrediction:
    """Finite-M band and test error along a mean-field solution (Gaussian data only)."""
    setup = _check_solution(solution)
    if solution.variant.data.name != "gaussian":
        raise ValueError(f"data must be 'gaussian' for the finite-width corrections (derived for it only), got "
                         f"{solution.variant.data.name!r}")
    fw = solution.variant.finite_width_kernels()
    sw = setup.sigma_w
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
