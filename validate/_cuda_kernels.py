"""CUDA kernels of :mod:`mftheory.validate.simulator` (``simulate(..., backend="cuda")``), written with numba's CUDA target.

Same model, conventions and recorded quantities as the CPU kernels (:mod:`validate._kernels`); the trajectory
is the same up to rounding (sums are taken in another order, and the gradient sums with atomic adds, so two
runs on the same GPU may differ in the last bits).  Parameters and gradient sums are float64; the data, the
working copy of the parameters and the products are in the working dtype (float64 or float32), as on the CPU.

Everything stays on the device between steps; the host only launches kernels and copies back (a, W, counts)
at the recorded steps and t_sat at the end.  One GD step is three kernels, none of which holds an N x M array:

* ``forward``: one thread block per tile of ``TN`` examples.  It loops over tiles of ``TM`` units and of ``KT``
  input dimensions (X and W tiles in shared memory), keeps the pre-activations of its (example, unit) pairs in
  registers, applies sigma and accumulates f.  It then writes c = u y per example, counts errors and
  unsatisfied examples (integer atomics), updates t_sat and appends the examples with c != 0 to a compact
  index list (atomic counter; the order of that list is not deterministic).
* ``backward``: a 2-d grid of (tiles of ``TN`` listed examples) x (tiles of ``TM`` units); blocks beyond the
  number of listed examples exit at once, so late in training (few unsatisfied examples) the backward pass
  costs almost nothing.  Each block recomputes its TM x TN pre-activations (cheaper than storing an N x M
  array), forms G = c sigma'(z) and c sigma(z) in shared memory and adds its partial sums of
  ga = sum c sigma(z) and gW = G X_u to the float64 accumulators with atomic adds.
* ``update``: one block per unit: W_i += beta a_i gW_i / (sqrt(d) N), a_i += beta ga_i / N (from the old a_i),
  refreshes the working copies, zeroes the accumulators and the counters for the next step.

There is no screening on the GPU (every margin is computed at every step, which is cheap there).

numba's CUDA target (``numba.cuda``: the built-in one, deprecated upstream, or NVIDIA's ``numba-cuda`` package,
which replaces it transparently when installed, ``pip install "mftheory[cuda]"``) is imported with this module,
which the simulator imports only for ``backend="cuda"``.  With ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is
imported) the same kernels run on numba's CPU simulator: slow, but that is how the tests compare them with the
CPU backend without a GPU (tests/test_cuda_backend.py, which also compiles them to PTX for sm_80).
"""
from __future__ import annotations

import math

import numpy as np

try:  # numba's built-in CUDA target, or NVIDIA's numba-cuda when installed (same API)
    from numba import cuda
except Exception as _err:  # pragma: no cover - depends on the installation
    cuda = None
    _IMPORT_ERROR = f"{type(_err).__name__}: {_err}"

TN = 32  # examples per tile (= threadIdx.x range)
TY = 8  # threadIdx.y range
TM = 32  # units per tile; each thread owns TM // TY of them
KT = 32  # input dimensions per shared-memory tile
UPT = TM // TY
KTP = KT + 1  # padded shared-memory rows (fewer bank conflicts); shapes must be plain constants
TNP = TN + 1
assert TM == TN and TM % TY == 0  # the kernels load X and W tiles in one loop and map unit tiles on tx
THREADS = (TN, TY)
UPDATE_THREADS = 128

_KERNELS = {}


class CudaUnavailableError(RuntimeError):
    """Raised by ``simulate(..., backend="cuda")`` when no usable CUDA device (or numba CUDA target) exists."""


def cuda_status():
    """(available, reason): whether numba's CUDA target can run kernels here, and why not."""
    if cuda is None:  # pragma: no cover - depends on the installation
        return False, f"numba's CUDA target cannot be imported ({_IMPORT_ERROR})"
    try:
        ok = bool(cuda.is_available())
    except Exception as err:  # pragma: no cover - broken driver
        return False, f"numba.cuda.is_available() failed ({type(err).__name__}: {err})"
    if not ok:
        return False, ("numba.cuda.is_available() is False: no CUDA GPU, driver or CUDA runtime was found "
                       "(set NUMBA_ENABLE_CUDASIM=1 before numba is imported to use numba's slow CPU simulator)")
    return True, ""


