"""``mftheory.feedback_spectrum`` (the degree-2 feedback's spectral law at width M, from the node law) against the
feedback operator of M nodes drawn from the init.

    python bench/feedback_spectrum_law.py [--d 100 --M 400] [--steps 2000] [--seeds 1] [--node-law]

M nodes are drawn from the init and moved along the mean field's node map; F's degree-2 tensor T at the threshold
starts as the nodes' own (at the first step where the threshold x* is below 4, where the feedback starts to act,
as in ``predict``) and is pulled back each step by the nodes' operator over its trace average times the derived
isotropic rate (the operator built term by term: each node's a-part and its D - 1 turns, with the generated
weights). Printed: the retention of its variance at several steps, the isotropic recursion's, the operator's
(for the nodes' own tensor and for an isotropic random start) and the laws' (``feedback_spectrum(...).retention``,
aligned and free). The laws use no drawn node: a Gauss-Hermite grid over the init. About 5 s per draw at Fig. 1.
``--node-law``: the aligned law also with the node law's deformation in its population (``mftheory.node_law``: each
node's s^2 = |w_perp|^2 / d times exp(-x^T Q_t x), x = (a_0, w_par,0), the nodes with large a shrinking their w_perp),
to see whether it moves the law.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import mftheory
from mftheory.feedback_spectrum import (_init_grid, _schedule, derived_rates, feedback_spectrum,
                                        operator_retention, spectral_quantiles)

REACH = 4.0   # predict's rest grid ends there: the feedback acts on thresholds below it


def quadratic_forms(sol, law):
    """(rows, forms): the node map's matrix P_t ((a, w_par) = P_t (a_0, w_0)) and the node law's Q_t per step."""
    bg = sol.setup.beta * np.asarray(sol.g, dtype=float)
    P, q = np.eye(2), np.zeros((2, 2))
    rows, forms = [P.copy()], [np.zeros((2, 2))]
    for t in range(len(sol.t) - 1):
        q = q + 2 * law.pull_rate[t] * np.outer(P[0], P[0])
        P = np.array([[P[0, 0] + bg[t] * P[1, 0], P[0, 1] + bg[t] * P[1, 1]],
                      [P[1, 0] + bg[t] * P[0, 0], P[1, 1] + bg[t] * P[0, 1]]])
        rows.append(P.copy())
        forms.append(q - law.turn_growth[t + 1] * np.outer(P[0], P[0]))
    return rows, forms


def deformed_retention(sol, rates):
    """The aligned law's retention with the node law's deformation in its population: each Gauss-Hermite point's s^2
    times exp(-x^T Q_t x), x = (a_0, w_par,0), Q_t from ``node_law``'s pull rates and turn growths
    (:func:`quadratic_forms`), its h_2 and turn weight taken at that s, solved at the package's steps."""
    setup, k, fw = sol.setup, sol.kernels, sol.variant.finite_width_kernels()
    d, M, D = float(setup.d), setup.M, setup.d - 1
    n = D * (D + 1) / 2 - 1
    a0, w0, weights = _init_grid(setup.sigma_a, setup.sigma_w, 8)
    rows, forms = quadratic_forms(sol, mftheory.node_law(sol))
    live = np.flatnonzero((np.asarray(sol.kappa) > 0) & (np.asarray(sol.x_star) < REACH))
    solved = _schedule(live)
    quantiles, start = [], None
    for i in solved:
        a, w = rows[i][0, 0] * a0 + rows[i][0, 1] * w0, rows[i][1, 0] * a0 + rows[i][1, 1] * w0
        Q = forms[i]
        sigma = setup.sigma_w * np.sqrt(np.exp(-(Q[0, 0] * a0**2 + 2 * Q[0, 1] * a0 * w0 + Q[1, 1] * w0**2)))
        h2 = np.array([fw.degree2_node(wi * float(sol.x_star[i]) / math.sqrt(d), si, d, setup.slope)
                       for wi, si in zip(w, sigma)])
        turn = np.array([k.spread_turn_weight(ai, hi, si, d) for ai, hi, si in zip(a, h2, sigma)])
        own = np.array([k.spread_a_weight(hi, d) for hi in h2])
        start = weights * (a * h2) ** 2 if start is None else start
        quantiles.append(spectral_quantiles(np.concatenate([turn, own]),
                                            np.concatenate([M * weights * (D - 1), M * weights]), n, own=own,
                                            start=start)[1])
    quantiles = np.array(quantiles)
    x = np.ones((len(sol.t), quantiles.shape[1]))
    for r in range(quantiles.shape[1]):
        x[live, r] = np.interp(live, solved, quantiles[:, r])
    return np.cumprod((1 - rates[:, None] * x) ** 2, axis=0).mean(axis=1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--M", type=int, default=None)
    parser.add_argument("--d", type=int, default=None)
    parser.add_argument("--node-law", action="store_true",
                        help="add the aligned law with the node law's deformation in its population")
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if args.M is not None or args.d is not None:   # away from Fig. 1, beta = 2.5 as there
        M = setup.M if args.M is None else args.M
        setup = setup.replace(M=M, d=setup.d if args.d is None else args.d, eta=2.5 * M / setup.alpha)
    sol = mftheory.meanfield(setup, args.steps)
    rates = derived_rates(sol, REACH)
    start = time.perf_counter()
    spectrum = feedback_spectrum(sol, reach=REACH)
    seconds = time.perf_counter() - start
    aligned, free = spectrum.retention(rates), spectrum.retention(rates, "free")
    deformed = deformed_retention(sol, rates) if args.node_law else np.full(len(sol.t), np.nan)
    isotropic = np.cumprod((1 - rates) ** 2)
    report = sorted({t for t in (100, 300, 500, 1000, 1500, 2000, args.steps) if t <= args.steps})
    draws = [operator_retention(sol, rates, seed, report) for seed in range(args.seeds)]
    print(f"d = {setup.d}, M = {setup.M}, beta = {setup.beta:g}: retention of the init's degree-2 variance at the "
          f"threshold; the laws in {seconds:.2f} s ({len(spectrum.solved_at)} solves), the operator over {args.seeds} "
          f"draw(s) of the nodes")
    print(f"{'t':>6} {'isotropic':>10} {'operator':>10} {'law':>10} {'law / op':>9} {'op, free':>10} "
          f"{'law, free':>10} {'law, node law':>14}")
    for t in report:
        op = np.mean([draw[t] for draw in draws], axis=0)
        print(f"{t:>6} {isotropic[t]:>10.4g} {op[0]:>10.4g} {aligned[t]:>10.4g} {aligned[t] / op[0]:>9.3f} "
              f"{op[1]:>10.4g} {free[t]:>10.4g} {deformed[t]:>14.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
