"""What moves the training margins at the margin in GD's sliding regime: one GD step taken apart by who pulls.

Usage (from the repository root; about 1 minute on 2 cores)::

    python bench/crowd_push.py                       # Fig. 1, N = 25000 at t = 600
    python bench/crowd_push.py --N 100000 --t 1500

GD (``simulate``, no derived formula) is run on one fixed training set to step t. There the unsatisfied examples
(y f < h) are split into the deep ones (more than 4 s below h, s the memorization map's own step, as in
``bench/margin_pile.py``) and the crowd (within 4 s below h), and each group again by label. A GD step is linear
in the pulls: a_i += (beta / N) sum_nu y_nu sigma(z_i nu), w_i += (beta / N) a_i sum_nu y_nu sigma'(z_i nu)
x_nu / sqrt(d) over the pulling examples nu, so each group's part of the step moves every margin m = y f by
y grad f . (its part), to first order. Printed, per band of (m - h) / s, in units of s: the mean move that the
deep and the crowd's pulls of the example's own label and of the other label give, an unsatisfied example's own
pull (its own term, taken out of its group's), their sum, and the margin's actual change over the step (the
difference is the step's second order). This is what the memorization map needs for its crowd at the margin:
GD's crowd keeps circulating (``bench/margin_oscillation.py``: it rises by about one s when it dips below h and
falls by about 0.1-0.2 s per step otherwise), and this shows which pulls push it down.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mftheory
from fixed_set_steps import gd_at, map_on_the_set_clock

BANDS = (-4, -2, -1, 0, 1, 2, 4, 8, 16)


def _margins(setup, X, y, a, W):
    z = X @ W.T / np.sqrt(setup.d)
    return y * (setup.alpha / setup.M * np.maximum(z, 0.0) @ a), z


def _step_part(setup, X, y, z, a, rows):
    """(da, dW): the part of one GD step that the pulls of the examples ``rows`` make (hinge: u = 1 each)."""
    N = len(X)
    rel, act = np.maximum(z[rows], 0.0), (z[rows] > 0).astype(float)
    yr = y[rows]
    da = setup.beta / N * (yr @ rel)
    dW = setup.beta / N * a[:, None] * ((act * yr[:, None]).T @ X[rows]) / np.sqrt(setup.d)
    return da, dW


def _move(setup, X, y, z, a, da, dW):
    """First-order change of every margin y f under (da, dW)."""
    rel, act = np.maximum(z, 0.0), (z > 0).astype(float)
    return y * (setup.alpha / setup.M) * (rel @ da + ((act * a) * (X @ dW.T)).sum(axis=1) / np.sqrt(setup.d))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=25000)
    parser.add_argument("--t", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if setup.activation != "relu":   # pragma: no cover - fig1_setup is ReLU
        raise SystemExit("this diagnostic differentiates the ReLU network only")
    start = time.perf_counter()
    _, _, s = map_on_the_set_clock(setup, args.N, args.t, 1)
    X, y, a, W = gd_at(setup, args.N, args.seed, args.t)
    nxt = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=1, n_test=0, record_steps=[0, 1])
    m, z = _margins(setup, X, y, a, W)
    m_next, _ = _margins(setup, X, y, nxt.a_final, nxt.W_final)
    h = setup.h
    below = m < h
    deep, crowd = below & (m - h < -4 * s), below & (m - h >= -4 * s)
    parts = {}
    for name, group in (("deep", deep), ("crowd", crowd)):
        for label in (1.0, -1.0):
            rows = np.flatnonzero(group & (y == label))
            parts[name, label] = _move(setup, X, y, z, a, *_step_part(setup, X, y, z, a, rows))
    same = {g: np.where(y > 0, parts[g, 1.0], parts[g, -1.0]) for g in ("deep", "crowd")}
    other = {g: np.where(y > 0, parts[g, -1.0], parts[g, 1.0]) for g in ("deep", "crowd")}
    # an unsatisfied example's own pull, first order: (beta / N)(alpha / M) sum_i [sigma(z_i)^2 + a_i^2 sigma'(z_i)
    # |x|^2 / d]
    rel, act = np.maximum(z, 0.0), (z > 0).astype(float)
    own = below * setup.beta / args.N * setup.alpha / setup.M * (
        (rel ** 2).sum(axis=1) + (act * a ** 2).sum(axis=1) * np.einsum("nd,nd->n", X, X) / setup.d)
    own_in = {"deep": own * deep, "crowd": own * crowd}
    for g in ("deep", "crowd"):
        same[g] = same[g] - own_in[g]
    total = same["deep"] + other["deep"] + same["crowd"] + other["crowd"] + own
    print(f"N = {args.N}, t = {args.t} ({time.perf_counter() - start:.0f} s): own step s = {s:.3g}; unsatisfied "
          f"{below.mean():.4f} (deep {deep.mean():.4f}, crowd {crowd.mean():.4f}); means over each band, in s")
    print("  (m - h)/s      share   deep: same / other   crowd: same / other    own    sum   actual")
    for lo, hi in zip(BANDS[:-1], BANDS[1:]):
        rows = (m - h >= lo * s) & (m - h < hi * s)
        if not rows.any():
            continue
        cells = [v[rows].mean() / s for v in (same["deep"], other["deep"], same["crowd"], other["crowd"], own,
                                             total, m_next - m)]
        print(f"  [{lo:4d}, {hi:4d})  {rows.mean():.5f}   " + "  ".join(f"{c:+.3f}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