def require_cuda():
    ok, reason = cuda_status()
    if not ok:
        raise CudaUnavailableError(f"backend='cuda' is unavailable: {reason}; use backend='cpu'")


def _make_kernels(np_dtype):
    """Compile-on-first-use kernels for one working dtype (shared-memory arrays need a constant dtype)."""
    from numba import from_dtype

    dt = from_dtype(np.dtype(np_dtype))
    f64 = from_dtype(np.dtype(np.float64))
    i64 = from_dtype(np.dtype(np.int64))

    @cuda.jit
    def forward(X, y, W_w, a_w, consts, h, loss, t, train, c_out, t_sat, counts, unsat_idx, n_unsat):
        """consts = (1/sqrt d, slope, alpha/M).  train: write c, t_sat and the index list (else count only)."""
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * TN + tx
        N = X.shape[0]
        d = X.shape[1]
        M = W_w.shape[0]
        r0 = cuda.blockIdx.x * TN
        inv_sqrt_d = consts[0]
        slope = consts[1]
        Xs = cuda.shared.array((TN, KTP), dt)
        Ws = cuda.shared.array((TM, KTP), dt)
        fpart = cuda.shared.array((TY, TN), dt)
        z = cuda.local.array(UPT, dt)
        facc = dt(0.0)
        for i0 in range(0, M, TM):
            for j in range(UPT):
                z[j] = 0.0
            for k0 in range(0, d, KT):
                for e in range(tid, TN * KT, TN * TY):
                    rr = e // KT
                    kk = e % KT
                    Xs[rr, kk] = X[r0 + rr, k0 + kk] if (r0 + rr < N and k0 + kk < d) else 0.0
                    Ws[rr, kk] = W_w[i0 + rr, k0 + kk] if (i0 + rr < M and k0 + kk < d) else 0.0
                cuda.syncthreads()
                for kk in range(KT):
                    xv = Xs[tx, kk]
                    for j in range(UPT):
                        z[j] += Ws[ty + j * TY, kk] * xv
                cuda.syncthreads()
            for j in range(UPT):
                i = i0 + ty + j * TY
                if i < M:
                    zz = z[j] * inv_sqrt_d
                    s = zz if zz > 0 else slope * zz
                    facc += a_w[i] * s
        fpart[ty, tx] = facc
        cuda.syncthreads()
        mu = r0 + tx
        if ty == 0 and mu < N:
            f = fpart[0, tx]
            for q in range(1, TY):
                f += fpart[q, tx]
            f *= consts[2]
            yv = y[mu]
            m = yv * f
            if m <= 0.0:
                cuda.atomic.add(counts, 0, 1)
            if m < h:
                cuda.atomic.add(counts, 1, 1)
            elif train and t_sat[mu] < 0:
                t_sat[mu] = t
            if train:
                # u = -l'(m): hinge, quadratic hinge, logistic (as validate._kernels.u_of_margin)
                if loss == 0:
                    u = 1.0 if m < h else 0.0
                elif loss == 1:
                    u = h - m if m < h else 0.0
                elif m >= 0.0:
                    e = math.exp(-m)
                    u = e / (1.0 + e)
                else:
                    u = 1.0 / (1.0 + math.exp(m))
                cr = u * yv
                c_out[mu] = cr
                if cr != 0.0:
                    pos = cuda.atomic.add(n_unsat, 0, 1)
                    unsat_idx[pos] = mu

    @cuda.jit
    def backward(X, W_w, consts, c, unsat_idx, n_unsat, ga, gW):
        """ga += sum_mu c_mu sigma(z_mu), gW += sum_mu c_mu sigma'(z_mu) x_mu over the listed examples."""
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        tid = ty * TN + tx
        nu = n_unsat[0]
        j0 = cuda.blockIdx.x * TN
        if j0 >= nu:
            return
        i0 = cuda.blockIdx.y * TM
        d = X.shape[1]
        M = W_w.shape[0]
        inv_sqrt_d = consts[0]
        slope = consts[1]
        idx_s = cuda.shared.array(TN, i64)
        c_s = cuda.shared.array(TN, dt)
        Xs = cuda.shared.array((TN, KTP), dt)
        Ws = cuda.shared.array((TM, KTP), dt)
        Gs = cuda.shared.array((TM, TNP), dt)
        As = cuda.shared.array((TM, TNP), dt)
        z = cuda.local.array(UPT, dt)
        if ty == 0:
            if j0 + tx < nu:
                mu = unsat_idx[j0 + tx]
                idx_s[tx] = mu
                c_s[tx] = c[mu]
            else:
                idx_s[tx] = -1
                c_s[tx] = 0.0
        for j in range(UPT):
            z[j] = 0.0
        cuda.syncthreads()
        for k0 in range(0, d, KT):
            for e in range(tid, TN * KT, TN * TY):
                rr = e // KT
                kk = e % KT
                mu = idx_s[rr]
                Xs[rr, kk] = X[mu, k0 + kk] if (mu >= 0 and k0 + kk < d) else 0.0
                Ws[rr, kk] = W_w[i0 + rr, k0 + kk] if (i0 + rr < M and k0 + kk < d) else 0.0
            cuda.syncthreads()
            for kk in range(KT):
                xv = Xs[tx, kk]
                for j in range(UPT):
                    z[j] += Ws[ty + j * TY, kk] * xv
            cuda.syncthreads()
        cr = c_s[tx]
        for j in range(UPT):
            ii = ty + j * TY
            zz = z[j] * inv_sqrt_d
            if zz > 0:
                Gs[ii, tx] = cr
                As[ii, tx] = cr * zz
            else:
                Gs[ii, tx] = cr * slope
                As[ii, tx] = cr * (slope * zz)
        cuda.syncthreads()
        if ty == 0 and i0 + tx < M:  # TM == TN: thread tx owns unit i0 + tx
            s = f64(0.0)
            for r in range(TN):
                s += As[tx, r]
            cuda.atomic.add(ga, i0 + tx, s)
        for k0 in range(0, d, KT):
            for e in range(tid, TN * KT, TN * TY):
                rr = e // KT
                kk = e % KT
                mu = idx_s[rr]
                Xs[rr, kk] = X[mu, k0 + kk] if (mu >= 0 and k0 + kk < d) else 0.0
            cuda.syncthreads()
            k = k0 + tx
            if k < d:
                for j in range(UPT):
                    ii = ty + j * TY
                    if i0 + ii < M:
                        acc = dt(0.0)
                        for r in range(TN):
                            acc += Gs[ii, r] * Xs[r, tx]
                        cuda.atomic.add(gW, (i0 + ii, k), f64(acc))
            cuda.syncthreads()

    @cuda.jit
    def update(a, W, ga, gW, a_w, W_w, ca, cW, counts, n_unsat):
        """One block per unit i; also resets the counters of the forward pass for the next step."""
        i = cuda.blockIdx.x
        tx = cuda.threadIdx.x
        d = W.shape[1]
        ai = a[i]
        ci = cW * ai
        for k in range(tx, d, cuda.blockDim.x):
            w = W[i, k] + ci * gW[i, k]
            W[i, k] = w
            W_w[i, k] = w
            gW[i, k] = 0.0
        cuda.syncthreads()
        if tx == 0:
            an = ai + ca * ga[i]
            a[i] = an
            a_w[i] = an
            ga[i] = 0.0
            if i == 0:
                n_unsat[0] = 0
                for q in range(counts.shape[0]):
                    counts[q] = 0

    return forward, backward, update


