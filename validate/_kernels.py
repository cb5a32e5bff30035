"""Compiled kernels of :mod:`mftheory.validate.simulator` (the model and conventions are documented there).

One decorator policy: ``njit(cache=True)``, no fastmath; ``parallel=True`` only on the two functions with a
``prange`` over slabs.  Kernels take arrays and scalars only; every check lives in the public wrapper.

Layout and determinism.  The N training examples are split into ``SLABS`` fixed contiguous slabs (independent
of the number of threads); a ``prange`` runs the slabs, each with its own buffers and float64 gradient
accumulators, and the slab sums are added in slab order afterwards.  Inside a slab the examples to evaluate are
taken in order in batches of ``CHUNK`` rows; a batch is one BLAS product W X_b^T (M x nb), one fused pass that
applies sigma and accumulates f, and, for the examples with u != 0 only, one BLAS product G^T X_u.  BLAS is
expected to run single-threaded inside the slabs (the wrapper arranges it), so the result is bit-identical
for a given input whatever the number of threads.

Exact screening (hinge and quadratic hinge, where a satisfied example has u = 0).  For every example we keep
its margin m0 = y f at the step it was last evaluated and the values PA0, PB0 of two running sums PA, PB at
that step.  One GD step changes f(x) by at most A_t |x_1| + B_t |x_perp| (x_perp the part of x orthogonal to
e_1), with, for a' = a + da, W' = W + dW (rows w_i, columns 1 = e_1 and perp = the other d - 1)::

    f' - f = (alpha/M) sum_i [da_i sigma(z'_i) + a_i (sigma(z'_i) - sigma(z_i))],  |sigma(z)| <= |z|, sigma 1-Lipschitz
    A_t = alpha/(M sqrt d) [ sum_i |da_i| |W'_i1| + sum_i |a_i| |dW_i1| ]
    B_t = alpha/(M sqrt d) [ min(sum_i |da_i| |W'_i,perp|, |da| ||W'_perp||_2) + min(sum_i |a_i| |dW_i,perp|, |a| ||dW_perp||_2) ]

(Cauchy-Schwarz per unit, or over the units with the spectral norm, whichever is smaller).  PA and PB are
the running sums of A_t and B_t, so |f_t(x) - f_t0(x)| <= (PA_t - PA_t0)|x_1| + (PB_t - PB_t0)|x_perp|.

The same bound holds between any two parameter sets, not only consecutive steps.  Summing it step by step
overcounts where the parameters go back and forth (late in training GD oscillates with period two about a slowly
moving point), so a second bound goes through an anchor c, a copy of the parameters re-taken every
``ANCHOR_PERIOD`` steps: |f_t - f_t0| <= D(c_k, t) + (O_k - O_j) + D(c_j, t0), where D(c, t) is the bound's
(A, B) between the anchor and step t's parameters, c_j the anchor current at t0, c_k the one at t, and O_k the
running sum of D(c_i, c_i+1) over the re-anchorings before c_k.  Each example keeps D(c_j, t0) - O_j; the smaller
of the two bounds is used.  An example is skipped at step t only when m0 - h exceeds that bound (times 1 + 1e-9, plus ``tol`` (|m0| + h) for
rounding): it is then certainly satisfied and contributes nothing.  Every other example is evaluated exactly,
so the set of unsatisfied examples is the same as without screening at every step (up to rounding of
margins within ``tol`` of h, which are always re-evaluated).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

SLABS = 8  # fixed number of slabs: results do not depend on the thread count
CHUNK = 256  # examples per batch
ANCHOR_PERIOD = 20  # steps between re-anchorings of the anchored screening bound (0: off)


@njit(cache=True)
def u_of_margin(m, h, loss):
    """u = -l'(m) at margin m = y f (loss 0 hinge, 1 quadratic hinge, 2 logistic)."""
    if loss == 0:
        return 1.0 if m < h else 0.0
    elif loss == 1:
        return h - m if m < h else 0.0
    else:
        if m >= 0.0:
            e = math.exp(-m)
            return e / (1.0 + e)
        return 1.0 / (1.0 + math.exp(m))


