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

Exact screening (hinge and quadratic hinge, where a satisfied example has u = 0).  One GD step changes f(x) by
at most A_t |x_1| + B_t |x_perp| (x_perp the part of x orthogonal to e_1), with, for a' = a + da, W' = W + dW
(rows w_i, columns 1 = e_1 and perp = the other d - 1)::

    f' - f = (alpha/M) sum_i [da_i sigma(z'_i) + a_i (sigma(z'_i) - sigma(z_i))],  |sigma(z)| <= |z|, sigma 1-Lipschitz
    A_t = alpha/(M sqrt d) [ sum_i |da_i| |W'_i1| + sum_i |a_i| |dW_i1| ]
    B_t = alpha/(M sqrt d) [ min(sum_i |da_i| |W'_i,perp|, |da| ||W'_perp||_2) + min(sum_i |a_i| |dW_i,perp|, |a| ||dW_perp||_2) ]

(Cauchy-Schwarz per unit, or over the units with the spectral norm, whichever is smaller).  Each spectral norm
is replaced by the upper bound of :func:`_spectral_norm_bound` (within 0.1% of it); ||W'_perp||_2 by the
previous step's bound plus that of ||dW_perp||_2, taken anew from W' once that sum is more than 1% above the
last one taken anew.  PA and PB are the running sums of A_t and B_t, so
|f_t(x) - f_t0(x)| <= (PA_t - PA_t0)|x_1| + (PB_t - PB_t0)|x_perp|.

The same bound holds between any two parameter sets, not only consecutive steps.  Summing it step by step
overcounts where the parameters go back and forth (late in training GD oscillates with period two about a slowly
moving point: one step's bound carries the swing, a bound over two steps mostly the drift), so more bounds go
through anchors.  An anchor chain c keeps a copy of the parameters of a step T_c (its anchor), re-taken at the
steps u with u mod period_c = phase_c, and a bound D_c(t) = (A, B) on the change from its anchor to step t: the
bound above between the anchor and step t where stride_c divides t - T_c (at t = T_c + 1 it is the step's
(A_t, B_t)), and D_c(t - 1) + (A_t, B_t) elsewhere; O_c(t) is the running sum of D_c at its re-anchorings (the
bounds between its successive anchors).  Then, for t0 < t, in each of A and B,
|f_t - f_t0| <= D_c(t) + (O_c(t) - O_c(t0)) + D_c(t0) (from step t0 to its anchor, along the anchors, from the
anchor of step t to step t).

With ``ANCHOR_PARITY`` (the default) there are four chains: for each parity q, one of period 2 and one of period
``ANCHOR_PERIOD`` = 20 (only the first if that is 2), re-anchored at the steps u with u mod period = q and with
stride 2; and each example keeps two records, record q from its last evaluation at a step t0 of parity q, with
the running sums and the chains of parity q as its bounds.  For t - t0 even the period-2 chain gives the sum of
the two-step bounds from t0 to t and the other the displacements from anchors of the same parity and between
them: neither pays the swing, which the running sums pay at every step.  Per step this costs two more
spectral-norm bounds (the two-step bound and that of the long chain of the step's parity; chains anchored at
the same step share one).  Without it (the anchored bound of earlier versions): one chain of period
``ANCHOR_PERIOD``, re-anchored at the steps = 0 mod ``ANCHOR_PERIOD``, stride 1 (one more spectral-norm bound
per step), and one record per example.  With ``ANCHOR_PERIOD = 0``: no chain, one record with the running sums
alone.

An example is skipped at step t only when, for one of its records (margin m0 = y f at t0) and one of that
record's bounds, m0 - h > (1 + 1e-9) bound + tol (|m0| + h) (the last two terms for rounding): it is then
certainly satisfied and contributes nothing.  As computed: a record keeps, for each of its bounds, the key
m0 - h - tol (|m0| + h) - (1 + 1e-9) (S_A |x_1| + S_B |x_perp|), with (S_A, S_B) = -(PA_t0, PB_t0) for the running
sums and D_c(t0) - O_c(t0) for chain c, and the test at t is key > (1 + 1e-9) Q_A |x_1| + (1 + 1e-9) Q_B |x_perp|
with (Q_A, Q_B) = (PA_t, PB_t), resp. D_c(t) + O_c(t) (each bound's (A, B) pair taken whole).  Every other
example is evaluated exactly and overwrites its record of the parity of t, so the set of unsatisfied examples is
the same as without screening at every step (up to rounding of margins within ``tol`` of h, which are always
re-evaluated).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

SLABS = 8  # fixed number of slabs: results do not depend on the thread count
CHUNK = 256  # examples per batch
ANCHOR_PERIOD = 20  # steps between re-anchorings of the anchored screening bound (0: off)
# True: per parity of the steps, two anchor chains (periods 2 and ANCHOR_PERIOD) and one record per example;
# False: one anchor chain of period ANCHOR_PERIOD and one record per example (see the module docstring)
ANCHOR_PARITY = True


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
                   t, update, h, loss, screen, tol, st, slot, SA, SB, t_sat, counts):
    """Evaluate the examples idx[:nb] (increasing) and, if ``update``, add their gradient sums to ga, gW.

    With ``screen``, each evaluated example's record, columns slot .. slot + SA.size - 1 of its row of ``st``,
    is overwritten with its keys for the bounds of this step's values SA, SB (see :func:`_pass_over_examples`).
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
            key = (m - h) - tol * (abs(m) + h)
            for j in range(SA.shape[0]):
                st[mu, slot + j] = key - (1.0 + 1e-9) * (SA[j] * st[mu, 0] + SB[j] * st[mu, 1])
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
                        st, QA, QB, SA, SB, t_sat):
    """One sweep over the training set: margins of the examples that need it, per-slab gradient sums.

    Screening: row mu of ``st`` holds |x_1|, |x_perp|, then R = QA.shape[0] records of C = QA.shape[1] keys,
    record r from the example's last evaluation at a step t0 = r mod R, key j that of bound j of the record
    (module docstring); QA[r, j], QB[r, j] are bound j's (Q_A, Q_B) at this step, times 1 + 1e-9.  The example
    is skipped if some key exceeds QA |x_1| + QB |x_perp| (a never filled key is -inf; a NaN never skips),
    tested without branches.  The examples evaluated at step t overwrite their record t mod R with the keys of
    this step's SA[r], SB[r].
    """
    N = X.shape[0]
    P = ga_s.shape[0]
    chunk = bufs_idx.shape[1]
    R, C = QA.shape
    r = t % R
    slot = 2 + r * C
    SAr = SA[r]
    SBr = SB[r]
    QAf = QA.ravel()
    QBf = QB.ravel()
    J = R * C
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
            idx[nb] = mu
            if screen:
                ax1 = st[mu, 0]
                axp = st[mu, 1]
                excess = -np.inf
                for j in range(J):
                    e = st[mu, 2 + j] - (QAf[j] * ax1 + QBf[j] * axp)
                    if e > excess:
                        excess = e
                nb += 1 if excess <= 0.0 else 0   # skipped where excess > 0
            else:
                nb += 1
            if nb == chunk:
                _process_batch(X, y, idx, nb, bufs_x[p], bufs_u[p], W_w, a_w, consts, bufs_z[p], bufs_g[p],
                               bufs_f[p], bufs_c[p], bufs_kidx[p], bufs_tmp[p], bufs_tmpM[p], ga, gW, t, update,
                               h, loss, screen, tol, st, slot, SAr, SBr, t_sat, counts)
                nb = 0
        if nb > 0:
            _process_batch(X, y, idx, nb, bufs_x[p], bufs_u[p], W_w, a_w, consts, bufs_z[p], bufs_g[p],
                           bufs_f[p], bufs_c[p], bufs_kidx[p], bufs_tmp[p], bufs_tmpM[p], ga, gW, t, update,
                           h, loss, screen, tol, st, slot, SAr, SBr, t_sat, counts)


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


# rows per block of network_output_rows: its inner loops run across a block's rows, which the compiler vectorizes
# without reordering any row's sum
_OUTPUT_BLOCK = 64


@njit(cache=True, parallel=True)
def network_output_rows(X, W, a, inv_sqrt_d, slope, scale):
    """f(x_r) = scale sum_i a_i sigma(w_i . x_r inv_sqrt_d) for every row r of X (sigma the leaky ReLU of ``slope``).
    Each row is summed by one thread in a fixed order (k, then i), so the value does not depend on the thread
    count; no BLAS. Blocks of rows are transposed so that the innermost loop runs across rows (4x faster than
    one row at a time at d = 20, M = 200, with the same sums)."""
    n, d = X.shape
    M = W.shape[0]
    out = np.empty(n)
    for block in prange((n + _OUTPUT_BLOCK - 1) // _OUTPUT_BLOCK):
        r0 = block * _OUTPUT_BLOCK
        B = min(_OUTPUT_BLOCK, n - r0)
        Xt = np.empty((d, _OUTPUT_BLOCK))
        for b in range(B):
            for k in range(d):
                Xt[k, b] = X[r0 + b, k]
        z = np.empty(_OUTPUT_BLOCK)
        total = np.zeros(_OUTPUT_BLOCK)
        for i in range(M):
            z[:B] = 0.0
            for k in range(d):
                w = W[i, k]
                for b in range(B):
                    z[b] += Xt[k, b] * w
            for b in range(B):
                zb = z[b] * inv_sqrt_d
                total[b] += a[i] * (zb if zb > 0.0 else slope * zb)
        for b in range(B):
            out[r0 + b] = total[b] * scale
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
def _largest_ritz_value(gram, scale, m):
    """The largest Ritz value of the symmetric ``gram`` after m Lanczos steps (full reorthogonalization, a fixed
    start vector; run on gram / scale, scale > 0, so that nothing underflows): an estimate from below of its
    largest eigenvalue."""
    k = gram.shape[0]
    inv_scale = 1.0 / scale
    m = min(m, k)
    V = np.zeros((m, k))
    diag = np.zeros(m)
    off = np.zeros(m)
    v = np.empty(k)
    for i in range(k):
        v[i] = 1.0 + 0.5 * math.sin(1.0 + 0.7 * i)
    v /= math.sqrt(np.dot(v, v))
    n = m
    for j in range(m):
        V[j] = v
        w = np.dot(gram, v) * inv_scale
        diag[j] = np.dot(w, v)
        for _ in range(2):
            w -= np.dot(np.dot(V[:j + 1], w), V[:j + 1])
        b = math.sqrt(np.dot(w, w))
        if j == m - 1 or not b > 1e-13 * abs(diag[0]):
            n = j + 1
            break
        off[j] = b
        v = w / b
    T = np.zeros((n, n))
    for j in range(n):
        T[j, j] = diag[j]
        if j + 1 < n:
            T[j, j + 1] = off[j]
            T[j + 1, j] = off[j]
    return np.linalg.eigvalsh(T)[-1] * scale


@njit(cache=True)
def _positive_definite(A):
    """Whether the Cholesky factorization of the symmetric A succeeds."""
    try:
        np.linalg.cholesky(A)
        return True
    except Exception:
        return False


@njit(cache=True)
def _spectral_norm_bound(B):
    """A rigorous (up to rounding) upper bound on the spectral norm of B (n, k), from the Gram matrix G.

    mu = 1.001 times a Lanczos estimate of G's largest eigenvalue (20 steps), certified by a Cholesky
    factorization of mu I - G (raised by 5% up to 3 times where it fails, then the largest eigenvalue itself);
    returned: sqrt(mu (1 + 1e-10) + 1e-12 trace(G)), the allowances covering the rounding of G and of the
    factorization.  At 400 x 99, single-threaded BLAS: 0.33 ms, against 0.60 ms with an eigenvalue decomposition
    of G (forming G is about 0.15 ms of either).
    """
    k = B.shape[1]
    if k == 0:
        return 0.0
    gram = np.dot(B.T, B)
    trace = 0.0
    for i in range(k):
        trace += gram[i, i]
    if trace > 0.0 and trace < np.inf:
        mu = _largest_ritz_value(gram, trace, 20) * (1.0 + 1e-3) + 1e-12 * trace
        A = np.empty((k, k))
        for _ in range(4):
            for i in range(k):
                for j in range(k):
                    A[i, j] = -gram[i, j]
                A[i, i] += mu
            if _positive_definite(A):
                return math.sqrt(mu * (1.0 + 1e-10) + 1e-12 * trace)
            mu *= 1.05
    lam = np.linalg.eigvalsh(gram)[-1]   # raises on inf / NaN entries
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
    alpha/(M sqrt d), w_perp_norm an upper bound on ||W_perp||_2 (e.g. _perp_norm_bound(W))."""
    return _step_bound_norms(a_old, W_old, a, W, scale, w_perp_norm, _perp_norm_bound(W - W_old))


@njit(cache=True)
def _step_bound_norms(a_old, W_old, a, W, scale, w_perp_norm, dw_perp_norm):
    """:func:`_step_bound` given also an upper bound on ||dW_perp||_2 (e.g. _perp_norm_bound(W - W_old))."""
    M, d = W.shape
    col_a = 0.0
    col_w = 0.0
    perp_a = 0.0
    perp_w = 0.0
    nda = 0.0
    na = 0.0
    for i in range(M):
        da = a[i] - a_old[i]
        col_a += abs(da) * abs(W[i, 0])
        col_w += abs(a_old[i]) * abs(W[i, 0] - W_old[i, 0])
        s_w = 0.0
        s_dw = 0.0
        for k in range(1, d):
            dw = W[i, k] - W_old[i, k]
            s_w += W[i, k] * W[i, k]
            s_dw += dw * dw
        perp_a += abs(da) * math.sqrt(s_w)
        perp_w += abs(a_old[i]) * math.sqrt(s_dw)
        nda += da * da
        na += a_old[i] * a_old[i]
    if d > 1:
        perp_a = min(perp_a, math.sqrt(nda) * w_perp_norm)
        perp_w = min(perp_w, math.sqrt(na) * dw_perp_norm)
    return scale * (col_a + col_w), scale * (perp_a + perp_w)


@njit(cache=True)
def gd_update(a, W, a_old, W_old, ga, gW, ca, cW):
    """One GD update from the summed gradient (ga, gW): a_old, W_old <- a, W, then w_i += cW a_i gW_i and
    a_i += ca ga_i, every parameter from the old ones."""
    M, d = W.shape
    for i in range(M):
        a_old[i] = a[i]
        ci = cW * a[i]
        for k in range(d):
            W_old[i, k] = W[i, k]
            W[i, k] += ci * gW[i, k]
        a[i] += ca * ga[i]


@njit(cache=True)
def step_bound_after_update(a_old, W_old, a, W, scale, w_perp_norm, w_perp_exact):
    """The screening's bound (A_t, B_t) for the update (a_old, W_old) -> (a, W) and the running bound on
    ||W_perp||_2: the bound at the previous step + ||dW_perp||_2, taken anew (``w_perp_exact``) once that has
    grown by 1%. Returns (w_perp_norm, w_perp_exact, A_t, B_t)."""
    dw_perp_norm = _perp_norm_bound(W - W_old)
    w_perp_norm += dw_perp_norm
    if not w_perp_norm <= 1.01 * w_perp_exact:
        w_perp_norm = _perp_norm_bound(W)
        w_perp_exact = w_perp_norm
    A_t, B_t = _step_bound_norms(a_old, W_old, a, W, scale, w_perp_norm, dw_perp_norm)
    return w_perp_norm, w_perp_exact, A_t, B_t


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


def gd_kernel(X, y, a, W, steps, record_steps, h, alpha, beta, slope, loss, penalty, screen, tol, anchor_period,
              X_test, y_test,
              rec_a, rec_wpar, rec_wperp2, rec_v, rec_train_err, rec_unsat, rec_test_err, rec_evaluated, t_sat,
              anchor_parity=None, last_pass=True):
    """Run ``steps`` GD steps in place on the float64 parameters a (M,), W (M, d).

    X (N, d) and X_test (n, d) in the working dtype (float32 or float64); y, y_test float64 +-1.  Records at
    the steps ``record_steps`` (increasing, within [0, steps]): rec_a (R, M), rec_wpar (R, M) = w_i . e_1,
    rec_wperp2 (R, M) = |w_i,perp|^2, rec_v (R, d) = mean_i a_i w_i, and the numbers of training errors,
    unsatisfied training examples, test errors and training margins evaluated at that step (R,).  Fills t_sat
    (N,), whose entries must start at -1.  ``screen`` (only valid for losses with u = 0 when satisfied) turns on
    the exact screening of the module docstring, its long anchors re-taken every ``anchor_period`` steps (0: no
    anchored bound, the running sums alone; with ``anchor_parity`` an even number), per parity of the steps
    with ``anchor_parity`` (default ``ANCHOR_PARITY``), else one chain; ``penalty`` (lambda of spectral
    decoupling, (lambda/2) f^2 added to every example's loss) must be 0 with it, since every example then pulls.
    ``last_pass=False`` skips the margins after the last update unless that step is recorded (a caller that moves
    on to a new batch needs neither them nor ``t_sat`` there).
    A plain Python function that sets up the anchor chains; the compiled kernel is :func:`_gd_kernel`.
    """
    parity = ANCHOR_PARITY if anchor_parity is None else bool(anchor_parity)
    if anchor_period < 0 or (parity and anchor_period % 2 != 0):
        raise ValueError(f"anchor_period must be 0 or a positive {'even ' if parity else ''}integer, got "
                         f"{anchor_period}")
    # chain c: re-anchored at the steps u with u mod periods[c] = phases[c]; its bound is taken anew at the
    # steps u with (u - anchor step) mod strides[c] = 0 and carried forward by the step's bound at the others
    periods, phases, strides, n_records = [], [], [], 1
    if anchor_period > 0 and not parity:
        periods, phases, strides = [anchor_period], [0], [1]
    elif anchor_period > 0:
        n_records = 2
        for q in range(2):   # record q's group: the chains re-anchored at steps = q mod 2
            for period in sorted({2, anchor_period}):   # ANCHOR_PERIOD = 2: the period-2 chains alone
                periods.append(period)
                phases.append(q)
                strides.append(2)
    _gd_kernel(X, y, a, W, steps, record_steps, h, alpha, beta, slope, loss, penalty, screen, tol,
               np.array(periods, dtype=np.int64), np.array(phases, dtype=np.int64), np.array(strides, dtype=np.int64),
               n_records, X_test, y_test, rec_a, rec_wpar, rec_wperp2, rec_v, rec_train_err, rec_unsat, rec_test_err,
               rec_evaluated, t_sat, last_pass)


@njit(cache=True)
def _gd_kernel(X, y, a, W, steps, record_steps, h, alpha, beta, slope, loss, penalty, screen, tol, chain_period,
               chain_phase, chain_stride, n_records, X_test, y_test,
               rec_a, rec_wpar, rec_wperp2, rec_v, rec_train_err, rec_unsat, rec_test_err, rec_evaluated, t_sat,
               last_pass):
    """:func:`gd_kernel`, compiled, with K = chain_period.size anchor chains (0: the running sums alone): chain c
    is re-anchored to the parameters of the steps u with u mod chain_period[c] = chain_phase[c], and its bound D
    is taken anew where chain_stride[c] divides the steps since its anchor, carried forward by the step's bound
    elsewhere.  Each example keeps n_records records (the one of step t is t mod n_records); record r's group is
    the chains r G .. r G + G - 1, G = K / n_records."""
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
    # screening state: per example |x_1|, |x_perp| and n_records records of C keys (one per bound: the running
    # sums', then those of the G chains of the record's group), -inf until filled
    K = chain_period.shape[0] if screen else 0
    G = K // n_records
    C = 1 + G
    st = np.full((N if screen else 0, 2 + n_records * C), -np.inf)
    if screen:
        for mu in range(N):
            st[mu, 0] = abs(float(X[mu, 0]))
            s2 = 0.0
            for k in range(1, d):
                xk = float(X[mu, k])
                s2 += xk * xk
            st[mu, 1] = math.sqrt(s2) * (1.0 + 1e-12)
    # bound j of record r: its (Q_A, Q_B) at the current step times 1 + 1e-9, (S_A, S_B) to store with an
    # evaluation now
    QA = np.zeros((n_records, C))
    QB = np.zeros((n_records, C))
    SA = np.zeros((n_records, C))
    SB = np.zeros((n_records, C))
    PA_t = 0.0
    PB_t = 0.0
    w_perp_norm = _perp_norm_bound(W) if screen else 0.0
    w_perp_exact = w_perp_norm
    # the anchor chains: chain c's anchor (a_c[c], W_c[c]) taken at step T[c], its bound D since then and its
    # offset O (the bounds between its successive anchors, summed)
    a_c = np.empty((K, M))
    W_c = np.empty((K, M, d))
    for c in range(K):
        a_c[c] = a
        W_c[c] = W
    T = np.zeros(K, dtype=np.int64)
    OA = np.zeros(K)
    OB = np.zeros(K)
    DA = np.zeros(K)
    DB = np.zeros(K)
    computed = np.zeros(K, dtype=np.bool_)
    scale = alpha / (M * math.sqrt(d))
    cW = beta / (math.sqrt(d) * N)
    ca = beta / N
    n_rec = record_steps.shape[0]
    ri = 0
    for t in range(steps + 1):
        update = t < steps
        if not update and not last_pass and not (ri < n_rec and record_steps[ri] == t):
            break
        for i in range(M):
            a_w[i] = a[i]
            for k in range(d):
                W_w[i, k] = W[i, k]
        for r in range(n_records):
            QA[r, 0] = (1.0 + 1e-9) * PA_t
            QB[r, 0] = (1.0 + 1e-9) * PB_t
            SA[r, 0] = -PA_t
            SB[r, 0] = -PB_t
            for j in range(G):
                c = r * G + j
                QA[r, 1 + j] = (1.0 + 1e-9) * (DA[c] + OA[c])
                QB[r, 1 + j] = (1.0 + 1e-9) * (DB[c] + OB[c])
                SA[r, 1 + j] = DA[c] - OA[c]
                SB[r, 1 + j] = DB[c] - OB[c]
        _pass_over_examples(X, y, W_w, a_w, consts, bufs_x, bufs_u, bufs_z, bufs_g, bufs_f, bufs_c, bufs_idx,
                            bufs_kidx, bufs_tmp, bufs_tmpM, ga_s, gW_s, counts_s, t, update, h, loss, screen, tol,
                            st, QA, QB, SA, SB, t_sat)
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
        gd_update(a, W, a_old, W_old, ga, gW, ca, cW)
        if screen:
            w_perp_norm, w_perp_exact, A_t, B_t = step_bound_after_update(a_old, W_old, a, W, scale, w_perp_norm,
                                                                          w_perp_exact)
            PA_t += A_t
            PB_t += B_t
            # chain c: D = the bound between its anchor and the new parameters where the stride divides the
            # steps since the anchor (one step: the step's bound), else D + the step's bound; chains anchored
            # at the same step share it
            u = t + 1
            for c in range(K):
                computed[c] = False
                if (u - T[c]) % chain_stride[c] != 0:
                    DA[c] += A_t
                    DB[c] += B_t
                elif u - T[c] == 1:
                    DA[c] = A_t
                    DB[c] = B_t
                else:
                    for c2 in range(c):
                        if computed[c2] and T[c2] == T[c]:
                            DA[c] = DA[c2]
                            DB[c] = DB[c2]
                            computed[c] = True
                            break
                    if not computed[c]:
                        DA[c], DB[c] = _step_bound(a_c[c], W_c[c], a, W, scale, w_perp_norm)
                        computed[c] = True
            for c in range(K):
                if u % chain_period[c] == chain_phase[c]:
                    OA[c] += DA[c]
                    OB[c] += DB[c]
                    DA[c] = 0.0
                    DB[c] = 0.0
                    T[c] = u
                    a_c[c] = a
                    W_c[c] = W
