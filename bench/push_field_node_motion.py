"""How fast do the nodes' own motions turn the pullers' push field? GD's trained nodes against the mean-field node
law, with the same pullers.

Usage (from the repository root; about 30 s at N = 25000, 2 minutes at 4e5, on 2 cores)::

    python bench/push_field_node_motion.py                          # Fig. 1, N = 25000 from t = 300
    python bench/push_field_node_motion.py --N 400000 --t 1000 --lags 10 50 100
    python bench/push_field_node_motion.py --online --M 1600        # the width's share (beta held)

Fixed pullers (fresh points at the memorization map's crossing |x_par| = x_c, the teacher's labels) push every
margin by their first-order GD step (``bench/velocity_width.py``'s push); the push is measured at fresh receivers
at the same |x_par|, its part of degree <= 1 in x_perp fitted out per label. The pullers and receivers stay the same
while the nodes move on, and the push at each lag is correlated with the push at t:

- GD's nodes: ``simulate`` (no derived formula) on one fixed set to t, then on for each lag; with ``--online``
  also GD with N fresh examples at every step (``simulate(..., online=True)``): no fixed set, the width alone;
- the mean-field node law on the set's clock (``predict``'s node map, ``MeanFieldSolution.node``): M nodes drawn
  from the init law, (a, w_par) moved by the node map, w_perp as drawn (the mean field moves it only along itself),
  at width M and at 10 M.

With GD's nodes at width M: ``M`` in the rows is the setup's.

The mean field keeps the push's direction where GD turns it: what turns it is the nodes' motion beyond the node
law's, the finite set's and the finite width's (``bench/pull_field_persistence.py`` measures the same with GD's own
pullers). Then GD's nodes at t moved on by the node map alone ((a, w_par), w_perp kept), the same with GD's own
w_perp at the later step, and GD's own (a, w_par) with w_perp kept from t: which part of GD's node motion turns the
push. Last, how far GD's nodes turn their w_perp (sin^2 of the angle, a^2-weighted over the nodes), and with
``--online`` the turn a random walk of the fresh batches' pulls beyond their mean would give (per node and step,
beta^2 a_i^2 U_i (d - 2) / (N^2 d |w_perp,i|^2), U_i the batch's unsatisfied examples active at node i, at GD's
nodes of step t), times T, and the same from one batch's actual kicks with their component along the batch's
sample mean (the tilt's direction, which the loss's feedback pulls back) taken out; and the node law at width M with every node's w_perp turned in a random direction by an
angle proportional to |a_i| with GD's a^2-weighted sin^2 (one fixed set's, and with ``--online`` fresh data's): the
turn alone, in the mean-field law.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mftheory
from fixed_set_steps import gd_at, map_on_the_set_clock
from sample_part_fresh_points import beyond_degree_one

POINTS = (20_000, 40_000)   # pullers, receivers


def _points(rng, n, d, x_par):
    X = rng.standard_normal((n, d))
    labels = rng.choice([-1.0, 1.0], n)
    X[:, 0] = labels * x_par
    return X, labels


def _push(setup, a, W, pullers, labels, receivers, receiver_labels):
    """The pullers' first-order push at the receivers (per unit beta / N), degree <= 1 in x_perp out."""
    d, M = setup.d, a.size
    z = pullers @ W.T / np.sqrt(d)
    da = labels @ np.maximum(z, 0.0)
    dW = a[:, None] * (((z > 0) * labels[:, None]).T @ pullers) / np.sqrt(d)
    zr = receivers @ W.T / np.sqrt(d)
    push = receiver_labels * (setup.alpha / M) * (np.maximum(zr, 0.0) @ da
                                                   + (((zr > 0) * a) * (receivers @ dW.T)).sum(axis=1) / np.sqrt(d))
    return beyond_degree_one(push, receivers, receiver_labels)


def _turn(before, after):
    """The a^2-weighted mean over the nodes of sin^2 of the angle between w_perp before and after."""
    (a, W), (_, W2) = before, after
    cos = np.einsum("ij,ij->i", W[:, 1:], W2[:, 1:]) / (np.linalg.norm(W[:, 1:], axis=1)
                                                       * np.linalg.norm(W2[:, 1:], axis=1))
    return float(np.sum(a ** 2 * (1.0 - cos ** 2)) / np.sum(a ** 2))


