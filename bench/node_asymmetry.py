"""One fixed training set makes the nodes' a grow faster than their w_par: the a-drive that the mean field lacks.

Usage (from the repository root; about 2 minutes on 2 cores)::

    python bench/node_asymmetry.py                          # Fig. 1, N = 25000 and 100000, to t = 200
    python bench/node_asymmetry.py --sizes 25000 --steps 300 --at 100 200 300

GD (``simulate``, no derived formula) is run on one fixed set of N examples. At the steps ``--at`` it prints:

* E[a^2] / E[w_par^2] over the M nodes (1 in the mean field, where a and w_par follow the same map);
* kappa, the slope of F along x_par at 40000 fresh points (|x_par| < 0.5), against the prediction's kappa on the
  set's own clock (``finite_size``: the node map driven by the memorization map's unsatisfied examples) and the
  mean field's;
* the training f_unsat of GD and of the memorization map.

At the last step it splits the a-drive of one step, (beta / N) sum over the unsatisfied examples of y sigma(z_i),
z_i = w_i . x / sqrt(d), into its part along x_par (the mean field's) and the part y sigma'(z_i) w_i,perp . x_perp /
sqrt(d), which averages to zero over fresh points: each node's w_perp has moved along the unsatisfied examples at
which the node is active (their y x_perp summed; the loss's feedback on the tilt holds only the sum over all of
them), so the node's own active examples sit higher on it. Printed as a rate per step, lambda = sum_i a_i drive_i
/ sum_i a_i^2, and its correlation with a_i across the nodes; compare 1/2 the change of ln(E[a^2] / E[w_par^2])
per step between the steps ``--at``.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import mftheory
from mftheory import finite_size
from mftheory.validate.simulator import draw_problem


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25000, 100000])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--at", type=int, nargs="+", default=[50, 100, 150, 200])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    d, h, beta = setup.d, setup.h, setup.beta
    at = sorted(t for t in set(args.at) if 0 < t <= args.steps)
    if not at or at[-1] != args.steps:
        at.append(args.steps)
    probes = np.random.default_rng(args.seed + 1).standard_normal((40_000, d))
    near = np.abs(probes[:, 0]) < 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution = mftheory.meanfield(setup, args.steps)
    for N in args.sizes:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clock = finite_size.prediction._on_training_clock(solution, N, "fixed")
        X, y, a, W, _, _ = draw_problem(setup, N, seed=args.seed, n_test=0)
        print(f"N = {N}:  t   E[a^2]/E[w_par^2]   kappa GD / clock / mean field   f_unsat GD / map")
        done, log_ratio = 0, {}
        for t in at:
            run = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=t - done, n_test=0, record_steps=[0, t - done])
            a, W, done = run.a_final, run.W_final, t
            Z = X @ W.T / np.sqrt(d)
            margins = y * (setup.alpha / setup.M * np.maximum(Z, 0.0) @ a)
            F = setup.alpha / setup.M * np.maximum(probes @ W.T / np.sqrt(d), 0.0) @ a
            kappa = np.sum(F[near] * probes[near, 0]) / np.sum(probes[near, 0] ** 2)
            ratio = np.mean(a**2) / np.mean(W[:, 0] ** 2)
            log_ratio[t] = 0.5 * np.log(ratio)
            print(f"      {t:5d}   {ratio:8.3f}            {kappa:6.3f} / {clock.kappa[t]:6.3f} / {solution.kappa[t]:6.3f}"
                  f"          {np.mean(margins < h):.4f} / {clock.f_unsat[t]:.4f}", flush=True)
        unsat = margins < h
        active = Z[unsat] > 0
        perp = y[unsat, None] * (X[unsat, 1:] @ W[:, 1:].T) / np.sqrt(d)
        par = y[unsat, None] * np.outer(X[unsat, 0], W[:, 0]) / np.sqrt(d)
        drive_perp = beta / N * (active * perp).sum(axis=0)
        drive_par = beta / N * (active * par).sum(axis=0)
        lam_perp = np.sum(a * drive_perp) / np.sum(a * a)
        lam_par = np.sum(a * drive_par) / np.sum(a * a)
        rates = [(log_ratio[t1] - log_ratio[t0]) / (t1 - t0) for t0, t1 in zip(at[:-1], at[1:])]
        print(f"  a-drive per step at t = {args.steps}: x_perp part lambda = {lam_perp:.5f} (correlation with a_i "
              f"{np.corrcoef(a, drive_perp)[0, 1]:.3f}), x_par part {lam_par:.5f}; growth of ln(a/w_par) per step "
              f"between the steps: {' '.join(f'{r:.5f}' for r in rates)} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