def kernels(np_dtype):
    key = np.dtype(np_dtype).str
    if key not in _KERNELS:
        _KERNELS[key] = _make_kernels(np_dtype)
    return _KERNELS[key]


def gd_cuda(X, y, a, W, steps, record_steps, h, alpha, beta, slope, loss, X_test, y_test, rec_a, rec_wpar,
            rec_wperp2, rec_v, rec_train_err, rec_unsat, rec_test_err, rec_evaluated, t_sat):
    """Same contract as :func:`validate._kernels.gd_kernel` (without screening), on the GPU.

    a (M,), W (M, d) float64 are updated in place (copied back at the end); X, X_test in the working dtype.
    """
    N, d = X.shape
    M = a.shape[0]
    dt = X.dtype
    forward, backward, update = kernels(dt)
    consts = cuda.to_device(np.array([1.0 / math.sqrt(d), slope, alpha / M], dtype=dt))
    dX = cuda.to_device(np.ascontiguousarray(X))
    dy = cuda.to_device(np.ascontiguousarray(y, dtype=np.float64))
    n_test = X_test.shape[0]
    if n_test > 0:
        dXt = cuda.to_device(np.ascontiguousarray(X_test))
        dyt = cuda.to_device(np.ascontiguousarray(y_test, dtype=np.float64))
    da = cuda.to_device(a)
    dW = cuda.to_device(W)
    da_w = cuda.to_device(a.astype(dt))
    dW_w = cuda.to_device(W.astype(dt))
    dga = cuda.to_device(np.zeros(M))
    dgW = cuda.to_device(np.zeros((M, d)))
    dc = cuda.to_device(np.zeros(N, dtype=dt))
    dt_sat = cuda.to_device(t_sat)
    counts = cuda.to_device(np.zeros(2, dtype=np.int64))
    test_counts = cuda.to_device(np.zeros(2, dtype=np.int64))
    unsat_idx = cuda.to_device(np.zeros(N, dtype=np.int64))
    n_unsat = cuda.to_device(np.zeros(1, dtype=np.int64))
    grid_f = (N + TN - 1) // TN
    grid_b = (grid_f, (M + TM - 1) // TM)
    ca = beta / N
    cW = beta / (math.sqrt(d) * N)
    n_rec = record_steps.shape[0]
    ri = 0
    for t in range(steps + 1):
        forward[grid_f, THREADS](dX, dy, dW_w, da_w, consts, h, loss, t, True, dc, dt_sat, counts, unsat_idx,
                                 n_unsat)
        if ri < n_rec and record_steps[ri] == t:
            a_h = da.copy_to_host()
            W_h = dW.copy_to_host()
            cnt = counts.copy_to_host()
            rec_a[ri] = a_h
            rec_wpar[ri] = W_h[:, 0]
            rec_wperp2[ri] = np.einsum("ik,ik->i", W_h[:, 1:], W_h[:, 1:])
            rec_v[ri] = a_h @ W_h / M
            rec_train_err[ri] = cnt[0]
            rec_unsat[ri] = cnt[1]
            rec_evaluated[ri] = N
            if n_test > 0:
                test_counts.copy_to_device(np.zeros(2, dtype=np.int64))
                forward[(n_test + TN - 1) // TN, THREADS](dXt, dyt, dW_w, da_w, consts, h, loss, t, False, dc,
                                                          dt_sat, test_counts, unsat_idx, n_unsat)
                rec_test_err[ri] = test_counts.copy_to_host()[0]
            ri += 1
        if t == steps:
            break
        backward[grid_b, THREADS](dX, dW_w, consts, dc, unsat_idx, n_unsat, dga, dgW)
        update[M, UPDATE_THREADS](da, dW, dga, dgW, da_w, dW_w, ca, cW, counts, n_unsat)
    cuda.synchronize()
    a[:] = da.copy_to_host()
    W[:] = dW.copy_to_host()
    t_sat[:] = dt_sat.copy_to_host()
