"""The test side's sample part computed from GD's own pull histories, beside the memorization map's: is the excess
of the predicted sample part late at Fig. 1 in who pulls when, or in what each pull deposits?

Usage (from the repository root; GD one step at a time: about 15 minutes at N = 1e5 on 2 cores, 2 at 2.5e4)::

    python bench/sample_part_gd_histories.py --N 100000 --histories runs/histories_1e5.npz
    python bench/sample_part_gd_histories.py --N 100000 --histories runs/histories_1e5.npz --others-pulls kernel+width

GD (``simulate`` one step at a time on one fixed set, seed 0, no derived formula) records, for ``--sample``
training examples drawn at random, whether each is unsatisfied at every step, and their |x_par| (written to
``--histories`` and read back from it when it exists, so the run is paid once). ``predict``'s sample part at a
fresh point (``rest_feedback``'s sample variance at x_par = 0, the one ``predict`` adds as ``sample_sd``) sums, for
every training example, the degree-2 deposits of its pulls at the steps it pulled, with the loss's feedback; the
map supplies which examples pull when (its classes' shares below the margin). Here the same recursion runs with
each sampled GD example as its own class (weight 1 / sample, at the grid point of the rest's grid nearest its
|x_par|), along the same clock. Printed: the sample part's sd from the map's histories and from GD's, and the
training f_unsat of both. GD's own sample part at fresh points is measured by ``bench/sample_part_fresh_points.py``
(0.185 / 0.41 / 0.545 at t = 300 / 1000 / 2000, N = 1e5).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import tempfile
import time
import types
import warnings

import numpy as np

import mftheory
import mftheory.finite_size as finite_size
from mftheory.validate.simulator import draw_problem

STEPS = (100, 300, 500, 700, 1000, 1500, 2000)


def gd_histories(N: int, steps: int, sample: int, seed: int = 0):
    """GD on one fixed set at Fig. 1: (steps + 1, sample) whether each sampled example is unsatisfied, and |x_par|."""
    setup = mftheory.fig1_setup()
    X, y, a, W, _, _ = draw_problem(setup, N, seed=seed, n_test=0)
    pick = np.random.default_rng(seed + 5).choice(N, sample, replace=False)
    below = np.zeros((steps + 1, sample), dtype=bool)
    start = time.perf_counter()
    for t in range(steps + 1):
        z = X[pick] @ W.T / np.sqrt(setup.d)
        below[t] = y[pick] * (setup.alpha / setup.M * np.maximum(z, 0.0) @ a) < setup.h
        if t % 250 == 0:
            print(f"  GD step {t}, {time.perf_counter() - start:.0f} s", flush=True)
        if t == steps:
            break
        run = mftheory.simulate(setup, steps=1, X=X, y=y, a0=a, W0=W, n_test=0, record_steps=[0, 1])
        a, W = run.a_final, run.W_final
    return below, np.abs(X[pick, 0])


def sample_part(N: int, below: np.ndarray, x_par: np.ndarray, others_pulls: str):
    """(T + 1,) x 2: the sample part's sd at x_par = 0 from the map's histories and from GD's; the map's f_unsat."""
    T = below.shape[0] - 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution = mftheory.meanfield(mftheory.fig1_setup(), T)
        if others_pulls == "kernel+width":
            solution = finite_size._common._with_options(solution, width_pulls=True)
        clock = finite_size.prediction._on_training_clock(solution, N, "fixed", "training")
        tilt_part = finite_size.teacher_tilt._tilt(clock, N, "fixed", frozen=False)
        memo, state = finite_size.prediction._fixed_sample_state(clock, N, tilt_part)
        from_map = finite_size.feedback._rest_feedback(clock, N, "fixed", memo, state)
        grid = finite_size._common._REST_GRID
        masses = finite_size._common._cell_masses(grid)
        K = below.shape[1]
        cell = np.abs(x_par[:, None] - grid[None, :]).argmin(axis=1)
        # each example its own class of weight 1 / K: share 1 / sqrt(mass) of its cell, so mass * share^2 = 1
        shares = np.zeros((T + 1, K, grid.size))
        shares[:, np.arange(K), cell] = below / np.sqrt(masses[cell])[None, :]
        weights = finite_size._common._ZETA_WEIGHTS
        finite_size._common._ZETA_WEIGHTS = np.full(K, 1.0 / K)
        try:
            from_gd = finite_size.feedback._rest_feedback(clock, N, "fixed",
                                                          types.SimpleNamespace(unsatisfied=shares), state)
        finally:
            finite_size._common._ZETA_WEIGHTS = weights
    return (np.sqrt(from_map.sample_variance[:, 0]), np.sqrt(from_gd.sample_variance[:, 0]),
            np.asarray(memo.train_unsat))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--sample", type=int, default=2048, help="GD examples followed")
    parser.add_argument("--histories", type=pathlib.Path, required=True,
                        help=".npz of GD's histories: read if it exists, else written")
    parser.add_argument("--others-pulls", default="kernel", choices=["kernel", "kernel+width"])
    args = parser.parse_args(argv)
    if args.histories.exists():
        saved = np.load(args.histories)
        below, x_par = saved["below"], saved["x_par"]
        if saved["N"] != args.N or below.shape[0] < args.steps + 1:
            parser.error(f"{args.histories} holds N = {int(saved['N'])}, {below.shape[0] - 1} steps")
        below = below[: args.steps + 1]
    else:
        below, x_par = gd_histories(args.N, args.steps, args.sample)
        args.histories.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=args.histories.parent, suffix=".npz", delete=False) as handle:
            np.savez(handle, below=below, x_par=x_par, N=args.N)
        os.replace(handle.name, args.histories)
    from_map, from_gd, unsat = sample_part(args.N, below, x_par, args.others_pulls)
    steps = [t for t in STEPS if t <= args.steps]
    print(f"N = {args.N}, others_pulls = {args.others_pulls}, t = {' / '.join(map(str, steps))}")
    print("  sample part's sd, map's histories  " + " ".join(f"{from_map[t]:.3f}" for t in steps))
    print("  sample part's sd, GD's histories   " + " ".join(f"{from_gd[t]:.3f}" for t in steps))
    print("  training f_unsat, map              " + " ".join(f"{unsat[t]:.4f}" for t in steps))
    print("  training f_unsat, GD (the sample)  " + " ".join(f"{below[t].mean():.4f}" for t in steps))


if __name__ == "__main__":
    main()
