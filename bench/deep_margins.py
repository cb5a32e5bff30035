"""How much does an unsatisfied training example gain per step on its satisfied neighbours? GD beside the memorization
map's terms, and the misclassified examples behind the train error.

Usage (from the repository root; about 1 minute on 2 cores)::

    python bench/deep_margins.py                      # Fig. 1, N = 25000 from t = 300, 10 steps
    python bench/deep_margins.py --N 100000 --t 1000

GD (``simulate``, no derived formula) is run on one fixed set to step t and T steps on. Each training example's
margin change over the T steps, per step, is set beside the mean change of the examples far above the margin (more
than 40 s, s the map's own step) of its label and |x_par| bin, which nothing but kappa's growth and the fading move:
what is left is what being unsatisfied gains it. Printed per band of the margin at t, in units of s, with GD's
training error and f_unsat and where its misclassified examples are. The map's side (``mftheory.finite_size``, on the
set's own clock): per step an unsatisfied class gains its own step (1 s at the crossing, more nearer x_par = 0) and
loses (1 - f) S to the fading of what it memorized, S about the memorized margin at the crossing, while the spread's
growth moves a class at offset zeta by d(sigma_S) zeta; its training error and f_unsat.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mftheory
from fixed_set_steps import gd_at, map_on_the_set_clock
from mftheory import finite_size

BINS = np.array([0.0, 0.02, 0.04, 0.07, 0.1, 0.15, 0.2])
FAR = 40            # in s: a reference example's margin above h
FEWEST = 10         # reference examples a bin needs


def _margins(setup, X, y, a, W):
    z = X @ W.T / np.sqrt(setup.d)
    return y * (setup.alpha / setup.M * np.maximum(z, 0.0) @ a)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=25000)
    parser.add_argument("--t", type=int, default=300)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    start = time.perf_counter()
    solution, state, s = map_on_the_set_clock(setup, args.N, args.t, args.steps)
    X, y, a, W = gd_at(setup, args.N, args.seed, args.t)
    later = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=args.steps, n_test=0, record_steps=[0, args.steps])
    m0, m1 = _margins(setup, X, y, a, W), _margins(setup, X, y, later.a_final, later.W_final)
    h, reach = setup.h, np.abs(X[:, 0])
    gain = (m1 - m0) / args.steps / s
    over = np.full(args.N, np.nan)
    which = np.digitize(reach, BINS) - 1
    reference = m0 > h + FAR * s
    for label in (1.0, -1.0):
        for b in range(len(BINS) - 1):
            rows = (y == label) & (which == b)
            if (rows & reference).sum() >= FEWEST:
                over[rows] = gain[rows] - gain[rows & reference].mean()
    t = args.t
    train_error, train_unsat = state.train_rates[t]
    print(f"N = {args.N}, t = {t} to {t + args.steps}: s = {s:.3g}; GD training error {np.mean(m0 < 0):.5f} "
          f"({np.sum(m0 < 0)} examples), f_unsat {np.mean(m0 < h):.5f}; the map's {train_error:.5f} "
          f"({args.N * train_error:.0f}), {train_unsat:.5f}")
    if (m0 < 0).any():
        print("  GD's misclassified: |x_par| quartiles " + " / ".join(f"{q:.3f}" for q in np.quantile(
            reach[m0 < 0], [0.25, 0.5, 0.75])) + "; margin quartiles (in s) " + " / ".join(
            f"{q:.0f}" for q in np.quantile(m0[m0 < 0] / s, [0.25, 0.5, 0.75])))
    print("  GD, gain per step over the far-above examples of the same label and |x_par| bin (in s):")
    bands = ((-np.inf, 0.0, "y f < 0"), (0.0, h / 2, "0 <= y f < h/2"), (h / 2, h, "h/2 <= y f < h"),
             (h, h + 3 * s, "h <= y f < h + 3 s"), (h + 3 * s, h + 20 * s, "h + 3 s <= y f < h + 20 s"))
    for lo, hi, name in bands:
        rows = (m0 >= lo) & (m0 < hi) & np.isfinite(over)
        if rows.any():
            print(f"    {name:26s} n = {rows.sum():5d}: {np.mean(over[rows]):+.3f} (sd {np.std(over[rows]):.2f}), "
                  f"mean |x_par| {reach[rows].mean():.3f}")
    fading = finite_size.memorization._memory_fading(solution)[t]
    at = np.searchsorted(finite_size._common._MEMO_GRID, max(h - state.memorized[t], 0.0)
                         / state.kappa[t])
    print(f"  the map, per step: own step 1 at the crossing; fading (1 - f) S at the crossing "
          f"{(1 - fading[min(at, fading.size - 1)]) * state.memorized[t] / s:.3f} (S = {state.memorized[t] / s:.0f}); "
          f"spread growth {(state.spread[t + 1] - state.spread[t]) / s:.3f} per unit of zeta")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
