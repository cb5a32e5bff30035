"""Where gradient descent stops fitting noisy labels in the quadratic network, for widths kappa < 1/2.

Runs gradient descent at lambda = 0 with label noise (Delta = 1) over a grid of alpha and prints the in-sample error
at T/4, T/2 and T (interpolation: it falls towards 0; no interpolation: it levels off) beside two candidate
thresholds: the dimension count kappa - kappa^2/2 of the PSD matrices of rank m (finite d: (d m - m(m-1)/2) / d^2)
and the statistical dimension of the rank-m PSD cone, E||P(G)||^2 for the projection P onto it of a standard
Gaussian symmetric matrix G, over d^2 (Monte Carlo of GOE spectra; it is 1/4 at kappa = 1/2, where it meets the
convex threshold). The toolkit predicts neither for kappa < 1/2 (``thresholds(...).interpolation`` is NaN there).

    python bench/quadratic_interpolation.py --kappa 0.3 --d 60 --alphas 0.16,0.18,0.20,0.22,0.24,0.26 --time 1200
"""
import argparse

import numpy as np

from mftheory.quadratic import QuadraticSetup
from mftheory.validate.quadratic.simulator import simulate_many


def cone_dimension(d: int, m: int, draws: int = 200, seed: int = 0) -> float:
    """E||P(G)||^2 / d^2, P the projection onto the PSD matrices of rank <= m, G a standard Gaussian symmetric
    matrix (unit variance per coordinate of the symmetric matrices' orthonormal basis)."""
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(draws):
        H = rng.normal(0.0, np.sqrt(0.5), (d, d))
        eigenvalues = np.linalg.eigvalsh(H + H.T)[::-1][:m] / np.sqrt(2.0)
        total += np.sum(np.maximum(eigenvalues, 0.0) ** 2)
    return total / draws / d**2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kappa", type=float, default=0.3)
    parser.add_argument("--kappa-star", type=float, default=0.2)
    parser.add_argument("--d", type=int, default=60)
    parser.add_argument("--alphas", default="0.16,0.18,0.20,0.22,0.24,0.26")
    parser.add_argument("--time", type=float, default=1200.0)
    parser.add_argument("--eta", type=float, default=0.04)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup = QuadraticSetup(kappa=args.kappa, kappa_star=args.kappa_star, lam=0.0, Delta=1.0, d=args.d)
    d, m = args.d, setup.m
    print(f"d = {d}, m = {m}: count {(d * m - m * (m - 1) / 2) / d**2:.4f}, rank-m PSD cone's statistical dimension "
          f"{cone_dimension(d, m):.4f} (alpha units)")
    steps = int(round(args.time / args.eta))
    record = [steps // 4, steps // 2, steps]
    alphas = [float(a) for a in args.alphas.split(",")]
    jobs = [dict(setup=setup, alpha=a, time=args.time, eta=args.eta, seed=args.seed, record_steps=record)
            for a in alphas]
    for job, run in zip(jobs, simulate_many(jobs)):
        e = run.in_sample_error
        print(f"alpha {job['alpha']:.3f}: in-sample error at T/4, T/2, T {e[0]:.3g} {e[1]:.3g} {e[2]:.3g}, "
              f"MSE {run.mse[-1]:.3g}", flush=True)


if __name__ == "__main__":
    main()
