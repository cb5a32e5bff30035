"""How far ``finite_size.predict``'s numbers depend on its discretization: the memorization map's classes of
training examples (Gauss-Hermite nodes in the persistent offset zeta, 40 by default, times |x_par| grid points, 401
by default) at Fig. 1 with one fixed set, the default against coarser and finer ones; and the time of one call.

    python bench/predict_resolution.py [--sizes 25000 100000]      # about 30 s on 2 cores

The bench sets the module's grids (``_ZETA``, ``_ZETA_WEIGHTS``, ``_MEMO_GRID``) before each call; they are not an
option of ``predict``. Printed per N: the training f_unsat and train error as counts of examples of the set (N times
the share) and the test error, at t = 100 ... 2000, one line per (zeta nodes, grid points).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import mftheory
from mftheory import finite_size
from mftheory.dynamics import meanfield

STEPS = np.array([100, 200, 300, 400, 500, 700, 1000, 1500, 2000])
RESOLUTIONS = ((20, 201), (40, 401), (80, 401), (40, 801), (80, 801))   # (40, 401): predict's default


def predict_at(zeta_nodes: int, grid_points: int, N: int):
    """``predict(fig1 solution, N)`` with the memorization map's classes set to the given resolution; the
    prediction and the seconds of the call (after one call that compiles and fills the per-solution caches)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(zeta_nodes)
    finite_size._common._ZETA, finite_size._common._ZETA_WEIGHTS = nodes, weights / np.sqrt(2 * np.pi)
    finite_size._common._MEMO_GRID = 6.0 * np.linspace(0.0, 1.0, grid_points) ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the range warnings are not what this bench measures
        finite_size.predict(meanfield(mftheory.fig1_setup(), int(STEPS[-1])), N)
        solution = meanfield(mftheory.fig1_setup(), int(STEPS[-1]))
        start = time.perf_counter()
        prediction = finite_size.predict(solution, N)
        return prediction, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000])
    args = parser.parse_args(argv)
    saved = finite_size._common._ZETA, finite_size._common._ZETA_WEIGHTS, finite_size._common._MEMO_GRID
    try:
        for N in args.sizes:
            results = {res: predict_at(*res, N) for res in RESOLUTIONS}
            print(f"N = {N}, t = {' / '.join(map(str, STEPS))}")
            for field, scale, label in (("train_unsat", N, "training f_unsat x N"),
                                        ("train_error", N, "train error x N"), ("test_error", 1, "test error")):
                print(f"  {label}")
                for (nodes, points), (prediction, seconds) in results.items():
                    values = " ".join(f"{v:9.4g}" for v in getattr(prediction, field)[STEPS] * scale)
                    print(f"    zeta {nodes:3d} x grid {points:3d} ({seconds:5.2f} s) {values}")
    finally:
        finite_size._common._ZETA, finite_size._common._ZETA_WEIGHTS, finite_size._common._MEMO_GRID = saved
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
