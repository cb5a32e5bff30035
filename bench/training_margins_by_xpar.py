"""How wide are one fixed set's training margins at each |x_par|, in GD and in the memorization map?

Usage (from the repository root; about 20 s per step at N = 25000, a minute at 1e5, on 2 cores)::

    python bench/training_margins_by_xpar.py                          # Fig. 1, N = 25000, t = 300 / 500 / 700
    python bench/training_margins_by_xpar.py --N 100000 --ts 1000 1500

GD (``simulate``, no derived formula) runs on one fixed set to each step t. Its kappa is read off 2e5 fresh points
(the slope of their mean margin y f against |x_par| over 0.05-0.5). In each |x_par| bin, printed for the training
examples: the mean and sd of their margin less kappa |x_par| (what they memorized and their offset) and the share
below the margin h; beside it the sd at the fresh points (no memorization: the offset alone). The map's side is
``predict``'s memorization map on the set's clock at the same step (``_fixed_sample_state(..., snapshot_at=t)``):
its classes' margins less its own kappa |x_par|, kappa x + S + L + sigma zeta, over the grid points in the bin (the
class weights: Gauss-Hermite in zeta, the grid's cell masses in |x_par|), and sigma there, the offset's sd. The
map's memorization fills each class's gap below h and holds it there, so its training margins narrow as the set is
memorized; where GD's stay wider, its examples have moved away from where they memorized.
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

import mftheory
from crowd_push import _margins
from fixed_set_steps import gd_at
from mftheory.finite_size import _common
from mftheory.finite_size import prediction
from mftheory.finite_size.teacher_tilt import _tilt

BINS = (0.0, 0.03, 0.07, 0.12, 0.22, 0.35)
FRESH = 200_000


def _gd_kappa(setup, a, W, rng):
    """GD's kappa: the slope of the fresh points' mean margin against |x_par| over 0.05-0.5, with their margins."""
    X = rng.standard_normal((FRESH, setup.d))
    y = np.where(X[:, 0] >= 0, 1.0, -1.0)
    m, _ = _margins(setup, X, y, a, W)
    x = np.abs(X[:, 0])
    inside = (x > 0.05) & (x < 0.5)
    return float(np.polyfit(x[inside], m[inside], 1)[0]), x, m


def _map_bin(snapshot, lo, hi, h):
    """Mean and sd of the map's classes' margin less kappa x over the grid points in [lo, hi), their share below h
    and the offset's sd there (the mass-weighted mean of sigma)."""
    grid = _common._MEMO_GRID
    inside = np.flatnonzero((grid >= lo) & (grid < hi))
    masses = _common._cell_masses(grid)[inside]
    zeta, weights = _common._ZETA, _common._ZETA_WEIGHTS
    kappa = snapshot["kappa"][0]
    offsets = (snapshot["memorized"][0][:, inside] + snapshot["linear"][0][:, inside]
               + snapshot["sigma"][0][inside] * zeta[:, None])
    w = weights[:, None] * masses[None, :]
    w = w / w.sum()
    mean = float(np.sum(w * offsets))
    sd = float(np.sqrt(np.sum(w * (offsets - mean) ** 2)))
    below = float(np.sum(w * (kappa * grid[inside][None, :] + offsets < h)))
    sigma = float(np.sum(masses * snapshot["sigma"][0][inside]) / masses.sum())
    return mean, sd, below, sigma


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=25_000)
    parser.add_argument("--ts", type=int, nargs="+", default=[300, 500, 700])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.N < 1 or min(args.ts) < 1:
        raise SystemExit("--N and every --ts must be positive")
    setup = mftheory.fig1_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution = mftheory.meanfield(setup, max(args.ts) + 1)
        clock = prediction._on_training_clock(solution, args.N, "fixed", "training")
        tilt_part = _tilt(clock, args.N, "fixed", frozen=False)
    rng = np.random.default_rng(args.seed + 1)
    print(f"Fig. 1, N = {args.N}, seed {args.seed}: margin less kappa |x_par|, mean / sd, and the share below h")
    for t in args.ts:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            snapshot = prediction._fixed_sample_state(clock, args.N, tilt_part, snapshot_at=t)[1].snapshot
        X, y, a, W = gd_at(setup, args.N, args.seed, t)
        kappa, x_fresh, m_fresh = _gd_kappa(setup, a, W, rng)
        m, _ = _margins(setup, X, y, a, W)
        x = np.abs(X[:, 0])
        print(f"t = {t}: kappa GD {kappa:.3f}, map {snapshot['kappa'][0]:.3f}")
        print("  |x_par|       GD training: mean   sd    below h | GD fresh sd | map: mean   sd    below h  sigma")
        for lo, hi in zip(BINS[:-1], BINS[1:]):
            inside = (x >= lo) & (x < hi)
            fresh = (x_fresh >= lo) & (x_fresh < hi)
            offset = m[inside] - kappa * x[inside]
            mean, sd, below, sigma = _map_bin(snapshot, lo, hi, setup.h)
            print(f"  {lo:.2f}-{hi:.2f}      {offset.mean():+.3f}  {offset.std():.3f}  {np.mean(m[inside] < setup.h):.4f}"
                  f"  |   {np.std(m_fresh[fresh] - kappa * x_fresh[fresh]):.3f}     | {mean:+.3f}  {sd:.3f}  "
                  f"{below:.4f}  {sigma:.3f}")


if __name__ == "__main__":
    main()
