"""Why one fixed set's kappa runs ahead of the mean field's node map: the unsatisfied examples' own shifts grow a.

Usage (from the repository root; about 2 minutes on 2 cores at the default setting, 6 at Fig. 1)::

    python bench/fixed_set_kappa_drive.py                       # d = 50, M = 200, N = 2e4, 1000 steps
    python bench/fixed_set_kappa_drive.py --fig1 --N 25000 --steps 1000

One GD run on one fixed training set (seed 0), stopped at every step to t = 60, every 5 steps to 200 and every 10
after, measures at each stop the set's drive B = E[|x_par| 1(margin < h)] (what moves the nodes in the mean field:
g = c_sigma B / sqrt(d)) and kappa = alpha c_sigma mean_i(a_i w_i,par) / sqrt(d). It prints, at a few steps:

- GD's kappa; the mean-field node map driven by GD's own measured B (interpolated between the stops); and
  ``finite_size.predict``'s kappa (the node map driven by the memorization map's B), with both drives;
- the two parts of the drive of kappa that the unsatisfied examples U put in at that step: on w_par
  (sum_i a_i^2 sum_U y x_par sigma'(z_i)) and on a (sum_i w_i,par sum_U y sigma(z_i)), each over its value with
  the examples' x_perp replaced by fresh Gaussian draws (x_par and y kept; mean of 4 draws): 1 where the
  mean field's average over x_perp holds for the set's examples;
- the node law's E a^2 / E w_par^2 (1 in the mean field's map) in GD and with ``predict(..., own_shifts=True)``,
  and its kappa;
- what grows a in ``own_shifts``: the set's mean of u (y F - y F at fresh x_perp), GD's, against the memorization
  map's E[u (margin - kappa |x_par|)] (``own_shift_rate``, derivations/finite_sample.py).

Nothing here enters a prediction: it measures what the derivation of the own shifts rests on.
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np

import mftheory
from mftheory import finite_size as fs
from mftheory.validate.simulator import draw_problem, network_output, simulate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fig1", action="store_true", help="d = 100, M = 400, eta = 1000 (else d = 50, M = 200)")
    parser.add_argument("--N", type=int, default=20_000)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args(argv)
    if args.fig1:
        setup = mftheory.fig1_setup().replace(alpha=args.alpha, eta=1000.0 / args.alpha)
    else:   # beta = eta alpha / M = 2.5, as at Fig. 1
        setup = mftheory.Setup(d=50, M=200, alpha=args.alpha, eta=500.0 / args.alpha, h=1.0)
    N, T = args.N, args.steps
    solution = mftheory.meanfield(setup, T)
    k = solution.kernels
    c = solution.variant.odd_slope(setup.leak)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prediction = fs.predict(solution, N)
        shifted = fs.predict(solution, N, own_shifts=True)
        clock = fs._on_training_clock(fs._with_options(solution, own_shifts=True), N, "fixed", "training")
        state = fs._fixed_sample_state(clock, N, fs._tilt(clock, N, "fixed", frozen=False))[1]
    x_star = np.asarray(solution.x_star, dtype=float)
    unit = c / np.sqrt(setup.d)   # g = c_sigma B / sqrt(d)
    mean_field_b = np.sqrt(2 / np.pi) * (-np.expm1(-x_star**2 / 2))   # E[|x_par| 1(|x_par| < x*)]
    assert np.allclose(solution.g[5:], unit * mean_field_b[5:], rtol=1e-6), "g = c B / sqrt(d) does not hold"

    X, y, a, W, _, _ = draw_problem(setup, N, seed=0, n_test=0)
    x_par = np.abs(X[:, 0])
    rng = np.random.default_rng(1)
    drive, kappa, parts, law = {}, {}, {}, {}
    report = {30, 100, 200, 300, 450, 600, 800, 1000, 1500, 2000}
    t = 0
    while True:
        margins = y * network_output(setup, a, W, X)
        unsat = margins < setup.h
        drive[t] = float(np.mean(x_par * unsat))
        kappa[t] = float(setup.alpha * c * np.mean(a * W[:, 0]) / np.sqrt(setup.d))
        if t in report:
            parts[t] = _drive_parts(setup, a, W, X[unsat], y[unsat], rng, N)
            law[t] = np.mean(a**2) / np.mean(W[:, 0] ** 2)
        if t >= T:
            break
        step = 1 if t < 60 else (5 if t < 200 else 10)
        step = min(step, T - t)
        run = simulate(setup, X=X, y=y, a0=a, W0=W, steps=step, n_test=0, record_steps=[step])
        a, W, t = run.a_final, run.W_final, t + step
    stops = np.array(sorted(drive))
    measured = np.interp(np.arange(T + 1), stops, [drive[s] for s in stops])
    on_gd_drive = _node_map_kappa(k, setup, c, unit * measured, T)
    print(f"d = {setup.d}, M = {setup.M}, alpha = {setup.alpha}, N = {N}: kappa over GD's (the mean field's node map "
          f"on GD's own drive B, predict, predict with own_shifts), the set's drive B, the drive's parts (actual / "
          f"fresh x_perp), E a^2 / E w_par^2, and what grows a (GD, own_shifts)")
    print(f"{'t':>5} {'GD':>8} {'on GD B':>7} {'predict':>7} {'shifts':>7} {'B GD':>9} {'B pred.':>9} "
          f"{'w_par':>6} {'a':>6} {'a2/w2 GD':>8} {'shifts':>6} {'grows a GD':>10} {'shifts':>8}")
    predicted, with_shifts = np.asarray(prediction.kappa), np.asarray(shifted.kappa)
    for s in sorted(parts):
        b_pred = _predicted_drive(solution, N, s) if s <= T else np.nan
        moments = state.node_moments[s]
        print(f"{s:>5} {kappa[s]:>8.3f} {on_gd_drive[s] / kappa[s]:>7.3f} {predicted[s] / kappa[s]:>7.3f} "
              f"{with_shifts[s] / kappa[s]:>7.3f} {drive[s]:>9.5f} {b_pred:>9.5f} {parts[s][0]:>6.3f} "
              f"{parts[s][1]:>6.3f} {law[s]:>8.3f} {moments[0] / moments[1]:>6.3f} {parts[s][2]:>10.5f} "
              f"{state.excess[s]:>8.5f}")
    return 0


def _drive_parts(setup, a, W, XU, yU, rng, N):
    """The unsatisfied examples' drive of w_par and of a, each over its value with fresh x_perp, and the set's
    mean of u (y F - y F at fresh x_perp) (ReLU)."""
    d = setup.d

    def parts(X):
        Z = X @ W.T / np.sqrt(d)
        sigma = np.maximum(Z, 0.0)
        return (np.sum(a**2 * ((yU * X[:, 0]) @ (Z > 0))), np.sum(W[:, 0] * (yU @ sigma)),
                np.sum(yU * (sigma @ a)) * setup.alpha / setup.M)

    actual = np.array(parts(XU))
    fresh = np.mean([parts(np.column_stack([XU[:, :1], rng.standard_normal((len(XU), d - 1))]))
                     for _ in range(4)], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return actual[0] / fresh[0], actual[1] / fresh[1], (actual[2] - fresh[2]) / N


def _node_map_kappa(k, setup, c, rates, T):
    """kappa along the mean-field node map driven by the drift rates g_t (one GD step: gamma_+- advance by g)."""
    e_plus = e_minus = 0.0
    out = np.zeros(T + 1)
    for i in range(T + 1):
        out[i] = k.kappa_increments(e_plus, e_minus, setup.alpha, float(setup.d), setup.sigma_a, setup.sigma_w, c)
        e_plus = k.update_increment_plus(e_plus, setup.beta, rates[i])
        e_minus = k.update_increment_minus(e_minus, setup.beta, rates[i])
    return out


_STATES = {}


def _predicted_drive(solution, N, t):
    """The memorization map's B at step t on the set's own clock (the state ``predict`` follows)."""
    if "state" not in _STATES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clock = fs._on_training_clock(solution, N, "fixed", "training")   # as predict's default
            _STATES["state"] = fs._fixed_sample_state(clock, N, fs._tilt(clock, N, "fixed", frozen=False))[1]
    c = solution.variant.odd_slope(solution.setup.leak)
    return float(_STATES["state"].rate[t] / (c / np.sqrt(solution.setup.d)))


if __name__ == "__main__":
    raise SystemExit(main())
