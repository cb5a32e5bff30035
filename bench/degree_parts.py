"""F's fluctuation at x_par = 0 taken apart by Hermite degree along x_perp, in GD's weights and in `predict`'s parts.

Usage (from the repository root; Fig. 1, ReLU)::

    python bench/degree_parts.py                                  # N = 2.5e4 and 1e5, two runs each, t = 2000
    python bench/degree_parts.py --sizes 400000 --seeds 1
    python bench/degree_parts.py --sizes 100000 --online --seeds 1  # N = 1e5 new examples at every step (slow: ~15 min)
    python bench/degree_parts.py --d 200 --M 100 --sizes 40000 --online --seeds 1 --t 999   # away from Fig. 1

The test error late is set by the margins near x_par = 0, where it is about proportional to sd / kappa (sd of F's
fluctuation there). At x_par = 0 a node's preactivation is s_i xi_i with s_i = |w_perp,i| / sqrt(d) and
xi_i = w_perp,i . x_perp / |w_perp,i|, so F(0, x_perp) = (alpha / M) sum_i a_i s_i sigma(xi_i) (ReLU is
1-homogeneous) and, with ReLU's Hermite coefficients c_k = E[relu(xi) He_k(xi)] (c_0 = c_2 = phi(0), c_1 = 1/2,
c_k = phi(0) He_{k-2}(0) for k >= 2, zero for odd k >= 3),

    Var of F's degree-k part = (alpha / M)^2 sum_ij a_i s_i a_j s_j c_k^2 rho_ij^k / k!,   rho_ij = w^_i . w^_j.

GD's final weights give each degree exactly (``simulate``, no derived formula); the degrees >= 3 together are the
whole second moment (the arc-cosine kernel, E[relu(xi) relu(xi')] = (sin t + (pi - t) cos t) / (2 pi), cos t = rho)
less degrees 0-2. Beside them, `predict`'s parts at x_par = 0: degree 1 the tilt (``tilt_sd``), degree 2 the init's
part after the loss's feedback plus the sample's (``sample_sd``), degrees >= 3 the frozen init law (the node law's
E a^2 times s^2 sum_{k >= 3} c_k^2 / k!, 0.01126 of it for ReLU), the common part (degree 0) left out. Printed: each
part, kappa (GD's from mean_i a_i w_i,par), E a^2, and sd / kappa for both with their ratio: how much of the test
error's ratio is kappa's and how much the fluctuation's. Below it GD's node law in w_perp: E s^2 and E[a^2 s^2] / E a^2
over s0^2 = sigma_w^2 (d - 1) / d, and the correlation of a^2 with s^2, which the theory's node law keeps at 1, 1, 0
(w_perp at its init law, independent of a): every frozen part at x_par = 0 is E[a^2 s^2] times a number.
"""
from __future__ import annotations

import argparse
import math
import warnings

import numpy as np
from numpy.polynomial.hermite_e import hermeval

import mftheory
from mftheory.finite_size import predict
from mftheory.validate.simulation_cache import reuse_simulations

DEGREES = 3   # degrees 0, 1, 2 apart; >= 3 together


def relu_hermite(k):
    """E[relu(xi) He_k(xi)] for xi ~ N(0, 1)."""
    phi0 = 1.0 / math.sqrt(2.0 * math.pi)
    if k == 1:
        return 0.5
    if k == 0:
        return phi0
    return phi0 * float(hermeval(0.0, [0.0] * (k - 2) + [1.0]))


def arccos_kernel(rho):
    """E[relu(xi) relu(xi')] for unit Gaussians of correlation rho."""
    theta = np.arccos(np.clip(rho, -1.0, 1.0))
    return (np.sin(theta) + (np.pi - theta) * np.cos(theta)) / (2.0 * np.pi)


def gd_parts(setup, a, W):
    """Variance of F's degree 0, 1, 2 and >= 3 parts along x_perp at x_par = 0, from one network's weights."""
    perp = W[:, 1:]
    norms = np.linalg.norm(perp, axis=1)
    c = a * norms / math.sqrt(setup.d)
    unit = perp / norms[:, None]
    rho = np.clip(unit @ unit.T, -1.0, 1.0)
    scale = (setup.alpha / setup.M) ** 2
    parts = [scale * relu_hermite(k) ** 2 / math.factorial(k) * float(c @ (rho**k) @ c) for k in range(DEGREES)]
    second_moment = scale * float(c @ arccos_kernel(rho) @ c)
    return np.array(parts + [second_moment - sum(parts)])


def node_law(setup, a, W):
    """E s^2, E[a^2 s^2] / E a^2 and the correlation of a^2 with s^2 over one network's nodes, s = |w_perp| / sqrt(d)."""
    s2 = np.sum(W[:, 1:] ** 2, axis=1) / setup.d
    return np.array([s2.mean(), np.mean(a**2 * s2) / np.mean(a**2), np.corrcoef(a**2, s2)[0, 1]])


def degree2_diagonal(setup, a, W):
    """The nodes' own share of F's degree-2 variance at x_par = 0 (the diagonal of the sum over node pairs)."""
    c = a * np.linalg.norm(W[:, 1:], axis=1) / math.sqrt(setup.d)
    return (setup.alpha / setup.M) ** 2 * relu_hermite(2) ** 2 / 2.0 * float(c @ c)


