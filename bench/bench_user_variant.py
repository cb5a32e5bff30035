"""Time the simulator on a user's own activation and loss (the validation case user_variant's model: sigma(z) =
max(z, 0) + z/2 and the cubic hinge), which runs ``validate._variant_kernels.gd_variant``: with its exact screening
(the default) and with every margin computed at every step (``screen=False``), side by side in one process on the
same problem; with ``--compare REV`` also that module as it was at git revision REV (before the screening its
kernel was ``gd_dense``, which computed every margin).

    python bench/bench_user_variant.py [--scale paper] [--N 12500] [--steps 2000] [--compare REV]

Prints the seconds of each version, the training f_unsat at the end, the share of the margins computed over the
run and the largest relative difference of each version's final parameters from the first's (the same to
rounding). Single-threaded BLAS, as the simulator runs this kernel.
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
    here = simulator._variant_kernels
    versions = {"screened": (here, True), "every margin": (here, False)}
    if args.compare:
        versions[f"at {args.compare}"] = (_with_current_signature(module_at(args.compare,
                                                                            "validate/_variant_kernels.py")), True)
    print(f"user variant, d = {setup.d}, M = {setup.M}, N = {args.N}, {args.steps} steps")
    finals = []
    for name, (module, screen) in versions.items():
        simulator._variant_kernels = module
        try:
            simulator.simulate(setup, N=100, steps=2, seed=0, n_test=0, screen=screen)   # compile
            start = time.perf_counter()
            sim = simulator.simulate(setup, N=args.N, steps=args.steps, seed=0, n_test=0, screen=screen,
                                     record_steps=np.arange(args.steps + 1))
            seconds = time.perf_counter() - start
        finally:
            simulator._variant_kernels = here
        finals.append((sim.a_final, sim.W_final))
        a1, W1 = finals[0]
        diff = max(float(np.max(np.abs(sim.a_final - a1)) / np.max(np.abs(a1))),
                   float(np.max(np.abs(sim.W_final - W1)) / np.max(np.abs(W1))))
        print(f"{name:>22s}: {seconds:7.1f} s, training f_unsat at the end {sim.f_unsat[-1]:.4f}, margins computed "
              f"{sim.evaluated.sum() / (args.N * (args.steps + 1)):.3f} of N per step, final parameters "
              f"{diff:.1e} from the first")


def _with_current_signature(module):
    """A module of an earlier revision, its dense kernel ``gd_dense`` called as ``gd_variant`` is (which adds the
    Lipschitz constant, the rounding allowance and the count of margins computed)."""
    if hasattr(module, "gd_variant"):
        return module

    def gd_variant(X, y, a, W, steps, record_steps, h, alpha, beta, sigma, dsigma, u, lipschitz, tol, X_test,
                   y_test, rec_a, rec_wpar, rec_wperp2, rec_v, rec_train_err, rec_unsat, rec_test_err, rec_evaluated,
                   t_sat, Z=None, Xr=None, last_pass=True):
        module.gd_dense(X, y, a, W, steps, record_steps, h, alpha, beta, sigma, dsigma, u, X_test, y_test, rec_a,
                        rec_wpar, rec_wperp2, rec_v, rec_train_err, rec_unsat, rec_test_err, t_sat)
        rec_evaluated[:] = X.shape[0]

    module.gd_variant = gd_variant
    module.screening_lipschitz = lambda *model: 0.0
    return module


if __name__ == "__main__":
    sys.exit(main())
