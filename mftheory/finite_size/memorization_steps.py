"""The memorization map's steps, compiled as one recursion (:func:`_memorization_steps`), and the sweeps over the
classes of training examples it is made of."""
from __future__ import annotations

import math

import numba
import numpy as np

from mftheory.kernels.binding import kernel_template


# The class sweeps below are the memorization map's time (16 040 classes at each of 2000 steps, several sweeps
# per step, for each of the map's passes in ``predict``): written row by row with no branch in the inner loop, so
# that they vectorize. A row's weighted sum is taken apart (``reassoc`` lets it vectorize; its order then differs
# from a plain loop's by rounding, the same on every run); every other operation keeps its order.
@numba.njit(cache=True, fastmath={"reassoc"})
def _weighted_sum(weights, values):
    """sum(weights * values)."""
    total = 0.0
    for i in range(values.shape[0]):
        total += weights[i] * values[i]
    return total


@numba.njit(cache=True, fastmath={"reassoc"})
def _weighted_square_sum(weights, values):
    """sum(weights * values^2)."""
    total = 0.0
    for i in range(values.shape[0]):
        total += weights[i] * values[i] * values[i]
    return total


@numba.njit(cache=True)
def _tilt_response_step(responses, class_mass, below, A, b, advance):
    """One step of the tilt's response per example class (``responses`` (2, Z, G_memo): v_k and u_k): returns
    sum(class_mass * v^2) before the step; with ``advance``, v, u <- A (v, u) + b [class below the margin]."""
    total = 0.0
    v, u = responses[0], responses[1]
    a00, a01, a10, a11, b0, b1 = A[0, 0], A[0, 1], A[1, 0], A[1, 1], b[0], b[1]
    for j in range(v.shape[0]):
        v_row, u_row, below_row = v[j], u[j], below[j]
        total += _weighted_square_sum(class_mass[j], v_row)
        if advance:
            for i in range(v_row.shape[0]):
                pulled = 1.0 if below_row[i] else 0.0
                v_old, u_old = v_row[i], u_row[i]
                v_row[i] = a00 * v_old + a01 * u_old + pulled * b0
                u_row[i] = a10 * v_old + a11 * u_old + pulled * b1
    return total


@numba.njit(cache=True)
def _scan_the_margin(kappa, grid, memorized, own_response, own_gain, sigma, zeta, h, cell_of, cell_share, band,
                     class_mass, linear, total_memorized, below, unsatisfied, near, fading=None):
    """One pass over the example classes at a step (one pass, not four: the map's time is these sweeps). Each
    class's margin kappa x + S + L + sigma zeta, from its memorized part S and the margin L = own_gain v that its
    own pull holds through the tilt (``linear`` and ``total_memorized`` filled); the classes under the margin h
    (``below``, and ``unsatisfied`` their share per cell of the rest's grid); the share stalled at the margin:
    within ``band`` (one step of an example's own term) of h at this step and at the last one (``near``: the
    classes within the band at the last step, updated). A class the drift carries across passes the band in one
    step while the drift outruns the own term; one that its own term lifts just over the margin after the drift
    has slowed stays there. Returns that share, the last grid point with a class below the margin (-1: none) and
    the classes below the margin's mass times what their margin exceeds kappa x_par by (their memorized part and
    offset; :func:`_memorization_steps`' own shifts), and the last grid point with a class below the margin once its
    memorized part has faded by ``fading`` (per grid point; None: not faded), as :func:`_fade_and_memorize` finds
    it: the own term must be known that far, a class above the margin now can fall below it there."""
    unsatisfied[:] = 0.0
    total, total_x, last, excess, last_faded = 0.0, 0.0, -1, 0.0, -1
    G = grid.shape[0]
    margin, over_mean_field, held = np.empty(G), np.empty(G), np.empty(G)
    faded_below = np.zeros(G, dtype=np.bool_)
    faded = fading if fading is not None else np.ones(G)
    banded = band > 0.0
    for j in range(zeta.shape[0]):
        offset = zeta[j]
        linear_row, memorized_row, total_row = linear[j], memorized[j], total_memorized[j]
        own_row, below_row, near_row, mass_row = own_response[0, j], below[j], near[j], class_mass[j]
        for i in range(G):
            linear_row[i] = own_gain * own_row[i]
        for i in range(G):
            total_row[i] = memorized_row[i] + linear_row[i]
        for i in range(G):
            margin[i] = kappa * grid[i] + total_row[i] + sigma[i] * offset
        for i in range(G):
            is_below = margin[i] < h
            below_row[i] = is_below
            over_mean_field[i] = (margin[i] - kappa * grid[i]) if is_below else 0.0
        for i in range(G):   # the fade's own expression, operation for operation
            faded_below[i] = kappa * grid[i] + memorized_row[i] * faded[i] + linear_row[i] + sigma[i] * offset < h
        for i in range(G):
            inside = banded & (abs(margin[i] - h) < band)
            held[i] = 1.0 if inside & near_row[i] else 0.0
            near_row[i] = inside
        excess += _weighted_sum(mass_row, over_mean_field)
        total += _weighted_sum(mass_row, held)
        for i in range(G):
            held[i] *= grid[i]
        total_x += _weighted_sum(mass_row, held)
        unsatisfied_row = unsatisfied[j]
        for i in range(G):
            if below_row[i]:
                unsatisfied_row[cell_of[i]] += cell_share[i]
                if i > last:
                    last = i
        for i in range(G - 1, last_faded, -1):
            if faded_below[i]:
                last_faded = i
                break
    return total, total_x, last, excess, last_faded


