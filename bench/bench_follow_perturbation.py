"""Time one step of ``validate.perturbation.follow_perturbation`` at Fig. 1's scale (N = 1e5, d = 100, M = 400),
late in training (the state after 666 GD steps on one fixed set, as the propagator case starts), for both kink
switches; with ``--compare REV`` the function as it was at git revision REV is timed beside it, in the same process.

    python bench/bench_follow_perturbation.py [--steps 3] [--compare REV]

Prints seconds per step. The trajectories of the two versions are also compared (same to rounding).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from at_revision import module_at
from mftheory import fig1_setup
from mftheory.validate.perturbation import follow_perturbation
from mftheory.validate.simulator import simulate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--compare", metavar="REV")
    args = parser.parse_args(argv)
    setup = fig1_setup()
    X = np.random.default_rng(11).standard_normal((100_000, setup.d))
    sim = simulate(setup, steps=666, seed=0, n_test=0, X=X, y=np.where(X[:, 0] >= 0, 1.0, -1.0),
                   record_steps=[0, 666])
    a, W = sim.a_final, sim.W_final
    print(f"state after 666 steps: f_unsat {sim.f_unsat[-1]:.4f}")
    versions = {"this checkout": follow_perturbation}
    if args.compare:
        versions[f"at {args.compare}"] = module_at(args.compare, "validate/perturbation.py").follow_perturbation
    follow_perturbation(setup, (a, W), (a, W), 1, [1], X=X[:100])   # compile
    finals = {}
    for kinks in ("own", "base"):
        for name, follow in versions.items():
            start = time.perf_counter()
            out = follow(setup, (a, W), (a * 1.001, W), args.steps, [args.steps], X=X, hinge="base", kinks=kinks)
            seconds = (time.perf_counter() - start) / args.steps
            finals[kinks, name] = out[-1]
            print(f"kinks={kinks:4s} {name:>22s}: {seconds:.3f} s per step")
        if len(versions) == 2:
            (first, second) = (finals[kinks, name] for name in versions)
            diff = max(float(np.max(np.abs(p - q)) / np.max(np.abs(q))) for p, q in zip(first, second))
            print(f"kinks={kinks:4s} largest relative difference between the two: {diff:.1e}")


if __name__ == "__main__":
    sys.exit(main())
