"""Time the simulator on a user's own activation and loss (the validation case user_variant's model: sigma(z) =
max(z, 0) + z/2 and the cubic hinge), which runs the dense kernel ``validate._variant_kernels.gd_dense`` (no exact
screening); with ``--compare REV`` that kernel as it was at git revision REV runs beside it, in the same process,
on the same problem.

    python bench/bench_user_variant.py [--scale paper] [--N 12500] [--steps 2000] [--compare REV]

Prints the seconds of each version, the training f_unsat at the end and the largest relative difference between
the two versions' final parameters (the same to rounding: only the order of a sum may differ). Single-threaded BLAS,
as the simulator runs this kernel.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from at_revision import module_at
from mftheory.validate import simulator
from mftheory.validate.cases.common import PAPER, QUICK
from mftheory.validate.cases.meanfield import user_variant_setup


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("quick", "paper"), default="paper")
    parser.add_argument("--N", type=int, default=12_500)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--compare", metavar="REV")
    args = parser.parse_args(argv)
    if args.N < 1 or args.steps < 1:
        parser.error("--N and --steps must be >= 1")
    setup = user_variant_setup(PAPER if args.scale == "paper" else QUICK)
    versions = {"this checkout": simulator._variant_kernels}
    if args.compare:
        versions[f"at {args.compare}"] = module_at(args.compare, "validate/_variant_kernels.py")
    print(f"user variant, d = {setup.d}, M = {setup.M}, N = {args.N}, {args.steps} steps")
    finals = {}
    for name, module in versions.items():
        simulator._variant_kernels = module
        try:
            simulator.simulate(setup, N=100, steps=2, seed=0, n_test=0)   # compile
            start = time.perf_counter()
            sim = simulator.simulate(setup, N=args.N, steps=args.steps, seed=0, n_test=0,
                                     record_steps=[0, args.steps])
            seconds = time.perf_counter() - start
        finally:
            simulator._variant_kernels = versions["this checkout"]
        finals[name] = (sim.a_final, sim.W_final)
        print(f"{name:>22s}: {seconds:7.1f} s, training f_unsat at the end {sim.f_unsat[-1]:.4f}")
    if len(finals) == 2:
        (a1, W1), (a2, W2) = finals.values()
        diff = max(float(np.max(np.abs(a1 - a2)) / np.max(np.abs(a2))), float(np.max(np.abs(W1 - W2)) / np.max(np.abs(W2))))
        print(f"largest relative difference between the two: {diff:.1e}")


if __name__ == "__main__":
    sys.exit(main())
