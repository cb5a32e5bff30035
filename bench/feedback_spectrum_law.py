"""``mftheory.feedback_spectrum`` (the degree-2 feedback's spectral law at width M, from the node law) against the
feedback operator of M nodes drawn from the init.

    python bench/feedback_spectrum_law.py [--d 100 --M 400] [--steps 2000] [--seeds 1]

M nodes are drawn from the init and moved along the mean field's node map; F's degree-2 tensor T at the threshold
starts as the nodes' own (at the first step where the threshold x* is below 4, where the feedback starts to act,
as in ``predict``) and is pulled back each step by the nodes' operator over its trace average times the derived
isotropic rate (the operator built term by term: each node's a-part and its D - 1 turns, with the generated
weights). Printed: the retention of its variance at several steps, the isotropic recursion's, the operator's
(for the nodes' own tensor and for an isotropic random start) and the laws' (``feedback_spectrum(...).retention``,
aligned and free). The laws use no drawn node: a Gauss-Hermite grid over the init. About 5 s per draw at Fig. 1.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import mftheory
from mftheory.feedback_spectrum import feedback_spectrum
from mftheory.finite_size import _node_moments

REACH = 4.0   # predict's rest grid ends there: the feedback acts on thresholds below it


def derived_rates(sol, moments):
    """The derived isotropic rate of each step (zero where the threshold is past REACH)."""
    setup, k, fw = sol.setup, sol.kernels, sol.variant.finite_width_kernels()
    d = float(setup.d)
    rates = np.zeros(len(sol.t))
    for t in range(1, len(sol.t)):
        x, kappa = float(sol.x_star[t]), float(sol.kappa[t])
        if kappa > 0 and x < REACH:
            pair = (x, x, *moments[t, :3], setup.alpha, float(setup.M), d, setup.sigma_w, setup.slope)
            rates[t] = k.rest_feedback(k.tilt_response(kappa, d, setup.h), setup.beta, setup.alpha,
                                       fw.degree2_cross(*pair), fw.degree2_cross_a2(*pair), d, setup.sigma_w)
    return rates


def operator_retention(sol, rates, seed, report):
    """{t: (retention of the nodes' own tensor, of an isotropic random one)} with the operator of M drawn nodes."""
    setup, k, fw = sol.setup, sol.kernels, sol.variant.finite_width_kernels()
    M, d, D = setup.M, float(setup.d), setup.d - 1
    dim = D * (D + 1) / 2 - 1
    rng = np.random.default_rng(seed)
    a, w_par = setup.sigma_a * rng.standard_normal(M), setup.sigma_w * rng.standard_normal(M)
    U = rng.standard_normal((M, D))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    h2_of = np.vectorize(lambda mu: fw.degree2_node(mu, setup.sigma_w, d, setup.slope))
    tensors, out = None, {}
    for t in range(1, len(sol.t)):
        step = setup.beta * float(sol.g[t - 1])
        a, w_par = a + step * w_par, w_par + step * a
        if rates[t] == 0 and tensors is None:
            continue
        h2 = h2_of(w_par * float(sol.x_star[t]) / math.sqrt(d))
        frozen = (U.T * (a * h2)) @ U
        frozen -= np.trace(frozen) / D * np.eye(D)
        norm = np.linalg.norm(frozen)
        if tensors is None:
            G = rng.standard_normal((D, D))
            free = (G + G.T) / 2
            free -= np.trace(free) / D * np.eye(D)
            tensors, previous = [frozen, free * norm / np.linalg.norm(free)], norm
        else:
            tensors = [T * norm / previous for T in tensors]
            previous = norm
        own = np.array([k.spread_a_weight(h, d) for h in h2])
        turn = np.array([k.spread_turn_weight(ai, h, setup.sigma_w, d) for ai, h in zip(a, h2)])
        average = (own.sum() + turn.sum() * (D - 1)) / dim
        for j, T in enumerate(tensors):
            Y = U @ T
            q = np.einsum("ij,ij->i", Y, U)
            L = (U.T * (own / (1 - 1 / D) * q)) @ U
            side = ((Y - q[:, None] * U).T * turn) @ U
            L += side + side.T
            L -= np.trace(L) / D * np.eye(D)
            tensors[j] = T - (rates[t] / average) * L
        if t in report:
            out[t] = tuple((np.linalg.norm(T) / norm) ** 2 for T in tensors)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--M", type=int, default=None)
    parser.add_argument("--d", type=int, default=None)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if args.M is not None or args.d is not None:   # away from Fig. 1, beta = 2.5 as there
        M = setup.M if args.M is None else args.M
        setup = setup.replace(M=M, d=setup.d if args.d is None else args.d, eta=2.5 * M / setup.alpha)
    sol = mftheory.meanfield(setup, args.steps)
    rates = derived_rates(sol, _node_moments(sol))
    start = time.perf_counter()
    spectrum = feedback_spectrum(sol, reach=REACH)
    seconds = time.perf_counter() - start
    aligned, free = spectrum.retention(rates), spectrum.retention(rates, "free")
    isotropic = np.cumprod((1 - rates) ** 2)
    report = sorted({t for t in (100, 300, 500, 1000, 1500, 2000, args.steps) if t <= args.steps})
    draws = [operator_retention(sol, rates, seed, report) for seed in range(args.seeds)]
    print(f"d = {setup.d}, M = {setup.M}, beta = {setup.beta:g}: retention of the init's degree-2 variance at the "
          f"threshold; the laws in {seconds:.2f} s ({len(spectrum.solved_at)} solves), the operator over {args.seeds} "
          f"draw(s) of the nodes")
    print(f"{'t':>6} {'isotropic':>10} {'operator':>10} {'law':>10} {'law / op':>9} {'op, free':>10} "
          f"{'law, free':>10}")
    for t in report:
        op = np.mean([draw[t] for draw in draws], axis=0)
        print(f"{t:>6} {isotropic[t]:>10.4g} {op[0]:>10.4g} {aligned[t]:>10.4g} {aligned[t] / op[0]:>9.3f} "
              f"{op[1]:>10.4g} {free[t]:>10.4g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