@njit(cache=True)
def forward_batch(Xc, W_w, a_w, consts, zbuf, f):
    """Activations and outputs of a batch of nb rows.

    Xc (nb, d); W_w (M, d), a_w (M,) and consts = (1/sqrt d, slope, alpha/M) in the working dtype; zbuf a
    1-d buffer of >= M nb entries.  Returns S (M, nb), a view of zbuf, S[i, r] = sigma(w_i . x_r / sqrt d), and
    writes f[:nb] = (alpha/M) sum_i a_i S[i, r] (summed in the order i = 0..M-1).  sigma'(z) = 1 iff S > 0.
    """
    nb = Xc.shape[0]
    M = W_w.shape[0]
    inv_sqrt_d = consts[0]
    slope = consts[1]
    S = zbuf[: M * nb].reshape((M, nb))
    np.dot(W_w, Xc.T, S)
    for r in range(nb):
        f[r] = 0.0
    for i in range(M):
        ai = a_w[i]
        for r in range(nb):
            z = S[i, r] * inv_sqrt_d
            s = z if z > 0 else slope * z
            S[i, r] = s
            f[r] += ai * s
    for r in range(nb):
        f[r] *= consts[2]
    return S


@njit(cache=True)
def _process_batch(X, y, idx, nb, Xg, Xu, W_w, a_w, consts, zbuf, gbuf, f, cvec, kidx, tmp, tmpM, ga, gW,
                   t, update, h, loss, screen, m0, PA0, PB0, PA_t, PB_t, sA, sB, RA_t, RB_t, t_sat, counts):
    """Evaluate the examples idx[:nb] (increasing) and, if ``update``, add their gradient sums to ga, gW.

    counts[0] += errors (y f <= 0), counts[1] += unsatisfied (y f < h), counts[2] += evaluated.
    """
    M, d = W_w.shape
    first = idx[0]
    if idx[nb - 1] - first == nb - 1:
        Xc = X[first:first + nb]
    else:
        for r in range(nb):
            mu = idx[r]
            for k in range(d):
                Xg[r, k] = X[mu, k]
        Xc = Xg[:nb]
    S = forward_batch(Xc, W_w, a_w, consts, zbuf, f)
    nk = 0
    for r in range(nb):
        mu = idx[r]
        yv = y[mu]
        m = yv * f[r]
        if m <= 0.0:
            counts[0] += 1
        if m < h:
            counts[1] += 1
        elif t_sat[mu] < 0:
            t_sat[mu] = t
        if screen:
            m0[mu] = m
            PA0[mu] = PA_t
            PB0[mu] = PB_t
            sA[mu] = RA_t
            sB[mu] = RB_t
        cr = 0.0
        if update:
            # -l'(y f) y - lambda f: the margin loss and spectral decoupling's penalty (consts[3] = lambda)
            cr = u_of_margin(m, h, loss) * yv - consts[3] * f[r]
        cvec[r] = cr
        if cr != 0.0:
            kidx[nk] = r
            nk += 1
    counts[2] += nb
    if nk == 0:
        return
    slope = consts[1]
    # ga += S c  (the rows with u = 0 have c = 0)
    np.dot(S, cvec[:nb], tmpM)
    for i in range(M):
        ga[i] += tmpM[i]
    # gW += G X_u with G[i, j] = c_j sigma'(z_ij) over the nk examples with u != 0
    G = gbuf[: M * nk].reshape((M, nk))
    if nk == nb:
        for i in range(M):
            for r in range(nb):
                cr = cvec[r]
                G[i, r] = cr if S[i, r] > 0 else cr * slope
        Xk = Xc
    else:
        for i in range(M):
            for j in range(nk):
                r = kidx[j]
                cr = cvec[r]
                G[i, j] = cr if S[i, r] > 0 else cr * slope
        for j in range(nk):
            r = kidx[j]
            for k in range(d):
                Xu[j, k] = Xc[r, k]
        Xk = Xu[:nk]
    np.dot(G, Xk, tmp)
    for i in range(M):
        for k in range(d):
            gW[i, k] += tmp[i, k]


