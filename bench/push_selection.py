"""Why do one fixed set's unsatisfied examples get pushed down more than fresh points at the same place? Their push
taken apart by margin history and by node, with the density of preactivations at the nodes' kinks.

Usage (from the repository root; about 30 s on 2 cores)::

    python bench/push_selection.py                    # Fig. 1, N = 25000, t = 300, history over the last 50 steps
    python bench/push_selection.py --N 100000 --t 1500 --back 100

GD (``simulate``, no derived formula) runs on one fixed set to t - back and on to t. At t the unsatisfied examples
pull (hinge: u = 1 each) and move every margin y f by a first-order amount (``bench/crowd_push.py``'s push, all
degrees; an example's own pull taken out). Printed, in units of the median own pull of the unsatisfied examples
with |x_par| < 0.2, for those examples:

- the push's mean and sd at fresh points drawn at those examples' x_par (their labels), and at the training
  examples grouped by margin history: unsatisfied at t - back and at t, unsatisfied at t only (new), satisfied within
  4 own pulls above h, satisfied far above (16). A selection on a persistent push field (the set's unsatisfied
  examples are where the field has pushed down) orders the groups by their margin's history; a competition for the
  kernel that the set's own pulls make would push every member of the set that pulls;
- the push on the unsatisfied examples by node: the readout part (through a_i) and the w part, each over the nodes
  that work for the example (a_i y > 0) and against it, then the w part at the nodes whose kink the example sits at
  (|w_i . x| / |w_i| < 0.03) and away from it, beside the same at the fresh points;
- the density of |w_i . x| / |w_i| just below and above 0 per unit, for the nodes working for and against the
  example, at the unsatisfied examples and at the fresh points (the reference: the weights hold no memory of them);
- last, by depth below the margin (y f < 0, 0 to h/2, h/2 to h), in margin units per step: the own pull, the push
  against fresh points and their sum, what an unsatisfied example nets per step, beside the same for the classes of
  ``predict``'s memorization map on the set's clock (the map's own term is the memorizing part of the self kernel;
  its push is the fading of the memorized margins, the growth of the persistent offset sqrt(sigma_S^2 + V) zeta and
  the own tilt's margin, kappa's growth out: ``finite_size.prediction._fixed_sample_state(..., snapshot_at=t)``).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import mftheory
from crowd_push import _margins, _move, _step_part
from mftheory import finite_size
from fixed_set_steps import gd_at
from push_parts import _own_pull

SMALL = 0.2        # |x_par| below which examples are followed (where the late margins are)
KINK = 0.03        # |w_i . x| / |w_i| under which an example sits at node i's kink


def _parts_by_node(setup, X, y, z, a, da, dW):
    """(readout part, w part), each (n, M): every node's share of the first-order push (own pull included)."""
    c = setup.alpha / setup.M
    readout = y[:, None] * c * np.maximum(z, 0.0) * da
    weights = y[:, None] * c * ((z > 0) * a) * (X @ dW.T) / np.sqrt(setup.d)
    return readout, weights


def _own_parts(setup, X, z, a, N):
    """The own pull's (readout part, w part) per node, first order (``push_parts._own_pull`` split by node)."""
    c = setup.beta / N * setup.alpha / setup.M
    return c * np.maximum(z, 0.0) ** 2, c * ((z > 0) * a ** 2) * (np.einsum("nd,nd->n", X, X) / setup.d)[:, None]


DEPTHS = ((-np.inf, 0.0), (0.0, 0.5), (0.5, 1.0))   # margin bins below h = 1: misclassified, deep, near


