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
from mftheory.feedback_spectrum import derived_rates, feedback_spectrum, operator_retention

REACH = 4.0   # predict's rest grid ends there: the feedback acts on thresholds below it


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
    rates = derived_rates(sol, REACH)
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
