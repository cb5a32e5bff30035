"""Does the node law's deformation (``mftheory.node_law``: each node's own pull-back shrinks the w_perp of the nodes
with large a) move the degree-2 feedback's spectral law?

    python bench/feedback_spectrum_node_law.py [--d 100 --M 400] [--steps 2000]

``mftheory.feedback_spectrum`` takes its population on the mean-field node map with |w_perp| at its init mean. The
node law's feedback multiplies each node's s^2 = |w_perp|^2 / d by exp(-x^T Q_t x), x = (a_0, w_par,0), Q_t the
quadratic form of ``node_law``'s recursion (its pull rates and turn growths). Here the same law is solved with
each Gauss-Hermite point's h_2 and turn weight at its deformed s (``spectral_quantiles``, the generated weights), at
the same steps, and the retention of the init's degree-2 variance compared with the package's.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import mftheory
from mftheory.feedback_spectrum import (_init_grid, _schedule, derived_rates, feedback_spectrum,
                                        spectral_quantiles)


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--M", type=int, default=None)
    parser.add_argument("--d", type=int, default=None)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if args.M is not None or args.d is not None:   # away from Fig. 1, beta = 2.5 as there
        M = setup.M if args.M is None else args.M
        setup = setup.replace(M=M, d=setup.d if args.d is None else args.d, eta=2.5 * M / setup.alpha)
    sol = mftheory.meanfield(setup, args.steps)
    k, fw = sol.kernels, sol.variant.finite_width_kernels()
    law = mftheory.node_law(sol)
    rates = derived_rates(sol)
    d, M, D = float(setup.d), setup.M, setup.d - 1
    n = D * (D + 1) / 2 - 1
    a0, w0, weights = _init_grid(setup.sigma_a, setup.sigma_w, 8)
    rows, forms = quadratic_forms(sol, law)
    live = np.flatnonzero((np.asarray(sol.kappa) > 0) & (np.asarray(sol.x_star) < 4.0))
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
    deformed = np.cumprod((1 - rates[:, None] * x) ** 2, axis=0).mean(axis=1)
    package = feedback_spectrum(sol).retention(rates)
    print(f"d = {setup.d}, M = {M}: retention of the init's degree-2 variance at the threshold")
    print(f"{'t':>6} {'package':>10} {'node law':>10} {'ratio':>7} {'E[a^2 s^2] factor':>18}")
    for t in sorted({args.steps // 4, args.steps // 2, args.steps}):
        print(f"{t:>6} {package[t]:>10.4g} {deformed[t]:>10.4g} {deformed[t] / package[t]:>7.3f} "
              f"{law.variance_factor[t]:>18.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
