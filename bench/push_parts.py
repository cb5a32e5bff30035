"""How hard do the pulling examples push the other margins, beyond the tilt? One GD step on one fixed set taken apart
by who pulls, its push split by degree in x_perp, at training examples beside fresh points and the derived velocity.

Usage (from the repository root; about 1 minute on 2 cores)::

    python bench/push_parts.py                       # Fig. 1, N = 25000 at t = 600
    python bench/push_parts.py --N 100000 --t 1500

GD (``simulate``, no derived formula) is run on one fixed training set to step t; there the unsatisfied examples are
split as in ``bench/crowd_push.py`` into the deep ones (more than 4 s below h, s the memorization map's own step)
and the crowd (within 4 s below h). A group's part of the step moves every margin y f by a first-order amount
(``crowd_push``): a push field P(x), the same function at a training example and at a fresh point; an example's own
pull is taken out. Its part of degree <= 1 in x_perp (a polynomial in |x_par| and x_perp times a quadratic in
|x_par|, per label) is fitted by least squares on fresh points with |x_par| < 0.2 and taken out everywhere: what is
left is the degree >= 2 part, the velocity the map's classes lack. Printed, in units of s, per puller group: the sd
of P with each label's |x_par| bin means out (training examples and fresh points), the degree >= 2 part's sd at fresh
points and at the training examples below h and far above it (more than 16 s), and its mean at the training examples
below h, within 4 s above h and far above (at fresh points it is 0 by the fit). Controls: as many pullers drawn at
random among the satisfied examples of the set, and as many fresh points at the unsatisfied examples' x_par with
their labels (the weights hold no memory of them). The derived velocity (``velocity_sd``, derivations/finite_sample.py:
the pullers' degree-2 terms at a point, the same every step while they keep pulling) is printed beside it with
GD's count of pullers and the map's. Last, the persistence of the degree >= 2 part: the correlation over training
examples of the deep group's at t with the one the same examples, where still deep, give 10 steps later.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mftheory
from crowd_push import _margins, _move, _step_part
from fixed_set_steps import gd_at, map_on_the_set_clock
from margin_diffusion import _demeaned

SMALL = 0.2          # |x_par| below which examples are followed (where the late margins are)
LATER = 10           # steps to the second look, for the persistence


def _own_pull(setup, X, z, a, N):
    """An example's own term at a step, first order (``crowd_push``)."""
    rel, act = np.maximum(z, 0.0), (z > 0).astype(float)
    return setup.beta / N * setup.alpha / setup.M * (
        (rel ** 2).sum(axis=1) + (act * a ** 2).sum(axis=1) * np.einsum("nd,nd->n", X, X) / setup.d)


def _low_degree_basis(X):
    """Columns spanning degree <= 1 in x_perp, with coefficients up to quadratic in |x_par|."""
    r = np.abs(X[:, :1])
    return np.hstack([r ** np.arange(5), X[:, 1:], X[:, 1:] * r, X[:, 1:] * r ** 2])


def _degree2_parts(push, push_f, X, y, Xf, yf):
    """The degree >= 2 part of a push field at the training examples and the fresh points with |x_par| < SMALL
    (NaN elsewhere): its degree <= 1 part fitted on the fresh points, per label, and taken out of both."""
    out, out_f = np.full(push.shape, np.nan), np.full(push_f.shape, np.nan)
    for label in (1.0, -1.0):
        fit_rows = (np.abs(Xf[:, 0]) < SMALL) & (yf == label)
        rows = (np.abs(X[:, 0]) < SMALL) & (y == label)
        coef, *_ = np.linalg.lstsq(_low_degree_basis(Xf[fit_rows]), push_f[fit_rows], rcond=None)
        out_f[fit_rows] = push_f[fit_rows] - _low_degree_basis(Xf[fit_rows]) @ coef
        out[rows] = push[rows] - _low_degree_basis(X[rows]) @ coef
    return out, out_f


def _fresh_pullers_step(setup, pullers, labels, a, W, N):
    """(da, dW) of one GD step pulled by the points ``pullers`` with ``labels`` (hinge: u = 1 each), at 1/N each."""
    z = pullers @ W.T / np.sqrt(setup.d)
    rel, act = np.maximum(z, 0.0), (z > 0).astype(float)
    da = setup.beta / N * (labels @ rel)
    dW = setup.beta / N * a[:, None] * ((act * labels[:, None]).T @ pullers) / np.sqrt(setup.d)
    return da, dW


