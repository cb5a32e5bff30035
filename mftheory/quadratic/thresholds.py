"""Thresholds in alpha = n/d^2 of the quadratic network: perfect recovery and interpolation.

* ``recovery_lambda0``: at lambda = 0, kappa* <= kappa < 1, n constraints against the dimension d m - m(m-1)/2
  of the PSD matrices of rank m: alpha = kappa - kappa^2/2 (1/2 for kappa >= 1); infinite when kappa < kappa*.
* ``recovery_psd``: the convex estimator at lambda -> 0+ recovers Z* exactly when alpha > min_{t >= 0} M(t)/2,
  M the denoiser's risk per unit noise near s = 0 (derivations/quadratic.py, step 7a).
* ``recovery_lambda0plus``: at lambda -> 0+, the smaller of the two (a point fitting the data inside the
  network's rank is Z* above the count; the convex estimator is Z*, of rank kappa* <= kappa, above M's bound).
* ``interpolation``: with label noise, the data can be fitted exactly below alpha = 1/4 (kappa >= 1/2: the PSD
  cone's statistical dimension is half the symmetric matrices'); the test error at lambda -> 0+ peaks there.
"""
from __future__ import annotations

import dataclasses
import math

from scipy import optimize

from mftheory.kernels.generated import quadratic as K
from mftheory.model import _check_real


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """The thresholds in alpha at widths (kappa, kappa_star) (module docstring); ``inf`` where the network cannot
    represent the teacher (kappa < kappa_star), ``nan`` where not derived (interpolation for kappa < 1/2)."""

    kappa: float
    kappa_star: float
    recovery_lambda0: float
    recovery_psd: float
    recovery_lambda0plus: float
    interpolation: float
    recovery_t: float  # theta / sqrt(s) at the psd threshold


def psd_recovery_threshold(kappa_star: float) -> tuple[float, float]:
    """(alpha, t): the convex estimator's perfect-recovery threshold at lambda -> 0+ and the minimising t."""
    if kappa_star >= 1:
        return 0.5, 0.0
    edge = 2.0 * math.sqrt(1.0 - kappa_star)
    res = optimize.minimize_scalar(lambda t: K.recovery_risk_at(t, kappa_star), bounds=(0.0, edge), method="bounded",
                                   options={"xatol": 1e-10})
    t, value = (res.x, res.fun) if res.fun < K.recovery_risk_at(0.0, kappa_star) else (0.0, K.recovery_risk_at(0.0, kappa_star))
    return float(value) / 2.0, float(t)


def thresholds(kappa: float, kappa_star: float, Delta: float = 0.0) -> Thresholds:
    """The recovery and interpolation thresholds at widths kappa = m/d, kappa_star = m*/d (see module doc)."""
    kappa = _check_real("kappa", kappa, low=0.0, low_open=True)
    kappa_star = _check_real("kappa_star", kappa_star, low=0.0, low_open=True)
    _check_real("Delta", Delta, low=0.0)
    if kappa < kappa_star:
        counting = math.inf
    else:
        counting = float(K.counting_threshold(min(kappa, 1.0)))
    psd, t = psd_recovery_threshold(kappa_star)
    lambda0plus = min(psd, counting) if kappa >= kappa_star else math.inf
    interpolation = 0.25 if kappa >= 0.5 else math.nan
    return Thresholds(kappa=kappa, kappa_star=kappa_star, recovery_lambda0=counting, recovery_psd=psd,
                      recovery_lambda0plus=lambda0plus, interpolation=interpolation, recovery_t=t)
