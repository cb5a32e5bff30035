"""The simulator's exact screening with and without its anchored bound, side by side in one process.

Usage (from the repository root)::

    python bench/bench_screening.py                       # Fig. 1: N=1e5, M=400, d=100, eta=1e3, 2000 steps
    python bench/bench_screening.py --N 25000 --steps 500 # quicker

Both variants run the same problem from the same initial state, alternately (``--repeat`` times each, so that a
busy machine slows both alike); reported: the minimum wall time of each, the fraction of training margins
computed (``evaluated / N``) against the unsatisfied fraction at a few steps, and whether the two trajectories
agree (same unsatisfied count at every step, max relative difference of the final W).  The variant "path sums"
is the screening with ``ANCHOR_PERIOD = 0`` (the running sums of the per-step bound alone), "anchored" the
default.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from mftheory.model import fig1_setup
    from mftheory.validate import _kernels
    from mftheory.validate.simulator import draw_problem, simulate

    setup = fig1_setup()
    X, y, a0, W0, _, _ = draw_problem(setup, args.N, seed=args.seed, n_test=0)
    default_period = _kernels.ANCHOR_PERIOD
    variants = {"path sums": 0, "anchored": default_period}
    simulate(setup, X=X[:2000], y=y[:2000], a0=a0, W0=W0, steps=3, n_test=0)  # compile / load the cache
    times = {name: [] for name in variants}
    results = {}
    record = np.arange(args.steps + 1)
    try:
        for _ in range(args.repeat):
            for name, period in variants.items():
                _kernels.ANCHOR_PERIOD = period
                start = time.perf_counter()
                results[name] = simulate(setup, X=X, y=y, a0=a0, W0=W0, steps=args.steps, n_test=0,
                                         record_steps=record)
                times[name].append(time.perf_counter() - start)
    finally:
        _kernels.ANCHOR_PERIOD = default_period

    base, new = results["path sums"], results["anchored"]
    print(f"Fig. 1 setup, N={args.N}, {args.steps} steps, min of {args.repeat} runs each (numba threads: "
          f"{_numba_threads()})")
    for name in variants:
        print(f"  {name:10s} {min(times[name]):7.2f} s   (all: {', '.join(f'{t:.2f}' for t in times[name])})")
    print(f"  speed-up {min(times['path sums']) / min(times['anchored']):.2f}x")
    print("  step   unsatisfied   computed (path sums)   computed (anchored)")
    for t in sorted({args.steps // 10, args.steps // 4, args.steps // 2, 3 * args.steps // 4, args.steps}):
        print(f"  {t:5d}   {base.f_unsat[t]:.4f}        {base.evaluated[t] / args.N:.4f}"
              f"                 {new.evaluated[t] / args.N:.4f}")
    print(f"  mean over steps: unsatisfied {base.f_unsat.mean():.4f}, computed {base.evaluated.mean() / args.N:.4f} "
          f"(path sums) / {new.evaluated.mean() / args.N:.4f} (anchored)")
    same_unsat = np.array_equal(base.f_unsat, new.f_unsat)
    w_diff = np.max(np.abs(base.W_final - new.W_final)) / np.max(np.abs(base.W_final))
    print(f"  same unsatisfied count at every step: {same_unsat}; final W max relative difference {w_diff:.1e}")


def _numba_threads():
    import numba

    return numba.get_num_threads()


if __name__ == "__main__":
    main()
