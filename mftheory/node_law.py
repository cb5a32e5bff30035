"""The node law at finite width M with the loss's feedback on each node (derivations/fluctuations.py, steps
self_pull, turn_growth and self_pull_law).

The frozen-init law behind the finite-width predictions keeps every node's w_perp at its init law, independent of
its output weight a. At finite M two effects of the loss's feedback, both of order 1/M and both proportional to a_i^2,
change that:

* each node's own pull-back: its own contribution to F moves the unsatisfied set at the margin, and the GD step pulls
  that node's w_perp back along itself, by 2 rho_t a_i^2 in log |w_perp,i|^2 per step. The feedback has taken the
  common part, the tilt and most of the degree-2 part out of F, and with them the node's share; its part of degree
  >= 3 along x_perp, and the part of degree 2 the feedback leaves, keep pulling;
* the feedback's turns: to take the tilt and the degree-2 part out of F it turns every node's w_perp across itself,
  by a_i times a common amount, which lengthens it at second order: log |w_perp,i|^2 gains G_t a_i^2.

:func:`node_law` gives what the two do to the node law over GD steps.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.kernels.binding import bind, kernel_template

__all__ = ["NodeLaw", "node_law"]


@dataclasses.dataclass(frozen=True)
class NodeLaw:
    """The node law with the loss's feedback on each node, at GD steps ``t``, against the frozen-init law.

    ``variance_factor``: E[a^2 s^2] / (E[a^2] s_0^2), s = |w_perp| / sqrt(d) and s_0^2 = sigma_w^2 (d - 1) / d: the
    factor on every frozen part of F's fluctuation at x_par = 0 for a 1-homogeneous activation (ReLU, leaky ReLU),
    whose node contributions there are a_i s_i times a function of w_perp's direction. ``s2_factor``: E[s^2] /
    s_0^2. ``pull_rate``: rho_t of the step from t to t + 1 (each node's own pull-back). ``turn_growth``: G_t (the
    feedback's turns up to t). ``tilt_damping`` and ``degree2_damping``: the shares of the tilt and of F's degree-2
    part at the threshold that the loss's feedback leaves (:func:`tilt`, :func:`rest_feedback`).
    Approximations (derivations/fluctuations.py): first order in each step's pull, the shares taken at w_par x* /
    sqrt(d) = 0, the turns as the least that cancels what the feedback has taken out, the same effects on a_i (an
    O(1/M) change of the mean field itself) left out; the mean-field node map otherwise.
    """

    t: np.ndarray
    variance_factor: np.ndarray
    s2_factor: np.ndarray
    pull_rate: np.ndarray
    turn_growth: np.ndarray
    tilt_damping: np.ndarray
    degree2_damping: np.ndarray


def node_law(solution: MeanFieldSolution, degree2_spread: bool = False) -> NodeLaw:
    """The node law with the loss's feedback on each node along a mean-field solution (hinge loss, Gaussian data,
    clean labels), for an infinite training set or fresh data at every step: its factors over the frozen init law
    (:class:`NodeLaw`). ``solution``'s setup gives M. ``degree2_spread``: the share of each node's own degree-2
    part that the feedback leaves taken with the feedback's spectrum at width M (a node's own part lies along its
    own a-part direction, :func:`mftheory.feedback_spectrum.feedback_spectrum`), or at its isotropic average
    (False, the default, which :func:`mftheory.predict` uses: at Fig. 1 with fresh data its factor E[a^2 s^2] /
    (E a^2 s_0^2) is 0.740 at t = 2000 against GD's 0.737, where the spectrum's share gives 0.676)."""
    if not isinstance(degree2_spread, (bool, np.bool_)):
        raise TypeError(f"degree2_spread must be True or False, got {degree2_spread!r}")
    # imported here: finite_size imports this module, and the tilt and the degree-2 feedback live there
    from mftheory.finite_size._common import _REST_GRID, _check_feedback_inputs, _interp_rows, _threshold_densities
    from mftheory.finite_size.feedback import _init_feedback
    from mftheory.finite_size.teacher_tilt import _tilt

    setup, _ = _check_feedback_inputs(solution, None, "fresh", "the node law's feedback")
    fw = solution.variant.finite_width_kernels()
    if not hasattr(fw, "self_pull_high"):
        raise ValueError(f"the node law's feedback is not derived for the activation {setup.activation!r}")
    d = float(setup.d)
    n = len(solution.t)
    shares = (fw.self_pull_high(setup.sigma_w, d, setup.slope), fw.self_pull_degree2(setup.sigma_w, d, setup.slope))
    kappa = np.asarray(solution.kappa, dtype=float)
    live = kappa > 0
    degree2 = np.ones(n)
    feedback = _init_feedback(solution, degree2_spread)
    if feedback is not None:
        steps = np.flatnonzero(live)
        at = np.zeros((n, 1))
        at[steps, 0] = setup.h / kappa[steps]
        degree2[steps] = _interp_rows(at, _REST_GRID, feedback.damping, steps)[steps, 0]
    tilt = _tilt(solution, None, "fresh")
    with np.errstate(divide="ignore", invalid="ignore"):
        tilt_damping = np.where(np.tan(tilt.angle_frozen) > 0, np.tan(tilt.angle) / np.tan(tilt.angle_frozen), 1.0)
    e_u_prime = np.zeros(n)
    e_u_prime[live] = _threshold_densities(solution, d, setup.h)[live]
    k = solution.kernels
    rate, growth, variance, s2 = np.zeros(n), np.zeros(n), np.ones(n), np.ones(n)
    bind(_node_law_steps, k.self_pull_rate, k.turn_growth, k.self_pull_s2, k.self_pull_variance)(
        setup.beta * np.asarray(solution.g, dtype=float), e_u_prime, tilt_damping, degree2,
        (setup.alpha, setup.beta, float(setup.M), d, shares[0], shares[1], setup.sigma_a, setup.sigma_w),
        rate, growth, variance, s2)
    return NodeLaw(t=solution.t, variance_factor=variance, s2_factor=s2, pull_rate=rate, turn_growth=growth,
                   tilt_damping=tilt_damping, degree2_damping=degree2)


@kernel_template(4)
def _node_law_steps(self_pull_rate, turn_growth, self_pull_s2, self_pull_variance, beta_g, e_u_prime, tilt_damping,
                    degree2_damping, fixed, rate, growth, variance, s2):
    """The steps of :func:`node_law`: the node map's row p_t (a_i(t) = p_t . (a_0, w_0)) and its 2 x 2 transfer,
    the pull's quadratic form Q += 2 rho_t p_t p_t^T, and the factors after each step with the turns' G_t p_t p_t^T
    taken off Q."""
    alpha, beta, M, d, c_high, c_2, sigma_a, sigma_w = fixed
    p_aa, p_aw, p_wa, p_ww = 1.0, 0.0, 0.0, 1.0     # (a, w_par)(t) = P (a_0, w_0)
    q_aa, q_aw, q_ww = 0.0, 0.0, 0.0
    for t in range(beta_g.shape[0] - 1):
        rho = self_pull_rate(e_u_prime[t], alpha, beta, M, d, c_high, c_2, degree2_damping[t])
        rate[t] = rho
        q_aa += 2.0 * rho * p_aa * p_aa
        q_aw += 2.0 * rho * p_aa * p_aw
        q_ww += 2.0 * rho * p_aw * p_aw
        # the mean-field node map: a' = a + beta g w_par, w_par' = w_par + beta g a
        bg = beta_g[t]
        p_aa, p_aw, p_wa, p_ww = p_aa + bg * p_wa, p_aw + bg * p_ww, p_wa + bg * p_aa, p_ww + bg * p_aw
        g = turn_growth(tilt_damping[t + 1], degree2_damping[t + 1], d, M,
                        p_aa * p_aa * sigma_a * sigma_a + p_aw * p_aw * sigma_w * sigma_w)
        growth[t + 1] = g
        e_aa, e_aw, e_ww = q_aa - g * p_aa * p_aa, q_aw - g * p_aa * p_aw, q_ww - g * p_aw * p_aw
        variance[t + 1] = self_pull_variance(p_aa, p_aw, e_aa, e_aw, e_ww, sigma_a, sigma_w)
        s2[t + 1] = self_pull_s2(e_aa, e_aw, e_ww, sigma_a, sigma_w)
