"""``finite_size.predict`` at settings away from Fig. 1, against GD: d = 50 or 200, alpha 0.3 to 10, a leaky ReLU,
other init scales; none of them used to build or tune anything.

Usage (from the repository root; about 30 s per setting on 2 cores, 2.5 minutes for d200_M100)::

    python bench/predict_other_settings.py                       # every setting
    python bench/predict_other_settings.py d50_a1 d50_leaky      # some of them
    python bench/predict_other_settings.py --own-shifts          # predict(..., own_shifts=True) beside GD
    python bench/predict_other_settings.py --others-pulls kernel+width   # that option beside the default
    python bench/predict_other_settings.py --node-law frozen     # fresh data: that node law beside the default

For each setting (beta = eta alpha / M = 2.5 as at Fig. 1, hinge, Gaussian data): ``--seeds`` runs on one fixed
training set of N examples (``simulate``, 20000 fresh test points) and one with N new examples at every step
(``online=True``), 1000 steps; printed at t = 30 / 100 / 300 / 600 / 999, theory / GD (the mean over the seeds):
the test error, the train error and the training f_unsat of the fixed set, and the test error with fresh data
(``predict(..., sample="fresh")``). With an experimental option of ``predict`` given, each fixed-set cell also
shows the option's theory / GD after the default's (``default | option``); with ``--node-law`` the fresh-data
cell does (``predict(..., sample="fresh", node_law=...)``; the default there is the feedback's node law).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from mftheory import Setup, meanfield
from mftheory.finite_size import predict
from mftheory.validate.simulator import simulate

SETTINGS = {
    "d50_a1": (dict(d=50, M=200, alpha=1.0, eta=500.0), 20_000),
    "d50_a10": (dict(d=50, M=200, alpha=10.0, eta=50.0), 20_000),
    "d50_a0.3": (dict(d=50, M=200, alpha=0.3, eta=1667.0), 20_000),
    "d50_leaky": (dict(d=50, M=200, alpha=1.0, eta=500.0, activation="leaky_relu"), 20_000),
    "d50_init": (dict(d=50, M=200, alpha=1.0, eta=500.0, sigma_a=0.5, sigma_w=2.0), 20_000),
    "d200_M100": (dict(d=200, M=100, alpha=1.0, eta=250.0), 40_000),
}
STEPS = (30, 100, 300, 600, 999)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="*", default=[], help=f"any of {', '.join(SETTINGS)} (default: all)")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--own-shifts", action="store_true", help="predict's own_shifts (experimental)")
    parser.add_argument("--others-pulls", default="kernel", choices=("kernel", "kernel+width"),
                        help="predict's others_pulls (experimental)")
    parser.add_argument("--node-law", default=None, choices=("frozen", "feedback"),
                        help="predict's node_law for the fresh-data column, beside the default")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.settings) - set(SETTINGS))
    if unknown:
        parser.error(f"unknown settings {unknown}: choose from {', '.join(SETTINGS)}")
    record = np.array(STEPS)
    for name in args.settings or list(SETTINGS):
        options, N = SETTINGS[name]
        setup = Setup(h=1.0, **options)
        solution = meanfield(setup, STEPS[-1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fixed = predict(solution, N)
            chosen = dict(own_shifts=args.own_shifts, others_pulls=args.others_pulls)
            option = predict(solution, N, **chosen) if args.own_shifts or args.others_pulls != "kernel" else None
            fresh = predict(solution, N, sample="fresh")
            fresh_option = (predict(solution, N, sample="fresh", node_law=args.node_law)
                            if args.node_law is not None else None)
        start = time.perf_counter()
        runs = [simulate(setup, N=N, steps=STEPS[-1], seed=seed, record_steps=record, n_test=20_000)
                for seed in range(args.seeds)]
        online = [simulate(setup, N=N, steps=STEPS[-1], seed=100 + seed, record_steps=record, n_test=20_000,
                           online=True) for seed in range(args.seeds)]
        print(f"{name}: {options}, N = {N}, beta = {setup.beta:g}; {2 * args.seeds} runs {time.perf_counter() - start:.0f} s"
              f"; theory / GD")
        width = 29 if option is not None or fresh_option is not None else 22
        print(f"  {'t':>5} " + " ".join(f"{head:>{width}}" for head in
                                       ("test error", "train error", "training f_unsat", "test error, fresh")))
        for k, t in enumerate(STEPS):
            cells = []
            for name_, sims, field in (("test_error", runs, "test_error"), ("train_error", runs, "train_error"),
                                       ("train_unsat", runs, "f_unsat"), (None, online, "test_error")):
                theory = fresh.test_error if name_ is None else getattr(fixed, name_)
                measured = float(np.mean([getattr(sim, field)[k] for sim in sims]))
                ratio = theory[t] / measured if measured > 0 else float("nan")
                cell = f"{theory[t]:.3g}/{measured:.3g}={ratio:.2f}"
                if option is not None and name_ is not None:
                    cell += f" | {getattr(option, name_)[t] / measured if measured > 0 else float('nan'):.2f}"
                if fresh_option is not None and name_ is None:
                    cell += f" | {fresh_option.test_error[t] / measured if measured > 0 else float('nan'):.2f}"
                cells.append(cell)
            print(f"  {t:>5} " + " ".join(f"{cell:>{width}}" for cell in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