@njit(cache=True, parallel=True)
def _pass_over_examples(X, y, W_w, a_w, consts, bufs_x, bufs_u, bufs_z, bufs_g, bufs_f, bufs_c, bufs_idx,
                        bufs_kidx, bufs_tmp, bufs_tmpM, ga_s, gW_s, counts_s, t, update, h, loss, screen, tol,
                        m0, PA0, PB0, PA_t, PB_t, sA, sB, QA_t, QB_t, RA_t, RB_t, ax1, axp, t_sat):
    """One sweep over the training set: margins of the examples that need it, per-slab gradient sums."""
    N = X.shape[0]
    P = ga_s.shape[0]
    chunk = bufs_idx.shape[1]
    for p in prange(P):
        lo = (N * p) // P
        hi = (N * (p + 1)) // P
        ga = ga_s[p]
        gW = gW_s[p]
        counts = counts_s[p]
        ga[:] = 0.0
        gW[:] = 0.0
        counts[:] = 0
        idx = bufs_idx[p]
        nb = 0
        for mu in range(lo, hi):
            if screen:
                slack = m0[mu] - h
                bound = min((PA_t - PA0[mu]) * ax1[mu] + (PB_t - PB0[mu]) * axp[mu],
                            (QA_t + sA[mu]) * ax1[mu] + (QB_t + sB[mu]) * axp[mu])
                if slack > bound * (1.0 + 1e-9) + tol * (abs(m0[mu]) + h):
                    continue
            idx[nb] = mu
            nb += 1
            if nb == chunk:
                _process_batch(X, y, idx, nb, bufs_x[p], bufs_u[p], W_w, a_w, consts, bufs_z[p], bufs_g[p],
                               bufs_f[p], bufs_c[p], bufs_kidx[p], bufs_tmp[p], bufs_tmpM[p], ga, gW, t, update,
                               h, loss, screen, m0, PA0, PB0, PA_t, PB_t, sA, sB, RA_t, RB_t, t_sat, counts)
                nb = 0
        if nb > 0:
            _process_batch(X, y, idx, nb, bufs_x[p], bufs_u[p], W_w, a_w, consts, bufs_z[p], bufs_g[p],
                           bufs_f[p], bufs_c[p], bufs_kidx[p], bufs_tmp[p], bufs_tmpM[p], ga, gW, t, update,
                           h, loss, screen, m0, PA0, PB0, PA_t, PB_t, sA, sB, RA_t, RB_t, t_sat, counts)


@njit(cache=True, parallel=True)
def _count_errors(Xs, ys, W_w, a_w, consts, bufs_z, bufs_f, out):
    """out[p] = number of rows of slab p of Xs with ys f <= 0."""
    N = Xs.shape[0]
    P = out.shape[0]
    chunk = bufs_f.shape[1]
    for p in prange(P):
        lo = (N * p) // P
        hi = (N * (p + 1)) // P
        n = 0
        for c0 in range(lo, hi, chunk):
            c1 = min(hi, c0 + chunk)
            f = bufs_f[p]
            forward_batch(Xs[c0:c1], W_w, a_w, consts, bufs_z[p], f)
            for r in range(c1 - c0):
                if ys[c0 + r] * f[r] <= 0.0:
                    n += 1
        out[p] = n


