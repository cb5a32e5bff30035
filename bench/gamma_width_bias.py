"""How large is the finite-width bias of gamma_+ at Fig. 1? GD's gamma_+ at widths M = 400, 1600, 3200 with the
per-node learning rate beta held (eta = beta M), beside the mean field, which is the M -> infinity limit.

Usage (from the repository root; about 2 minutes on 2 cores)::

    python bench/gamma_width_bias.py                 # t = 25, N = 1e5, 2 seeds per width
    python bench/gamma_width_bias.py --step 100 --widths 400 1600

``simulate`` (no derived formula) runs Fig. 1 (d = 100) on N fresh-drawn examples per seed; gamma_+ is measured as
the validation suites measure it (``measured_gamma_plus``: log of the least-squares slope of a + w_par on its
initial value). At N = 1e5 and t = 25 the finite sample moves gamma_+ by under 0.001 (N = 5e4 and 2e5 give the
same to 1e-4 at M = 400), so what is left against the theory is the width's bias. The suites' fig1 and data_laws
rows allow 1/M for it (``validate/cases/meanfield.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

import mftheory
from mftheory.validate.cases.common import measured_gamma_plus


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=25)
    parser.add_argument("--widths", type=int, nargs="+", default=[400, 1600, 3200])
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args(argv)
    if args.step < 1 or args.seeds < 1 or min(args.widths) < 1:
        parser.error("--step, --seeds and every width must be >= 1")
    base = mftheory.fig1_setup()
    theory = mftheory.meanfield(base, args.step).gamma_plus[args.step]
    print(f"Fig. 1, t = {args.step}, N = {args.N}, beta = {base.beta}: mean-field gamma_+ = {theory:.4f}")
    print("      M   GD gamma_+ (mean, seeds' sd)   theory - GD   allowance 1/M")
    for M in args.widths:
        setup = dataclasses.replace(base, M=M, eta=base.beta * M)
        start = time.perf_counter()
        values = [measured_gamma_plus(mftheory.simulate(setup, N=args.N, steps=args.step, seed=seed, n_test=0,
                                                        record_steps=[0, args.step]))[-1]
                  for seed in range(args.seeds)]
        sd = np.std(values, ddof=1) if len(values) > 1 else float("nan")
        print(f"  {M:5d}   {np.mean(values):.4f} ({sd:.4f})              {theory - np.mean(values):+.4f}       "
              f"{1 / M:.4f}   ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