@numba.njit(cache=True)
def _fade_and_memorize(memorized, fading, linear, kappa, h, sigma, zeta, zeta_weights, grid, rate, masses):
    """One step of the memorized margins in one pass: each fades by ``fading`` (per grid point), then gains
    ``rate`` where its class is below the margin (an example's own term is its own self kernel's memorizing part,
    at its own |x_par|; ``linear``: the margin each class holds from its own pull's degree-1 part, the tilt along
    its own x_perp); returns the memorized margin averaged over the classes."""
    total = 0.0
    for j in range(zeta.shape[0]):
        offset, memorized_row, linear_row = zeta[j], memorized[j], linear[j]
        for i in range(grid.shape[0]):
            faded = memorized_row[i] * fading[i]
            below = kappa * grid[i] + faded + linear_row[i] + sigma[i] * offset < h
            memorized_row[i] = faded + (rate[i] if below else 0.0)
        total += zeta_weights[j] * _weighted_sum(masses, memorized_row)
    return total


@kernel_template(2)
def _unsatisfied_examples(unsat_fraction, g_rate, kappa, d, h, eps, slope, sigma, zeta, zeta_weights, grid,
                          memorized):
    """The training f_unsat and the drift rate from the examples below the margin h (given h = 0: the training
    error and its drift), and the memorized margin of the examples at the crossing (averaged over zeta); an
    example's persistent offset is sigma zeta, ``sigma`` per grid point. Between grid points the margin is taken linear in x_par,
    and the examples' share comes from the derived cumulative laws: unsat_fraction(kappa, d, kappa x) and
    g_rate(kappa, d, kappa x) count the correctly labelled examples with |x_par| < x, their value at x = 0 the
    mislabelled ones (always unsatisfied under the hinge in this map)."""
    G = grid.shape[0]
    cum_unsat, cum_rate = np.empty(G), np.empty(G)
    base_unsat, base_rate = _cumulative_laws(unsat_fraction, g_rate, kappa, d, eps, slope, grid, G - 1, cum_unsat,
                                             cum_rate)
    return _count_unsatisfied(unsat_fraction, g_rate, kappa, d, h, eps, slope, sigma, zeta, zeta_weights, grid,
                              memorized, base_unsat, base_rate, cum_unsat, cum_rate, G - 1)


