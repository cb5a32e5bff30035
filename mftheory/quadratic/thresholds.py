"""Thresholds in alpha = n/d^2 of the quadratic network: perfect recovery and interpolation.

* ``recovery_lambda0``: at lambda = 0, kappa* <= kappa < 1, n constraints against the dimension d m - m(m-1)/2
  of the PSD matrices of rank m: alpha = kappa - kappa^2/2 (1/2 for kappa >= 1); infinite when kappa < kappa*.
* ``recovery_psd``: the convex estimator at lambda -> 0+ recovers Z* exactly when alpha > min_{t >= 0} M(t)/2,
  M the denoiser's risk per unit noise near s = 0 (derivations/quadratic.py, step 7a).
* ``recovery_lambda0plus``: at lambda -> 0+, the smaller of the two (a point fitting the data inside the
  network's rank is Z* above the count; the convex estimator is Z*, of rank kappa* <= kappa, above M's bound).
* ``interpolation``: with label noise Delta > 0, the estimator at lambda -> 0+ fits the data exactly below it:
  where its threshold theta reaches 0, D(s, 0) = 2 alpha with s(1 - D) - I_min2 = Delta/2 (derivations/
  quadratic.py, step 7c); 1/4 as Delta -> infinity (the PSD cone's statistical dimension is half the symmetric
  matrices'), larger for finite Delta (the teacher's own fit helps). It needs the rank fraction of the projection
  of Y onto the PSD cone there (``interpolation_rank``; 1/2 as Delta -> infinity) to be at most kappa: ``nan``
  where it is larger. (The rank-limited fixed point of ``long_time``, taken to theta = 0, would put it above the
  dimension count kappa - kappa^2/2 for small kappa, where no rank-m matrix can fit generic noisy labels: that
  fixed point does not hold at lambda -> 0+, so the rank-limited interpolation threshold is not derived); ``inf`` at Delta = 0 with kappa >= kappa* (the teacher fits
  every sample). The test error at lambda -> 0+ peaks there.
"""
from __future__ import annotations

import dataclasses
import math

from scipy import optimize

from mftheory.kernels.generated import quadratic as K
from mftheory.model import _check_real


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """The thresholds in alpha at widths (kappa, kappa_star) and label noise Delta (module docstring); ``inf`` where
    the network cannot represent the teacher (kappa < kappa_star), ``nan`` where not derived (interpolation where
    its estimator's rank exceeds kappa)."""

    kappa: float
    kappa_star: float
    recovery_lambda0: float
    recovery_psd: float
    recovery_lambda0plus: float
    interpolation: float
    recovery_t: float  # theta / sqrt(s) at the psd threshold
    interpolation_rank: float = math.nan  # rank fraction of the estimator at the interpolation threshold


def psd_recovery_threshold(kappa_star: float) -> tuple[float, float]:
    """(alpha, t): the convex estimator's perfect-recovery threshold at lambda -> 0+ and the minimising t."""
    if kappa_star >= 1:
        return 0.5, 0.0
    edge = 2.0 * math.sqrt(1.0 - kappa_star)
    res = optimize.minimize_scalar(lambda t: K.recovery_risk_at(t, kappa_star), bounds=(0.0, edge), method="bounded",
                                   options={"xatol": 1e-10})
    t, value = (res.x, res.fun) if res.fun < K.recovery_risk_at(0.0, kappa_star) else (0.0, K.recovery_risk_at(0.0, kappa_star))
    return float(value) / 2.0, float(t)


# the effective noise s over which the interpolation threshold is sought (the spectral quadrature's range)
_S_RANGE = (1e-8, 1e4)


def interpolation_threshold(kappa_star: float, Delta: float) -> tuple[float, float]:
    """(alpha, rank fraction) at the interpolation threshold with label noise Delta > 0 (module docstring). Where
    Delta is so large that s exceeds 1e4 (Delta above about 100), the Delta -> infinity limit (1/4, 1/2), within
    2.2e-3 of the threshold."""
    def equation(log_s):
        s = math.exp(log_s)
        _, min2, D, _, _ = K.spectral_functionals(s, kappa_star, 0.0)
        return K.interpolation_equation(s, D, min2, Delta)
    low, high = (math.log(v) for v in _S_RANGE)
    if equation(high) < 0:   # s beyond the quadrature's range: alpha(s) lies between 1/4 and alpha(1e4) < 0.2522
        return 0.25, 0.5
    if equation(low) > 0:
        raise ValueError(f"Delta = {Delta:g} puts the interpolation threshold's effective noise below {_S_RANGE[0]:g}, "
                         f"out of the range where the spectral quadrature holds; use a larger Delta")
    s = math.exp(optimize.brentq(equation, low, high, xtol=1e-13))
    _, _, D, rank, _ = K.spectral_functionals(s, kappa_star, 0.0)
    return D / 2.0, float(rank)


def thresholds(kappa: float, kappa_star: float, Delta: float = 0.0) -> Thresholds:
    """The recovery and interpolation thresholds at widths kappa = m/d, kappa_star = m*/d (see module doc)."""
    kappa = _check_real("kappa", kappa, low=0.0, low_open=True)
    kappa_star = _check_real("kappa_star", kappa_star, low=0.0, low_open=True)
    Delta = _check_real("Delta", Delta, low=0.0)
    if kappa < kappa_star:
        counting = math.inf
    else:
        counting = float(K.counting_threshold(min(kappa, 1.0)))
    psd, t = psd_recovery_threshold(kappa_star)
    lambda0plus = min(psd, counting) if kappa >= kappa_star else math.inf
    if Delta == 0.0:
        interpolation, rank = (math.inf, kappa_star) if kappa >= kappa_star else (math.nan, math.nan)
    else:
        interpolation, rank = interpolation_threshold(kappa_star, Delta)
        if rank > kappa:
            interpolation = math.nan
    return Thresholds(kappa=kappa, kappa_star=kappa_star, recovery_lambda0=counting, recovery_psd=psd,
                      recovery_lambda0plus=lambda0plus, interpolation=interpolation, recovery_t=t,
                      interpolation_rank=rank)
