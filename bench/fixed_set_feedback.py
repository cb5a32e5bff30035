"""How much of a degree-2 deposit of F one fixed training set pulls back late in training, against the
propagator (``mftheory.degree2_propagator``) run on that set's own clock with either density of examples at the
margin (the infinite set's, ``margin_density="infinite"``, and the set's own, ``predict``'s default).

    python bench/fixed_set_feedback.py [--sizes 25000 100000] [--starts 500 700 1000] [--horizons 50 150 300]
                                       [--margin-raise 0.1] [--count-examples] [--d 50 --M 200]

About 1.5 minutes per start at N = 2.5e4 and 6 minutes at 1e5 (2 cores, horizons to 300 steps); ``--count-examples``
adds about 0.1 s (2.5e4) to 0.6 s (1e5) per step followed.

For each N and start t0: one GD run of Fig. 1 on one fixed set (``--seed``, 0) to t0; the GD step of 20 probe
examples (|x_par| 0.01-0.05, as the propagator validation case) is added, scaled so that it raises their margins by
0.1 (``--margin-raise``); both copies are trained on the same set (``follow_perturbation``), once as plain GD and once with the hinge's status
changes switched off in the perturbed copy (growth only). The deposit's degree-2 amplitude along each probe is
read off at 200 000 fresh points with |x_par| < 0.05; retention = later / at t0 (least squares over the probes,
jackknife se). Printed beside: the training f_unsat of the base run at t0, the theory's retention and growth-only
retention on the clock with each density, and what the set's crowd at the margin takes out of the deposit at
once in the theory (``crowd_share``: the examples the memorization map stalls at the margin at t0, on the training
density's clock, re-memorizing their share of it; what ``margin_density="training"`` cuts each new deposit by). The question it answers: does one fixed set stop pulling a deposit back
as it gets memorized (the late test error at N = 2.5e4 falls in the prediction, flat in GD)? With
``--count-examples``: how many of the set's examples the deposit moves across the margin, what each takes out of
it, and beside it what one example re-memorizing the deposit's value at its own point would take out of a random
degree-2 direction (the derived kernels on the set's clock).
"""
from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

