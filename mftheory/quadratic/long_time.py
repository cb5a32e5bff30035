"""The long-time estimator of gradient descent on the quadratic network, predicted over a range of alpha.

For lambda > 0, gradient descent on d L reaches the minimum over PSD Z of (1/(4n)) sum_k (Tr(X_k Z) - y_k)^2 d +
lambda Tr Z (||W||_F^2 = Tr Z): a convex problem whose d -> infinity solution is a spectral soft threshold
Z = sum_i (y_i - theta)_+ v_i v_i^T of Y = Z* + sqrt(s) G (G a GOE matrix), with (s, theta) the solution of two
scalar equations (derivations/quadratic.py, steps 3-5). The solution is unique, so the curve over alpha is
followed by continuation (each point starts from its neighbour) without branches.

Where that estimator's rank fraction exceeds kappa (for instance whenever kappa < kappa*), the network cannot
represent it and the minimum is over Z of rank at most kappa d: the same two equations with the rank-limited map,
which keeps only Y's kappa d largest eigenvalues above theta (step 4b). ``rank_limited`` marks those points.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy import optimize

from mftheory.kernels.generated import quadratic as K
from mftheory.model import _check_real, check_int
from mftheory.quadratic.setup import QuadraticSetup


@dataclasses.dataclass(frozen=True)
class LongTimePrediction:
    """Arrays over ``alpha`` (n = alpha d^2) of the long-time estimator's statistics (d -> infinity).

    ``mse`` ||Z - Z*||_F^2 / d; ``in_sample_error`` (1/(2n)) sum_k r_k^2; ``train_loss`` L (data term plus
    penalty); ``rank`` the fraction of nonzero eigenvalues of Z (rank / d); ``trace`` Tr Z / d; ``s`` and
    ``theta`` the effective noise and threshold; ``rank_limited`` where the convex estimator's rank would exceed
    kappa, so that Z keeps only Y's kappa d largest eigenvalues: those above ``cut`` (``cut`` = ``theta`` elsewhere).
    """

    setup: QuadraticSetup
    alpha: np.ndarray
    mse: np.ndarray
    in_sample_error: np.ndarray
    train_loss: np.ndarray
    rank: np.ndarray
    trace: np.ndarray
    s: np.ndarray
    theta: np.ndarray
    rank_limited: np.ndarray
    cut: np.ndarray

    def spectrum(self, index: int, points) -> tuple[np.ndarray, float]:
        """Z's spectrum at ``alpha[index]``: the density of its nonzero eigenvalues at ``points`` (> 0) and the mass
        of its atom at zero. Z's eigenvalues are y - theta for y in Y's spectrum above ``cut`` (>= theta), zero
        for the others."""
        index = check_int("index", index, 0)
        if index >= self.alpha.size:
            raise ValueError(f"index must be an index of alpha, in [0, {self.alpha.size - 1}], got {index}")
        try:
            points = np.asarray(points, dtype=float)
        except (TypeError, ValueError) as err:
            raise ValueError(f"points must be real numbers (eigenvalues of Z), got {points!r}") from err
        if not np.all(np.isfinite(points)):
            raise ValueError("points must be finite")
        s, theta, cut = float(self.s[index]), float(self.theta[index]), float(self.cut[index])
        density = np.array([K.density(p + theta, s, self.setup.kappa_star) if p + theta > cut and p > 0 else 0.0
                            for p in points])
        return density, 1.0 - float(self.rank[index])


def _residual(log_s, theta, alpha, setup, limited):
    """The fixed point's two residuals and its functionals (mse, D, rank, trace, mass, cut): the convex
    estimator's, or with ``limited`` the rank-limited one's."""
    args = (alpha, setup.lam, setup.Delta, setup.kappa_star)
    if limited:
        return K.rank_limited_residual(log_s, theta, *args, setup.kappa)
    residual, functionals = K.fixed_point_residual(log_s, theta, *args)
    return residual, functionals + (theta,)


def _equations(alpha, setup, limited=False):
    def equations(v):
        if not -30.0 < v[0] < 30.0:  # outside, the support's quartic over- or underflows
            return [1e3 * math.copysign(1.0, v[0]), 0.0]
        return list(_residual(v[0], v[1], alpha, setup, limited)[0])
    return equations


# the effective noise s where the fixed point is sought: the spectral quadrature holds to 1e-8 relative down to 1e-8
S_RANGE = (1e-8, 1e4)


def _divergence(s, theta, setup, limited):
    """D(s, theta) of the soft threshold, or with ``limited`` of the rank-limited map."""
    if limited:
        cut = K.rank_cut(s, setup.kappa_star, setup.kappa, theta)
        return K.cut_functionals(s, setup.kappa_star, theta, cut)[2]
    return K.spectral_functionals(s, setup.kappa_star, theta)[2]


def _theta_at(s, alpha, setup, limited=False):
    """The threshold solving lambda = theta (1 - D(s, theta) / (2 alpha)) at noise s (bracketed: at theta = lambda
    the right side is below lambda, above the spectrum's top edge it is theta)."""
    top = float(K.support(s, setup.kappa_star)[-1, 1])
    g = lambda th: K.lambda_of_theta(th, _divergence(s, th, setup, limited), alpha) - setup.lam
    high = max(top, setup.lam) + 1.0
    if g(setup.lam) >= 0:
        return setup.lam
    return optimize.brentq(g, setup.lam, high, xtol=1e-14, rtol=1e-13)


def _bracketed(alpha, setup, limited=False):
    """The fixed point by nested one-dimensional roots: theta(s) from the threshold equation, then s from the
    noise equation, bracketed between a tiny s (where the noise equation's right side is larger) and a large one."""
    def h(log_s):
        theta = _theta_at(math.exp(log_s), alpha, setup, limited)
        mse = _residual(log_s, theta, alpha, setup, limited)[1][0]
        return math.log(max(K.noise(mse, alpha, setup.Delta), 1e-300)) - log_s
    low, high = math.log(S_RANGE[0]), math.log(S_RANGE[1])
    if h(low) < 0:
        raise ValueError(f"alpha = {alpha:g} with lam = {setup.lam:g} puts the long-time solution's effective noise s "
                         f"below {S_RANGE[0]:g}, out of the range [{S_RANGE[0]:g}, {S_RANGE[1]:g}] where long_time's "
                         f"spectral quadrature holds (near-perfect recovery); "
                         f"use a smaller alpha or a larger lam")
    if h(high) > 0:
        raise ValueError(f"alpha = {alpha:g} with lam = {setup.lam:g} puts the long-time solution's effective noise s "
                         f"above {S_RANGE[1]:g}, out of the range [{S_RANGE[0]:g}, {S_RANGE[1]:g}] where long_time's "
                         f"spectral quadrature holds; use a larger alpha")
    log_s = optimize.brentq(h, low, high, xtol=1e-13)
    return log_s, _theta_at(math.exp(log_s), alpha, setup, limited)


def _solve(alpha, setup, guess, limited=False):
    equations = _equations(alpha, setup, limited)
    if guess is not None:
        sol = optimize.root(equations, guess, method="hybr", options={"xtol": 1e-12})
        if sol.success and max(abs(r) for r in equations(sol.x)) < 1e-9:
            return sol.x
    start = _bracketed(alpha, setup, limited)
    sol = optimize.root(equations, start, method="hybr", options={"xtol": 1e-12})  # polish
    return sol.x if sol.success and max(abs(r) for r in equations(sol.x)) < 1e-9 else np.array(start)


def long_time(setup: QuadraticSetup, alpha) -> LongTimePrediction:
    """The long-time (gradient descent's limit) estimator at each ``alpha`` (a number or an array of them)."""
    if not isinstance(setup, QuadraticSetup):
        raise TypeError(f"setup must be a QuadraticSetup, got {type(setup).__name__}")
    if setup.lam <= 0:
        raise ValueError("lam must be > 0 for long_time (at lambda = 0 the limit depends on the init); use "
                         "thresholds() for the lambda = 0 recovery threshold")
    try:
        alphas = np.atleast_1d(np.asarray(alpha, dtype=float))
    except (TypeError, ValueError):
        alphas = None
    if alphas is None or alphas.ndim != 1:
        raise ValueError(f"alpha must be a number or a 1-D array of numbers, got {alpha!r}")
    for a in alphas:
        _check_real("alpha", float(a), low=0.0, low_open=True)
    order = np.argsort(alphas)
    out = {k: np.empty(alphas.size) for k in ("mse", "in_sample_error", "train_loss", "rank", "trace", "s", "theta",
                                              "cut")}
    limited = np.zeros(alphas.size, dtype=bool)
    guess, limited_guess = None, None
    for i in order:
        a = float(alphas[i])
        log_s, theta = _solve(a, setup, guess)
        guess = (log_s, theta)
        if _residual(log_s, theta, a, setup, False)[1][2] > setup.kappa:
            limited[i] = True
            log_s, theta = _solve(a, setup, limited_guess if limited_guess is not None else guess, limited=True)
            limited_guess = (log_s, theta)
        s = math.exp(log_s)
        _, (mse, _, rank, trace, _, cut) = _residual(log_s, theta, a, setup, limited[i])
        out["cut"][i] = cut
        out["mse"][i] = mse
        out["rank"][i] = rank
        out["trace"][i] = trace
        out["s"][i] = s
        out["theta"][i] = theta
        out["in_sample_error"][i] = K.in_sample_error(a, s, setup.lam, theta)
        out["train_loss"][i] = K.train_loss(a, s, setup.lam, theta, trace)
    return LongTimePrediction(setup=setup, alpha=alphas, rank_limited=limited, **out)
