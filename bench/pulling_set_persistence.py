"""Which of one fixed set's unsatisfied examples pull at every step, and which chatter about the margin? GD only.

Usage (from the repository root; about 2 minutes on 2 cores)::

    python bench/pulling_set_persistence.py                        # Fig. 1: N = 1e5 at t = 1000, 2000
    python bench/pulling_set_persistence.py --N 25000 --ts 300 500

GD (``simulate``, no derived formula) is run on one fixed training set to each step asked for and then one step at a
time for ``--window`` steps. Printed: the number U of unsatisfied examples (margin below h) at each of those steps,
how many are unsatisfied at every one of them (they pull at every step: their pulls add up coherently in F), and how
many go in-out-in or out-in-out over the first three (the examples chattering about the margin, GD's period-2
oscillation once the set slides: their pulls flip sign from step to step in F's change). The finite-size prediction
counts every unsatisfied example of its memorization map as a coherent puller in the sample's degree-2 part at fresh
points (``finite_size.rest_feedback``).
"""
from __future__ import annotations

import argparse

import numpy as np

import mftheory
from crowd_push import _margins
from fixed_set_steps import gd_at


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--ts", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument("--window", type=int, default=4, help="consecutive steps looked at (>= 3)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if sorted(args.ts) != args.ts or args.ts[0] < 1:
        parser.error("--ts must be increasing and positive")
    if args.window < 3:
        parser.error(f"--window must be >= 3, got {args.window}")
    setup = mftheory.fig1_setup()
    X, y, a, W = gd_at(setup, args.N, args.seed, args.ts[0])
    done = args.ts[0]
    for t in args.ts:
        if t != done:
            run = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=t - done, n_test=0, record_steps=[0, t - done])
            a, W, done = run.a_final, run.W_final, t
        sets, a_k, W_k = [], a, W
        for _ in range(args.window):
            sets.append(_margins(setup, X, y, a_k, W_k)[0] < setup.h)
            run = mftheory.simulate(setup, X=X, y=y, a0=a_k, W0=W_k, steps=1, n_test=0, record_steps=[0, 1])
            a_k, W_k = run.a_final, run.W_final
        counts = [int(s.sum()) for s in sets]
        mean = np.mean(counts)
        always = int(np.logical_and.reduce(sets).sum())
        chatter = int(np.sum(sets[0] & ~sets[1] & sets[2]) + np.sum(~sets[0] & sets[1] & ~sets[2]))
        print(f"N = {args.N}, t = {t}: U over {args.window} steps {counts}; unsatisfied at every one {always} "
              f"({always / mean:.2f} of U); in-out-in or out-in-out {chatter} ({chatter / mean:.2f} of U)")


if __name__ == "__main__":
    main()