@kernel_template(2)
def _cumulative_laws(unsat_fraction, g_rate, kappa, d, eps, slope, grid, upto, cum_unsat, cum_rate):
    """The derived cumulative laws at the grid points 0 .. ``upto`` (``cum_unsat``, ``cum_rate`` filled there,
    relative to x = 0); returns their values at x = 0 (the mislabelled examples). They do not depend on the
    threshold, so one fill serves the counts below h and below 0, nor (under the hinge) on kappa, so one fill
    serves every step of :func:`_memorization_steps`."""
    base_unsat = unsat_fraction(kappa, d, 0.0, eps)
    base_rate = g_rate(kappa, d, 0.0, eps, slope)
    for i in range(upto + 1):
        cum_unsat[i] = unsat_fraction(kappa, d, kappa * grid[i], eps) - base_unsat
        cum_rate[i] = g_rate(kappa, d, kappa * grid[i], eps, slope) - base_rate
    return base_unsat, base_rate


@kernel_template(2)
def _count_unsatisfied(unsat_fraction, g_rate, kappa, d, h, eps, slope, sigma, zeta, zeta_weights, grid, memorized,
                       base_unsat, base_rate, cum_unsat, cum_rate, upto):
    """:func:`_unsatisfied_examples` from the cumulative laws already filled (:func:`_cumulative_laws`), walking
    the grid up to point ``upto``: at least one past the last point with a class below h (G - 1 for all), as no
    class is below there (late in a run the classes below reach a third of the grid)."""
    G = upto + 1
    total_unsat, total_rate, at_crossing = base_unsat, base_rate, 0.0
    for j in range(zeta.shape[0]):
        w = zeta_weights[j]
        crossing_memorized = memorized[j, 0]
        below = kappa * grid[0] + memorized[j, 0] + sigma[0] * zeta[j] - h
        for i in range(G - 1):
            above = kappa * grid[i + 1] + memorized[j, i + 1] + sigma[i + 1] * zeta[j] - h
            if below < 0.0 and above < 0.0:
                total_unsat += w * (cum_unsat[i + 1] - cum_unsat[i])
                total_rate += w * (cum_rate[i + 1] - cum_rate[i])
            elif (below < 0.0) != (above < 0.0):
                share = below / (below - above)
                x = grid[i] + share * (grid[i + 1] - grid[i])
                u = unsat_fraction(kappa, d, kappa * x, eps) - base_unsat
                r = g_rate(kappa, d, kappa * x, eps, slope) - base_rate
                if below < 0.0:
                    total_unsat += w * (u - cum_unsat[i])
                    total_rate += w * (r - cum_rate[i])
                    crossing_memorized = memorized[j, i] + share * (memorized[j, i + 1] - memorized[j, i])
                else:
                    total_unsat += w * (cum_unsat[i + 1] - u)
                    total_rate += w * (cum_rate[i + 1] - r)
            below = above
        if below < 0.0:   # unsatisfied up to the end of the grid: the tail beyond it (2e-9 of the examples)
            total_unsat += w * (unsat_fraction(kappa, d, np.inf, eps) - base_unsat - cum_unsat[G - 1])
            total_rate += w * (g_rate(kappa, d, np.inf, eps, slope) - base_rate - cum_rate[G - 1])
            crossing_memorized = memorized[j, G - 1]
        at_crossing += w * crossing_memorized
    return total_unsat, total_rate, at_crossing


# the largest change of the share below 0 across one cell of the trapezoid over |x_par| in the training error
_SHARE_STEP = 0.01


@numba.njit(cache=True)
def _share_below_zero(left, right, s, zeta, cdf):
    """The share of the offsets zeta ~ N(0, 1) whose margin is below 0, at the point a share ``s`` of the way across
    a cell of the grid: ``left`` and ``right`` hold each Gauss-Hermite node's margin at the cell's ends (linear in
    |x_par| between them), ``cdf`` the normal cdf at the nodes. Between nodes the margin is linear in zeta, beyond
    the outer nodes it keeps their sign."""
    below = 0.0
    previous = (1.0 - s) * left[0] + s * right[0]
    if previous < 0.0:
        below += cdf[0]
    for j in range(zeta.shape[0] - 1):
        current = (1.0 - s) * left[j + 1] + s * right[j + 1]
        if previous < 0.0 and current < 0.0:
            below += cdf[j + 1] - cdf[j]
        elif (previous < 0.0) != (current < 0.0):
            crossing = zeta[j] + previous / (previous - current) * (zeta[j + 1] - zeta[j])
            cdf_crossing = 0.5 * math.erfc(-crossing / math.sqrt(2.0))
            below += cdf_crossing - cdf[j] if previous < 0.0 else cdf[j + 1] - cdf_crossing
        previous = current
    if previous < 0.0:
        below += 1.0 - cdf[zeta.shape[0] - 1]
    return below


