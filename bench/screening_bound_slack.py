"""How much the simulator's exact screening re-checks late in a Fig. 1 run, and whether a low-rank bound would help.

Usage (from the repository root; about 1 minute on 2 cores)::

    python bench/screening_bound_slack.py                  # N = 25000, anchor at t = 400, 20 steps
    python bench/screening_bound_slack.py --N 100000 --t 1000

GD (``simulate``) is run to an anchor step t, then one step at a time for ``--period`` steps. At a few lags after the
anchor it prints the share of the training set whose slack m0 - h (margins at the anchor) does not exceed the
screening bound between the anchor and that step (those the simulator must re-check; validate/_kernels.py: the
column term A |x_1| plus the per-unit and spectral-norm terms B |x_perp|), against the share unsatisfied at that
step, and the parts of B. It then tries a tighter rigorous bound on the weight term, |a| (||dW_perp V|| ||V^T x_perp||
+ ||dW_perp (I - V V^T)|| |x_perp|), with V the top r right singular vectors of the displacement over the period
before the anchor (the directions GD moved along), checks it holds on every example, and prints its share: the
displacement's singular values show whether a low-rank V can catch it, and the bound over the true change of
each margin how loose the norm bounds are (the sum over the M units is bounded term by term).

Two more shares per lag: the floor, the examples whose slack does not exceed the true change of their margin (what
an exact oracle would have to re-check), and the (leaky) ReLU split, sigma(z) = (1 + s)/2 z + |1 - s|/2 |z|: the
linear part of f's change is exact, alpha (1 + s) / (2 M sqrt d) (a'W' - aW) . x, one dot product per example, and
only the |z| part is bounded, by |1 - s| / 2 times the same bound.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import mftheory
from mftheory.validate.simulator import draw_problem, network_output, simulate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=25_000)
    parser.add_argument("--t", type=int, default=400, help="the anchor step")
    parser.add_argument("--period", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    P = args.period
    X, y, a0, W0, _, _ = draw_problem(setup, args.N, seed=args.seed, n_test=0)
    run = simulate(setup, X=X, y=y, a0=a0, W0=W0, steps=args.t - P, n_test=0, record_steps=[args.t - P])
    path = [(run.a_final, run.W_final)]
    for _ in range(2 * P):
        run = simulate(setup, X=X, y=y, a0=path[-1][0], W0=path[-1][1], steps=1, n_test=0, record_steps=[1])
        path.append((run.a_final, run.W_final))
    a_c, W_c = path[P]
    M, d = W_c.shape
    scale = setup.alpha / (M * math.sqrt(d))
    x_perp, x_1 = X[:, 1:], np.abs(X[:, 0])
    norm_perp = np.linalg.norm(x_perp, axis=1)
    slack = y * network_output(setup, a_c, W_c, X) - setup.h
    before = (W_c - path[0][1])[:, 1:]
    singular = np.linalg.svd(before, compute_uv=False)
    print(f"N = {args.N}, anchor t = {args.t}: unsatisfied there {np.mean(slack < 0):.4f}; the displacement over the "
          f"{P} steps before, singular values / the largest: {' '.join(f'{v:.2f}' for v in singular[:8] / singular[0])}")
    _, _, Vt = np.linalg.svd(before, full_matrices=False)
    for r in (1, 4, 16):
        V = Vt[:r].T
        projected = np.linalg.norm(x_perp @ V, axis=1)
        print(f"  r = {r}:")
        for lag in (1, 5, 10, P - 1):
            a, W = path[P + lag]
            da, dW = a - a_c, W - W_c
            column = scale * (np.abs(da) @ np.abs(W[:, 0]) + np.abs(a_c) @ np.abs(dW[:, 0]))
            perp_a = scale * min(np.abs(da) @ np.linalg.norm(W[:, 1:], axis=1),
                                 np.linalg.norm(da) * np.linalg.norm(W[:, 1:], 2))
            dW_perp = dW[:, 1:]
            perp_w = scale * min(np.abs(a_c) @ np.linalg.norm(dW_perp, axis=1),
                                 np.linalg.norm(a_c) * np.linalg.norm(dW_perp, 2))
            along = scale * np.linalg.norm(a_c) * np.linalg.norm(dW_perp @ V, 2)
            rest = scale * np.linalg.norm(a_c) * np.linalg.norm(dW_perp - (dW_perp @ V) @ V.T, 2)
            today = column * x_1 + (perp_a + perp_w) * norm_perp
            low_rank = column * x_1 + perp_a * norm_perp + np.minimum(perp_w * norm_perp,
                                                                      along * projected + rest * norm_perp)
            margins = y * network_output(setup, a, W, X)
            moved = np.abs(margins - setup.h - slack)
            assert np.all(moved <= low_rank * (1 + 1e-9) + 1e-12), "the low-rank bound failed"
            s_ = setup.slope
            split = ((1 + s_) / 2 * scale * np.abs(X @ (a @ W - a_c @ W_c)) + abs(1 - s_) / 2 * today)
            assert np.all(moved <= split * (1 + 1e-9) + 1e-12), "the split bound failed"
            print(f"    {lag:3d} steps after: re-checked {np.mean(slack <= today):.4f} (low-rank bound "
                  f"{np.mean(slack <= low_rank):.4f}, split {np.mean(slack <= split):.4f}, floor "
                  f"{np.mean(slack <= moved):.4f}), unsatisfied {np.mean(margins < setup.h):.4f}; the bound over "
                  f"the true change, median {np.median(today / np.maximum(moved, 1e-300)):.0f}; B's parts: "
                  f"a's change {perp_a:.2e}, W's change {perp_w:.2e} (along V {along:.2e}, the rest {rest:.2e})")


if __name__ == "__main__":
    main()