def _batch_walk(setup, a, W, N, rng):
    """sin^2 per step (a^2-weighted) of the turn of each node's w_perp by a fresh batch's pulls beyond their mean:
    beta^2 a_i^2 U_i (d - 2) / (N^2 d |w_perp,i|^2), U_i the batch's unsatisfied examples active at node i; and
    the same of one batch's actual kicks (the sum over its unsatisfied examples active at the node of y x_perp, the
    part along w_perp out) with their component along the batch's sample mean (sum of y x_perp over its unsatisfied
    examples, the tilt's direction, which the loss's feedback pulls back) taken out."""
    d = setup.d
    X = rng.standard_normal((N, d))
    y = np.where(X[:, 0] >= 0, 1.0, -1.0)
    z = X @ W.T / np.sqrt(d)
    unsatisfied = y * (setup.alpha / setup.M * np.maximum(z, 0.0) @ a) < setup.h
    active = (unsatisfied[:, None] & (z > 0)).sum(axis=0)
    norms2 = np.sum(W[:, 1:] ** 2, axis=1)
    scale = setup.beta ** 2 * a ** 2 / (N ** 2 * d * norms2)
    weights = a ** 2 / np.sum(a ** 2)
    walk = float(np.sum(weights * scale * active * (d - 2)))
    X_u, y_u = X[unsatisfied][:, 1:], y[unsatisfied]
    kicks = ((z[unsatisfied] > 0) * y_u[:, None]).T @ X_u
    kicks -= (np.sum(kicks * W[:, 1:], axis=1) / norms2)[:, None] * W[:, 1:]
    mean_direction = y_u @ X_u
    mean_direction /= np.linalg.norm(mean_direction)
    kicks -= (kicks @ mean_direction)[:, None] * mean_direction[None, :]
    return walk, float(np.sum(weights * scale * np.sum(kicks ** 2, axis=1)))


def _turned(state, turn, rng):
    """The nodes with every w_perp turned towards a random direction orthogonal to it (norm kept), node i by an
    angle proportional to |a_i| (the batches' walk: sin^2 per step proportional to a_i^2) whose sin^2, a^2-weighted
    over the nodes, is ``turn``."""
    a, W = state
    angle = np.sqrt(turn * np.sum(a ** 2) / np.sum(a ** 4)) * np.abs(a)[:, None]
    perp = W[:, 1:]
    norms = np.linalg.norm(perp, axis=1, keepdims=True)
    other = rng.standard_normal(perp.shape)
    other -= np.sum(other * perp, axis=1, keepdims=True) / norms ** 2 * perp
    other *= norms / np.linalg.norm(other, axis=1, keepdims=True)
    return a, np.hstack([W[:, :1], np.cos(angle) * perp + np.sin(angle) * other])


