"""The output pass f(x_r) for every row of a data set, the validation cases' last step on a stored run: the
simulator's blocked kernel (``validate._kernels.network_output_rows``) beside the row-at-a-time loop it replaced,
same sums, timed in one run.

    python bench/network_output.py [--threads 2]      # about 10 s

Printed per shape (rows, M, d): whether the two agree bit for bit, and the milliseconds of one call (best of 5).
"""
from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from numba import njit, prange

from mftheory.validate._kernels import network_output_rows

SHAPES = ((32000, 200, 20), (100000, 200, 20), (10000, 400, 100))


@njit(parallel=True)
def row_at_a_time(X, W, a, inv_sqrt_d, slope, scale):
    """The kernel before blocking: one row per iteration, its k-sum innermost (not vectorizable without
    reordering it)."""
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


def best_ms(function, arguments, repeats=5):
    function(*arguments)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*arguments)
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    print(f"numba threads: {args.threads}")
    for n, M, d in SHAPES:
        X, W, a = rng.standard_normal((n, d)), rng.standard_normal((M, d)), rng.standard_normal(M)
        arguments = (X, W, a, 1.0 / np.sqrt(d), 0.0, 1.0 / M)
        same = np.array_equal(network_output_rows(*arguments), row_at_a_time(*arguments))
        old, new = best_ms(row_at_a_time, arguments), best_ms(network_output_rows, arguments)
        print(f"rows {n:>6}  M {M:>3}  d {d:>3}  identical {same}  row at a time {old:7.1f} ms  blocked {new:7.1f} ms"
              f"  ({old / new:.1f}x)")


if __name__ == "__main__":
    main()
