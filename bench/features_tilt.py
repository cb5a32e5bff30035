"""The tilt of F along the noise coordinates on the features law: GD against FeatureSolution.tilt_variance(N).

For each N, SEEDS runs (fresh sample and init each) of the hinge network at the quick suite's scale (d = 20,
M = 200, eta = 500, p_1 = 0.8), |v_noise|^2 / (d - 2) with v = mean_i a_i w_i at a few steps; prints GD's mean and
its standard error beside the theory (init and one fixed sample, with the hinge's feedback) and their ratio.
``--online``: N fresh examples at every step (``simulate(..., online=True)``) against ``sample="fresh"``.

    python bench/features_tilt.py --p2 0.2 --seeds 6 --sizes 20000,40000,80000,160000 [--online]
"""
import argparse

import numpy as np

from mftheory.features import meanfield_features
from mftheory.model import Setup
from mftheory.validate.simulator import draw_problem, simulate


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p2", type=float, default=0.2)
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--sizes", default="20000,40000,80000,160000")
    parser.add_argument("--stops", default="30,75,150,300")
    parser.add_argument("--online", action="store_true", help="fresh examples at every step")
    args = parser.parse_args(argv)
    stops = [int(s) for s in args.stops.split(",")]
    setup = Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=200, data="features", loss="hinge",
                  feature_freq=(0.8, args.p2), feature_strength=(1.0, 1.0))
    sol = meanfield_features(setup, stops[-1])
    for N in (int(s) for s in args.sizes.split(",")):
        runs = []
        for r in range(args.seeds):
            X, y, _, _, _, _ = draw_problem(setup, N, seed=100 + r, n_test=0)
            _, _, a, W, _, _ = draw_problem(setup, 8, seed=200 + r, n_test=0)
            done, out = 0, []
            for c, stop in enumerate(stops):
                if args.online:   # each chunk draws its own batches (seeds apart), from where the last one stopped
                    sim = simulate(setup, N=N, steps=stop - done, seed=1000 * r + c, a0=a, W0=W, n_test=0,
                                   record_steps=[stop - done], online=True)
                else:
                    sim = simulate(setup, N=N, steps=stop - done, seed=r, X=X, y=y, a0=a, W0=W, n_test=0,
                                   record_steps=[stop - done])
                a, W, done = sim.a_final, sim.W_final, stop
                v = (a[:, None] * W[:, 2:]).mean(axis=0)
                out.append(v @ v / (setup.d - 2))
            runs.append(out)
        runs = np.array(runs)
        theory = sol.tilt_variance(N=N, sample="fresh" if args.online else "fixed")
        print(f"N = {N}: " + " | ".join(
            f"t={t} GD {runs[:, i].mean():.4f} +- {runs[:, i].std(ddof=1) / np.sqrt(args.seeds):.4f} theory "
            f"{theory[t]:.4f} ({theory[t] / runs[:, i].mean():.2f})" for i, t in enumerate(stops)), flush=True)


if __name__ == "__main__":
    main()
