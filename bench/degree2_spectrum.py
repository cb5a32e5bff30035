"""Does the spread of the degree-2 feedback's spectrum at finite width keep more of F's degree-2 part than the
derived (isotropic) feedback leaves?

    python bench/degree2_spectrum.py [--steps 2000] [--seeds 4] [--M 400 --d 100]
                                     [--isotropic-start] [--equal-weights] [--no-a-part] [--local-law]

With fresh data at Fig. 1, GD's degree-2 part of F at x_par = 0 is 0.0029 at t = 2000 (5% of its diagonal, the
nodes' own parts), where ``predict`` gives 0.0014 (`bench/degree_parts.py --online`): the derived feedback leaves
0.8% of the frozen variance. The derivation (derivations/fluctuations.py, step ``rest_feedback``) pulls the
degree-2 tensor T back by one rate, the average of the feedback over isotropic node directions. With M nodes the
feedback is an operator on the D(D+1)/2 - 1 traceless symmetric tensors (D = d - 1), the sum over the nodes of an
a-part (node i's a moves by h_2,i w_i.T.w_i: rank one) and a w-part (node i's w_perp turns by a_i h_2,i / s P T w_i:
the D - 1 tensors sym(v w_i^T), v orthogonal to w_i), weighted as the derivation weights them; its spectrum spreads
about the isotropic rate, and what the feedback leaves of a fluctuation after many steps sits in its slow
directions.

Here M nodes are drawn from the init and moved along the mean field's node map (a, w_par) <- (a + beta g w_par,
w_par + beta g a), w_perp keeping its init direction and length (the frozen law's); T starts as the nodes' own
frozen degree-2 tensor, (alpha / 2M) sum_i a_i h_2,i w_i w_i^T with h_2 = s phi(mu / s) at mu = w_par x* / sqrt(d)
(ReLU), and each step it grows with the nodes as the derivation has it (a scalar) and is pulled back by
T <- T - (r / lam) L(T): r the derived rate at the threshold, lam the isotropic average of L (its trace over the
tensors), so that the isotropic version gives the derivation's damping exactly. Printed at several steps: the
derivation's retention (amplitude squared), the same from the isotropic recursion on these nodes, and the
retention with the nodes' operator; and the effective number of nodes (E a^2 h_2^2)^2 / E[(a^2 h_2^2)^2] that
sets the spread. About 5 s per seed at Fig. 1 (one core). ``--isotropic-start``: T starts as a random isotropic
traceless tensor instead of the nodes' own (is the init's alignment with the nodes what is kept?);
``--equal-weights``: every node's weight in the operator replaced by the nodes' mean (is it the number of nodes or
their unequal weights that spreads the spectrum?); ``--no-a-part``: the operator without its a-part (the nodes'
turns alone, both in the recursion and in its trace average). Last column (``free``): the same retention for a T starting
isotropic, from the spectral law alone: the law of the operator over its trace average, computed from its weights
at each reported step by the Marchenko-Pastur equation with population weights (each node's D - 1 turn directions
and its a-direction as rank-one terms of their weight), m(z) = 1 / (-z + (1/n) sum_j tau_j / (1 + tau_j m(z))),
n = D(D+1)/2 - 1, and the retention as the law's average of prod_s (1 - r_s x)^2 (the shape taken as the
reported step's at every earlier step): whether the spread is that law, the route for a derivation.

``--local-law`` (minutes per draw: the law is solved at about 100 steps) adds two columns that follow the law as
the nodes move instead of taking the reported step's shape for every step, the eigenvalue at each quantile q of the
law carried through the steps (the quantile coupling: prod_s (1 - r_s x_s(q))^2 averaged over q, x_s the law's
quantile function at step s, held between the steps it is solved at). ``free, q``: the law of the whole operator,
for a T independent of the nodes (compare with ``--isotropic-start``'s operator column). ``aligned, q``: T the
nodes' own tensor sum_i c_i P_i, P_i the traceless part of u_i u_i^T, which is the direction of node i's a-part:
its own turns are orthogonal to P_i and the other nodes' parts are independent of it, so P_i's spectral measure has
the Stieltjes transform m / (1 + kappa_i m) (Sherman-Morrison on its own a-part, weight kappa_i; m the whole law's),
mixed over the nodes with the weights c_i^2 = (a_i h_2,i)^2 of the start. Early the a-parts dominate (a_i is small)
and P_i sits far above the bulk; as a_i grows it sinks into it, which the reported step's shape alone misses.
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import mftheory
from mftheory.dynamics import meanfield
from mftheory.finite_size._common import _node_moments


def stieltjes(taus, dim, points, eta=None, iterations=1500):
    """(x, m): the Stieltjes transform m(x + i eta) of the law of sum_j tau_j x_j x_j^T (x_j unit, isotropic in
    ``dim`` dimensions) over its trace average, from the weighted Marchenko-Pastur equation
    m = 1 / (-z + (1/n) sum_j tau_j / (1 + tau_j m)) (the weights grouped in a histogram), on ``points`` points
    up to past the largest weight; ``eta`` None: twice the grid's spacing, so that narrow bands are resolved."""
    taus = np.asarray(taus, dtype=float)
    taus = taus / (taus.sum() / dim)
    counts, edges = np.histogram(taus, bins=400)
    keep = counts > 0
    tau = ((edges[:-1] + edges[1:]) / 2)[keep]
    share = counts[keep] / dim
    x = np.linspace(1e-4, 1.2 * taus.max() + 4.0, points)
    z = x + 1j * (2.0 * (x[1] - x[0]) if eta is None else eta)
    m = -1.0 / z
    for _ in range(iterations):
        new = 1.0 / (-z + (share[None, :] * tau[None, :] / (1.0 + tau[None, :] * m[:, None])).sum(axis=1))
        m = 0.5 * m + 0.5 * new
    return x, m