def _map_by_depth(setup, N: int, t: int, depths):
    """Per margin bin of the memorization map's classes with |x_par| < SMALL below h at step t (on the set's clock,
    as ``predict`` runs it): (mass share, own term, push with kappa's growth out, and its parts: fading, offset,
    own tilt), mass-weighted means in margin units per step."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution = finite_size.prediction._on_training_clock(mftheory.meanfield(setup, t + 10), N, "fixed")
        tilt_part = finite_size.teacher_tilt._tilt(solution, N, "fixed", frozen=False)
        snap = finite_size.prediction._fixed_sample_state(solution, N, tilt_part, snapshot_at=t)[1].snapshot
    grid, zeta = finite_size._common._MEMO_GRID, finite_size._common._ZETA
    masses = finite_size._common._cell_masses(grid)
    mass = finite_size._common._ZETA_WEIGHTS[:, None] * (masses / masses.sum())[None, :]
    S, L, sigma, below, kappa = snap["memorized"], snap["linear"], snap["sigma"], snap["below"], snap["kappa"]
    margin = [kappa[q] * grid[None, :] + S[q] + L[q] + sigma[q][None, :] * zeta[:, None] for q in range(2)]
    own = snap["own"][None, :] * below[0]
    parts = {"fading": S[1] - S[0] - own, "offset": (sigma[1] - sigma[0])[None, :] * zeta[:, None],
             "own tilt": L[1] - L[0]}
    push = margin[1] - margin[0] - own - (kappa[1] - kappa[0]) * grid[None, :]
    rows = []
    for low, high in depths:
        group = below[0] & (grid < SMALL)[None, :] & (margin[0] >= low) & (margin[0] < high)
        weight = mass[group]
        if weight.sum() == 0:
            rows.append(None)
            continue
        mean = lambda values: float(np.sum(weight * values[group]) / weight.sum())
        rows.append((float(weight.sum()), mean(own), mean(push), {k: mean(v) for k, v in parts.items()}))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=25000)
    parser.add_argument("--t", type=int, default=300)
    parser.add_argument("--back", type=int, default=50, help="steps back to the first look at the margins")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fresh", type=int, default=100_000, help="fresh points pushed beside the set")
    args = parser.parse_args(argv)
    if not 0 < args.back < args.t:
        raise SystemExit(f"--back must lie in 1 .. t - 1 = {args.t - 1}, got {args.back}")
    setup = mftheory.fig1_setup()
    start = time.perf_counter()
    X, y, a_before, W_before = gd_at(setup, args.N, args.seed, args.t - args.back)
    run = mftheory.simulate(setup, X=X, y=y, a0=a_before, W0=W_before, steps=args.back, n_test=0,
                            record_steps=[0, args.back])
    a, W = run.a_final, run.W_final
    h = setup.h
    m_before, _ = _margins(setup, X, y, a_before, W_before)
    m, z = _margins(setup, X, y, a, W)
    below = m < h
    small = np.abs(X[:, 0]) < SMALL
    da, dW = _step_part(setup, X, y, z, a, np.flatnonzero(below))
    own = _own_pull(setup, X, z, a, args.N)
    push = _move(setup, X, y, z, a, da, dW) - own * below
    s = float(np.median(own[below & small]))
    rng = np.random.default_rng(args.seed + 1)
    Xf = rng.standard_normal((args.fresh, setup.d))
    Xf[:, 0] = rng.choice(X[below & small, 0], args.fresh)
    yf = np.where(Xf[:, 0] >= 0, 1.0, -1.0)
    zf = Xf @ W.T / np.sqrt(setup.d)
    push_f = _move(setup, Xf, yf, zf, a, da, dW)
    print(f"N = {args.N}, t = {args.t}: {below.sum()} unsatisfied ({(below & small).sum()} with |x_par| < {SMALL}); "
          f"unit: their median own pull, {s:.3g}; the push of one step by the unsatisfied examples")
    print(f"  fresh points at their x_par                 n = {args.fresh:6d}  mean {push_f.mean() / s:+.2f}  "
          f"sd {push_f.std() / s:.2f}")
    groups = {f"unsatisfied at t - {args.back} and at t": below & (m_before < h),
              "unsatisfied at t only (new)": below & (m_before >= h),
              "satisfied, within 4 own pulls above h": ~below & (m < h + 4 * s),
              "satisfied, more than 16 above h": m > h + 16 * s}
    for name, group in groups.items():
        g = group & small
        if not g.any():
            print(f"  {name:43s} n = {0:6d}")
            continue
        print(f"  {name:43s} n = {g.sum():6d}  mean {push[g].mean() / s:+.2f}  sd {push[g].std() / s:.2f}  "
              f"(margin at t - {args.back} minus h: median {np.median(m_before[g] - h) / s:+.1f})")
    rows = np.flatnonzero(below & small)
    norms = np.linalg.norm(W, axis=1) / np.sqrt(setup.d)
    print("  by node, at the unsatisfied examples (others' pulls: own pull out) | at the fresh points")
    readout, weights = _parts_by_node(setup, X[rows], y[rows], z[rows], a, da, dW)
    own_readout, own_weights = _own_parts(setup, X[rows], z[rows], a, args.N)
    readout_f, weights_f = _parts_by_node(setup, Xf, yf, zf, a, da, dW)
    working_for = a[None, :] * y[rows, None] > 0
    working_for_f = a[None, :] * yf[:, None] > 0
    at_kink = np.abs(z[rows] / norms) < KINK
    at_kink_f = np.abs(zf / norms) < KINK

    def share(values, mask):
        return np.where(mask, values, 0.0).sum(axis=1).mean() / s

    for side, mask, mask_f in (("for", working_for, working_for_f), ("against", ~working_for, ~working_for_f)):
        print(f"    nodes working {side:7s}: readout part {share(readout - own_readout, mask):+.2f} | "
              f"{share(readout_f, mask_f):+.2f};  w part {share(weights - own_weights, mask):+.2f} | "
              f"{share(weights_f, mask_f):+.2f};  of it at the kink {share(weights - own_weights, mask & at_kink):+.3f} "
              f"({(mask & at_kink).sum(axis=1).mean():.1f} nodes) | {share(weights_f, mask_f & at_kink_f):+.3f} "
              f"({(mask_f & at_kink_f).sum(axis=1).mean():.1f} nodes)")
    print(f"  density of w_i . x / |w_i| per unit within {KINK} of 0 (below / above)")
    for name, zs, ys in (("unsatisfied examples", z[rows], y[rows]), ("fresh points", zf, yf)):
        u = zs / norms
        working = a[None, :] * ys[:, None] > 0
        cells = []
        for side, mask in (("for", working), ("against", ~working)):
            under = np.mean((u[mask] > -KINK) & (u[mask] < 0)) / KINK
            over = np.mean((u[mask] >= 0) & (u[mask] < KINK)) / KINK
            cells.append(f"nodes working {side} {under:.2f} / {over:.2f}")
        print(f"    {name:21s} " + ";  ".join(cells))
    print("  by depth below the margin, per step in margin units: own pull, push against fresh points, net (GD | map)")
    mapped = _map_by_depth(setup, args.N, args.t, DEPTHS)
    for (low, high), row in zip(DEPTHS, mapped):
        g = below & small & (m >= low) & (m < high)
        gd = (f"n = {g.sum():5d}  own {own[g].mean():.5f}  push {push[g].mean() - push_f.mean():+.5f}  net "
              f"{own[g].mean() + push[g].mean() - push_f.mean():+.5f}") if g.any() else f"n = {0:5d}"
        if row is None:
            the_map = "no class"
        else:
            share, own_map, push_map, parts = row
            the_map = (f"share {share:.4f}  own {own_map:.5f}  push {push_map:+.5f} (" + ", ".join(
                f"{k} {v:+.5f}" for k, v in parts.items()) + f")  net {own_map + push_map:+.5f}")
        print(f"    y f in [{low:+.1f}, {high:.1f}): GD {gd} | map {the_map}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
