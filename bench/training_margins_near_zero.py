"""Where one fixed set's training margins sit near x_par = 0, beside fresh points at the same |x_par|: GD only.

Usage (from the repository root; about 2 minutes at N = 1e5 to t = 2000 on 2 cores)::

    python bench/training_margins_near_zero.py                     # Fig. 1, N = 1e5, t = 300 / 1000 / 2000
    python bench/training_margins_near_zero.py --N 25000 --ts 300 700
    python bench/training_margins_near_zero.py --N 400000 --ts 1000 1500 2000 --theory   # predict's map beside

GD (``simulate``, no derived formula) is run on one fixed training set; at each step asked for, the training
examples are binned by |x_par| and their margins y F(x) (mean, sd, share below 0 and below h) printed beside those
of 200 000 fresh points in the same bins. The memorization map (``finite_size.predict``) draws a training margin as
kappa |x_par| + its memorized margin + a persistent Gaussian offset (the others' pulls, the finite-width rest, the
tilt): against it, how wide GD's training margins are near x_par = 0, where the misclassified ones sit.
``--theory`` prints beside each bin the same numbers from ``predict``'s own map (its classes on the set's clock, the
margin linear in |x_par| between grid points, the share below 0 and h continuous in the offset), and the sd at
x_par = 0 that ``predict`` gives a fresh point, by part.
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
    parser.add_argument("--theory", action="store_true", help="also predict's memorization map in the same bins")
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
    theory = _theory_bins(setup, args.N, args.ts) if args.theory else None
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
            if theory is not None:
                mean, sd, below_0, below_h = theory[t][(low, high)]
                print(f"  {'':>20}theory's training margins: mean {mean:.3f} sd {sd:.3f}, below 0 {below_0:.3f}, "
                      f"below h {below_h:.3f}")
        if theory is not None:
            print(f"  theory at x_par = 0, a fresh point's sd by part: {theory[t]['fresh']}")


def _theory_bins(setup, N, ts):
    """{t: {(low, high): (mean, sd, share below 0, share below h)} of predict's own memorization map in each bin,
    and "fresh": the sd of a fresh point's F at x_par = 0 by part}."""
    import math
    import warnings

    from mftheory.finite_size import _common, predict
    from mftheory.finite_size.memorization_steps import _share_below_zero
    from mftheory.finite_size.prediction import _fixed_sample_state, _on_training_clock
    from mftheory.finite_size.teacher_tilt import _tilt

    warnings.simplefilter("ignore")
    solution = mftheory.meanfield(setup, max(ts))
    prediction = predict(solution, N)
    clock = _on_training_clock(solution, N, "fixed", "training")   # what predict runs its map on
    tilt_part = _tilt(clock, N, "fixed", frozen=False)
    zeta, weights, grid = _common._ZETA, _common._ZETA_WEIGHTS, _common._MEMO_GRID
    cdf = np.array([0.5 * math.erfc(-z / math.sqrt(2.0)) for z in zeta])
    out = {}
    for t in ts:
        snap = _fixed_sample_state(clock, N, tilt_part, snapshot_at=t)[1].snapshot
        held = snap["memorized"][0] + snap["linear"][0]
        sigma, kappa = snap["sigma"][0], snap["kappa"][0]
        out[t] = {}
        for low, high in BINS:
            xs = np.linspace(low, high, 202)[1:-1]   # examples spread evenly in |x_par| within a bin this narrow
            margins = np.array([[kappa * x + np.interp(x, grid, held[j]) + np.interp(x, grid, sigma) * zeta[j]
                                 for j in range(zeta.size)] for x in xs])
            mean = float((margins @ weights).mean())
            sd = math.sqrt(float((margins ** 2 @ weights).mean()) - mean ** 2)
            shares = [np.mean([_share_below_zero(m - level, m - level, 0.0, zeta, cdf) for m in margins])
                      for level in (0.0, setup.h)]
            out[t][(low, high)] = (mean, sd, *shares)
        parts = {"rest": prediction.rest_sd[t], "sample": prediction.sample_sd[t], "tilt": prediction.tilt_sd[t]}
        total = math.sqrt(sum(v ** 2 for v in parts.values()))
        out[t]["fresh"] = ", ".join(f"{k} {v:.3f}" for k, v in parts.items()) + f" (together {total:.3f}, no bend)"
    return out


if __name__ == "__main__":
    main()
