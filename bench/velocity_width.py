"""Is the derived velocity the infinite-width limit of GD's? The pullers' degree >= 2 push in the trained network,
and in networks of the same node law and more nodes, extrapolated in 1/M.

Usage (from the repository root; about 1 minute on 2 cores)::

    python bench/velocity_width.py                       # Fig. 1, N = 25000 at t = 300
    python bench/velocity_width.py --t 600
    python bench/velocity_width.py --N 100000 --t 1500

GD (``simulate``, no derived formula) is run on one fixed set to step t, where U examples are unsatisfied. As many
fresh points pull, each at the memorization map's crossing |x_par| = x_c with the teacher's label (``--labels
random``: a random one), and their first-order
push (``bench/crowd_push.py``) is measured at fresh points at the same |x_par|, its part of degree <= 1 in x_perp
fitted out per label: the setting ``velocity_sd`` (derivations/finite_sample.py) is derived for. The same in
networks that keep every node's a, w_par and |w_perp| and draw its direction in x_perp afresh, K copies of each (M' =
K M nodes, the same node law, the output scaled by alpha / M'). The variance, V_inf + V_1 / M' (the kernel's part
and the width's random features), is extrapolated from M' = M and 4 M. ``--nodes meanfield`` draws the nodes from
the mean-field node law at step t instead, the law the derivation averages over. Printed in units of s (the map's own
step): the pushes measured and their two parts, beside the derived ones (``pull_amplitude``: Var(rho^2) A_2^2 + W_2
/ M per pulling example), at the mean-field law's moments and at the trained nodes' own (mean a^2, w_par^2, a w_par).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mftheory
from crowd_push import _margins
from fixed_set_steps import gd_at, map_on_the_set_clock
from push_parts import _derived_velocity
from sample_part_fresh_points import beyond_degree_one

RECEIVERS = 40_000


def _push_sd(setup, a, W, N, pullers, labels, receivers, receiver_labels):
    """sd over the receivers of the pullers' first-order push on their margins, degree <= 1 in x_perp out."""
    d, M = setup.d, a.size
    z = pullers @ W.T / np.sqrt(d)
    da = setup.beta / N * (labels @ np.maximum(z, 0.0))
    dW = setup.beta / N * a[:, None] * (((z > 0) * labels[:, None]).T @ pullers) / np.sqrt(d)
    zr = receivers @ W.T / np.sqrt(d)
    push = receiver_labels * (setup.alpha / M) * (np.maximum(zr, 0.0) @ da
                                                   + (((zr > 0) * a) * (receivers @ dW.T)).sum(axis=1) / np.sqrt(d))
    return beyond_degree_one(push, receivers, receiver_labels).std()


def _resampled(a, W, copies, rng):
    """``copies`` nodes per node of (a, W): the same a, w_par and |w_perp|, a fresh direction in x_perp."""
    norms = np.linalg.norm(W[:, 1:], axis=1, keepdims=True)
    blocks = []
    for _ in range(copies):
        directions = rng.standard_normal(W[:, 1:].shape)
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        blocks.append(np.hstack([W[:, :1], directions * norms]))
    return np.tile(a, copies), np.vstack(blocks)


def _meanfield_nodes(solution, t, M, rng):
    """M nodes of the mean-field law at step t: (a, w_par) from the node map, w_perp at its initial law."""
    setup = solution.setup
    a, w_par = (v[t] for v in solution.node(setup.sigma_a * rng.standard_normal(M),
                                             setup.sigma_w * rng.standard_normal(M)))
    return a, np.hstack([w_par[:, None], setup.sigma_w * rng.standard_normal((M, setup.d - 1))])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=25000)
    parser.add_argument("--t", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--labels", choices=("teacher", "random"), default="teacher",
                        help="the pullers' labels: the teacher's sign of x_par (their pulls then share a coherent "
                             "part, the drive) or random (no coherent part: only the pulls' random sum)")
    parser.add_argument("--nodes", choices=("trained", "meanfield"), default="trained",
                        help="the resampled networks' nodes: the trained network's a, w_par, |w_perp| with fresh "
                             "directions, or drawn from the mean-field node law at step t (the law the derivation "
                             "averages over)")
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if setup.activation != "relu":   # pragma: no cover - fig1_setup is ReLU
        raise SystemExit("this diagnostic differentiates the ReLU network only")
    start = time.perf_counter()
    solution, state, s = map_on_the_set_clock(setup, args.N, args.t, 1)
    X, y, a, W = gd_at(setup, args.N, args.seed, args.t)
    U = int((_margins(setup, X, y, a, W)[0] < setup.h).sum())
    x_c = max(setup.h - state.memorized[args.t], 0.0) / state.kappa[args.t]
    rng = np.random.default_rng(args.seed + 1)
    labels = rng.choice([-1.0, 1.0], U)
    pullers = rng.standard_normal((U, setup.d))
    pullers[:, 0] = labels * x_c
    if args.labels == "random":
        labels = rng.choice([-1.0, 1.0], U)
    receiver_labels = rng.choice([-1.0, 1.0], RECEIVERS)
    receivers = rng.standard_normal((RECEIVERS, setup.d))
    receivers[:, 0] = receiver_labels * x_c
    push = lambda a_, W_: _push_sd(setup, a_, W_, args.N, pullers, labels, receivers, receiver_labels) / s
    trained = push(a, W)
    if args.nodes == "meanfield":
        at_m, at_4m = (push(*_meanfield_nodes(solution, args.t, copies * setup.M, rng)) for copies in (1, 4))
    else:
        at_m, at_4m = push(*_resampled(a, W, 1, rng)), push(*_resampled(a, W, 4, rng))
    width_part = (at_m ** 2 - at_4m ** 2) / (1 - 1 / 4)      # V_1 / M
    infinite = np.sqrt(max(at_m ** 2 - width_part, 0.0))
    law = "mean-field node law" if args.nodes == "meanfield" else "its nodes, fresh directions"
    print(f"N = {args.N}, t = {args.t}: U = {U} pullers at x_c = {x_c:.4f}; degree >= 2 push sd per step, in s = "
          f"{s:.3g}")
    print(f"  GD's trained network (M = {setup.M}): {trained:.3f}; {law}: M' = {setup.M}: "
          f"{at_m:.3f}, M' = {4 * setup.M}: {at_4m:.3f}; extrapolated: the kernel's part (M -> infinity) "
          f"{infinite:.3f}, the width's part at M = {setup.M} {np.sqrt(max(width_part, 0.0)):.3f}")
    trained_moments = (np.mean(a ** 2), np.mean(W[:, 0] ** 2), np.mean(a * W[:, 0]))
    for name, moments in (("the mean-field node law", None), ("the trained nodes' moments", trained_moments)):
        whole = _derived_velocity(solution, state, args.t, args.N, U, moments=moments) / s
        kernel = _derived_velocity(solution, state, args.t, args.N, U, width=False, moments=moments) / s
        print(f"  derived at {name}: the kernel's part {kernel:.3f}, the width's part at M = {setup.M} "
              f"{np.sqrt(max(whole ** 2 - kernel ** 2, 0.0)):.3f}, both ({'velocity_sd'}) {whole:.3f}")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