@kernel_template(1)
def _count_misclassified(unsat_fraction, kappa, d, eps, sigma, zeta, grid, memorized, base_unsat, cum_unsat, upto):
    """The training error: the share of the examples with a margin below 0, continuous in the offset zeta.
    Counted at the Gauss-Hermite nodes, as the examples below h are, it would move in steps of a node's weight,
    and late in a run the few misclassified examples lie in the tail of zeta, where one weight is as large as their
    whole share. Between nodes the margin kappa x + S + sigma zeta is taken linear in zeta, which is exact between
    classes that were unsatisfied at every step (their memorized parts S are then the same function of x), and the
    share of zeta below 0 is its exact Gaussian mass (:func:`_share_below_zero`). Over |x_par|, the trapezoid with
    the derived law's mass (``cum_unsat``, :func:`_cumulative_laws`), on the grid's cells split where the share
    changes by more than ``_SHARE_STEP`` across one (early in a run it falls from 1/2 to 0 within a few cells near
    x_par = 0), the margins linear in |x_par| across a cell as in :func:`_count_unsatisfied`; past ``upto`` no
    class is below h, hence none below 0. The mislabelled examples (``base_unsat``) are all counted."""
    Z, G = zeta.shape[0], grid.shape[0]
    cdf, left, right = np.empty(Z), np.empty(Z), np.empty(Z)
    for j in range(Z):
        cdf[j] = 0.5 * math.erfc(-zeta[j] / math.sqrt(2.0))
        left[j] = kappa * grid[0] + memorized[j, 0] + sigma[0] * zeta[j]
    share_left = _share_below_zero(left, left, 0.0, zeta, cdf)
    total = base_unsat
    for i in range(upto):
        for j in range(Z):
            right[j] = kappa * grid[i + 1] + memorized[j, i + 1] + sigma[i + 1] * zeta[j]
        share_right = _share_below_zero(left, right, 1.0, zeta, cdf)
        parts = min(int(abs(share_right - share_left) / _SHARE_STEP) + 1, 100)
        cum_previous, share_previous = cum_unsat[i], share_left
        for part in range(1, parts):
            s = part / parts
            cum_here = unsat_fraction(kappa, d, kappa * (grid[i] + s * (grid[i + 1] - grid[i])), eps) - base_unsat
            share_here = _share_below_zero(left, right, s, zeta, cdf)
            total += (cum_here - cum_previous) * 0.5 * (share_previous + share_here)
            cum_previous, share_previous = cum_here, share_here
        total += (cum_unsat[i + 1] - cum_previous) * 0.5 * (share_previous + share_right)
        for j in range(Z):
            left[j] = right[j]
        share_left = share_right
    if upto == G - 1 and share_left > 0.0:   # past the grid's end (2e-9 of the examples)
        total += share_left * (unsat_fraction(kappa, d, np.inf, eps) - base_unsat - cum_unsat[G - 1])
    return total


