"""How long does the unsatisfied examples' degree >= 2 pull field last? GD's own pulling set against the same set held
fixed while GD moves the network on.

Usage (from the repository root; about 30 s on 2 cores)::

    python bench/pull_field_persistence.py                         # Fig. 1, N = 25000 from t = 300
    python bench/pull_field_persistence.py --lags 1 2 3 10 100 --band 0.02 0.025

GD (``simulate``, no derived formula) is run on one fixed set to t; the push field of its unsatisfied examples (their
first-order pull on every margin, ``bench/crowd_push.py``; an example's own pull taken out) is split by degree in
x_perp as in ``bench/push_parts.py`` (the degree <= 1 part fitted on fresh points, per label) and measured at 60 000
fresh points. Then GD goes on, and at each lag the field is measured again twice: with GD's set of unsatisfied
examples at that step, and with the set of step t held fixed (the network moved on). Printed: the correlation of each
with the field at t, and the set's turnover. Fresh points have |x_par| drawn in ``--band`` (default: Gaussian of sd
0.067, cut at 0.2); a narrow band makes the degree <= 1 fit exact there.
"""
from __future__ import annotations

import argparse

import numpy as np

import mftheory
from crowd_push import _margins, _move, _step_part
from fixed_set_steps import gd_at
from push_parts import _degree2_parts, _own_pull

FRESH = 60_000


def _field(setup, X, y, Xf, yf, a, W, rows):
    """The degree >= 2 part of the pull field of the training examples ``rows`` at the fresh points."""
    z = X @ W.T / np.sqrt(setup.d)
    da, dW = _step_part(setup, X, y, z, a, rows)
    push = _move(setup, X, y, z, a, da, dW)
    push[rows] -= _own_pull(setup, X[rows], z[rows], a, len(X))
    zf = Xf @ W.T / np.sqrt(setup.d)
    return _degree2_parts(push, _move(setup, Xf, yf, zf, a, da, dW), X, y, Xf, yf)[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=25000)
    parser.add_argument("--t", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lags", type=int, nargs="+", default=[1, 2, 3, 10, 30, 100])
    parser.add_argument("--band", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                        help="draw the fresh points' |x_par| uniformly in [LOW, HIGH) (< 0.2)")
    args = parser.parse_args(argv)
    if sorted(args.lags) != args.lags or args.lags[0] < 1:
        parser.error("--lags must be increasing and positive")
    if args.band is not None and not 0 <= args.band[0] < args.band[1] < 0.2:
        parser.error("--band needs 0 <= LOW < HIGH < 0.2")
    setup = mftheory.fig1_setup()
    if setup.activation != "relu":   # pragma: no cover - fig1_setup is ReLU
        raise SystemExit("this diagnostic differentiates the ReLU network only")
    X, y, a, W = gd_at(setup, args.N, args.seed, args.t)
    rng = np.random.default_rng(args.seed + 1)
    Xf = rng.standard_normal((FRESH, setup.d))
    if args.band is None:
        Xf[:, 0] *= 0.2 / 3
    else:
        Xf[:, 0] = rng.choice([-1.0, 1.0], FRESH) * rng.uniform(*args.band, FRESH)
    yf = np.where(Xf[:, 0] >= 0, 1.0, -1.0)
    held = _margins(setup, X, y, a, W)[0] < setup.h
    base = _field(setup, X, y, Xf, yf, a, W, held)
    ok = np.isfinite(base)
    print(f"N = {args.N}, t = {args.t}: {held.sum()} unsatisfied; degree >= 2 field at fresh points, sd "
          f"{base[ok].std():.3g}")
    done = 0
    for lag in args.lags:
        run = mftheory.simulate(setup, steps=lag - done, X=X, y=y, a0=a, W0=W, n_test=0, record_steps=[0, lag - done])
        a, W, done = run.a_final, run.W_final, lag
        own = _margins(setup, X, y, a, W)[0] < setup.h
        corr = [np.corrcoef(_field(setup, X, y, Xf, yf, a, W, rows)[ok], base[ok])[0, 1] for rows in (own, held)]
        print(f"  lag {lag}: GD's set ({own.sum()}, {np.sum(own & held)} of them unsatisfied at t) correlation "
              f"{corr[0]:.3f}; the set of t held fixed {corr[1]:.3f}")


if __name__ == "__main__":
    main()
