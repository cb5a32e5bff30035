"""How long does one of GD's training examples stay in the crowd at the margin? GD only, beside the memorization
map's rate of arrivals there.

Usage (from the repository root; about 5 minutes on 2 cores at N = 4e5)::

    python bench/crowd_residence.py                                  # Fig. 1, N = 4e5 from t = 1000
    python bench/crowd_residence.py --N 100000 --t0 700 --lags 2 10 50 100 200
    python bench/crowd_residence.py --lags 50 --why-they-leave             # what moved the crowd's leavers

GD (``simulate``, no derived formula) is run on one fixed training set to step t0 and on from there. An example is in
the crowd at step t when its margin y f is within w of h at t and at t + 1 (both steps of GD's period-2 swing).
Printed for each window w: the crowd's size at t0, its excess over the infinite set's density at h (what the
memorization map's classes do not pile), and the share of the crowd at t0 still in it T steps later, with the share
of the whole set in it then (what chance gives). A crowd that turns over with survival S(T) holds, in the steady
state, the arrival rate times sum_T S(T) examples.

The theory's side (``finite_size``, on the set's own clock): the rate at which examples arrive at the margin from
above when each moves at the net velocity u + v, u the map's own motion of an example at the crossing (kappa's
growth at the crossing less the fading of its memorized margin) and v the others' pulls' persistent velocity
(Gaussian, sd ``velocity_sd``): N p(h) E[(-u - v)_+], p(h) the infinite set's density of margins at h.

With ``--why-they-leave``, at the first lag T: the mean displacement over T of the crowd's members (w = 0.003) that
left it, split into a constant per label and |x_par| bin (kappa's growth, the common part), the part linear in
y x_perp (the tilt) and the rest (degree >= 2, the own pulls included), each fitted by least squares over the
training examples with |x_par| < 0.3; and the persistence of the push on the crowd: the degree >= 2 part of one
step's pull by the examples more than 0.02 below h at t0, at the crowd's points, correlated with the same pullers'
at the weights of t0 + T (the kernel's change) and with the pullers of t0 + T at those weights (and the turnover).
"""
from __future__ import annotations

import argparse
import warnings

import numpy as np
from scipy.stats import norm

import mftheory
from mftheory.finite_size import _common
from mftheory.finite_size.memorization import _memory_fading
from mftheory.finite_size.memorization_steps import _pulls_amplitude
from crowd_push import _move, _step_part
from fixed_set_steps import map_on_the_set_clock
from mftheory.validate.simulator import draw_problem

WINDOWS = (0.003, 0.01, 0.03)


def _margins(setup, X, y, a, W):
    z = X @ W.T / np.sqrt(setup.d)
    return y * (setup.alpha / setup.M * np.maximum(z, 0.0) @ a)


def _advance(setup, X, y, a, W, steps):
    if steps == 0:
        return a, W
    run = mftheory.simulate(setup, X=X, y=y, a0=a, W0=W, steps=steps, n_test=0, record_steps=[0, steps])
    return run.a_final, run.W_final


def arrival_rates(setup, N, t0, horizon):
    """(T+1,) the theory's arrivals per step at the margin from above (module docstring), and the map's pile."""
    solution, state, _ = map_on_the_set_clock(setup, N, t0, horizon)
    k, fs = solution.kernels, solution.variant.finite_sample_kernels()
    d, h = float(setup.d), setup.h
    moments = np.empty((len(solution.t), 5))
    k.fill_moments(np.asarray(state.gamma_plus), np.asarray(state.gamma_minus), setup.sigma_a, setup.sigma_w, moments)
    fading = _memory_fading(solution)
    kappa, memorized = np.asarray(state.kappa), np.asarray(state.memorized)
    rates = np.zeros(len(kappa))
    for t in range(1, len(kappa) - 1):
        x = max(h - memorized[t], 0.0) / kappa[t]
        up = (kappa[t + 1] - kappa[t]) * x - (1.0 - np.interp(x, _common._MEMO_GRID, fading[t])) * memorized[t]
        a2, w2, aw = moments[t, :3]
        amplitude = _pulls_amplitude(fs.quadratic_kernel, fs.width_kernel, fs.pull_amplitude, fs.kernel_amplitude,
                                     False, x, a2, w2, aw, d, setup.sigma_w, setup.slope, float(setup.M), 1.0)
        sd = fs.velocity_sd(amplitude, N * state.train_unsat[t], setup.alpha, setup.beta, float(N))
        down = sd * norm.pdf(up / sd) - up * norm.cdf(-up / sd)
        rates[t] = N * -k.tilt_response(kappa[t], d, h) * down
    return rates, N * np.asarray(state.pile), kappa


