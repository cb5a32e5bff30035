"""GD's period-2 swing of the margins, taken apart: it is the tilt's flip, driven by the crowd that flips.

Usage (from the repository root; about 1 minute per run on 2 cores, more for late steps at N = 1e5)::

    python bench/chatter_amplitude.py                                   # Fig. 1: 25000:350,700 and 100000:1000,2000
    python bench/chatter_amplitude.py --runs 25000:500 --steps 4

GD (``simulate``, no derived formula) is run on one fixed training set to step t, then one step at a time for
``--steps`` steps. From the parameters at consecutive steps k, k + 1 it measures, in units of s (the margin an
unsatisfied example gains per step on its own in the memorization map, ``mftheory.finite_size``, on the set's
own clock):

* the swing of the training margins, (m_k+1 - m_k) / 2 (sd over the examples more than 20 s from the margin);
* how much of it is the tilt's flip: gain * (v_k+1 - v_k)_perp / 2 . x_perp, v = (1/M) sum_i a_i w_i and gain the
  tilt's factor on a margin (``tilt_gain``): the least-squares slope of the swing on it, and its sd;
* the alternating drive that flips the tilt, r_e - r_o, the difference of r = (1/N) sum over the unsatisfied
  examples of y x_perp between the two steps, against the size that random signs over the examples that flip
  would give, sqrt(n_flip (d - 1)) / N (a ratio above 1: the flipping crowd sits coherently on the tilt's side);
* the tilt's response to it, |dv_perp| / (b_v |r_e - r_o| / 4), against the period-2 response of the tilt's linear
  system, |[(I + A_t)^-1 b_t]_v| / (b_v / 2) (A_t, b_t of ``finite_size``'s tilt system with the loss's feedback);
* the swing that the crowd would sustain by itself: with each example's swing Gaussian across the examples,
  independent of its centre c = (m_k + m_k+1) / 2, the flipping examples put (1/N) sum phi(|c - h| / A) into
  |r_e - r_o| / 2, so the swing is A = G sum phi(|c - h| / A) / N with G = gain |[(I + A_t)^-1 b_t]_v|. Printed:
  the right-hand side at GD's own A over A (1: self-consistent; below 1, the equation sustains a smaller swing).

This is the missing piece of the memorization map after the onset (``predict``'s docstring): the crowd that
chatters at the margin.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import norm

import mftheory
from mftheory import finite_size
from fixed_set_steps import gd_step_by_step, map_on_the_set_clock


def _tilt_period_two(solution, t):
    """(gain, b_v, G / gain): the tilt's gain on a margin, its drive per unit r, and the period-2 response of its
    linear system per unit of the alternating part of r, at step t of ``solution``."""
    setup, k = solution.setup, solution.kernels
    n = len(solution.t)
    moments = np.empty((n, 5))
    k.fill_moments(solution.gamma_plus, solution.gamma_minus, setup.sigma_a, setup.sigma_w, moments)
    drive = finite_size.tilt_system._tilt_drive(solution, moments)
    gain = k.tilt_gain(setup.alpha, solution.variant.odd_slope(setup.leak), float(setup.d))
    feedback = gain * finite_size._common._threshold_densities(solution, float(setup.d), setup.h)
    A = finite_size.tilt_system._tilt_matrices(setup.beta * solution.g, drive, feedback,
                                               finite_size._common._a_growth(solution))
    response = np.linalg.solve(np.eye(2) + A[t], drive[t])
    return gain, float(drive[t, 0]), abs(float(response[0]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["25000:350", "25000:700", "100000:1000", "100000:2000"],
                        help="N:t pairs")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    h, d = setup.h, setup.d
    for spec in args.runs:
        N, t0 = (int(v) for v in spec.split(":"))
        start = time.perf_counter()
        solution, _, s = map_on_the_set_clock(setup, N, t0, args.steps)
        gain, b_v, response = _tilt_period_two(solution, t0)
        X, y, states = gd_step_by_step(setup, N, args.seed, t0, args.steps)
        margins, tilts = [], []
        for a, W in states:
            z = X @ W.T / np.sqrt(d)
            margins.append(y * (setup.alpha / setup.M * np.maximum(z, 0.0) @ a))
            tilts.append((a[:, None] * W).mean(axis=0)[1:])
        print(f"N = {N}, t = {t0} ({time.perf_counter() - start:.0f} s): s = {s:.3g}, tilt gain {gain:.4g}, "
              f"b_v {b_v:.4g}; period-2 response of the tilt system {response / (b_v / 2):.3f} x b_v / 2")
        print("  k   swing (s)   tilt part: slope, sd (s)   n_flip / N   |r_e - r_o| / random   "
              "|dv| / (b_v |r_e - r_o| / 4)   crowd's A / GD's A")
        for k in range(args.steps):
            m0, m1 = margins[k], margins[k + 1]
            swing = 0.5 * (m1 - m0)
            far = np.minimum(np.abs(m0 - h), np.abs(m1 - h)) > 20 * s
            dv = 0.5 * (tilts[k + 1] - tilts[k])
            tilt_part = gain * y * (X[:, 1:] @ dv)
            slope = np.polyfit(tilt_part[far], swing[far], 1)[0]
            u0, u1 = m0 < h, m1 < h
            flips = int(np.sum(u0 != u1))
            r_diff = (y[u0, None] * X[u0, 1:]).sum(axis=0) / N - (y[u1, None] * X[u1, 1:]).sum(axis=0) / N
            random_size = np.sqrt(flips * (d - 1)) / N
            amplitude = swing[far].std()
            centre = 0.5 * (m0 + m1)
            sustained = gain * response * np.mean(norm.pdf(np.abs(centre - h) / amplitude))
            print(f"  {k}   {amplitude / s:7.2f}     {slope:5.3f}, {tilt_part[far].std() / s:6.2f}           "
                  f"{flips / N:.4f}       {np.linalg.norm(r_diff) / random_size:5.2f}                  "
                  f"{np.linalg.norm(dv) / (b_v * np.linalg.norm(r_diff) / 4):5.3f}                       "
                  f"{sustained / amplitude:5.2f}", flush=True)


if __name__ == "__main__":
    main()
