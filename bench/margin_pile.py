"""The pile of training examples at the margin in GD, and the loss's feedback on the tilt it implies.

Usage (from the repository root; about 3 minutes on 2 cores)::

    python bench/margin_pile.py                                  # Fig. 1, N = 25000 and 100000
    python bench/margin_pile.py --runs 25000:200,300,400,1000

GD (``simulate``, no derived formula) is run on one fixed training set and stopped at each listed step; there the
training margins y f(x) are computed from the parameters and their density at h, per unit margin, is measured in
windows |y f - h| < w. The theory's side: the density of the infinite set's margins at h (``tilt_response`` of the
generated kernels, the one ``finite_size.tilt`` feeds back by default) and the factor 1 + f b_v of the tilt's
linear map per GD step (``finite_size``'s A_t[0, 0], f the loss's feedback per unit density), evaluated with the
infinite set's density and with GD's own. A factor below 0 makes the linear map flip the tilt's sign at every
step: the period-2 oscillation that ``bench/period_two.py`` measures in GD after its onset (N = 25000: between
t = 200 and 300; N = 100000: between 500 and 700).

A second line per stop sets the memorization map (``mftheory.finite_size``, on the set's own clock) beside GD's
margins in units of the map's own step s (the margin an unsatisfied example gains per step from its own term): the
map's training f_unsat and its pile (the share it holds within one own step of the margin), GD's share in bands of
s around h, and GD's f_unsat counted only beyond 4 s below h. A third line sets the drive of kappa beside GD's:
B = E[1(unsatisfied) |x_par|] over the set (the map's from its drift rate g = odd slope B / sqrt(d)), with the mean
|x_par| of an unsatisfied example, and GD's share of it from its crowd within 4 s below h.
"""
from __future__ import annotations

import argparse

import numpy as np

import mftheory
from mftheory import finite_size

WINDOWS = (0.003, 0.01, 0.03, 0.1)
# bands of (y f - h) / s, s the map's own step
OWN_STEP_BANDS = (-4, -2, -1, 0, 1, 2, 4)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["25000:100,200,300,400,1000", "100000:300,500,700,1000,2000"],
                        help="N:t1,t2,... (increasing steps)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    if setup.activation != "relu":   # pragma: no cover - fig1_setup is ReLU
        raise SystemExit("this diagnostic evaluates F for the ReLU only")
    last = max(int(t) for spec in args.runs for t in spec.split(":")[1].split(","))
    sol = mftheory.meanfield(setup, last + 1)   # + 1: the map has its own step at the last stop too
    k, d, h = sol.kernels, float(setup.d), setup.h
    moments = np.empty((len(sol.t), 5))
    k.fill_moments(sol.gamma_plus, sol.gamma_minus, setup.sigma_a, setup.sigma_w, moments)
    c = sol.variant.odd_slope(setup.leak)
    gain = k.tilt_gain(setup.alpha, c, d)
    print("windows w:", ", ".join(map(str, WINDOWS)), "| each cell: GD's density at h, its ratio to the infinite "
          "set's, and the tilt's factor 1 + f b_v with it")
    for spec in args.runs:
        N = int(spec.split(":")[0])
        stops = [int(t) for t in spec.split(":")[1].split(",")]
        rng = np.random.default_rng(args.seed)
        X = rng.standard_normal((N, setup.d))
        y = np.where(X[:, 0] >= 0, 1.0, -1.0)
        a = W = None
        done = 0
        # the memorization map's state on the set's own clock (private: what predict builds its parts from)
        state = finite_size.prediction._along(finite_size.prediction._on_training_clock(sol, N, "fixed"), N,
                                              "fixed").state
        for t in stops:
            run = mftheory.simulate(setup, N=N, steps=t - done, seed=args.seed, X=X, y=y, a0=a, W0=W, n_test=0,
                                    record_steps=[t - done])
            a, W, done = run.a_final, run.W_final, t
            z = X @ W.T / np.sqrt(setup.d)
            margin = y * (setup.alpha / setup.M * np.maximum(z, 0.0) @ a)
            density_inf = -k.tilt_response(sol.kappa[t], d, h)
            per_density = gain * k.tilt_drive_v(moments[t, 0], moments[t, 2], setup.beta, sol.g[t], setup.sigma_w,
                                                 c, d)   # 1 + f b_v = 1 - per_density * density
            cells = []
            for w in WINDOWS:
                density = np.mean(np.abs(margin - h) < w) / (2 * w)
                cells.append(f"{density:.3g} (x{density / density_inf:.1f}, {1 - per_density * density:+.2f})")
            print(f"N={N} t={t}: unsat {np.mean(margin < h):.4f}; infinite set: density {density_inf:.3g}, factor "
                  f"{1 - per_density * density_inf:+.3f} | GD: " + " | ".join(cells), flush=True)
            own = state.own_rate[t]
            if own > 0:
                shares = [np.mean((margin - h >= lo * own) & (margin - h < hi * own))
                          for lo, hi in zip(OWN_STEP_BANDS[:-1], OWN_STEP_BANDS[1:])]
                print(f"    map: unsat {state.train_unsat[t]:.4f}, pile {state.pile[t]:.4f} (within s = {own:.3g}) | "
                      f"GD: share in (y f - h)/s bands {OWN_STEP_BANDS}: " + " ".join(f"{v:.4f}" for v in shares)
                      + f" | GD unsat beyond 4 s below h {np.mean(margin - h < -4 * own):.4f}", flush=True)
                # the drive of kappa: B = E[1(unsatisfied) |x_par|] over the set (the map's from its drift rate g =
                # odd slope B / sqrt(d)), and its mean reach |x_par| per unsatisfied example
                reach = np.abs(X[:, 0])
                below, crowd = margin < h, (margin < h) & (margin - h >= -4 * own)
                drive_map = state.rate[t] * np.sqrt(d) / c
                print(f"    drive B: map {drive_map:.3g} (|x_par| {drive_map / state.train_unsat[t]:.4f} per "
                      f"unsatisfied example) | GD {np.mean(below * reach):.3g} (|x_par| {reach[below].mean():.4f}), "
                      f"of it its crowd within 4 s below h {np.mean(crowd * reach):.3g} (|x_par| "
                      f"{reach[crowd].mean() if crowd.any() else float('nan'):.4f})", flush=True)


if __name__ == "__main__":
    main()
