"""The node law with the loss's feedback on each node (``mftheory.node_law``) against GD's, fresh data at every step.

Usage (from the repository root)::

    python bench/node_law.py                        # d = 20, M = 100 / 200 / 400 / 800, 300 steps, 2 runs each (~3 min)
    python bench/node_law.py --fig1 --seeds 1       # Fig. 1 (d = 100, M = 400), 2000 steps (~15 min per run)

GD (``simulate(..., online=True)``: N new examples at every step, no fixed set to memorize) gives each node's a_i
and s_i = |w_perp,i| / sqrt(d); printed beside the prediction at the last step: E[a^2 s^2] / (E[a^2] s_0^2) (the
factor on every frozen part of F's fluctuation at x_par = 0 for ReLU), E[s^2] / s_0^2 and the correlation of a^2 with
s^2 (the frozen-init law: 1, 1 and 0). At d = 20 the widths are taken with beta = eta alpha / M held, so the mean
field is the same at every width and the feedback's effect, of order 1/M, is read off as the slope of -log(factor)
against 1/M (its intercept: what does not scale as 1/M, such as each step's fresh batch shaking w_perp). Printed
beside the prediction: its own pull-back alone (the turns left out).
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

import mftheory
from mftheory.validate.simulation_cache import reuse_simulations


def node_law(setup, a, W):
    """E[a^2 s^2] / (E a^2 s_0^2), E[s^2] / s_0^2 and corr(a^2, s^2) of one network's nodes."""
    s0 = setup.sigma_w**2 * (setup.d - 1) / setup.d
    s2 = np.sum(W[:, 1:] ** 2, axis=1) / setup.d
    return np.array([np.mean(a**2 * s2) / np.mean(a**2) / s0, s2.mean() / s0, np.corrcoef(a**2, s2)[0, 1]])


def compare(setup, N, steps, seeds, n_test=1000, record=None):
    solution = mftheory.meanfield(setup, steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        law = mftheory.node_law(solution)
    with reuse_simulations(enabled=True):
        runs = [mftheory.simulate(setup, N=N, steps=steps, seed=seed, n_test=n_test,
                                  record_steps=[0, steps] if record is None else record, online=True)
                for seed in range(seeds)]
    laws = np.array([node_law(setup, run.a_final, run.W_final) for run in runs])
    mean = laws.mean(axis=0)
    se = laws.std(axis=0, ddof=1) / np.sqrt(len(runs)) if len(runs) > 1 else np.full(3, np.nan)
    print(f"  M = {setup.M:4d}: E[a^2 s^2] / (E a^2 s0^2) GD {mean[0]:.4f} +- {se[0]:.4f}, theory "
          f"{law.variance_factor[steps]:.4f} (its own pull-back alone {pull_alone(setup, law, steps):.4f}); E s^2 / s0^2 "
          f"GD {mean[1]:.4f}, theory {law.s2_factor[steps]:.4f}; corr(a^2, s^2) GD {mean[2]:+.3f}", flush=True)
    return mean[0], law.variance_factor[steps]


def pull_alone(setup, law, steps):
    """The factor with the turns left out: the prediction's own Gaussian integral with G = 0."""
    k = mftheory.variant_of(setup).kernels
    beta_g = setup.beta * np.asarray(mftheory.meanfield(setup, steps).g)
    p = np.eye(2)
    q = np.zeros(3)
    for t in range(steps):
        rho = law.pull_rate[t]
        q += 2 * rho * np.array([p[0, 0] ** 2, p[0, 0] * p[0, 1], p[0, 1] ** 2])
        p = np.array([[p[0, 0] + beta_g[t] * p[1, 0], p[0, 1] + beta_g[t] * p[1, 1]],
                      [p[1, 0] + beta_g[t] * p[0, 0], p[1, 1] + beta_g[t] * p[0, 1]]])
    return k.self_pull_variance(p[0, 0], p[0, 1], *q, setup.sigma_a, setup.sigma_w)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--fig1", action="store_true", help="Fig. 1 (d = 100, M = 400, N = 1e5 per step, 2000 steps)")
    args = parser.parse_args(argv)
    if args.fig1:
        print("Fig. 1, fresh data (N = 1e5 per step), t = 2000:")
        # the runs bench/degree_parts.py --online stores (same test set and recorded steps)
        compare(mftheory.fig1_setup(), 100_000, 2000, args.seeds, n_test=100_000,
                record=[0, 100, 200, 300, 400, 500, 700, 1000, 1500, 2000])
        return
    base = mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=200)
    print("d = 20, beta = 2.5 at every width, fresh data (N = 40000 per step), t = 300:")
    widths = (100, 200, 400, 800)
    values = np.array([compare(base.replace(M=M, eta=base.eta * M / base.M), 40_000, 300, args.seeds)
                       for M in widths])
    inverse = 1.0 / np.array(widths, dtype=float)
    for name, column in (("GD", 0), ("theory", 1)):
        slope, intercept = np.polyfit(inverse, -np.log(values[:, column]), 1)
        print(f"  -log(factor) = {slope:.1f} / M + {intercept:+.4f}  ({name}, least squares over the widths)")


if __name__ == "__main__":
    main()
