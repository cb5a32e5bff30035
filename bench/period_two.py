"""The step-to-step motion of F in a run with one fixed training set: its size and its lag-1 correlation.

Usage (from the repository root; about 2 minutes on 2 cores)::

    python bench/period_two.py                         # Fig. 1, N = 25000 at t = 400 and N = 100000 at t = 1000
    python bench/period_two.py --runs 25000:400 --steps 20
    python bench/period_two.py --runs 25000:800 --eta 500    # the same eta t at half the learning rate

GD (``simulate``, no derived formula) is run to step t, then one step at a time for ``--steps`` more steps. At every
step the margins y f(x) of the training examples and of 20000 fresh points are computed from the parameters, and
their change over one step, less its mean over each group, is summarised by margin band: its sd and the correlation
between the changes of consecutive steps (-1: F flips back and forth every step, a period-2 oscillation). The same
for the effective teacher v = (1/M) sum_i a_i w_i: the size of its change perpendicular to w* per step, the cosine
between consecutive changes, and its angle to w*. The finite-size theory (``mftheory.finite_size``) follows a smooth
response of F over GD steps; this measures what it leaves out. Also printed: the training f_unsat at every step.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mftheory

BANDS = ((0.95, 1.05), (1.5, 2.0), (3.0, 5.0))


def _margins(setup, c_act, X, y, a, W):
    z = X @ W.T / np.sqrt(setup.d)
    return y * (setup.alpha / setup.M * c_act(z) @ a)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["25000:400", "100000:1000"], help="N:t pairs")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eta", type=float, default=None, help="learning rate (default: Fig. 1's)")
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if args.eta is not None:
        setup = setup.replace(eta=args.eta)
    if setup.activation != "relu":   # pragma: no cover - fig1_setup is ReLU
        raise SystemExit("this diagnostic evaluates F for the ReLU only")
    relu = lambda z: np.maximum(z, 0.0)
    for spec in args.runs:
        N, t0 = (int(v) for v in spec.split(":"))
        start = time.perf_counter()
        rng = np.random.default_rng(args.seed)
        X = rng.standard_normal((N, setup.d))
        y = np.where(X[:, 0] >= 0, 1.0, -1.0)
        X_fresh = rng.standard_normal((20_000, setup.d))
        y_fresh = np.where(X_fresh[:, 0] >= 0, 1.0, -1.0)
        run = mftheory.simulate(setup, N=N, steps=t0, seed=args.seed, X=X, y=y, n_test=0, record_steps=[0, t0])
        a, W = run.a_final, run.W_final
        train, fresh, unsat = [_margins(setup, relu, X, y, a, W)], [_margins(setup, relu, X_fresh, y_fresh, a, W)], []
        teacher = [(a[:, None] * W).mean(axis=0)]
        for _ in range(args.steps):
            run = mftheory.simulate(setup, N=N, steps=1, seed=args.seed, X=X, y=y, a0=a, W0=W, n_test=0,
                                    record_steps=[0, 1])
            a, W = run.a_final, run.W_final
            train.append(_margins(setup, relu, X, y, a, W))
            fresh.append(_margins(setup, relu, X_fresh, y_fresh, a, W))
            unsat.append(run.f_unsat[0])
            teacher.append((a[:, None] * W).mean(axis=0))
        print(f"N = {N}, eta = {setup.eta:g}, steps {t0} to {t0 + args.steps} ({time.perf_counter() - start:.0f} s)")
        for name, margins in (("training", np.array(train)), ("fresh", np.array(fresh))):
            for lo, hi in BANDS:
                inside = (margins[0] > lo) & (margins[0] < hi)
                change = np.diff(margins, axis=0)[:, inside]
                change -= change.mean(axis=1, keepdims=True)
                lag1 = np.mean([np.corrcoef(change[k], change[k + 1])[0, 1] for k in range(len(change) - 1)])
                print(f"  {name:8s} margin in ({lo}, {hi}), {inside.sum():6d} points: change per step sd "
                      f"{change.std():.2e}, lag-1 correlation {lag1:+.2f}")
        teacher = np.array(teacher)
        perp = np.diff(teacher, axis=0)[:, 1:]
        norms = np.linalg.norm(perp, axis=1)
        cosine = np.mean([perp[k] @ perp[k + 1] / (norms[k] * norms[k + 1]) for k in range(len(perp) - 1)])
        angle = np.arctan2(np.linalg.norm(teacher[:, 1:], axis=1), teacher[:, 0])
        print(f"  effective teacher v: perpendicular change per step {norms.mean():.3f}, cosine of consecutive changes "
              f"{cosine:+.2f}, angle to w* {angle.min():.5f} to {angle.max():.5f}")
        print(f"  training f_unsat per step: {' '.join(f'{v:.4f}' for v in unsat)}", flush=True)


if __name__ == "__main__":
    main()