def theory_parts(setup, prediction, t, factor=1.0):
    """`predict`'s parts at x_par = 0 and step t, by degree: (common, tilt, degree 2, degrees >= 3); ``factor``:
    the node law's on the frozen parts (``prediction.node_law == "feedback"``)."""
    s2 = setup.sigma_w**2 * (setup.d - 1) / setup.d
    a2 = prediction.node_moments[t, 0]
    frozen = setup.alpha**2 / setup.M * a2 * s2 * factor
    higher = frozen * (0.5 - 1.0 / (2.0 * math.pi) - 0.25 - relu_hermite(2) ** 2 / 2.0)
    degree2_init = max(prediction.rest_sd[t] ** 2 - higher, 0.0)
    return np.array([0.0, prediction.tilt_sd[t] ** 2, degree2_init + prediction.sample_sd[t] ** 2, higher])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=float, nargs="+", default=[25_000, 100_000])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--t", type=int, default=2000)
    parser.add_argument("--online", action="store_true", help="N new examples at every step (fresh data)")
    parser.add_argument("--d", type=int, default=None, help="the input dimension (default: Fig. 1's)")
    parser.add_argument("--M", type=int, default=None, help="the width (default: Fig. 1's); eta = 2.5 M")
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if args.d is not None or args.M is not None:   # away from Fig. 1, beta = 2.5 as there
        M = setup.M if args.M is None else args.M
        setup = setup.replace(d=setup.d if args.d is None else args.d, M=M, eta=2.5 * M / setup.alpha)
    solution = mftheory.meanfield(setup, args.t)
    record = [0, 100, 200, 300, 400, 500, 700, 1000, 1500, 2000]
    record = sorted({r for r in record if r <= args.t} | {args.t})
    for N in map(int, args.sizes):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theory = predict(solution, N, sample="fresh" if args.online else "fixed")
        with reuse_simulations(enabled=True):
            runs = [mftheory.simulate(setup, N=N, steps=args.t, seed=seed, n_test=100_000, record_steps=record,
                                      online=args.online) for seed in range(args.seeds)]
        gd = np.mean([gd_parts(setup, run.a_final, run.W_final) for run in runs], axis=0)
        factor = mftheory.node_law(solution).variance_factor[args.t] if theory.node_law == "feedback" else 1.0
        th = theory_parts(setup, theory, args.t, factor)
        kappa_gd = np.mean([setup.alpha * 0.5 * np.mean(run.a_final * run.W_final[:, 0]) / math.sqrt(setup.d)
                            for run in runs])
        a2_gd = np.mean([np.mean(run.a_final**2) for run in runs])
        kappa_th = theory.kappa[args.t]
        print(f"N = {N} ({'fresh data at every step' if args.online else 'one fixed set'}), t = {args.t}, "
              f"{len(runs)} run(s): variance of F at x_par = 0 by degree along x_perp")
        print(f"  {'':8s} {'common':>9s} {'tilt (1)':>9s} {'degree 2':>9s} {'>= 3':>9s} {'total':>9s} {'kappa':>8s} "
              f"{'E a^2':>8s} {'sd/kappa':>9s}")
        for name, parts, kappa, a2 in (("GD", gd, kappa_gd, a2_gd),
                                       ("theory", th, kappa_th, theory.node_moments[args.t, 0])):
            print(f"  {name:8s} " + " ".join(f"{v:9.5f}" for v in parts) + f" {parts.sum():9.5f} {kappa:8.3f} "
                  f"{a2:8.1f} {math.sqrt(parts.sum()) / kappa:9.5f}")
        ratio = th / gd
        print(f"  {'ratio':8s} " + " ".join(f"{v:9.3f}" for v in ratio) + f" {th.sum() / gd.sum():9.3f} "
              f"{kappa_th / kappa_gd:8.3f} {theory.node_moments[args.t, 0] / a2_gd:8.3f} "
              f"{math.sqrt(th.sum() / gd.sum()) * kappa_gd / kappa_th:9.3f}")
        s0 = setup.sigma_w**2 * (setup.d - 1) / setup.d
        law = np.mean([node_law(setup, run.a_final, run.W_final) for run in runs], axis=0) / [s0, s0, 1.0]
        print(f"  GD's node law (the theory's keeps w_perp at its init law, 1 / 1 / 0): E s^2 / s0^2 {law[0]:.3f}, "
              f"E[a^2 s^2] / (E a^2 s0^2) {law[1]:.3f}, corr(a^2, s^2) {law[2]:+.3f}")
        diagonal = np.mean([degree2_diagonal(setup, run.a_final, run.W_final) for run in runs])
        print(f"  GD's degree-2 part over its diagonal (the nodes' own parts): {gd[2] / diagonal:.4f}; "
              f"the theory's node law: {theory.node_law} (factor {factor:.3f} on its frozen parts)")
        print(f"  the frozen parts scale with E a^2: degree >= 3 at GD's E a^2, "
              f"{th[3] * a2_gd / theory.node_moments[args.t, 0]:.5f}; test error theory / GD at t = {args.t}: "
              f"{theory.test_error[args.t] / np.mean([run.test_error[-1] for run in runs]):.3f}", flush=True)


if __name__ == "__main__":
    main()