import mftheory
from mftheory.dynamics import meanfield
from mftheory.finite_size import degree2_propagator
from mftheory.finite_size.feedback import _at_the_crowd
from mftheory.finite_size.prediction import _along, _on_training_clock
from mftheory.validate.cases.finite_size import _degree2_amplitudes, _probe_deposit, _retention
from mftheory.validate.perturbation import follow_perturbation
from mftheory.validate.simulator import network_output, simulate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25_000, 100_000])
    parser.add_argument("--starts", type=int, nargs="+", default=[500, 700, 1000])
    parser.add_argument("--horizons", type=int, nargs="+", default=[50, 150, 300])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--margin-raise", type=float, default=0.1,
                        help="the deposit's mean raise of the probes' own margins (0.1 = h / 10, as the validation case)")
    parser.add_argument("--d", type=int, default=None, help="the input dimension (default: Fig. 1's)")
    parser.add_argument("--M", type=int, default=None, help="the width (default: Fig. 1's); eta = 2.5 M")
    parser.add_argument("--count-examples", action="store_true",
                        help="also count the training examples whose hinge status differs between the two copies at "
                             "some step (every margin of both copies at every step: about 0.1 s per step at N = 2.5e4)")
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if args.d is not None or args.M is not None:   # away from Fig. 1, beta = 2.5 as there
        M = setup.M if args.M is None else args.M
        setup = setup.replace(d=setup.d if args.d is None else args.d, M=M, eta=2.5 * M / setup.alpha)
    horizons = sorted(set(args.horizons))
    starts = sorted(set(args.starts))
    sol = meanfield(setup, max(starts) + horizons[-1] + 2)
    rng = np.random.default_rng([args.seed, 7])
    probes = rng.standard_normal((20, setup.d))
    probes[:, 0] = np.linspace(0.01, 0.05, 20)
    fresh = rng.standard_normal((200_000, setup.d))
    fresh[:, 0] = rng.uniform(-0.05, 0.05, fresh.shape[0])
    f = lambda a, W, Z: network_output(setup, a, W, Z)
    for N in args.sizes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clocks = {density: _on_training_clock(sol, N, "fixed", density) for density in ("infinite", "training")}
            crowd = _along(clocks["training"], N, "fixed").state
            taken = _at_the_crowd(clocks["training"], N, crowd, "crowd_share", 0.0)
        X = np.random.default_rng([args.seed, 11]).standard_normal((N, setup.d))
        y = np.where(X[:, 0] >= 0, 1.0, -1.0)
        print(f"N = {N}")
        for t0 in starts:
            started = time.perf_counter()
            base = simulate(setup, steps=t0, seed=args.seed, n_test=0, record_steps=[0, t0], X=X, y=y)
            a, W, f_unsat = base.a_final, base.W_final, base.f_unsat[-1]
            da, dW = _probe_deposit(setup, a, W, probes)
            scale = args.margin_raise / np.mean(f(a + da, W + dW, probes) - f(a, W, probes))
            a_p, W_p = a + scale * da, W + scale * dW
            initial = _degree2_amplitudes(f(a_p, W_p, fresh) - f(a, W, fresh), fresh, probes)
            row = {}
            for hinge in ("own", "base"):
                followed = follow_perturbation(setup, (a, W), (a_p, W_p), horizons[-1], horizons, X=X, hinge=hinge)
                row[hinge] = [_retention(initial, _degree2_amplitudes(f(q[2], q[3], fresh) - f(q[0], q[1], fresh),
                                                                       fresh, probes)) for q in followed]
            theory = {density: degree2_propagator(clock, t0, source=0.03) for density, clock in clocks.items()}
            print(f"  t0 = {t0} (training f_unsat {f_unsat:.4f}), retention after {' / '.join(map(str, horizons))} "
                  f"steps:")
            print("    GD                       " + "  ".join(f"{m:.3f}+-{se:.3f}" for m, se in row["own"]))
            for density, prop in theory.items():
                print(f"    theory, {density:8s} density " + "  ".join(f"{prop.retention[T, 0]:11.3f}" for T in horizons))
            print(f"    crowd at the margin: {N * crowd.pile[t0]:.0f} examples stalled (the map on the training "
                  f"density's clock) take {taken[t0]:.3f} of a deposit at once (crowd_share), keep "
                  f"{1 - taken[t0]:.3f}")
            print("    GD growth only           " + "  ".join(f"{m:.3f}+-{se:.3f}" for m, se in row["base"]))
            for density, prop in theory.items():
                print(f"    theory growth, {density:8s} " + "  ".join(f"{prop.growth_only[T, 0]:11.3f}"
                                                                       for T in horizons))
            if args.count_examples:
                counts = _examples_moved(setup, X, y, (a, W), (a_p, W_p), horizons)
                print("    examples moved           " + "  ".join(f"{c:11d}" for c in counts))
                removed = [(1 - own[0] / grown[0]) / c for own, grown, c in zip(row["own"], row["base"], counts)]
                print("    hinge's removal / moved  " + "  ".join(f"{r:11.2e}" for r in removed))
                of_whole, of_memorizing = _degree2_share(clocks["infinite"], t0)
                print(f"    K_2 / K(x, x) / ((d - 1) d / 2) = {of_whole:.2e}; K_2 / K_mem / ((d - 1) d / 2) = "
                      f"{of_memorizing:.2e}")
            print(f"    ({time.perf_counter() - started:.0f} s)")


def _examples_moved(setup, X, y, start, perturbed, horizons, chunk=10):
    """At each horizon, the number of training examples whose hinge status (margin below h) has differed between
    the unperturbed and the perturbed copy at some step so far (both trained on X as plain GD)."""
    f = lambda a, W: y * network_output(setup, a, W, X)
    ever = np.zeros(len(y), dtype=bool)
    counts, done, copies = [], 0, (start, perturbed)
    while done < horizons[-1]:
        steps = min(chunk, horizons[-1] - done)
        for k, (a, W, a_p, W_p) in enumerate(follow_perturbation(setup, *copies, steps, range(steps + 1), X=X)):
            if k == 0 and done > 0:
                continue
            ever |= (f(a, W) < setup.h) != (f(a_p, W_p) < setup.h)
            if done + k in horizons:
                counts.append(int(ever.sum()))
        copies = ((a, W), (a_p, W_p))
        done += steps
    return counts


def _degree2_share(solution, t):
    """The degree-2 part K_2 along x_perp of an example's own kernel at x_par = 0.03, over the number
    (d - 1) d / 2 of degree-2 directions: over K(x, x), and over its memorizing part K_mem (degree >= 2, what
    raises the example's own margin while the loss's feedback holds the tilt). An example that re-memorizes a
    deposit's value at its own point takes out of a random degree-2 direction K_2 / K_mem over that number."""
    setup = solution.setup
    fs = solution.variant.finite_sample_kernels()
    moments = np.empty((len(solution.t), 5))
    solution.kernels.fill_moments(solution.gamma_plus, solution.gamma_minus, setup.sigma_a, setup.sigma_w, moments)
    args = (0.03, *moments[t, :3], float(setup.d), setup.sigma_w, setup.slope)
    directions = (setup.d - 1) * setup.d / 2
    whole, quadratic = fs.self_kernel(*args), fs.quadratic_kernel(*args)
    return quadratic / whole / directions, quadratic / (whole - fs.low_degree_kernel(*args)) / directions


if __name__ == "__main__":
    main()