@kernel_template(34)
def _memorization_steps(kappa_increments, gamma_plus, gamma_minus, unsat_fraction, g_rate, moment_a2, moment_w2,
                        moment_aw, update_plus, update_minus, self_kernel, low_degree_kernel, quadratic_kernel,
                        width_kernel, pull_amplitude, kernel_amplitude, self_rate, spread_step, velocity_sd,
                        pile_unsat, pile_drift, crowd_kept, crowd_hold, own_shift_rate, transfer_step_aa,
                        transfer_step_aw, transfer_step_wa, transfer_step_ww, transfer_a2, transfer_w2, transfer_aw,
                        transfer_da2, transfer_dw2, transfer_kappa, n,
                        d, h, eps, sa, sw, odd_slope, slope, alpha, beta, N, M, zeta,
                        zeta_weights, grid, rest_cells, cell_of, cell_share, masses, fading, rest, with_rest, A, b,
                        own_A, own_b, own_gain, hold_from, moving_pile, width_pulls, own_shifts, snapshot_step):
    """The steps of :func:`_memorization_map`, compiled as one recursion. ``rest`` (T+1, G_memo): the rest's
    variance (zeros unless ``with_rest``); ``A``, ``b``: the tilt systems stacked, (S, T+1, 2, 2) and (S, T+1, 2);
    ``width_pulls``: the others' pulls with the width's random features and rho^2 less its mean
    (``pull_amplitude``), else as first derived (``kernel_amplitude``); ``own_shifts``: the node map with the
    unsatisfied examples' own shifts (``own_shift_rate``: every a_i grows by beta r per step, the node law then
    follows its transfer matrix P, (a, w_par) = P (a0, w0)), else the mean field's map (gamma_+-). Also returns
    the node law's moments (T+1, 5) with ``own_shifts`` (else zeros), and the classes at ``snapshot_step`` and the
    step after it (-1: none; :func:`_memorization_map`'s ``snapshot_at``)."""
    Z, G, S = zeta.shape[0], grid.shape[0], A.shape[0]
    kappa, accumulated, spread, train, mean_memorized = (np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n),
                                                         np.zeros(n))
    memorized = np.zeros((Z, G))   # S at each (zeta, x_par) point
    # at snapshot_step and the step after: S, L, the offset's sd per grid point, the classes below h, kappa; the own
    # term per grid point at snapshot_step
    snap_memorized, snap_linear, snap_sigma = np.zeros((2, Z, G)), np.zeros((2, Z, G)), np.zeros((2, G))
    snap_below, snap_kappa, snap_own = np.zeros((2, Z, G), dtype=np.bool_), np.zeros(2), np.zeros(G)
    unsatisfied = np.zeros((n, Z, rest_cells))
    below = np.zeros((Z, G), dtype=np.bool_)
    rates = np.full((n, 2), np.nan)
    class_mass = np.empty((Z, G))
    for j in range(Z):
        for i in range(G):
            class_mass[j, i] = zeta_weights[j] * masses[i]
    # each system's response of v_k (index 0) and u_k (index 1) per example class
    tilt_responses = np.zeros((S, 2, Z, G))
    tilt_variance = np.zeros((S, n))
    sigmas = np.empty(G)
    always_pulling = 0.0   # a mislabelled example is never satisfied in this map: it gains every step's rate
    e_plus = e_minus = cumulative = 0.0
    gammas, rates_g, own_rates = np.zeros((2, n)), np.zeros(n), np.zeros(n)
    pile = np.zeros(n)
    near = np.zeros((Z, G), dtype=np.bool_)   # the classes within one own step of the margin at the last step
    own_at = np.zeros(G)   # the own term per grid point at this step
    # the derived cumulative laws on the grid: under the hinge they count the examples with |x_par| < x (kappa x
    # against the threshold kappa x), so kappa cancels from them and one fill serves every step
    cum_unsat, cum_rate = np.empty(G), np.empty(G)
    base_unsat, base_rate = _cumulative_laws(unsat_fraction, g_rate, 1.0, d, eps, odd_slope, grid, G - 1, cum_unsat,
                                             cum_rate)
    # each class's own pull along its own x_perp: the tilt's response (v, u) to it, with the loss's feedback, and
    # the margin it holds, own_gain * v
    own_response = np.zeros((2, Z, G))
    linear = np.zeros((Z, G))
    total_memorized = np.zeros((Z, G))
    transfer = np.zeros(4)   # P - I of the node map with the own shifts: aa, aw, wa, ww
    node_moments = np.zeros((n, 5))
    excesses, a_growth = np.zeros(n), np.zeros(n)
    for i in range(n):
        gammas[0, i], gammas[1, i] = gamma_plus(e_plus), gamma_minus(e_minus)
        if own_shifts:
            e_aa, e_aw, e_wa, e_ww = transfer[0], transfer[1], transfer[2], transfer[3]
            node_moments[i, 0] = transfer_a2(e_aa, e_aw, e_wa, e_ww, sa, sw)
            node_moments[i, 1] = transfer_w2(e_aa, e_aw, e_wa, e_ww, sa, sw)
            node_moments[i, 2] = transfer_aw(e_aa, e_aw, e_wa, e_ww, sa, sw)
            node_moments[i, 3] = transfer_da2(e_aa, e_aw, e_wa, e_ww, sa, sw)
            node_moments[i, 4] = transfer_dw2(e_aa, e_aw, e_wa, e_ww, sa, sw)
            kap = transfer_kappa(node_moments[i, 2], alpha, odd_slope, d)
        else:
            kap = kappa_increments(e_plus, e_minus, alpha, d, sa, sw, odd_slope)
        kappa[i] = kap
        sigma = np.sqrt(spread[i])
        has_rest = with_rest and np.all(np.isfinite(rest[i]))
        for g in range(G):
            sigmas[g] = np.sqrt(spread[i] + rest[i, g]) if has_rest else np.sqrt(spread[i] + 0.0)
        pile[i], pile_x, last_below, excess, last_faded = _scan_the_margin(
            kap, grid, memorized, own_response, own_gain, sigmas, zeta, h, cell_of, cell_share,
            own_rates[i - 1] if i > 0 else 0.0, class_mass, linear, total_memorized, below, unsatisfied[i], near,
            fading[i])
        if i == snapshot_step or (snapshot_step >= 0 and i == snapshot_step + 1):
            q = i - snapshot_step
            snap_memorized[q] = memorized
            snap_linear[q] = linear
            snap_sigma[q] = sigmas
            snap_below[q] = below
            snap_kappa[q] = kap
        if i < hold_from:   # from the sliding onset the tilt is held, each example's own share of it too
            _tilt_response_step(own_response, class_mass, below, own_A[i], own_b[i], i + 1 < n)
        for s_index in range(S):
            tilt_variance[s_index, i] = _tilt_response_step(tilt_responses[s_index], class_mass, below, A[s_index, i],
                                                            b[s_index, i], i + 1 < n) / N
        if kap > 0:
            # the counts walk up to one point past the last class below h (below 0 is a subset of below h)
            upto = min(last_below + 1, G - 1)
            train[i], rate, accumulated[i] = _count_unsatisfied(unsat_fraction, g_rate, kap, d, h, eps, odd_slope,
                                                                sigmas, zeta, zeta_weights, grid, total_memorized,
                                                                base_unsat, base_rate, cum_unsat, cum_rate, upto)
            if has_rest:
                rates[i, 0] = _count_misclassified(unsat_fraction, kap, d, eps, sigmas, zeta, grid, total_memorized,
                                                   base_unsat, cum_unsat, upto)
                rates[i, 1] = train[i]
        else:   # F = 0 (t = 0): every example is unsatisfied and nothing is memorized yet
            unsat, rate = 0.0, 0.0
            for j in range(Z):
                threshold = max(h - sigma * zeta[j], 0.0)
                unsat += zeta_weights[j] * unsat_fraction(kap, d, threshold, eps)
                rate += zeta_weights[j] * g_rate(kap, d, threshold, eps, odd_slope)
            train[i] = unsat
        # with ``moving_pile``: the examples the map holds at the margin (its pile) are moved by the others' pulls
        # at a persistent velocity, which its classes (one margin each, offsets that only grow) lack: those it
        # pushes down pull at a share of the steps (pile_unsat) and drive g (pile_drift); the velocity comes from
        # the examples below the margin, which pull at every step (not the pile's own pulls)
        pulling = N * train[i]
        if own_shifts:
            a2, w2, aw = node_moments[i, 0], node_moments[i, 1], node_moments[i, 2]
        else:
            gp, gm = gammas[0, i], gammas[1, i]
            a2, w2, aw = moment_a2(gp, gm, sa, sw), moment_w2(gp, gm, sa, sw), moment_aw(gp, gm, sa, sw)
        if moving_pile and pile[i] > 0.0 and aw > 0 and kap > 0:
            x_c = max(h - accumulated[i], 0.0) / kap
            step_c = self_rate(self_kernel(x_c, a2, w2, aw, d, sw, slope)
                               - low_degree_kernel(x_c, a2, w2, aw, d, sw, slope), alpha, beta, N)
            if step_c > 0.0:
                held_c = crowd_hold(N * pile[i], quadratic_kernel(x_c, a2, w2, aw, d, sw, slope),
                                    self_kernel(x_c, a2, w2, aw, d, sw, slope)
                                    - low_degree_kernel(x_c, a2, w2, aw, d, sw, slope), d)
                amplitude_c = _pulls_amplitude(quadratic_kernel, width_kernel, pull_amplitude, kernel_amplitude,
                                               width_pulls, x_c, a2, w2, aw, d, sw, slope, M, held_c)
                held_unsat, held_drift = _held_examples_pulling(velocity_sd, pile_unsat, pile_drift, pulling,
                                                                amplitude_c, alpha, beta, N, d, pile[i], step_c,
                                                                pile_x / pile[i], odd_slope)
                train[i] += held_unsat
                if has_rest:
                    rates[i, 1] = train[i]
                rate += held_drift
        rates_g[i] = rate
        if i + 1 == n:
            break
        if aw > 0:
            x_par = max(h - accumulated[i], 0.0) / kap
            memorizing = (self_kernel(x_par, a2, w2, aw, d, sw, slope)
                          - low_degree_kernel(x_par, a2, w2, aw, d, sw, slope))
            # the set's crowd stalled at the margin (its pile, at the crossing) re-memorizes what any pull puts at
            # its points: it holds back part of the others' degree-2 pulls and takes its share of each example's
            # own deposit (crowd_hold, crowd_kept)
            crowd = N * pile[i]
            quadratic_c = quadratic_kernel(x_par, a2, w2, aw, d, sw, slope)
            held = crowd_hold(crowd, quadratic_c, memorizing, d) if crowd > 0.0 else 1.0
            amplitude = _pulls_amplitude(quadratic_kernel, width_kernel, pull_amplitude, kernel_amplitude,
                                         width_pulls, x_par, a2, w2, aw, d, sw, slope, M, held)
            own_rate = self_rate(memorizing, alpha, beta, N)
            if crowd > 0.0:
                own_rate *= crowd_kept(crowd, quadratic_c, memorizing, quadratic_c, memorizing, d)
            own_rates[i] = own_rate
            # each example gains its own self term, at its own |x_par|: the misclassified ones near x_par = 0
            # more than those at the crossing (K_mem falls with |x_par| as the nodes align)
            # the kernels are evaluated only up to the last grid point with an example below the margin, now or once
            # its memorized part has faded this step (all of them when mislabelled examples, unsatisfied at every
            # |x_par|, need the average)
            reach = G - 1 if eps > 0 else max(last_below, last_faded)
            mislabelled_rate = 0.0
            for g in range(reach + 1):
                memorizing_g = (self_kernel(grid[g], a2, w2, aw, d, sw, slope)
                                - low_degree_kernel(grid[g], a2, w2, aw, d, sw, slope))
                own_at[g] = self_rate(memorizing_g, alpha, beta, N)
                if crowd > 0.0:
                    own_at[g] *= crowd_kept(crowd, quadratic_c, memorizing,
                                            quadratic_kernel(grid[g], a2, w2, aw, d, sw, slope), memorizing_g, d)
                mislabelled_rate += masses[g] * own_at[g]
            total = _fade_and_memorize(memorized, fading[i], linear, kap, h, sigmas, zeta, zeta_weights, grid,
                                       own_at, masses)
            if i == snapshot_step:
                snap_own[:] = own_at
            always_pulling += mislabelled_rate
            mean_memorized[i + 1] = (1 - eps) * total + eps * always_pulling
            # the other examples' memorized parts fade alike: their coherent sum, at the crossing, shrinks by f
            f = np.interp(x_par, grid, fading[i])
            cumulative *= f
            spread[i + 1] = spread_step(f * f * spread[i], amplitude, cumulative, pulling, alpha, beta, N)
            cumulative += amplitude
        if own_shifts:
            # the unsatisfied examples' margins over the mean field's (the mislabelled ones: what they memorized)
            excesses[i] = (1.0 - eps) * excess + eps * always_pulling
            r = own_shift_rate(excesses[i], alpha, a2) if kap > 0 else 0.0
            a_growth[i] = beta * r
            e_aa, e_aw, e_wa, e_ww = transfer[0], transfer[1], transfer[2], transfer[3]
            transfer[0] = transfer_step_aa(e_aa, e_aw, e_wa, e_ww, beta, rate, r)
            transfer[1] = transfer_step_aw(e_aa, e_aw, e_wa, e_ww, beta, rate, r)
            transfer[2] = transfer_step_wa(e_aa, e_aw, e_wa, e_ww, beta, rate, r)
            transfer[3] = transfer_step_ww(e_aa, e_aw, e_wa, e_ww, beta, rate, r)
        e_plus, e_minus = update_plus(e_plus, beta, rate), update_minus(e_minus, beta, rate)
    return (kappa, accumulated, spread, train, mean_memorized, unsatisfied, rates, tilt_variance, gammas, rates_g,
            own_rates, pile, node_moments, excesses, a_growth, snap_memorized, snap_linear, snap_sigma, snap_below,
            snap_kappa, snap_own)


