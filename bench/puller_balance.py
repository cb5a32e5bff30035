"""Do one fixed set's unsatisfied examples push the other margins as hard as independent pullers would? GD's own
pullers beside fresh points and satisfied examples pulling in their place, against the derived velocity.

Usage (from the repository root; about 2 minutes per point at N = 4e5 on 2 cores)::

    python bench/puller_balance.py                                   # Fig. 1: N = 4e5 at t = 1000, N = 2.5e4 at 300
    python bench/puller_balance.py --points 100000:300 100000:1000

GD (``simulate``, no derived formula) is run on one fixed training set to step t. One step's pull of a group of
pullers moves every margin y f by a first-order amount (``bench/crowd_push.py``); its part of degree <= 1 in x_perp
(linear in y x_perp, plus a constant per label and |x_par| bin) is fitted by least squares over the receivers within
0.05 of the crossing x* = (h - S) / kappa (the memorization map's, on the set's clock) and taken out: what is left is
the degree >= 2 push, what moves each margin on its own. Printed: its sd at training examples more than 0.02 above
h and at fresh points, per puller group, as the amplitude q of one puller (sd / (alpha beta sqrt(U) / N), U GD's
number of unsatisfied examples). Groups: GD's unsatisfied examples (margin below h); U fresh points at their x_par
with their labels (pullers the weights hold no memory of: what independent pulls give); U satisfied examples of
the set drawn at random. Beside them, the derived amplitude (``kernel_amplitude``, what ``velocity_sd`` and the
spread's increments use; derivations/finite_sample.py) at x*.
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

import mftheory
from crowd_push import _move, _step_part
from crowd_residence import _advance
from fixed_set_steps import map_on_the_set_clock
from mftheory.validate.simulator import draw_problem

BAND = 0.05          # receivers within this of x* in |x_par|
ABOVE = 0.02         # training receivers this far above h (not pulling themselves)
FRESH_RECEIVERS = 200_000


def _degree2_part(setup, X, y, selection, push):
    """The push with its part of degree <= 1 in x_perp fitted over ``selection`` and taken out."""
    x_par = np.abs(X[:, 0])
    bins = np.minimum((x_par / 0.02).astype(int), 15)
    onehot = np.zeros((len(X), 16))
    onehot[np.arange(len(X)), bins] = 1.0
    features = np.hstack([X[:, 1:] * y[:, None], onehot, onehot * y[:, None]])
    coefficients, *_ = np.linalg.lstsq(features[selection], push[selection], rcond=None)
    return push - features @ coefficients


def _pull(setup, points, labels, z, a, N):
    rel, act = np.maximum(z, 0.0), (z > 0).astype(float)
    da = setup.beta / N * (labels @ rel)
    dW = setup.beta / N * a[:, None] * ((act * labels[:, None]).T @ points) / np.sqrt(setup.d)
    return da, dW


def measure(setup, N, t, seed):
    d, h = float(setup.d), setup.h
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution, state, _ = map_on_the_set_clock(setup, N, t, 2)
    fs, k = solution.variant.finite_sample_kernels(), solution.kernels
    moments = np.empty((len(solution.t), 5))
    k.fill_moments(np.asarray(state.gamma_plus), np.asarray(state.gamma_minus), setup.sigma_a, setup.sigma_w, moments)
    a2, w2, aw = moments[t, :3]
    x_star = max(h - state.memorized[t], 0.0) / state.kappa[t]
    derived = fs.kernel_amplitude(fs.quadratic_kernel(x_star, a2, w2, aw, d, setup.sigma_w, setup.slope), d)

    X, y, a0, W0, _, _ = draw_problem(setup, N, seed=seed, n_test=0)
    a, W = _advance(setup, X, y, a0, W0, t)
    z = X @ W.T / np.sqrt(d)
    m = y * (setup.alpha / setup.M * np.maximum(z, 0.0) @ a)
    rows = np.flatnonzero(m < h)
    rng = np.random.default_rng(seed + 1)
    fresh = X[rows].copy()
    fresh[:, 1:] = rng.standard_normal((len(rows), setup.d - 1))
    satisfied = rng.choice(np.flatnonzero(m > h + 0.05), len(rows), replace=False)
    groups = {"GD's unsatisfied": _step_part(setup, X, y, z, a, rows),
              "fresh in their place": _pull(setup, fresh, y[rows], fresh @ W.T / np.sqrt(d), a, N),
              "satisfied, at random": _step_part(setup, X, y, z, a, satisfied)}

    receivers = rng.standard_normal((FRESH_RECEIVERS, setup.d))
    receiver_labels = np.sign(receivers[:, 0])
    receiver_z = receivers @ W.T / np.sqrt(d)
    near_train = np.abs(np.abs(X[:, 0]) - x_star) < BAND
    train_sel = near_train & (m > h + ABOVE)
    train_sel[satisfied] = False
    near_fresh = np.abs(np.abs(receivers[:, 0]) - x_star) < BAND
    unit = setup.alpha * setup.beta * np.sqrt(len(rows)) / N
    print(f"N = {N}, t = {t} (seed {seed}): U = {len(rows)} (the map's {N * state.train_unsat[t]:.0f}), "
          f"x* = {x_star:.3f}; derived amplitude {derived:.3f}")
    for name, (da, dW) in groups.items():
        at_train = _degree2_part(setup, X, y, near_train, _move(setup, X, y, z, a, da, dW))[train_sel].std()
        at_fresh = _degree2_part(setup, receivers, receiver_labels, near_fresh,
                                 _move(setup, receivers, receiver_labels, receiver_z, a, da, dW))[near_fresh].std()
        print(f"  {name:>22}: q at training examples {at_train / unit:.3f}, at fresh points {at_fresh / unit:.3f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", nargs="+", default=["400000:1000", "25000:300"], help="N:t")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if setup.activation != "relu":   # pragma: no cover - fig1_setup is ReLU
        raise SystemExit("this diagnostic differentiates the ReLU network only")
    for point in args.points:
        N, t = (int(v) for v in point.split(":"))
        measure(setup, N, t, args.seed)


if __name__ == "__main__":
    main()
