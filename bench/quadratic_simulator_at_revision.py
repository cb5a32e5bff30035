"""The quadratic network's simulator of this checkout beside the one at a git revision, on the runs of the quick
suite's slowest case (quadratic_threshold_map: d = 40, kappa = 1, lambda = 0.02, GOE inputs, eta = 0.04, t = 1200,
so 30000 steps per run, at 0.8 and 1.25 times the predicted recovery threshold).

Usage (from the repository root; about a minute per round on 2 cores)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/quadratic_simulator_at_revision.py --compare REV
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/quadratic_simulator_at_revision.py --compare REV \
        --rounds 3 --kappa-star 0.2 0.5 --seeds 2

Each round runs the same jobs once with each simulator, alternately, each in a new process
(``simulate_many``: one job per core, single-threaded BLAS; compiled first on a short run, so the time is the
runs' alone). The package at REV is laid out from ``git archive`` as pip installs it (``bench/at_revision.py``).
Printed: the wall time of every round, the minimum of each, their ratio, and how far the two agree: the largest
difference of the final W relative to its largest entry, and of the final MSE relative to it, over the jobs.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import tempfile

import numpy as np

from at_revision import alternate, run_in_new_process, warn_blas_environment

_RUN = """
import json, sys, time
import numpy as np
import mftheory
from mftheory.quadratic import QuadraticSetup, thresholds
from mftheory.validate.quadratic.simulator import simulate_many
kappa_stars, seeds, time_, out = json.loads(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
jobs = []
for kappa_star in kappa_stars:
    limit = thresholds(1.0, kappa_star).recovery_lambda0plus
    setup = QuadraticSetup(1.0, kappa_star, 0.02, d=40)
    jobs += [dict(setup=setup, alpha=round(f * limit, 4), time=time_, eta=0.04, seed=1000 * i + r)
             for i, f in enumerate((0.8, 1.25)) for r in range(seeds)]
simulate_many([dict(job, time=0.4) for job in jobs[:2]])
start = time.perf_counter()
runs = simulate_many(jobs)
seconds = time.perf_counter() - start
np.savez(out, W=np.stack([run.weights for run in runs]), mse=np.array([run.mse[-1] for run in runs]))
print(json.dumps({"seconds": seconds, "jobs": len(jobs), "package": mftheory.__file__}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", metavar="REV", required=True, help="the git revision to run beside")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kappa-star", type=float, nargs="+", default=[0.5])
    parser.add_argument("--seeds", type=int, default=2, help="runs per alpha")
    parser.add_argument("--time", type=float, default=1200.0, help="t = eta x steps (the case's: 1200)")
    args = parser.parse_args(argv)
    warn_blas_environment()
    print(f"quadratic network, d = 40, lambda = 0.02, kappa* = {args.kappa_star}, {args.seeds} runs per alpha, "
          f"t = {args.time:g} ({round(args.time / 0.04)} steps); cores {os.cpu_count()}, load average "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        times = alternate(args.compare, args.rounds, lambda package, out: run_in_new_process(
            _RUN, (json.dumps(args.kappa_star), args.seeds, args.time, out), package), tmp)
        here, there = np.load(tmp / "0-True.npz"), np.load(tmp / "0-False.npz")
        w_diff = float(np.max(np.abs(here["W"] - there["W"]) / np.abs(there["W"]).max(axis=(1, 2), keepdims=True)))
        mse_diff = float(np.max(np.abs(here["mse"] - there["mse"]) / there["mse"]))
    best_here, best_there = min(times["this checkout"]), min(times[args.compare])
    print(f"minimum: this checkout {best_here:.1f} s, {args.compare} {best_there:.1f} s: {best_there / best_here:.2f}x; "
          f"final W differs by {w_diff:.1e} (relative to its largest entry), final MSE by {mse_diff:.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