def _node_map(solution, t, t2, a, w_par):
    """(a, w_par) at t2 of nodes at (a, w_par) at t under the solution's node map (linear in them)."""
    a_unit, w_unit = solution.node(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    to_t = np.array([[a_unit[t, 0], a_unit[t, 1]], [w_unit[t, 0], w_unit[t, 1]]])
    to_t2 = np.array([[a_unit[t2, 0], a_unit[t2, 1]], [w_unit[t2, 0], w_unit[t2, 1]]])
    moved = to_t2 @ np.linalg.solve(to_t, np.vstack([a, w_par]))
    return moved[0], moved[1]


def _meanfield_states(solution, steps, M, rng):
    """(a, W) of M nodes of the node law at each of ``steps``, the same nodes at every step."""
    setup = solution.setup
    a_all, w_par = solution.node(setup.sigma_a * rng.standard_normal(M), setup.sigma_w * rng.standard_normal(M))
    w_perp = setup.sigma_w * rng.standard_normal((M, setup.d - 1))
    return [(a_all[t], np.hstack([w_par[t][:, None], w_perp])) for t in steps]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=25_000)
    parser.add_argument("--t", type=int, default=300)
    parser.add_argument("--lags", type=int, nargs="+", default=[10, 30, 100])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--online", action="store_true", help="also GD with N fresh examples at every step")
    parser.add_argument("--M", type=int, default=None, help="the width (Fig. 1's, 400, by default)")
    args = parser.parse_args(argv)
    lags = sorted(set(args.lags))
    if args.N < 1 or args.t < 1 or lags[0] < 1 or (args.M is not None and args.M < 1):
        raise SystemExit("--N, --t, --M and every --lags must be positive")
    setup = mftheory.fig1_setup()
    if args.M is not None:   # beta = eta alpha / M held: the same mean-field dynamics at another width
        setup = setup.replace(M=args.M, eta=setup.eta * args.M / setup.M)
    start = time.perf_counter()
    solution, state, _ = map_on_the_set_clock(setup, args.N, args.t, lags[-1])
    x_c = max(setup.h - state.memorized[args.t], 0.0) / state.kappa[args.t]
    rng = np.random.default_rng(args.seed + 1)
    pullers, labels = _points(rng, POINTS[0], setup.d, x_c)
    receivers, receiver_labels = _points(rng, POINTS[1], setup.d, x_c)

    def correlations(states):
        pushes = [_push(setup, a, W, pullers, labels, receivers, receiver_labels) for a, W in states]
        return [float(np.corrcoef(pushes[0], p)[0, 1]) for p in pushes[1:]]

    X, y, a, W = gd_at(setup, args.N, args.seed, args.t)
    gd_states, done = [(a, W)], 0
    for lag in lags:
        run = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=lag - done, n_test=0, record_steps=[0, lag - done])
        a, W, done = run.a_final, run.W_final, lag
        gd_states.append((a, W))
    rows = {"GD's nodes, one fixed set": correlations(gd_states)}
    turns = [_turn(gd_states[0], state) for state in gd_states[1:]]
    base = _meanfield_states(solution, [args.t], setup.M, rng)[0]
    rows["node law, w_perp turned by GD's angle"] = correlations([base] + [_turned(base, turn, rng) for turn in turns])
    # GD's nodes at t carried by the node map (a, w_par) and by GD's w_perp, each part alone
    a_t, W_t = gd_states[0]
    mapped = [_node_map(solution, args.t, args.t + lag, a_t, W_t[:, 0]) for lag in lags]
    rows["GD's nodes at t, (a, w_par) by the node map"] = correlations(
        [(a_t, W_t)] + [(a_m, np.hstack([w_m[:, None], W_t[:, 1:]])) for a_m, w_m in mapped])
    rows["  the same with GD's w_perp"] = correlations(
        [(a_t, W_t)] + [(a_m, np.hstack([w_m[:, None], W[:, 1:]])) for (a_m, w_m), (_, W) in zip(mapped, gd_states[1:])])
    rows["  GD's (a, w_par), w_perp of t"] = correlations(
        [(a_t, W_t)] + [(a, np.hstack([W[:, :1], W_t[:, 1:]])) for a, W in gd_states[1:]])
    if args.online:
        run = mftheory.simulate(setup, N=args.N, steps=args.t, seed=args.seed, n_test=0, record_steps=[0, args.t],
                                online=True)
        a, W = run.a_final, run.W_final
        online_states, done = [(a, W)], 0
        for k, lag in enumerate(lags):
            run = mftheory.simulate(setup, N=args.N, a0=a, W0=W, steps=lag - done, seed=args.seed + 1 + k, n_test=0,
                                    record_steps=[0, lag - done], online=True)
            a, W, done = run.a_final, run.W_final, lag
            online_states.append((a, W))
        rows["GD's nodes, N fresh examples per step"] = correlations(online_states)
        online_turns = [_turn(online_states[0], state) for state in online_states[1:]]
        walk, walk_spread = _batch_walk(setup, *online_states[0], args.N, rng)
        # the node law with each node's w_perp turned in a random direction by GD's rms angle (fresh data)
        rows["node law, turned by GD's angle, fresh data"] = correlations(
            [base] + [_turned(base, turn, rng) for turn in online_turns])
    for width in (setup.M, 10 * setup.M):
        rows[f"mean-field node law, M = {width}"] = correlations(
            _meanfield_states(solution, [args.t] + [args.t + lag for lag in lags], width, rng))
    print(f"Fig. 1, M = {setup.M}, N = {args.N}, from t = {args.t}, pullers and receivers at x_c = {x_c:.4f} "
          f"({time.perf_counter() - start:.0f} s): correlation of the push with itself at t")
    print("  lag (steps)" + " " * 30 + "".join(f"{lag:>8d}" for lag in lags))
    for name, values in rows.items():
        print(f"  {name:<41s}" + "".join(f"{v:8.4f}" for v in values))
    print(f"  {'GD, one fixed set: sin^2 of w_perp turn':<41s}" + "".join(f"{v:8.4f}" for v in turns)
          + "   (a^2-weighted mean over the nodes)")
    if args.online:
        print(f"  {'GD, fresh data: sin^2 of w_perp turn':<41s}" + "".join(f"{v:8.4f}" for v in online_turns))
        print(f"  {'  batch random walk, per step x T':<41s}" + "".join(f"{walk * lag:8.4f}" for lag in lags))
        print(f"  {'  the same, sample-mean direction out':<41s}" + "".join(f"{walk_spread * lag:8.4f}" for lag in lags))


if __name__ == "__main__":
    main()