def _fit_parts(X, y, selection, values, with_linear=True):
    """(common, linear) parts of ``values``: a constant per label and |x_par| bin, and linear in y x_perp."""
    x_par = np.abs(X[:, 0])
    bins = np.minimum((x_par / 0.02).astype(int), 15)
    onehot = np.zeros((len(X), 16))
    onehot[np.arange(len(X)), bins] = 1.0
    common_features = np.hstack([onehot, onehot * y[:, None]])
    features = np.hstack([common_features, X[:, 1:] * y[:, None]]) if with_linear else common_features
    coefficients, *_ = np.linalg.lstsq(features[selection], values[selection], rcond=None)
    common = common_features @ coefficients[:32]
    return common, features @ coefficients - common


def why_they_leave(setup, X, y, start, later, crowd):
    """Print the leavers' displacement by part and the persistence of the push on the crowd (module docstring)."""
    (a0, W0, m0), (a1, W1, m1) = start, later
    near = np.abs(X[:, 0]) < 0.3
    moved = m1 - m0
    common, linear = _fit_parts(X, y, near, moved)
    rest = moved - common - linear
    left = crowd & (np.abs(m1 - setup.h) >= WINDOWS[0])
    print(f"  the {left.sum()} of {crowd.sum()} that left: mean displacement {moved[left].mean():+.4f} = common "
          f"{common[left].mean():+.4f} + linear {linear[left].mean():+.4f} + degree >= 2 {rest[left].mean():+.4f}")
    pushes = []
    for (a, W, _), pullers in (((a0, W0, m0), m0), ((a1, W1, m1), m0), ((a1, W1, m1), m1)):
        z = X @ W.T / np.sqrt(setup.d)
        push = _move(setup, X, y, z, a, *_step_part(setup, X, y, z, a, np.flatnonzero(pullers < setup.h - 0.02)))
        common, linear = _fit_parts(X, y, near, push)
        pushes.append((push - common - linear)[crowd])
    print(f"  push on the crowd by the pullers of t0 at the weights of t0 + T: correlation "
          f"{np.corrcoef(pushes[0], pushes[1])[0, 1]:.3f} with t0's; by the pullers of t0 + T: "
          f"{np.corrcoef(pushes[0], pushes[2])[0, 1]:.3f} (pullers {np.sum(m0 < setup.h - 0.02)} -> "
          f"{np.sum(m1 < setup.h - 0.02)}, both {np.sum((m0 < setup.h - 0.02) & (m1 < setup.h - 0.02))})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--N", type=int, default=400_000)
    parser.add_argument("--t0", type=int, default=1000)
    parser.add_argument("--lags", type=int, nargs="+", default=[2, 10, 50, 100, 200, 400])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--why-they-leave", action="store_true", help="take the leavers' motion apart (first lag)")
    args = parser.parse_args(argv)
    setup = mftheory.fig1_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rates, pile, kappa = arrival_rates(setup, args.N, args.t0, max(args.lags) + 2)
    X, y, a0, W0, _, _ = draw_problem(setup, args.N, seed=args.seed, n_test=0)
    a, W = _advance(setup, X, y, a0, W0, args.t0)
    density = -mftheory.meanfield(setup, 2).kernels.tilt_response(kappa[args.t0], float(setup.d), setup.h)

    def crowd_at(a, W):
        m0 = _margins(setup, X, y, a, W)
        a1, W1 = _advance(setup, X, y, a, W, 1)
        m1 = _margins(setup, X, y, a1, W1)
        return [(np.abs(m0 - setup.h) < w) & (np.abs(m1 - setup.h) < w) for w in WINDOWS], a1, W1

    start = (a, W, _margins(setup, X, y, a, W))
    first, a, W = crowd_at(a, W)
    print(f"N = {args.N}, t0 = {args.t0} (seed {args.seed}); theory: arrivals {rates[args.t0]:.2f} per step at t0, "
          f"the map's pile {pile[args.t0]:.0f}")
    for w, members in zip(WINDOWS, first):
        print(f"  w = {w}: crowd {members.sum()}, excess over the infinite set's density "
              f"{members.sum() - 2 * w * density * args.N:.0f}")
    done = 1
    survival = {w: [] for w in WINDOWS}
    for lag in args.lags:
        a, W = _advance(setup, X, y, a, W, lag - done)
        if args.why_they_leave and lag == args.lags[0]:
            why_they_leave(setup, X, y, start, (a, W, _margins(setup, X, y, a, W)), first[0])
        now, a_next, W_next = crowd_at(a, W)
        done = lag + 1
        a, W = a_next, W_next
        for w, members, later in zip(WINDOWS, first, now):
            survival[w].append((lag, (members & later).sum() / max(members.sum(), 1), later.mean()))
    for w in WINDOWS:
        cells = ", ".join(f"T={lag}: {kept:.3f} ({chance:.4f})" for lag, kept, chance in survival[w])
        print(f"  w = {w}: still in the crowd (whole set in it) {cells}")
    print("theory's arrivals per step at t0 + T:", ", ".join(f"T={lag}: {rates[args.t0 + lag]:.2f}" for lag in args.lags))


if __name__ == "__main__":
    main()
