"""The node law at finite width M: each node's own pull-back through the hinge (derivations/fluctuations.py, steps
self_pull and self_pull_law).

The frozen-init law behind the finite-width predictions keeps every node's w_perp at its init law, independent of
its output weight a. At finite M a node's own contribution to F moves the unsatisfied set at the margin, and the
GD step pulls that node's w_perp back along itself, by 2 rho_t a_i^2 in log |w_perp,i|^2 per step (rho of order
1/M). The loss's feedback has taken the common part, the tilt and most of the degree-2 part out of F, and with
them the node's share; its part of degree >= 3 along x_perp, and the part of degree 2 the feedback leaves, keep
pulling. :func:`self_pull` gives what this does to the node law over GD steps.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.kernels.binding import bind, kernel_template

__all__ = ["SelfPull", "self_pull"]


@dataclasses.dataclass(frozen=True)
class SelfPull:
    """The node law with each node's own pull-back, at GD steps ``t``, against the frozen-init law.

    ``variance_factor``: E[a^2 s^2] / (E[a^2] s_0^2), s = |w_perp| / sqrt(d) and s_0^2 = sigma_w^2 (d - 1) / d: the
    factor on every frozen part of F's fluctuation at x_par = 0 for a 1-homogeneous activation (ReLU, leaky ReLU),
    whose node contributions there are a_i s_i times a function of w_perp's direction. ``s2_factor``: E[s^2] /
    s_0^2. ``rate``: rho_t of the step from t to t + 1. ``degree2_damping``: the share of F's degree-2 part at the
    threshold that the loss's feedback leaves (``rest_feedback``'s damping there), which keeps pulling.
    Approximations (derivations/fluctuations.py): first order in each step's pull, the shares taken at w_par x* /
    sqrt(d) = 0, the same pull on a_i (an O(1/M) change of the mean field itself) left out; the mean-field node map
    otherwise.
    """

    t: np.ndarray
    variance_factor: np.ndarray
    s2_factor: np.ndarray
    rate: np.ndarray
    degree2_damping: np.ndarray


def self_pull(solution: MeanFieldSolution) -> SelfPull:
    """Each node's own pull-back through the hinge along a mean-field solution (hinge loss, Gaussian data, clean
    labels), for an infinite training set or fresh data at every step: the node law's factors over the frozen
    init law (:class:`SelfPull`). ``solution``'s setup gives M."""
    # imported here: finite_size imports this module's neighbours, and the degree-2 feedback lives there
    from mftheory.finite_size import _REST_GRID, _check_feedback_inputs, _init_feedback, _threshold_densities

    setup, _ = _check_feedback_inputs(solution, None, "fresh", "the node law's own pull-back")
    fw = solution.variant.finite_width_kernels()
    if not hasattr(fw, "self_pull_high"):
        raise ValueError(f"the node's own pull-back is not derived for the activation {setup.activation!r}")
    d = float(setup.d)
    n = len(solution.t)
    shares = (fw.self_pull_high(setup.sigma_w, d, setup.slope), fw.self_pull_degree2(setup.sigma_w, d, setup.slope))
    feedback = _init_feedback(solution)
    damping = np.ones(n)
    kappa = np.asarray(solution.kappa, dtype=float)
    live = kappa > 0
    if feedback is not None:
        x_star = setup.h / kappa[live]
        damping[live] = [np.interp(x, _REST_GRID, row) for x, row in zip(x_star, feedback.damping[live])]
    e_u_prime = np.zeros(n)
    e_u_prime[live] = _threshold_densities(solution, d, setup.h)[live]
    k = solution.kernels
    rate, variance, s2 = np.zeros(n), np.ones(n), np.ones(n)
    bind(_self_pull_steps, k.self_pull_rate, k.self_pull_s2, k.self_pull_variance)(
        setup.beta * np.asarray(solution.g, dtype=float), e_u_prime, damping,
        (setup.alpha, setup.beta, float(setup.M), d, shares[0], shares[1], setup.sigma_a, setup.sigma_w),
        rate, variance, s2)
    return SelfPull(t=solution.t, variance_factor=variance, s2_factor=s2, rate=rate, degree2_damping=damping)


@kernel_template(3)
def _self_pull_steps(self_pull_rate, self_pull_s2, self_pull_variance, beta_g, e_u_prime, damping, fixed, rate,
                     variance, s2):
    """The steps of :func:`self_pull`: the node map's row p_t (a_i(t) = p_t . (a_0, w_0)) and its 2 x 2 transfer,
    the quadratic form Q += 2 rho_t p_t p_t^T, and the factors after each step."""
    alpha, beta, M, d, c_high, c_2, sigma_a, sigma_w = fixed
    p_aa, p_aw, p_wa, p_ww = 1.0, 0.0, 0.0, 1.0     # (a, w_par)(t) = P (a_0, w_0)
    q_aa, q_aw, q_ww = 0.0, 0.0, 0.0
    for t in range(beta_g.shape[0] - 1):
        rho = self_pull_rate(e_u_prime[t], alpha, beta, M, d, c_high, c_2, damping[t])
        rate[t] = rho
        q_aa += 2.0 * rho * p_aa * p_aa
        q_aw += 2.0 * rho * p_aa * p_aw
        q_ww += 2.0 * rho * p_aw * p_aw
        # the mean-field node map: a' = a + beta g w_par, w_par' = w_par + beta g a
        bg = beta_g[t]
        p_aa, p_aw, p_wa, p_ww = p_aa + bg * p_wa, p_aw + bg * p_ww, p_wa + bg * p_aa, p_ww + bg * p_aw
        variance[t + 1] = self_pull_variance(p_aa, p_aw, q_aa, q_aw, q_ww, sigma_a, sigma_w)
        s2[t + 1] = self_pull_s2(q_aa, q_aw, q_ww, sigma_a, sigma_w)
