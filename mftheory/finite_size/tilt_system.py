"""The tilt's linear system X' = A_t X + b_t r_t, X = (v_k, u_k) (derivations/fluctuations.py): its drive, its
matrices with the loss's feedback and its second moments over GD steps; shared by :func:`tilt` and the
memorization map (each example's own pull along its own x_perp)."""
from __future__ import annotations

import numba
import numpy as np

from mftheory.finite_size._common import _a_growth, _node_moments, _threshold_densities
from mftheory.kernels.binding import bind, kernel_template


def _own_tilt_system(solution, N):
    """What an example's own pull does through the tilt: the tilt's linear system with the loss's feedback
    (:func:`_propagate_tilt`'s A_t and b_t, (T+1, 2, 2) and (T+1, 2)) and the margin the example keeps per unit of
    its summed response (``tilt_own_margin``, derivations/fluctuations.py): the degree-1 part of its self term,
    a tilt along its own x_perp that the loss's feedback pulls back like any other. Zeros where the tilt is not
    derived (mislabelled examples, an activation without its kernels)."""
    setup, k = solution.setup, solution.kernels
    n = len(solution.t)
    if not (getattr(k, "HAS_TILT", False) and setup.label_noise == 0):
        return np.zeros((n, 2, 2)), np.zeros((n, 2)), 0.0
    d, beta = float(setup.d), setup.beta
    c = solution.variant.odd_slope(setup.leak)
    moments = _node_moments(solution)
    drive = _tilt_drive(solution, moments)
    response = _threshold_densities(solution, d, setup.h)
    A = _tilt_matrices(beta * solution.g, drive, k.tilt_gain(setup.alpha, c, d) * response, _a_growth(solution))
    return np.ascontiguousarray(A), np.ascontiguousarray(drive), k.tilt_own_margin(1.0, setup.alpha, c, d, float(N))


def _tilt_drive(solution, moments):
    """(T+1, 2): b_t of the tilt's linear system, the change of (v_k, u_k) per unit r_k in one step."""
    setup, k = solution.setup, solution.kernels
    d, beta, sw = float(setup.d), setup.beta, setup.sigma_w
    c = solution.variant.odd_slope(setup.leak)
    n = moments.shape[0]
    drive = np.empty((n, 2))
    bind(_tilt_drive_rows, k.tilt_drive_v, k.tilt_drive_u)(np.ascontiguousarray(moments[:, 0]),
                                                           np.ascontiguousarray(moments[:, 2]),
                                                           np.asarray(solution.g, dtype=float), (beta, sw, c, d), drive)
    return drive


@kernel_template(2)
def _tilt_drive_rows(tilt_drive_v, tilt_drive_u, m_a2, m_aw, g, fixed, out):
    """out[i] = (tilt_drive_v, tilt_drive_u) at step i (fixed: beta, sigma_w, odd slope, d)."""
    beta, sw, c, d = fixed
    for i in range(m_a2.shape[0]):
        out[i, 0] = tilt_drive_v(m_a2[i], m_aw[i], beta, g[i], sw, c, d)
        out[i, 1] = tilt_drive_u(m_a2[i], m_aw[i], beta, g[i], sw, c, d)


def _tilt_matrices(beta_g, drive, feedback, growth):
    """(T+1, 2, 2): A_t of :func:`_propagate_tilt`'s linear system."""
    A = np.ones((beta_g.shape[0], 2, 2))
    A[:, 0, 0] = 1.0 + growth + feedback * drive[:, 0]
    A[:, 0, 1] = beta_g
    A[:, 1, 0] = beta_g + feedback * drive[:, 1]
    return A


@numba.njit(cache=True)
def _propagate_tilt(beta_g, drive, feedback, growth, init, unsat, inv_n, fixed, var_init, var_sample):
    """Second moments of the linear system X' = A_t X + b_t r_t, X = (v_k, u_k), A_t = [[1 + g_a + f_t b_v, beta g],
    [beta g + f_t b_u, 1]] (f_t = ``feedback``: r per unit v from the loss; g_a = ``growth``, a's growth per step
    from one fixed set's own shifts, zeros for the mean field's node map), from the init covariance ``init``
    and a sample noise r_t of variance f_U(t) inv_n, independent between steps (fixed=False) or the mean over one
    fixed set whose unsatisfied part shrinks (fixed=True: Cov(r_t, r_s) = f_U(max(t, s)) inv_n). Fills the
    variance of v_k from each source at every step."""
    n = beta_g.shape[0]
    # the 2 x 2 products written out: numba's matrix product calls BLAS, whose set-up costs more than the product
    i00, i01, i11 = init[0], 0.0, init[1]       # the init's covariance (symmetric)
    s00, s01, s11 = 0.0, 0.0, 0.0               # finished shells (fixed) or all past noise (fresh)
    act0, act1 = 0.0, 0.0                       # fixed: response to the examples still unsatisfied, one unit of r each step
    for t in range(n):
        var_init[t] = i00
        var_sample[t] = s00
        if fixed and t > 0:
            var_sample[t] += act0 ** 2 * unsat[t - 1] * inv_n
        if t + 1 == n:
            break
        a00 = 1.0 + growth[t] + feedback[t] * drive[t, 0]
        a01 = beta_g[t]
        a10 = beta_g[t] + feedback[t] * drive[t, 1]
        a11 = 1.0
        i00, i01, i11 = _congruence(a00, a01, a10, a11, i00, i01, i11)
        if fixed:
            # the examples satisfied at this step stop adding to r: their share of the response is frozen
            left = ((unsat[t - 1] if t > 0 else 1.0) - unsat[t]) * inv_n
            s00 += act0 * act0 * left
            s01 += act0 * act1 * left
            s11 += act1 * act1 * left
            s00, s01, s11 = _congruence(a00, a01, a10, a11, s00, s01, s11)
            act0, act1 = a00 * act0 + a01 * act1 + drive[t, 0], a10 * act0 + a11 * act1 + drive[t, 1]
        else:
            s00, s01, s11 = _congruence(a00, a01, a10, a11, s00, s01, s11)
            noise = unsat[t] * inv_n
            s00 += drive[t, 0] * drive[t, 0] * noise
            s01 += drive[t, 0] * drive[t, 1] * noise
            s11 += drive[t, 1] * drive[t, 1] * noise


@numba.njit(cache=True, inline="always")
def _congruence(a00, a01, a10, a11, c00, c01, c11):
    """A C A^T for a 2 x 2 A and a symmetric C (its entries 00, 01, 11)."""
    r00, r01 = a00 * c00 + a01 * c01, a00 * c01 + a01 * c11    # first row of A C
    r10, r11 = a10 * c00 + a11 * c01, a10 * c01 + a11 * c11    # second row
    return r00 * a00 + r01 * a01, r00 * a10 + r01 * a11, r10 * a10 + r11 * a11
