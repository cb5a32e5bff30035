"""The simulator's exact screening with its three bounds, side by side in one process.

Usage (from the repository root)::

    python bench/bench_screening.py                       # Fig. 1: N=1e5, M=400, d=100, eta=1e3, 2000 steps
    python bench/bench_screening.py --N 25000 --steps 500 # quicker
    python bench/bench_screening.py --variants "single anchor,parity anchors"   # a subset

The variants run the same problem from the same initial state, in turn (``--repeat`` times each, so that a busy
machine slows them alike); reported: the minimum wall time of each, the fraction of training margins computed
(``evaluated / N``) against the unsatisfied fraction at a few steps (and averaged over the second half of the
run), and whether each trajectory agrees with the first (same unsatisfied count at every step, same t_sat, max
relative difference of the final W, bit-identical final parameters or not).  The variants (validate/_kernels.py):
"path sums" is the screening with ``ANCHOR_PERIOD = 0`` (the running sums of the per-step bound alone), "single
anchor" one anchor chain re-anchored every ``ANCHOR_PERIOD`` steps (``ANCHOR_PARITY = False``), "parity anchors"
the default (chains and records per parity of the steps).
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
    parser.add_argument("--variants", default="path sums,single anchor,parity anchors",
                        help="comma-separated subset of the variants (the first is the reference)")
    args = parser.parse_args(argv)

    from mftheory.model import fig1_setup
    from mftheory.validate import _kernels
    from mftheory.validate.simulator import draw_problem, simulate

    setup = fig1_setup()
    X, y, a0, W0, _, _ = draw_problem(setup, args.N, seed=args.seed, n_test=0)
    default = (_kernels.ANCHOR_PERIOD, _kernels.ANCHOR_PARITY)
    known = {"path sums": (0, False), "single anchor": (default[0], False), "parity anchors": (default[0], True)}
    variants = {name.strip(): known[name.strip()] for name in args.variants.split(",")}
    times = {name: [] for name in variants}
    results = {}
    record = np.arange(args.steps + 1)
    try:
        for period, parity in variants.values():  # compile / load the cache
            _kernels.ANCHOR_PERIOD, _kernels.ANCHOR_PARITY = period, parity
            simulate(setup, X=X[:2000], y=y[:2000], a0=a0, W0=W0, steps=3, n_test=0)
        for _ in range(args.repeat):
            for name, (period, parity) in variants.items():
                _kernels.ANCHOR_PERIOD, _kernels.ANCHOR_PARITY = period, parity
                start = time.perf_counter()
                results[name] = simulate(setup, X=X, y=y, a0=a0, W0=W0, steps=args.steps, n_test=0,
                                         record_steps=record)
                times[name].append(time.perf_counter() - start)
    finally:
        _kernels.ANCHOR_PERIOD, _kernels.ANCHOR_PARITY = default

    names = list(variants)
    base = results[names[0]]
    print(f"Fig. 1 setup, N={args.N}, {args.steps} steps, min of {args.repeat} runs each (numba threads: "
          f"{_numba_threads()})")
    for name in names:
        print(f"  {name:15s} {min(times[name]):7.2f} s   (all: {', '.join(f'{t:.2f}' for t in times[name])})")
    print(f"  speed-up over {names[0]}: " + ", ".join(f"{name} {min(times[names[0]]) / min(times[name]):.2f}x"
                                                      for name in names[1:]))
    print("  fraction of the training set: unsatisfied, and margins computed by each variant")
    print("   step   unsatisfied   " + "   ".join(f"{name:>14s}" for name in names))
    steps_shown = sorted({args.steps // 10, args.steps // 4, args.steps // 2, 3 * args.steps // 4, args.steps})
    for t in steps_shown:
        print(f"  {t:5d}   {base.f_unsat[t]:11.4f}   "
              + "   ".join(f"{results[name].evaluated[t] / args.N:14.4f}" for name in names))
    late = slice(args.steps // 2, args.steps + 1)
    print(f"  mean over steps {late.start}-{args.steps}: {base.f_unsat[late].mean():.4f}   "
          + "   ".join(f"{results[name].evaluated[late].mean() / args.N:14.4f}" for name in names))
    print(f"  mean over all steps:    {base.f_unsat.mean():.4f}   "
          + "   ".join(f"{results[name].evaluated.mean() / args.N:14.4f}" for name in names))
    for name in names[1:]:
        res = results[name]
        same_unsat = np.array_equal(base.f_unsat, res.f_unsat)
        same_t_sat = np.array_equal(base.t_sat, res.t_sat)
        w_diff = np.max(np.abs(base.W_final - res.W_final)) / np.max(np.abs(base.W_final))
        identical = np.array_equal(base.W_final, res.W_final) and np.array_equal(base.a_final, res.a_final)
        print(f"  {name} vs {names[0]}: same unsatisfied count at every step {same_unsat}, same t_sat {same_t_sat}, "
              f"final W max relative difference {w_diff:.1e}, bit-identical {identical}")


def _numba_threads():
    import numba

    return numba.get_num_threads()


if __name__ == "__main__":
    main()
