"""The degree >= 2 part of F at fresh points that one fixed training set puts in: GD with the set against GD with
fresh examples at every step from the same init, beside the theory's (``rest_feedback``'s sample variance).

Usage (from the repository root; about 11 minutes at N = 1e5 to t = 2000 on 2 cores, most of it the fresh-data run)::

    python bench/sample_part_fresh_points.py                       # Fig. 1, N = 1e5, t = 300 / 1000 / 2000
    python bench/sample_part_fresh_points.py --others-pulls kernel+width
    python bench/sample_part_fresh_points.py --d 50 --M 200 --N 20000 --ts 100 300 600 999 --seeds 2   # 1 minute

Two GD runs (``simulate``, no derived formula) from the same init: one on a fixed set of N examples, one with N new
examples at every step (``online=True``). At each step asked for, y (F_fixed - F_online) is evaluated at 60 000 fresh
points at each |x_par| of ``--xs`` and its degree <= 1 part in x_perp fitted out per label: what is left is the fixed
set's degree >= 2 part (its memorization of the other examples' pulls, as a fresh point sees it) plus fresh data's own
sampling part. Printed beside its sd: the theory's, the fixed set's sample variance on the set's clock (``predict``'s
default density) plus fresh data's, from ``finite_size.rest_feedback``; ``--others-pulls`` sets the memorization
map's pulls, which count the pulling examples. Also printed: kappa = alpha c mean_i(a_i w_i,par) / sqrt(d) of both
runs beside the theory's on the set's clock and the mean field's: the test error goes about as F's sd over kappa,
so these two say which of them a fixed set's test error misses. ``--d`` and ``--M`` move away from Fig. 1 (eta =
2.5 M: beta = 2.5 as there); ``--seeds`` averages over independent sets and inits (seeds 0, 1, ...).
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


def beyond_degree_one(values, points, labels):
    """``values`` at ``points`` less their least-squares fit on (1, x_perp), per label: the part of degree >= 2 in
    x_perp (the points share one |x_par|)."""
    rest = np.empty_like(values)
    for label in (1.0, -1.0):
        rows = labels == label
        basis = np.column_stack([np.ones(rows.sum()), points[rows, 1:]])
        coef, *_ = np.linalg.lstsq(basis, values[rows], rcond=None)
        rest[rows] = values[rows] - basis @ coef
    return rest


def _theory(setup, N, steps, others_pulls):
    """(fixed, fresh) sample variance of F's degree-2 part, (T+1, G) each, with their grid of |x_par|; the set's
    clock and the mean field."""
    solution = mftheory.meanfield(setup, steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if others_pulls != "kernel":
            solution = finite_size._common._with_options(solution, width_pulls=True)
        clock = finite_size.prediction._on_training_clock(solution, N, "fixed", "training")
        fixed = finite_size.feedback._rest_feedback(clock, N, "fixed", None, None)
        fresh = finite_size.feedback._rest_feedback(solution, N, "fresh", None, None)
    return fixed, fresh, clock, solution


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--ts", type=int, nargs="+", default=[300, 1000, 2000])
    parser.add_argument("--xs", type=float, nargs="+", default=[0.02, 0.06, 0.12])
    parser.add_argument("--seed", type=int, default=0, help="the first seed")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--d", type=int, default=None, help="the input dimension (default: Fig. 1's)")
    parser.add_argument("--M", type=int, default=None, help="the width (default: Fig. 1's); eta = 2.5 M")
    parser.add_argument("--others-pulls", default="kernel", choices=list(finite_size.OTHERS_PULLS))
    args = parser.parse_args(argv)
    if sorted(args.ts) != args.ts or args.ts[0] < 1:
        parser.error("--ts must be increasing and positive")
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    setup = mftheory.fig1_setup()
    if args.d is not None or args.M is not None:
        M = setup.M if args.M is None else args.M
        setup = setup.replace(d=setup.d if args.d is None else args.d, M=M, eta=2.5 * M / setup.alpha)
    start = time.perf_counter()
    kappas = {(online, t): [] for online in (False, True) for t in args.ts}
    parts = {(t, x): [] for t in args.ts for x in args.xs}
    c = 0.5   # ReLU's odd slope
    for seed in range(args.seed, args.seed + args.seeds):
        X, y, a0, W0, _, _ = draw_problem(setup, args.N, seed=seed, n_test=0)
        states = {}
        for online in (False, True):
            a, W, done = a0, W0, 0
            for t in args.ts:
                if online:
                    run = mftheory.simulate(setup, N=args.N, seed=seed + 1000 + done, a0=a, W0=W, steps=t - done,
                                            n_test=0, record_steps=[0, t - done], online=True)
                else:
                    run = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=t - done, n_test=0,
                                            record_steps=[0, t - done])
                a, W, done = run.a_final, run.W_final, t
                states[online, t] = (a, W)
                kappas[online, t].append(setup.alpha * c * np.mean(a * W[:, 0]) / np.sqrt(setup.d))
        rng = np.random.default_rng(seed + 7)
        for t in args.ts:
            for x in args.xs:
                points = rng.standard_normal((FRESH, setup.d))
                points[:, 0] = rng.choice([-1.0, 1.0], FRESH) * x
                labels = np.sign(points[:, 0])
                diff = labels * (network_output(setup, *states[False, t], points)
                                 - network_output(setup, *states[True, t], points))
                parts[t, x].append(beyond_degree_one(diff, points, labels).std())
    print(f"d = {setup.d}, M = {setup.M}, N = {args.N}, {args.seeds} seed(s): GD runs {time.perf_counter() - start:.0f} s")
    fixed, fresh, clock, solution = _theory(setup, args.N, args.ts[-1], args.others_pulls)
    for t in args.ts:
        gd_fixed, gd_fresh = np.mean(kappas[False, t]), np.mean(kappas[True, t])
        print(f"  t = {t}: kappa GD {gd_fixed:.4f} on the set, {gd_fresh:.4f} with fresh data; theory "
              f"{clock.kappa[t]:.4f} on the set's clock ({clock.kappa[t] / gd_fixed:.3f} of GD's), mean field "
              f"{solution.kappa[t]:.4f}")
        for x in args.xs:
            theory = np.sqrt(np.interp(x, fixed.x_par, fixed.sample_variance[t])
                             + np.interp(x, fresh.x_par, fresh.sample_variance[t]))
            gd = np.mean(parts[t, x])
            print(f"    |x_par| = {x}: the set's degree >= 2 part, sd: GD {gd:.4f}, theory {theory:.4f} "
                  f"({theory / gd:.3f} of GD's)")


if __name__ == "__main__":
    main()
