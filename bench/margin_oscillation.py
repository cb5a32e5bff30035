"""The crowd of training examples at the margin in GD's sliding regime: its period-2 oscillation, who is
unsatisfied, and what one step of an example's own pull gains it, in units of the memorization map's own step.

Usage (from the repository root; about 1 minute for the first run, 3 for the second, on 2 cores)::

    python bench/margin_oscillation.py                       # Fig. 1: N = 25000 at t = 350, N = 100000 at t = 1000
    python bench/margin_oscillation.py --runs 25000:600 --steps 40

GD (``simulate``, no derived formula) is run on one fixed training set to step t, then one step at a time for
``--steps`` steps; the training margins m_k = y f(x) come from the parameters at every step. Each example's margin
is split into its centre c_k = (m_k + m_{k+1}) / 2 and the oscillation about it, |m_{k+1} - m_k| / 2 (GD flips F
back and forth at every step once the set slides, ``bench/period_two.py``). Printed, by band of the centre around
h in units of s (the margin an unsatisfied example gains per step on its own in the memorization map,
``mftheory.finite_size``, on the set's own clock): the share of the set per unit of s, how often its examples are
unsatisfied over two steps (0, 1 or 2 times) and the change of the centre over two steps for each count, so that
the difference between counts is what one step of an example's own pull gains once everything else has acted.
Also printed: the exact own term of the unsatisfied examples, (alpha beta / (M N)) sum_i [sigma(z_i)^2 +
a_i^2 sigma'(z_i)^2 |x|^2 / d] (all degrees: the map's s keeps its memorizing part, degree >= 2), and the
training f_unsat of GD and of the map. This is what the map leaves out after the onset: its pile sits within one
s above the margin and is never unsatisfied there.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mftheory
from fixed_set_steps import gd_step_by_step, map_on_the_set_clock

BANDS = (-8, -4, -2, -1, 0, 1, 2, 4, 8, 16)


def _margins_and_own_term(setup, X, y, a, W):
    z = X @ W.T / np.sqrt(setup.d)
    hidden = np.maximum(z, 0.0)
    margins = y * (setup.alpha / setup.M * hidden @ a)
    norm2 = np.einsum("nd,nd->n", X, X)
    own = setup.alpha * setup.beta / (setup.M * len(X)) * (
        (hidden**2).sum(axis=1) + ((z > 0) * a**2).sum(axis=1) * norm2 / setup.d)
    return margins, own


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["25000:350", "100000:1000"], help="N:t pairs")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    h = setup.h
    for spec in args.runs:
        N, t0 = (int(v) for v in spec.split(":"))
        start = time.perf_counter()
        _, state, s = map_on_the_set_clock(setup, N, t0, args.steps)
        X, y, states = gd_step_by_step(setup, N, args.seed, t0, args.steps)
        margins, own = zip(*(_margins_and_own_term(setup, X, y, a, W) for a, W in states))
        m, own = np.array(margins), np.array(own)
        K = args.steps
        centre = 0.5 * (m[:-1] + m[1:])
        swing = 0.5 * np.abs(m[1:] - m[:-1])
        near = np.abs(centre - h) < 4 * s
        print(f"N = {N}, t = {t0} to {t0 + K} ({time.perf_counter() - start:.0f} s): map's own step s = {s:.3g}; "
              f"training f_unsat GD {np.mean(m < h):.4f}, map {state.train_unsat[t0]:.4f} (map's pile "
              f"{state.pile[t0]:.4f})")
        print(f"  oscillation about the centre, median: {np.median(swing) / s:.2f} s (centre within 4 s of h: "
              f"{np.median(swing[near]) / s:.2f} s); exact own term of the unsatisfied examples, mean "
              f"{own[:-1][m[:-1] < h].mean() / s:.2f} s")
        two_step = centre[2:] - centre[:-2]
        count = (m[1:K - 1] < h).astype(int) + (m[2:K] < h).astype(int)
        base = centre[:-2]
        print("  centre - h (s)   share per s   unsatisfied 0 / 1 / 2 times over two steps: share, centre's change (s)")
        for lo, hi in zip(BANDS[:-1], BANDS[1:]):
            inside = (base >= h + lo * s) & (base < h + hi * s)
            if inside.sum() < 20:
                continue
            cells = []
            for times in (0, 1, 2):
                these = inside & (count == times)
                change = f"{two_step[these].mean() / s:+6.2f}" if these.sum() >= 20 else "   n/a"
                cells.append(f"{these.sum() / inside.sum():.2f} {change}")
            print(f"  [{lo:4d}, {hi:4d})      {inside.mean() / (hi - lo):.5f}      " + "   ".join(cells), flush=True)


if __name__ == "__main__":
    main()