@kernel_template(4)
def _pulls_amplitude(quadratic_kernel, width_kernel, pull_amplitude, kernel_amplitude, width_pulls, x_par, a2, w2, aw,
                     d, sw, slope, M, held):
    """The sd of one pulling example's degree >= 2 term at another at |x_par| (per alpha beta / N), with the width's
    part or as first derived; ``held``: the share of the kernel's degree-2 part's variance that a crowd at the
    margin leaves (``crowd_hold``; 1 without one)."""
    quadratic = math.sqrt(held) * quadratic_kernel(x_par, a2, w2, aw, d, sw, slope)
    if width_pulls:
        return pull_amplitude(quadratic, width_kernel(x_par, a2, w2, aw, d, sw, slope), M, d)
    return kernel_amplitude(quadratic, d)


@kernel_template(3)
def _held_examples_pulling(velocity_sd, pile_unsat, pile_drift, pulling, amplitude, alpha, beta, N, d, pile, own_step,
                           pile_x, odd_slope):
    """The share of the set held at the margin that pulls at a step, and its part of the drift rate
    (``pile_unsat``, ``pile_drift``), against the velocity the examples below the margin give it: averaged over the
    Poisson law of their number, of mean ``pulling`` (the map's expected count; a set whose every example is
    satisfied moves nothing, and a fraction of an example moves a margin only with that probability)."""
    if pulling >= _POISSON_UP_TO:
        velocity = velocity_sd(amplitude, pulling, alpha, beta, N)
        return pile_unsat(pile, velocity, own_step), pile_drift(pile, velocity, own_step, pile_x, odd_slope, d)
    weight = math.exp(-pulling)
    share = drift = 0.0
    for k in range(1, int(pulling + 12.0 * math.sqrt(pulling) + 30.0)):
        weight *= pulling / k
        velocity = velocity_sd(amplitude, float(k), alpha, beta, N)
        share += weight * pile_unsat(pile, velocity, own_step)
        drift += weight * pile_drift(pile, velocity, own_step, pile_x, odd_slope, d)
    return share, drift


# past this mean number of pulling examples the Poisson average of the held examples' pulls is its value at the mean
# (the share goes as the square root of the count: E[sqrt K] = sqrt(U) (1 - 1 / (8 U) + ...), 0.3% off at 40)
_POISSON_UP_TO = 40.0
