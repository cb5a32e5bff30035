"""GD's density of training margins at the threshold h, against fresh points' at the same parameters.

Usage (from the repository root; about 10 minutes on 2 cores for the default runs)::

    python bench/margin_density.py                              # Fig. 1 at N = 2.5e4, 1e5 and 4e5
    python bench/margin_density.py --runs 25000:300,500,700,1000 --widths 0.005 0.02

GD (``simulate``, no derived formula) is run on one fixed training set and stopped at each listed step; there the
margins y f(x) of the training examples and of ``--fresh`` new points are computed from the parameters. Printed per
window width w: the share of each set per unit of margin in [h - w, h) and in [h, h + w), and the training set's over
the fresh points'. The loss's feedback on a fluctuation of F counts the examples whose hinge status it changes, so
its linear response scales with this density; ``mftheory.finite_size.predict`` takes the infinite set's
(``margin_density="infinite"``) or the training set's by continuity through the memorization map
(``margin_density="training"``: the flux of examples through the margin over the speed at which they cross it).
This measures the training set's directly: once memorization starts, GD keeps a crowd of examples within a few own
steps of h, on both sides, whose density there is several times the fresh points' (while the map's continuity
estimate is below theirs), and once every training example is satisfied (GD has stopped) none lies below h.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mftheory
from mftheory.validate.simulator import draw_problem, network_output

DEFAULT_RUNS = ("25000:300,500,700,1000", "100000:500,1000,1500,2000", "400000:500,1000,1500,2000")


def _density(margins, h, width):
    """The share of ``margins`` per unit of margin just below and just above h."""
    below = np.mean((margins >= h - width) & (margins < h)) / width
    above = np.mean((margins >= h) & (margins < h + width)) / width
    return below, above


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), help="N:t1,t2,... (steps increasing)")
    parser.add_argument("--widths", nargs="+", type=float, default=[0.005, 0.02, 0.05, 0.1])
    parser.add_argument("--fresh", type=int, default=200_000, help="fresh points")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    h = setup.h
    X_fresh, y_fresh, _, _, _, _ = draw_problem(setup, args.fresh, seed=args.seed + 10_000, n_test=0)
    for spec in args.runs:
        N, stops = int(spec.split(":")[0]), [int(v) for v in spec.split(":")[1].split(",")]
        X, y, a, W, _, _ = draw_problem(setup, N, seed=args.seed, n_test=0)
        done = 0
        for stop in stops:
            start = time.perf_counter()
            run = mftheory.simulate(setup, steps=stop - done, X=X, y=y, a0=a, W0=W, n_test=0,
                                    record_steps=[stop - done])
            a, W, done = run.a_final, run.W_final, stop
            train = y * network_output(setup, a, W, X)
            fresh = y_fresh * network_output(setup, a, W, X_fresh)
            print(f"N = {N}, t = {stop} ({time.perf_counter() - start:.0f} s): f_unsat training "
                  f"{np.mean(train < h):.4f}, fresh {np.mean(fresh < h):.4f}")
            for width in args.widths:
                (tb, ta), (fb, fa) = _density(train, h, width), _density(fresh, h, width)
                print(f"  w = {width:<5g} per unit margin below h: training {tb:.4f}, fresh {fb:.4f} (x{tb / fb:.2f});"
                      f" above h: training {ta:.4f}, fresh {fa:.4f} (x{ta / fa:.2f})", flush=True)


if __name__ == "__main__":
    main()
