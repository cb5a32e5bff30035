"""Do the training margins diffuse? GD's displacement of the margins, net of each example's own pulls, over
T steps on one fixed training set, against the same for fresh points and against the memorization map's
persistent spread.

Usage (from the repository root; about 1 minute on 2 cores)::

    python bench/margin_diffusion.py                      # Fig. 1, N = 25000 from t = 600, 40 steps
    python bench/margin_diffusion.py --N 100000 --t 1500

GD (``simulate``, no derived formula) is run on one fixed set to step t and then one step at a time. For every
training example the margin m_k = y f(x) is followed, and its own pull at each step it is unsatisfied (to first
order, (beta / N)(alpha / M) sum_i [sigma(z_i)^2 + a_i^2 sigma'(z_i) |x|^2 / d]) is taken out: what is left,
X_T = m_T - m_0 - own pulls, is what the rest of the dynamics did to the example's margin. Printed, for even T
(two steps take GD's period-2 swing out): the sd of X_T across examples (each class and |x_par| bin's mean taken
out, so kappa's growth and the common part go), in units of s (the memorization map's own step), for the training
examples with |x_par| < 0.2 and for fresh points alike; a displacement that grows like T is persistent (each
example pushed the same way step after step), like sqrt(T) diffusive. And the mean X_T of the training examples
that start within 16 s above the margin, where GD's crowd is. The memorization map's side: its persistent spread
sigma_S(t) zeta moves a class by (sigma_S(t + T) - sigma_S(t)) zeta, sd |sigma_S(t + T) - sigma_S(t)|. Last, the
correlation of X_T (T the longest) with the example's own offset at t (its margin, with the same means taken out):
positive where the motion is the spread's coherent growth, which the map has.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import mftheory
from fixed_set_steps import gd_step_by_step, map_on_the_set_clock

LAGS = (2, 4, 8, 16, 24, 32, 40)
BINS = np.array([0.0, 0.03, 0.06, 0.09, 0.12, 0.16, 0.2])


def _margins_and_own(setup, X, y, a, W):
    z = X @ W.T / np.sqrt(setup.d)
    rel, act = np.maximum(z, 0.0), (z > 0).astype(float)
    margin = y * (setup.alpha / setup.M * rel @ a)
    own = setup.beta / len(X) * setup.alpha / setup.M * (
        (rel ** 2).sum(axis=1) + (act * a ** 2).sum(axis=1) * np.einsum("nd,nd->n", X, X) / setup.d)
    return margin, own


def _demeaned(values, labels, reach):
    """values less the mean of their class and |x_par| bin (points past the last bin dropped)."""
    out = np.full(values.shape, np.nan)
    which = np.digitize(reach, BINS) - 1
    for c in (1.0, -1.0):
        for b in range(len(BINS) - 1):
            rows = (labels == c) & (which == b)
            if rows.any():
                out[rows] = values[rows] - values[rows].mean()
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=25000)
    parser.add_argument("--t", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", type=int, default=100_000, help="fresh points followed beside the set")
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if setup.activation != "relu":   # pragma: no cover - fig1_setup is ReLU
        raise SystemExit("this diagnostic differentiates the ReLU network only")
    start = time.perf_counter()
    steps = max(LAGS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, state, s = map_on_the_set_clock(setup, args.N, args.t, steps)
    X, y, states = gd_step_by_step(setup, args.N, args.seed, args.t, steps)
    rng = np.random.default_rng(args.seed + 1)
    Xf = rng.standard_normal((args.fresh, setup.d))
    yf = np.where(Xf[:, 0] >= 0, 1.0, -1.0)
    h = setup.h
    m0, _ = _margins_and_own(setup, X, y, *states[0])
    f0, _ = _margins_and_own(setup, Xf, yf, *states[0])
    pulled = np.zeros(args.N)
    m_prev, own_prev = _margins_and_own(setup, X, y, *states[0])
    near = (m0 - h >= 0) & (m0 - h < 16 * s)
    small, small_f = np.abs(X[:, 0]) < BINS[-1], np.abs(Xf[:, 0]) < BINS[-1]
    print(f"N = {args.N}, from t = {args.t}: own step s = {s:.3g}; training examples with |x_par| < {BINS[-1]}: "
          f"{small.sum()}, of them within 16 s above the margin: {(near & small).sum()}")
    print("   T   sd X_T train   sd fresh   mean X_T near the margin   map: |sigma_S(t+T) - sigma_S(t)|   (in s)")
    for k in range(1, steps + 1):
        pulled += own_prev * (m_prev < h)
        m_prev, own_prev = _margins_and_own(setup, X, y, *states[k])
        if k not in LAGS:
            continue
        moved = m_prev - m0 - pulled
        moved_f = _margins_and_own(setup, Xf, yf, *states[k])[0] - f0
        train = _demeaned(moved, y, np.abs(X[:, 0]))
        fresh = _demeaned(moved_f, yf, np.abs(Xf[:, 0]))
        spread = abs(state.spread[args.t + k] - state.spread[args.t])
        print(f"  {k:3d}   {np.nanstd(train[small]) / s:8.2f}   {np.nanstd(fresh[small_f]) / s:8.2f}   "
              f"{np.mean(moved[near & small]) / s:+10.2f}   {spread / s:10.3f}", flush=True)
    # coherent (the spread's size grows: high examples go higher) or new motion: X_T against the example's offset
    offset = _demeaned(m0, y, np.abs(X[:, 0]))
    for name, rows in (("all", small), ("more than 16 s above h", small & (m0 - h > 16 * s)),
                       ("below h", small & (m0 < h))):
        print(f"  corr(X_{steps}, offset at t), training examples with |x_par| < {BINS[-1]}, {name}: "
              f"{np.corrcoef(train[rows], offset[rows])[0, 1]:+.3f} (n = {rows.sum()})")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