def _derived_velocity(solution, state, t, N, pulling, width=True, moments=None):
    """``velocity_sd`` at the map's crossing at step t, for ``pulling`` examples pulling (``width=False``: the
    infinite-width kernel's part alone, W_2 = 0), at the mean-field node law's moments or at ``moments`` (E[a^2],
    E[w_par^2], E[a w_par])."""
    setup = solution.setup
    fs = solution.variant.finite_sample_kernels()
    if moments is None:
        law = np.empty((len(solution.t), 5))
        solution.kernels.fill_moments(solution.gamma_plus, solution.gamma_minus, setup.sigma_a, setup.sigma_w, law)
        moments = law[t, :3]
    a2, w2, aw = moments
    x_c = max(setup.h - state.memorized[t], 0.0) / state.kappa[t]
    args = (x_c, a2, w2, aw, float(setup.d), setup.sigma_w, setup.slope)
    amplitude = fs.pull_amplitude(fs.quadratic_kernel(*args), fs.width_kernel(*args) if width else 0.0,
                                  float(setup.M), float(setup.d))
    return fs.velocity_sd(amplitude, float(pulling), setup.alpha, setup.beta, float(N))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=25000)
    parser.add_argument("--t", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", type=int, default=200_000, help="fresh points pushed beside the set")
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if setup.activation != "relu":   # pragma: no cover - fig1_setup is ReLU
        raise SystemExit("this diagnostic differentiates the ReLU network only")
    start = time.perf_counter()
    solution, state, s = map_on_the_set_clock(setup, args.N, args.t, LATER)
    X, y, a, W = gd_at(setup, args.N, args.seed, args.t)
    rng = np.random.default_rng(args.seed + 1)
    Xf = rng.standard_normal((args.fresh, setup.d))
    yf = np.where(Xf[:, 0] >= 0, 1.0, -1.0)
    m, z = _margins(setup, X, y, a, W)
    _, zf = _margins(setup, Xf, yf, a, W)
    h = setup.h
    below = m < h
    deep, crowd = below & (m - h < -4 * s), below & (m - h >= -4 * s)
    small, small_f = np.abs(X[:, 0]) < SMALL, np.abs(Xf[:, 0]) < SMALL
    far = small & (m - h > 16 * s)
    own = _own_pull(setup, X, z, a, args.N)
    pulling_map = args.N * state.train_unsat[args.t]
    print(f"N = {args.N}, t = {args.t}: s = {s:.3g}; unsatisfied {below.sum()} (deep {deep.sum()}, crowd "
          f"{crowd.sum()}), the map's {pulling_map:.0f}; sd of the push per step over |x_par| < {SMALL}, in s")
    print("  pullers              n | bins out: train  fresh | degree >= 2, sd: fresh  below h  far above | mean: "
          "below h  h to h + 4 s  far above")
    control = np.zeros(args.N, dtype=bool)
    pool = np.flatnonzero(~below & small)   # as many as the deep ones, or every one there is
    control[rng.choice(pool, min(deep.sum(), pool.size), replace=False)] = True
    fresh_pullers = rng.standard_normal((below.sum(), setup.d))
    fresh_pullers[:, 0] = X[below, 0]
    just_above = small & ~below & (m - h < 4 * s)
    deep_rest = None
    for name, group in (("deep", deep), ("crowd", crowd), ("all below h", below), ("random satisfied", control),
                        ("fresh, as below h", None)):
        if group is None:
            da, dW = _fresh_pullers_step(setup, fresh_pullers, y[below], a, W, args.N)
            push, count = _move(setup, X, y, z, a, da, dW), below.sum()
        else:
            da, dW = _step_part(setup, X, y, z, a, np.flatnonzero(group))
            push, count = _move(setup, X, y, z, a, da, dW) - own * group, group.sum()
        push_f = _move(setup, Xf, yf, zf, a, da, dW)
        rest, rest_f = _degree2_parts(push, push_f, X, y, Xf, yf)
        if name == "deep":
            deep_rest = rest
        binned = _demeaned(push, y, np.abs(X[:, 0]))
        binned_f = _demeaned(push_f, yf, np.abs(Xf[:, 0]))
        sds = (np.nanstd(binned[small]), np.nanstd(binned_f[small_f]), np.nanstd(rest_f[small_f]),
               np.nanstd(rest[small & below]), np.nanstd(rest[far]))
        means = (np.nanmean(rest[small & below]), np.nanmean(rest[just_above]), np.nanmean(rest[far]))
        print(f"  {name:17s} {count:5d} |   {sds[0] / s:7.2f} {sds[1] / s:6.2f} |   " + "  ".join(
            f"{c / s:7.2f}" for c in sds[2:]) + "   |   " + "  ".join(f"{c / s:+7.2f}" for c in means), flush=True)
    print(f"  derived velocity_sd (degree >= 2, with the width's part): {_derived_velocity(solution, state, args.t, args.N, below.sum()) / s:.2f}"
          f" s with GD's {below.sum()} pullers, "
          f"{_derived_velocity(solution, state, args.t, args.N, pulling_map) / s:.2f} s with the map's")
    # persistence: the same deep examples (those still deep) LATER steps on
    later = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=LATER, n_test=0, record_steps=[0, LATER])
    m2, z2 = _margins(setup, X, y, later.a_final, later.W_final)
    still = deep & (m2 - h < -4 * s)
    da, dW = _step_part(setup, X, y, z2, later.a_final, np.flatnonzero(still))
    push2 = _move(setup, X, y, z2, later.a_final, da, dW) - _own_pull(setup, X, z2, later.a_final, args.N) * still
    _, zf2 = _margins(setup, Xf, yf, later.a_final, later.W_final)
    rest2, _ = _degree2_parts(push2, _move(setup, Xf, yf, zf2, later.a_final, da, dW), X, y, Xf, yf)
    both = small & np.isfinite(deep_rest) & np.isfinite(rest2)
    print(f"  persistence: corr(degree >= 2 push of the deep group at t, of its {still.sum()} still deep at t + "
          f"{LATER}) = {np.corrcoef(deep_rest[both], rest2[both])[0, 1]:+.3f} over the training examples, "
          f"{np.corrcoef(deep_rest[both & below], rest2[both & below])[0, 1]:+.3f} over those below h at t")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
