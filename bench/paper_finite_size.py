"""The finite-size prediction at the paper's Fig. 1 setting against one simulated run per training-set size.

Usage (from the repository root; about 5 minutes on 2 cores, most of it the run at N = 4e5)::

    python bench/paper_finite_size.py                      # N = 25000, 100000, 400000, seed 0
    python bench/paper_finite_size.py --sizes 25000 --seeds 3
    python bench/paper_finite_size.py --seeds 2 --steps 30 40 50 70 100     # the early steps (a minute)
    python bench/paper_finite_size.py --seeds 2 --sizes 25000 100000 --activation leaky_relu --leak 0.5
    python bench/paper_finite_size.py --seeds 2 --sizes 25000 100000 --held-margins moving     # experimental
    python bench/paper_finite_size.py --seeds 2 --sizes 25000 100000 --others-pulls kernel+width  # experimental
    python bench/paper_finite_size.py --seeds 2 --sizes 25000 100000 --own-shifts                 # experimental
    python bench/paper_finite_size.py --sizes 100000 --online   # N new examples at every step (about 8 minutes)
    python bench/paper_finite_size.py --sizes 25000 --seeds 8 --reuse-simulations   # runs stored and read back

For each N: ``mftheory.finite_size.predict(meanfield(fig1_setup(), 2000), N)`` beside ``simulate`` (one fixed
training set, 1e5 fresh test points) at t = 100 / 200 / 300 / 400 / 500 / 700 / 1000 / 1500 / 2000, for the test error, the training
f_unsat, the train error, the tilt (rms angle of the effective teacher (1/M) sum_i a_i w_i to w*) and kappa (the
slope of F's odd part along w*, alpha c mean_i(a_i w_i . w*) / sqrt(d) in a run), with their ratio theory /
simulation (the mean over the seeds; the rms for the angle; with two seeds or more, the seeds' standard error of
GD's value beside it, relative), with one fixed set's own density of examples at the
margin (``predict``'s default, ``margin_density="training"``); ``--margin-density training infinite`` adds the
prediction with the infinite set's density (fresh-data physics) beside it. This is the
measurement behind the README's Fig. 1 numbers; the validation case ``finite_size`` (``--suite finite-paper``)
judges the same quantities with three seeds and fresh data beside (those runs stop at 300 steps), in about 20
minutes. ``--activation leaky_relu --leak L`` runs the same setting with a leaky ReLU (its kink is 1 - L as sharp:
the examples a node works against gather less at it). ``--online``: N new examples at every step
(``simulate(..., online=True)``) against ``predict(..., sample="fresh")``: finite M and each batch's own noise,
nothing memorized (the training f_unsat and train error are those of the batch at the recorded step), with the
degree-2 feedback's spectrum at width M (``degree2_spread=True``, the default there) and with its isotropic average
beside it.
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import mftheory
from mftheory.finite_size import predict
from mftheory.validate.simulation_cache import reuse_simulations

STEPS = (100, 200, 300, 400, 500, 700, 1000, 1500, 2000)
QUANTITIES = (("test error", "test_error", "test_error"), ("training f_unsat", "f_unsat", "train_unsat"),
              ("train error", "train_error", "train_error"), ("tilt (rad)", "teacher_angle", "tilt"),
              ("kappa", None, "kappa"))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000, 400_000])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--steps", type=int, nargs="+", default=list(STEPS),
                        help="GD steps compared (increasing; the runs stop at the last)")
    parser.add_argument("--margin-density", nargs="+", default=["training"], choices=["training", "infinite"])
    parser.add_argument("--held-margins", default="still", choices=["still", "moving"],
                        help="predict's held_margins (moving: the examples held at the margin move, experimental)")
    parser.add_argument("--others-pulls", default="kernel", choices=["kernel", "kernel+width"],
                        help="predict's others_pulls (kernel+width: rho^2's mean out, the width's random features in, "
                             "experimental)")
    parser.add_argument("--own-shifts", action="store_true",
                        help="predict's own_shifts (the node map with the unsatisfied examples' own shifts, "
                             "experimental)")
    parser.add_argument("--online", action="store_true", help="N new examples at every step (fresh data)")
    parser.add_argument("--reuse-simulations", action="store_true",
                        help="store the runs under $MFTHEORY_CACHE/simulations and read them back next time (the "
                             "validation suites' store, keyed by the simulator's code): to iterate on the theory")
    parser.add_argument("--activation", default="relu", choices=["relu", "leaky_relu"])
    parser.add_argument("--leak", type=float, default=0.1, help="leaky ReLU's negative slope (with --activation "
                        "leaky_relu), in [0, 1)")
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup(activation=args.activation, leak=args.leak)
    steps = sorted(set(args.steps))
    if steps[0] < 1:
        parser.error("--steps must be positive")
    solution = mftheory.meanfield(setup, steps[-1])
    record = [0, *steps]
    for N in args.sizes:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theories = ({f"degree2_spread={spread}": predict(solution, N, sample="fresh", degree2_spread=spread)
                         for spread in (True, False)} if args.online else
                        {f"{density} margin density": predict(solution, N, margin_density=density,
                                                              held_margins=args.held_margins,
                                                              others_pulls=args.others_pulls,
                                                              own_shifts=args.own_shifts)
                         for density in args.margin_density})
        predicted = time.perf_counter() - start
        with reuse_simulations(enabled=args.reuse_simulations):
            runs = [mftheory.simulate(setup, N=N, steps=steps[-1], seed=seed, n_test=100_000, record_steps=record,
                                      online=args.online)
                    for seed in range(args.seeds)]
        onsets = ", ".join(f"{density} {theory.sliding_onset}" for density, theory in theories.items())
        print(f"N = {N}: predict {predicted:.1f} s, {args.seeds} run(s) {time.perf_counter() - start - predicted:.0f} s;"
              f" sliding onset ({onsets}); t = {' / '.join(map(str, steps))}")
        for name, simulated, predicted_field in QUANTITIES:
            sim, se = _simulated(runs, simulated, setup, solution)
            print(f"  {name:16s} GD     {' '.join(f'{v:.4f}' for v in sim)}")
            if len(runs) > 1:
                with np.errstate(divide="ignore", invalid="ignore"):
                    print(f"  {'':16s} se/GD  {' '.join(f'{v:6.2f}' for v in se / sim)}   (the seeds' standard error)")
            for density, theory in theories.items():
                th = np.array([getattr(theory, predicted_field)[t] for t in steps])
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = th / sim
                print(f"  {'':16s} theory {' '.join(f'{v:.4f}' for v in th)}   ({density})\n"
                      f"  {'':16s} ratio  {' '.join(f'{v:6.2f}' for v in ratio)}", flush=True)


def _simulated(runs, field, setup, solution):
    """The runs' mean of ``field`` at the recorded steps after 0 (the rms for the angle) and its standard error over
    the runs (nan for one run); field None: the slope kappa of F's odd part."""
    if field is None:
        c = solution.variant.odd_slope(setup.leak)
        values = [setup.alpha * c * np.mean(run.a * run.w_par, axis=1) / np.sqrt(setup.d) for run in runs]
    else:
        values = [np.asarray(getattr(run, field)) for run in runs]
    values = np.array(values)[:, 1:]
    if field == "teacher_angle":   # the rms; its standard error by the delta method
        mean_square = np.mean(values**2, axis=0)
        se = _standard_error(values**2) / (2 * np.sqrt(mean_square))
        return np.sqrt(mean_square), se
    return np.mean(values, axis=0), _standard_error(values)


def _standard_error(values):
    if values.shape[0] < 2:
        return np.full(values.shape[1], np.nan)
    return values.std(axis=0, ddof=1) / np.sqrt(values.shape[0])


if __name__ == "__main__":
    main()
