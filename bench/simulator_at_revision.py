"""The Fig. 1 run with the simulator of this checkout beside the simulator as it was at a git revision.

Usage (from the repository root; about 70 s per round on 2 cores)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/simulator_at_revision.py --compare 8074972
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/simulator_at_revision.py --compare REV --rounds 3 --N 25000

Each round runs the whole float64 run (N = 1e5, M = 400, d = 100, eta = 1e3, hinge, ReLU, 2000 steps, no test
set; the same data and initial state, ``draw_problem`` with seed 0) once with each simulator, alternately, each in
a new process (kernels compiled there first, so the time is the run's alone). The package at REV is laid out
from ``git archive`` as pip installs it (``bench/at_revision.py``). Printed: the wall time of every run, the
minimum of each, their ratio, and whether the two trajectories agree: the number of steps at which the count of
unsatisfied examples differs and the largest difference of the final W relative to its largest entry.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import tempfile

import numpy as np

from at_revision import alternate, run_in_new_process, warn_blas_environment

_RUN = """
import json, sys, time
import numpy as np
import mftheory
from mftheory.validate.simulator import draw_problem, simulate
N, steps, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
setup = mftheory.fig1_setup()
X, y, a0, W0, _, _ = draw_problem(setup, N, seed=0, n_test=0)
simulate(setup, X=X[:2000], y=y[:2000], a0=a0, W0=W0, steps=2, n_test=0)
start = time.perf_counter()
run = simulate(setup, X=X, y=y, a0=a0, W0=W0, steps=steps, n_test=0, record_steps=np.arange(steps + 1))
seconds = time.perf_counter() - start
np.savez(out, W=run.W_final, unsat=np.round(np.asarray(run.f_unsat) * run.N).astype(np.int64))
print(json.dumps({"seconds": seconds, "package": mftheory.__file__}))
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", metavar="REV", required=True, help="the git revision to run beside")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=2000)
    args = parser.parse_args(argv)
    warn_blas_environment()
    print(f"Fig. 1 run, N = {args.N}, {args.steps} steps, float64; cores {os.cpu_count()}, NUMBA_NUM_THREADS="
          f"{os.environ.get('NUMBA_NUM_THREADS', 'default')}, load average {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        times = alternate(args.compare, args.rounds,
                          lambda package, out: run_in_new_process(_RUN, (args.N, args.steps, out), package), tmp)
        here, there = np.load(tmp / "0-True.npz"), np.load(tmp / "0-False.npz")
        differs = int(np.count_nonzero(here["unsat"] != there["unsat"]))
        w_diff = float(np.max(np.abs(here["W"] - there["W"])) / np.max(np.abs(there["W"])))
    best_here, best_there = min(times["this checkout"]), min(times[args.compare])
    print(f"minimum: this checkout {best_here:.1f} s, {args.compare} {best_there:.1f} s: {best_there / best_here:.2f}x; "
          f"unsatisfied count differs at {differs} of {args.steps + 1} steps, final W differs by {w_diff:.1e} "
          f"(relative to its largest entry)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
