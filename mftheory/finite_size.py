"""Finite-width corrections to the mean-field predictions (frozen init law; see derivations/finite_width.py)."""
from __future__ import annotations

import dataclasses
import importlib

import numpy as np

from mftheory.meanfield import MeanFieldSolution


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
    setup = solution.setup
    if setup.data != "gaussian":
        raise ValueError(f"data must be 'gaussian' for the finite-width corrections (derived for it only), got {setup.data!r}")
    k = solution.kernels
    fw = importlib.import_module(f"mftheory.kernels.generated.finite_width_{setup.activation}")
    sa, sw = setup.sigma_a, setup.sigma_w
    all_moments = np.empty((len(solution.t), 5))
    k.fill_moments(solution.gamma_plus, solution.gamma_minus, sa, sw, all_moments)
    moments = all_moments[:, :3]
    args = (setup.alpha, float(setup.M), float(setup.d), sw, setup.slope)
    band, scatter, rest = (np.full(len(solution.t), np.inf) for _ in range(3))
    error = np.full(len(solution.t), 0.5)
    for i, (a2, w2, aw) in enumerate(moments):
        if aw > 0:  # at t = 0 F_t = 0: no threshold, every sign equally likely
            band[i] = fw.band_sd(setup.h, a2, w2, aw, *args)
            scatter[i] = fw.band_scatter_sd(setup.h, a2, w2, aw, *args)
            rest[i] = fw.band_rest_sd(setup.h, a2, w2, aw, *args)
            error[i] = fw.test_error(a2, w2, aw, *args)
    return FiniteWidthPrediction(t=solution.t, band_sd=band, band_scatter_sd=scatter, band_rest_sd=rest,
                                 test_error=error, moments=moments)