@njit(cache=True, parallel=True)
def network_output_rows(X, W, a, inv_sqrt_d, slope, scale):
    """f(x_r) = scale sum_i a_i sigma(w_i . x_r inv_sqrt_d) for every row r of X (sigma the leaky ReLU of ``slope``).
    Each row is summed by one thread in a fixed order (k, then i), so the value does not depend on the thread
    count; no BLAS."""
    n, d = X.shape
    M = W.shape[0]
    out = np.empty(n)
    for r in prange(n):
        total = 0.0
        for i in range(M):
            z = 0.0
            for k in range(d):
                z += X[r, k] * W[i, k]
            z *= inv_sqrt_d
            total += a[i] * (z if z > 0.0 else slope * z)
        out[r] = total * scale
    return out


@njit(cache=True, parallel=True)
def output_from_preactivations(Z, a, slope, scale):
    """f_r = scale sum_i a_i sigma(Z[r, i]) for every row of the pre-activations Z (sigma the leaky ReLU of
    ``slope``): one pass over Z, no (rows, M) temporaries; each row summed by one thread in a fixed order."""
    n, M = Z.shape
    out = np.empty(n)
    for r in prange(n):
        total = 0.0
        for i in range(M):
            z = Z[r, i]
            total += a[i] * (z if z > 0.0 else slope * z)
        out[r] = total * scale
    return out


