"""F's within-run spread at fresh points at |x_par| = 0 and at the band's centre, split into its linear part along
x_perp and the rest, against the band's parts: where the band's linear part (tilt and bend) is measured.

Usage (from the repository root; about 1 minute on 2 cores)::

    python bench/band_linear_part.py                          # Fig. 1, N = 1e5, t = 15 ... 200
    python bench/band_linear_part.py --steps 20 30 60 --N 25000

One GD run on one fixed set (``simulate``, no derived formula), stopped at each step asked for. There F is
evaluated at 60 000 fresh points at each |x_par| of 0, x_c / 2 and x_c (x_c the band's predicted centre, both
labels): printed are F's sd over x_perp at fixed x_par (one run's spread), the rest's sd once its degree <= 1 part
in x_perp is fitted out per label, and the linear part's sd, sqrt(sd^2 - rest^2). Beside them the prediction
(``within_run_band``, in F's units: times kappa): the band's whole sd at x_c and its parts, the rest, the tilt
(the linear part at x_par = 0) and the bend (the linear part's growth with |x_par|, zero at 0).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import mftheory
from mftheory import finite_size
from mftheory.validate.simulator import draw_problem, network_output
from sample_part_fresh_points import beyond_degree_one

POINTS = 60_000


def spread_at(setup, a, W, x_par, rng):
    """(sd, rest sd) of y F at fresh points with |x_par| fixed, both labels pooled after their means are removed."""
    points = rng.standard_normal((POINTS, setup.d))
    labels = rng.choice([-1.0, 1.0], POINTS)
    points[:, 0] = labels * x_par
    margin = labels * network_output(setup, a, W, points)
    centred = np.empty(POINTS)
    for label in (1.0, -1.0):
        rows = labels == label
        centred[rows] = margin[rows] - margin[rows].mean()
    return centred.std(), beyond_degree_one(margin, points, labels).std()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--steps", type=int, nargs="+", default=[15, 20, 25, 30, 40, 60, 100, 200])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if sorted(args.steps) != args.steps or args.steps[0] < 1:
        parser.error("--steps must be increasing and positive")
    setup = mftheory.fig1_setup()
    X, y, a, W, _, _ = draw_problem(setup, args.N, seed=args.seed, n_test=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution = mftheory.meanfield(setup, args.steps[-1] + 1)
        band = finite_size.within_run_band(solution, args.N)
        kappa = finite_size.predict(solution, args.N).kappa   # the set's clock, on which the band's parts are
    rng = np.random.default_rng(args.seed + 7)
    start, done = time.perf_counter(), 0
    print(f"Fig. 1, N = {args.N}, seed {args.seed}: sds of y F at fresh points (one run), in F's units")
    print(f"{'t':>5} {'x_c':>6} | {'GD at 0: sd':>11} {'rest':>6} {'linear':>6} | {'GD at x_c: sd':>13} {'rest':>6} "
          f"{'linear':>6} | {'band at x_c':>11} {'rest':>6} {'tilt':>6} {'bend':>6} {'sample':>6}")
    for t in args.steps:
        run = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=t - done, n_test=0, record_steps=[0, t - done])
        a, W, done = run.a_final, run.W_final, t
        centre, k = band.crossing[t], kappa[t]
        at0, atc = spread_at(setup, a, W, 0.0, rng), spread_at(setup, a, W, centre, rng)
        linear = [float(np.sqrt(max(sd**2 - rest**2, 0.0))) for sd, rest in (at0, atc)]
        print(f"{t:>5} {centre:>6.3f} | {at0[0]:>11.4f} {at0[1]:>6.4f} {linear[0]:>6.4f} | {atc[0]:>13.4f} "
              f"{atc[1]:>6.4f} {linear[1]:>6.4f} | {band.band_sd[t] * k:>11.4f} {band.rest_sd[t] * k:>6.4f} "
              f"{band.tilt_sd[t] * k:>6.4f} {band.bend_sd[t] * k:>6.4f} {band.sample_sd[t] * k:>6.4f}", flush=True)
    print(f"GD and evaluation: {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