def free_retention(taus, dim, rates):
    """The law's average of prod(1 - r x)^2 over ``rates`` (:func:`stieltjes`, solved at x + 0.002 i)."""
    x, m = stieltjes(taus, dim, 600, eta=2e-3, iterations=4000)
    density = np.maximum(m.imag, 0.0) / np.pi
    density /= np.trapezoid(density, x)
    kept = np.ones_like(x)
    for r in rates:
        kept *= (1.0 - r * x) ** 2
    return float(np.trapezoid(density * kept, x))


def local_quantiles(taus, kappas, weights, scale, dim, levels):
    """Quantiles at ``levels`` of the law of the whole operator (``taus`` its population, turns and a-parts: what a
    direction independent of the nodes sees) and of the mixture over the nodes (``weights``) of the spectral
    measures of their a-part directions, m / (1 + kappa_i m) with m the whole law's Stieltjes transform; in units of
    the trace average ``scale`` (taus.sum() / dim)."""
    x, m = stieltjes(taus, dim, 3000)
    aligned = np.zeros_like(x)
    for kappa, weight in zip(np.asarray(kappas, dtype=float) / scale, np.asarray(weights) / np.sum(weights)):
        aligned += weight * np.maximum((m / (1.0 + kappa * m)).imag, 0.0)
    quantiles = []
    for density in (np.maximum(m.imag, 0.0), aligned):
        cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(x))])
        quantiles.append(np.interp(levels, cdf / cdf[-1], x))
    return quantiles


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--M", type=int, default=None)
    parser.add_argument("--d", type=int, default=None)
    parser.add_argument("--isotropic-start", action="store_true")
    parser.add_argument("--equal-weights", action="store_true")
    parser.add_argument("--no-a-part", action="store_true")
    parser.add_argument("--local-law", action="store_true", help="add the quantile-coupled laws (slow)")
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if args.M is not None or args.d is not None:
        M = setup.M if args.M is None else args.M
        setup = setup.replace(M=M, d=setup.d if args.d is None else args.d, eta=2.5 * M / setup.alpha)
    sol = meanfield(setup, args.steps)
    k, fw = sol.kernels, sol.variant.finite_width_kernels()
    M, d, D = setup.M, float(setup.d), setup.d - 1
    moments = _node_moments(sol)
    shat = setup.sigma_w * math.sqrt(D / d)
    dim = D * (D + 1) / 2 - 1
    report = sorted({s for s in (100, 300, 500, 1000, 1500, 2000, args.steps) if s <= args.steps})
    print(f"d = {setup.d}, M = {M}, beta = {setup.beta:g}, {args.seeds} draws of the nodes; retention of the init's "
          f"degree-2 variance at the threshold")
    print(f"{'t':>6} {'derived':>10} {'isotropic':>10} {'operator':>10} {'op / iso':>9} {'M_eff':>7} "
          f"{'E h2^2 / cross':>15} {'E a2h2^2 / cross_a2':>20} {'free':>10} {'free, q':>10} {'aligned, q':>10}")
    rows = {t: [] for t in report}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        a = setup.sigma_a * rng.standard_normal(M)
        w_par = setup.sigma_w * rng.standard_normal(M)
        U = rng.standard_normal((M, D))
        U /= np.linalg.norm(U, axis=1, keepdims=True)
        T = None
        start_weights = None
        levels = (np.arange(2000) + 0.5) / 2000
        kept_aligned, kept_free = np.ones_like(levels), np.ones_like(levels)
        q_aligned = q_free = None
        derived = isotropic = 1.0
        norm_frozen = None
        rates = []
        for t in range(1, args.steps + 1):
            step = setup.beta * float(sol.g[t - 1])
            a, w_par = a + step * w_par, w_par + step * a
            a2, w2, aw = moments[t, :3]
            x, kap = float(sol.x_star[t]), float(sol.kappa[t])
            if not (aw > 0 and kap > 0):
                continue
            mu = w_par * x / math.sqrt(d)
            h2 = shat * np.exp(-(mu / shat) ** 2 / 2) / math.sqrt(2 * math.pi)
            frozen_T = (setup.alpha / (2 * M)) * (U.T * (a * h2)) @ U
            frozen_T -= np.trace(frozen_T) / D * np.eye(D)
            norm = np.linalg.norm(frozen_T)
            if T is None:
                T, norm_frozen = frozen_T.copy(), norm
                start_weights = (a * h2) ** 2
                if args.isotropic_start:
                    G = rng.standard_normal((D, D))
                    T = (G + G.T) / 2
                    T -= np.trace(T) / D * np.eye(D)
                    T *= norm / np.linalg.norm(T)
            else:
                T *= norm / norm_frozen
                norm_frozen = norm
            # the derivation's weights: a-part cross / (D (D + 2)), w-part 2 cross_a2 / (shat^2 d D)
            weight_a = h2 ** 2 / 2 / M
            weight_w = (a * h2) ** 2 / (shat ** 2 * d) / M
            if args.equal_weights:
                weight_a, weight_w = np.full(M, weight_a.mean()), np.full(M, weight_w.mean())
            if args.no_a_part:
                weight_a = np.zeros(M)
            lam = (weight_a.sum() * (1 - 1 / D) + weight_w.sum() * (D - 1)) / dim
            args_k = (x, x, a2, w2, aw, setup.alpha, float(M), d, setup.sigma_w, setup.slope)
            cross, cross_a2 = fw.degree2_cross(*args_k), fw.degree2_cross_a2(*args_k)
            rate = k.rest_feedback(k.tilt_response(kap, d, setup.h), setup.beta, setup.alpha, cross, cross_a2, d,
                                   setup.sigma_w)
            derived_kernel = cross / (D * (D + 2)) + 2 * cross_a2 / (shat ** 2 * d * D)
            Y = U @ T
            q = np.einsum("ij,ij->i", Y, U)
            L = (U.T * (weight_a * q)) @ U
            Z = Y - q[:, None] * U
            side = (Z.T * weight_w) @ U
            L += side + side.T
            L -= np.trace(L) / D * np.eye(D)
            T -= (rate / lam) * L
            # the law is solved at every step to t = 10, then every t // 10 steps, at most 25 apart
            solve = args.local_law and (q_aligned is None or t <= 10 or t % max(1, min(25, t // 10)) == 0)
            if solve:
                population = np.concatenate([np.repeat(weight_w, D - 1), weight_a * (1 - 1 / D)])
                q_free, q_aligned = local_quantiles(population, weight_a * (1 - 1 / D), start_weights, lam, dim,
                                                    levels)
            if args.local_law:
                kept_aligned *= (1 - rate * q_aligned) ** 2
                kept_free *= (1 - rate * q_free) ** 2
            rates.append(rate)
            derived *= (1 - rate) ** 2
            isotropic *= (1 - rate) ** 2
            if t in rows:
                weights = (a * h2) ** 2
                taus = np.concatenate([np.repeat(weight_w, D - 1), weight_a * (1 - 1 / D)])
                rows[t].append((derived, isotropic, (np.linalg.norm(T) / norm) ** 2,
                                weights.sum() ** 2 / (weights ** 2).sum(), np.mean(h2 ** 2) / cross,
                                np.mean(a ** 2 * h2 ** 2) / cross_a2, lam / derived_kernel,
                                free_retention(taus, dim, rates),
                                float(kept_free.mean()) if args.local_law else float("nan"),
                                float(kept_aligned.mean()) if args.local_law else float("nan")))
    for t in report:
        v = np.array(rows[t])
        if not len(v):
            continue
        m = v.mean(axis=0)
        se = v[:, 2].std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
        print(f"{t:>6} {m[0]:>10.4g} {m[1]:>10.4g} {m[2]:>10.4g} {m[2] / m[1]:>9.2f} {m[3]:>7.0f} {m[4]:>15.3f} "
              f"{m[5]:>20.3f} {m[7]:>10.4g} {m[8]:>10.4g} {m[9]:>10.4g}   (operator's se {se:.2g}; lam / derived kernel {m[6]:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