@njit(cache=True, parallel=True)
def hinge_gradient_rows(X, rows, y, Z_value, value_rows, Z_sign, sign_rows, slope, chunks):
    """sum_j (y g_j, y x g_j^T) over the examples ``rows`` of X, g_ij = sigma'(z_ij) z_ij for a and sigma'(z_ij)
    for W: the pre-activation z of example rows[j] is Z_value[value_rows[j]], the kink's side is read from
    Z_sign[sign_rows[j]] (another network's, to switch the kinks off). Returns (grad_a (M,), grad_W (M, d)) before
    the step's factors. The rows are cut into ``chunks`` fixed blocks summed in order, so the result does not
    depend on the thread count."""
    n, d = rows.size, X.shape[1]
    M = Z_value.shape[1]
    part_a = np.zeros((chunks, M))
    part_W = np.zeros((chunks, M, d))
    for c in prange(chunks):
        for j in range(c * n // chunks, (c + 1) * n // chunks):
            r = rows[j]
            for i in range(M):
                g = y[r] * (1.0 if Z_sign[sign_rows[j], i] > 0.0 else slope)
                part_a[c, i] += g * Z_value[value_rows[j], i]
                for k in range(d):
                    part_W[c, i, k] += g * X[r, k]
    grad_a = np.zeros(M)
    grad_W = np.zeros((M, d))
    for c in range(chunks):
        grad_a += part_a[c]
        grad_W += part_W[c]
    return grad_a, grad_W


@njit(cache=True)
def _spectral_norm_bound(B):
    """A rigorous (up to rounding) upper bound on the spectral norm of B (n, k), from the Gram matrix."""
    if B.shape[1] == 0:
        return 0.0
    gram = np.dot(B.T, B)
    trace = 0.0
    for k in range(gram.shape[0]):
        trace += gram[k, k]
    lam = np.linalg.eigvalsh(gram)[-1]
    return math.sqrt(max(lam, 0.0) * (1.0 + 1e-10) + 1e-12 * trace)


@njit(cache=True)
def _perp_norm_bound(W):
    """Upper bound on the spectral norm of W's columns 1..d-1 (the part acting on x_perp)."""
    if W.shape[1] < 2:
        return 0.0
    return _spectral_norm_bound(np.ascontiguousarray(W[:, 1:]))


@njit(cache=True)
def _step_bound(a_old, W_old, a, W, scale, w_perp_norm):
    """(A_t, B_t) of the module docstring for the change (a_old, W_old) -> (a, W), one step or many; scale =
    alpha/(M sqrt d), w_perp_norm = _perp_norm_bound(W)."""
    M, d = W.shape
    col_a = 0.0
    col_w = 0.0
    perp_a = 0.0
    perp_w = 0.0
    nda = 0.0
    na = 0.0
    dW = W - W_old
    for i in range(M):
        da = a[i] - a_old[i]
        col_a += abs(da) * abs(W[i, 0])
        col_w += abs(a_old[i]) * abs(dW[i, 0])
        s_w = 0.0
        s_dw = 0.0
        for k in range(1, d):
            s_w += W[i, k] * W[i, k]
            s_dw += dW[i, k] * dW[i, k]
        perp_a += abs(da) * math.sqrt(s_w)
        perp_w += abs(a_old[i]) * math.sqrt(s_dw)
        nda += da * da
        na += a_old[i] * a_old[i]
    if d > 1:
        perp_a = min(perp_a, math.sqrt(nda) * w_perp_norm)
        perp_w = min(perp_w, math.sqrt(na) * _perp_norm_bound(dW))
    return scale * (col_a + col_w), scale * (perp_a + perp_w)


@njit(cache=True)
def record_parameters(ri, a, W, rec_a, rec_wpar, rec_wperp2, rec_v):
    """Row ri of the records: a, w_i . e_1, |w_i,perp|^2 and v = mean_i a_i w_i."""
    M, d = W.shape
    for k in range(d):
        rec_v[ri, k] = 0.0
    for i in range(M):
        rec_a[ri, i] = a[i]
        rec_wpar[ri, i] = W[i, 0]
        s2 = 0.0
        for k in range(1, d):
            s2 += W[i, k] * W[i, k]
        rec_wperp2[ri, i] = s2
        for k in range(d):
            rec_v[ri, k] += a[i] * W[i, k]
    for k in range(d):
        rec_v[ri, k] /= M


@njit(cache=True)
def gd_kernel(X, y, a, W, steps, record_steps, h, alpha, beta, slope, loss, penalty, screen, tol, anchor_period,
              X_test, y_test,
              rec_a, rec_wpar, rec_wperp2, rec_v, rec_train_err, rec_unsat, rec_test_err, rec_evaluated, t_sat):
    """Run ``steps`` GD steps in place on the float64 parameters a (M,), W (M, d).

    X (N, d) and X_test (n, d) in the working dtype (float32 or float64); y, y_test float64 +-1.  Records at
    the steps ``record_steps`` (increasing, within [0, steps]): rec_a (R, M), rec_wpar (R, M) = w_i . e_1,
    rec_wperp2 (R, M) = |w_i,perp|^2, rec_v (R, d) = mean_i a_i w_i, and the numbers of training errors,
    unsatisfied training examples, test errors and training margins evaluated at that step (R,).  Fills t_sat
    (N,), whose entries must start at -1.  ``screen`` (only valid for losses with u = 0 when satisfied) turns on
    the exact screening of the module docstring, with its anchor re-taken every ``anchor_period`` steps (0: no anchored
    bound, the running sums alone); ``penalty`` (lambda of spectral decoupling, (lambda/2) f^2 added
    to every example's loss) must be 0 with it, since every example then pulls.
    """
    N, d = X.shape
    M = a.shape[0]
    dt = X.dtype
    P = SLABS
    chunk = min(CHUNK, max(N, X_test.shape[0]))
    consts = np.empty(4, dtype=dt)
    consts[0] = 1.0 / math.sqrt(d)
    consts[1] = slope
    consts[2] = alpha / M
    consts[3] = penalty
    bufs_x = np.empty((P, chunk, d), dtype=dt)
    bufs_u = np.empty((P, chunk, d), dtype=dt)
    bufs_z = np.empty((P, M * chunk), dtype=dt)
    bufs_g = np.empty((P, M * chunk), dtype=dt)
    bufs_f = np.empty((P, chunk), dtype=dt)
    bufs_c = np.empty((P, chunk), dtype=dt)
    bufs_idx = np.empty((P, chunk), dtype=np.int64)
    bufs_kidx = np.empty((P, chunk), dtype=np.int64)
    bufs_tmp = np.empty((P, M, d), dtype=dt)
    bufs_tmpM = np.empty((P, M), dtype=dt)
    ga_s = np.zeros((P, M))
    gW_s = np.zeros((P, M, d))
    counts_s = np.zeros((P, 3), dtype=np.int64)
    test_counts = np.zeros(P, dtype=np.int64)
    W_w = np.empty((M, d), dtype=dt)
    a_w = np.empty(M, dtype=dt)
    a_old = np.empty(M)
    W_old = np.empty((M, d))
    # screening state
    m0 = np.full(N, -np.inf)
    PA0 = np.zeros(N)
    PB0 = np.zeros(N)
    ax1 = np.empty(N)
    axp = np.empty(N)
    if screen:
        for mu in range(N):
            ax1[mu] = abs(float(X[mu, 0]))
            s2 = 0.0
            for k in range(1, d):
                xk = float(X[mu, k])
                s2 += xk * xk
            axp[mu] = math.sqrt(s2) * (1.0 + 1e-12)
    PA_t = 0.0
    PB_t = 0.0
    # the anchored bound: displacement from an anchor (a_c, W_c), re-anchored every ANCHOR_PERIOD steps
    sA = np.zeros(N)
    sB = np.zeros(N)
    a_c = a.copy()
    W_c = W.copy()
    OA = 0.0
    OB = 0.0
    DA = 0.0
    DB = 0.0
    scale = alpha / (M * math.sqrt(d))
    cW = beta / (math.sqrt(d) * N)
    ca = beta / N
    n_rec = record_steps.shape[0]
    ri = 0
    for t in range(steps + 1):
        update = t < steps
        for i in range(M):
            a_w[i] = a[i]
            for k in range(d):
                W_w[i, k] = W[i, k]
        _pass_over_examples(X, y, W_w, a_w, consts, bufs_x, bufs_u, bufs_z, bufs_g, bufs_f, bufs_c, bufs_idx,
                            bufs_kidx, bufs_tmp, bufs_tmpM, ga_s, gW_s, counts_s, t, update, h, loss, screen, tol,
                            m0, PA0, PB0, PA_t, PB_t, sA, sB, DA + OA, DB + OB, DA - OA, DB - OB, ax1, axp, t_sat)
        if ri < n_rec and record_steps[ri] == t:
            record_parameters(ri, a, W, rec_a, rec_wpar, rec_wperp2, rec_v)
            for p in range(P):
                rec_train_err[ri] += counts_s[p, 0]
                rec_unsat[ri] += counts_s[p, 1]
                rec_evaluated[ri] += counts_s[p, 2]
            if X_test.shape[0] > 0:
                _count_errors(X_test, y_test, W_w, a_w, consts, bufs_z, bufs_f, test_counts)
                rec_test_err[ri] = test_counts.sum()
            ri += 1
        if not update:
            break
        # reduce the slab sums in slab order, then update every parameter from the old ones
        ga = ga_s[0]
        gW = gW_s[0]
        for p in range(1, P):
            for i in range(M):
                ga[i] += ga_s[p, i]
                for k in range(d):
                    gW[i, k] += gW_s[p, i, k]
        for i in range(M):
            a_old[i] = a[i]
            ci = cW * a[i]
            for k in range(d):
                W_old[i, k] = W[i, k]
                W[i, k] += ci * gW[i, k]
            a[i] += ca * ga[i]
        if screen:
            w_perp_norm = _perp_norm_bound(W)
            A_t, B_t = _step_bound(a_old, W_old, a, W, scale, w_perp_norm)
            PA_t += A_t
            PB_t += B_t
            if anchor_period > 0:
                DA, DB = _step_bound(a_c, W_c, a, W, scale, w_perp_norm)
            else:
                DA, DB = math.inf, math.inf
            if anchor_period > 0 and (t + 1) % anchor_period == 0:
                OA += DA
                OB += DB
                DA = 0.0
                DB = 0.0
                a_c[:] = a
                W_c[:] = W
