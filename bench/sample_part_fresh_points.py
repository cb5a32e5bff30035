"""The degree >= 2 part of F at fresh points that one fixed training set puts in: GD with the set against GD with
fresh examples at every step from the same init, beside the theory's (``rest_feedback``'s sample variance).

Usage (from the repository root; about 11 minutes at N = 1e5 to t = 2000 on 2 cores, most of it the fresh-data run)::

    python bench/sample_part_fresh_points.py                       # Fig. 1, N = 1e5, t = 300 / 1000 / 2000
    python bench/sample_part_fresh_points.py --others-pulls kernel+width

Two GD runs (``simulate``, no derived formula) from the same init: one on a fixed set of N examples, one with N new
examples at every step (``online=True``). At each step asked for, y (F_fixed - F_online) is evaluated at 60 000 fresh
points at each |x_par| of ``--xs`` and its degree <= 1 part in x_perp fitted out per label: what is left is the fixed
set's degree >= 2 part (its memorization of the other examples' pulls, as a fresh point sees it) plus fresh data's own
sampling part. Printed beside its sd: the theory's, the fixed set's sample variance on the set's clock (``predict``'s
default density) plus fresh data's, from ``finite_size.rest_feedback``; ``--others-pulls`` sets the memorization
map's pulls, which count the pulling examples.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import mftheory
from mftheory import finite_size
from mftheory.validate.simulator import draw_problem, network_output

FRESH = 60_000


def _theory(setup, N, steps, others_pulls):
    """(fixed, fresh) sample variance of F's degree-2 part, (T+1, G) each, and their grid of |x_par|."""
    solution = mftheory.meanfield(setup, steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if others_pulls != "kernel":
            solution = finite_size._with_options(solution, width_pulls=True)
        clock = finite_size._on_training_clock(solution, N, "fixed", "training")
        fixed = finite_size._rest_feedback(clock, N, "fixed", None, None)
        fresh = finite_size._rest_feedback(solution, N, "fresh", None, None)
    return fixed, fresh


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--ts", type=int, nargs="+", default=[300, 1000, 2000])
    parser.add_argument("--xs", type=float, nargs="+", default=[0.02, 0.06, 0.12])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--others-pulls", default="kernel", choices=list(finite_size.OTHERS_PULLS))
    args = parser.parse_args(argv)
    if sorted(args.ts) != args.ts or args.ts[0] < 1:
        parser.error("--ts must be increasing and positive")
    setup = mftheory.fig1_setup()
    start = time.perf_counter()
    X, y, a0, W0, _, _ = draw_problem(setup, args.N, seed=args.seed, n_test=0)
    states = {}
    for online in (False, True):
        a, W, done = a0, W0, 0
        for t in args.ts:
            if online:
                run = mftheory.simulate(setup, N=args.N, seed=args.seed + 1000 + done, a0=a, W0=W, steps=t - done,
                                        n_test=0, record_steps=[0, t - done], online=True)
            else:
                run = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=t - done, n_test=0,
                                        record_steps=[0, t - done])
            a, W, done = run.a_final, run.W_final, t
            states[online, t] = (a, W)
    print(f"N = {args.N}: GD runs {time.perf_counter() - start:.0f} s")
    fixed, fresh = _theory(setup, args.N, args.ts[-1], args.others_pulls)
    rng = np.random.default_rng(args.seed + 7)
    for t in args.ts:
        for x in args.xs:
            points = rng.standard_normal((FRESH, setup.d))
            points[:, 0] = rng.choice([-1.0, 1.0], FRESH) * x
            labels = np.sign(points[:, 0])
            diff = labels * (network_output(setup, *states[False, t], points)
                             - network_output(setup, *states[True, t], points))
            rest = np.empty(FRESH)
            for label in (1.0, -1.0):
                rows = labels == label
                basis = np.column_stack([np.ones(rows.sum()), points[rows, 1:]])
                coef, *_ = np.linalg.lstsq(basis, diff[rows], rcond=None)
                rest[rows] = diff[rows] - basis @ coef
            theory = np.sqrt(np.interp(x, fixed.x_par, fixed.sample_variance[t])
                             + np.interp(x, fresh.x_par, fresh.sample_variance[t]))
            print(f"  t = {t}, |x_par| = {x}: GD's sd {rest.std():.4f}, theory's {theory:.4f}")


if __name__ == "__main__":
    main()
