"""Where one fixed set's training margins sit near x_par = 0, beside fresh points at the same |x_par|: GD only.

Usage (from the repository root; about 2 minutes at N = 1e5 to t = 2000 on 2 cores)::

    python bench/training_margins_near_zero.py                     # Fig. 1, N = 1e5, t = 300 / 1000 / 2000
    python bench/training_margins_near_zero.py --N 25000 --ts 300 700

GD (``simulate``, no derived formula) is run on one fixed training set; at each step asked for, the training
examples are binned by |x_par| and their margins y F(x) (mean, sd, share below 0 and below h) printed beside those
of 200 000 fresh points in the same bins. The memorization map (``finite_size.predict``) draws a training margin as
kappa |x_par| + its memorized margin + a persistent Gaussian offset (the others' pulls, the finite-width rest, the
tilt): against it, how wide GD's training margins are near x_par = 0, where the misclassified ones sit.
"""
from __future__ import annotations

import argparse

import numpy as np

import mftheory
from crowd_push import _margins
from fixed_set_steps import gd_at

BINS = ((0.0, 0.005), (0.005, 0.01), (0.01, 0.02), (0.02, 0.04), (0.04, 0.08))
FRESH = 200_000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--ts", type=int, nargs="+", default=[300, 1000, 2000])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if sorted(args.ts) != args.ts or args.ts[0] < 1:
        parser.error("--ts must be increasing and positive")
    setup = mftheory.fig1_setup()
    if setup.activation != "relu":   # pragma: no cover - fig1_setup is ReLU
        raise SystemExit("this diagnostic evaluates the ReLU network only")
    X, y, a, W = gd_at(setup, args.N, args.seed, args.ts[0])
    done = args.ts[0]
    rng = np.random.default_rng(args.seed + 3)
    fresh = rng.standard_normal((FRESH, setup.d))
    fresh[:, 0] *= 0.05
    fresh_labels = np.where(fresh[:, 0] >= 0, 1.0, -1.0)
    for t in args.ts:
        if t != done:
            run = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=t - done, n_test=0, record_steps=[0, t - done])
            a, W, done = run.a_final, run.W_final, t
        margins = _margins(setup, X, y, a, W)[0]
        fresh_margins = _margins(setup, fresh, fresh_labels, a, W)[0]
        print(f"N = {args.N}, t = {t}: training f_unsat {np.mean(margins < setup.h):.4f}, train error "
              f"{np.mean(margins < 0):.5f}")
        for low, high in BINS:
            rows = (np.abs(X[:, 0]) >= low) & (np.abs(X[:, 0]) < high)
            at = (np.abs(fresh[:, 0]) >= low) & (np.abs(fresh[:, 0]) < high)
            m, f = margins[rows], fresh_margins[at]
            print(f"  |x_par| in [{low}, {high}): {rows.sum()} training examples, margin mean {m.mean():.3f} sd "
                  f"{m.std():.3f}, below 0 {np.mean(m < 0):.3f}, below h {np.mean(m < setup.h):.3f} | fresh points "
                  f"mean {f.mean():.3f} sd {f.std():.3f}")


if __name__ == "__main__":
    main()
