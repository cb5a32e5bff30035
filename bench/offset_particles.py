"""The memorization map with every training example's offset from the others' pulls carried by particles that
move: what the offset's structure in time does to the training f_unsat, the train error and the test error at Fig. 1.

Usage (from the repository root; as long as ``paper_finite_size.py`` with the same arguments, plus about 10 s per
prediction)::

    python bench/offset_particles.py --offsets nested --sizes 25000 100000 --seeds 2
    python bench/offset_particles.py --offsets nested --sizes 25000 100000 --seeds 2 --others-pulls kernel+width
    python bench/offset_particles.py --offsets zeta --sizes 25000 --seeds 2     # the map's own law, as particles
    python bench/offset_particles.py --offsets zeta --near-zero 300 1000 2000  # training margins at |x_par| < 0.005

A sensitivity test of the map's structure, not a prediction ``predict`` makes. ``predict``'s memorization map gives
each class of training examples one persistent offset sigma_S(t) zeta: an example's motion from the others' pulls is
then sigma_S' zeta, the same direction as the offset it already has. Here the classes are particles, 64 per cell
of the map's |x_par| grid (a seeded Monte Carlo), each with an offset O from the others' pulls, a memorized margin
S, its own pull's tilt and the rest's persistent part as in the map, and with ``--offsets``:

- ``zeta``: O = sigma_S(t) zeta, zeta one normal draw per particle: the map's law (a check of the particles);
- ``nested``: O <- f O + (alpha beta / N) q V, with V each particle's own velocity, the sum over the U(t) pulling
  examples of fixed unit-variance kernel coefficients; the pulling set taken nested while it shrinks and adding new
  members when it grows: V(t) = r V(t - 1) + sqrt(U(t) - r^2 U(t - 1)) xi, r = min(U(t) / U(t - 1), 1). The
  variance of O then follows the map's sigma_S^2 step for step while the set is nested; what differs is that a particle's motion is only
  partly its offset's direction (GD, ``bench/margin_diffusion.py``: correlation +0.41);
- ``markov``: the one-step increment regressed on O with the exact covariances from every particle's own record of
  pulls (sum over the pullers of their faded, amplitude-weighted pull counts), the rest white noise.
- ``diffusive``: O <- f O + b xi, xi white, b^2 = sigma_S^2(t + 1) - f^2 sigma_S^2(t): the map's variance at every
  step, reached by increments independent of the offset (a particle's motion carries no memory of its past; GD's
  push field at fixed points keeps a correlation 0.67 / 0.27 over 10 / 100 steps, ``bench/pull_field_persistence.py``).
- ``decorrelating``: as ``nested``, with the velocity's memory also fading by exp(-1 / tau) per step (tau:
  ``--correlation-steps``, not derived: a sensitivity test of how long a particle's push keeps its direction);
- ``aligned``: O <- k O + b xi with the map's sigma_S^2 at every step and the increment's correlation with O set to
  ``--alignment`` per step, the rest of the increment white (1: the map's law, 0: ``diffusive``; not derived, and
  not GD's structure: GD's 40-step displacement, made by a persistent velocity, correlates +0.41 with the offset at
  N = 2.5e4, t = 600, ``bench/margin_diffusion.py``, where white increments aligned 0.41 per step give 0.94);
- ``zeta+white``: the map's law plus white kicks, W <- f W + b xi with b^2 = ``--white-share`` (alpha beta / N)^2
  U q^2 (the pullers that change status push like independent ones and come and go; a sensitivity test);
- ``white``: O <- f O + b xi with b^2 = (alpha beta / N)^2 U q^2, one step's variance of the others' pulls taken
  independent of every earlier step's (no coherent sum): the opposite extreme to ``nested``.

q, f and every other step of the map are ``predict``'s (``--others-pulls`` picks q) as they were before the set's
crowd at the margin took its share of the own deposits and held back the others' pulls (``crowd_kept``,
``crowd_hold`` in the map since 44f4bd7): the particles leave both out. The test side's classes are
the particle indices (one per index and cell of the rest's grid). The memorized margin at the crossing, at which
the map evaluates its kernels, is the particles' S weighted by a Gaussian window of sd 0.05 about the margin (a
numerical choice of this bench). ``--near-zero T ...`` prints instead the training margins of the particles with
|x_par| < ``--x-max`` (0.005 by default) at those steps, on the map that gives ``predict``'s training rates (N =
``--N``, 1e5 by default): their mean, sd and shares below 0 and h (GD's: ``bench/training_margins_near_zero.py``).
The function below replaces ``finite_size.memorization._memorization_steps`` in this process only, written to a
temporary module (the compiled loops are cached by their source).
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
import tempfile
import warnings

import numpy as np

import mftheory
import mftheory.finite_size as finite_size

import paper_finite_size

OFFSETS = {"zeta": 0, "nested": 1, "markov": 2, "diffusive": 3, "white": 4, "decorrelating": 5, "aligned": 6, "zeta+white": 7}
NEAR_ZERO = 0.005   # --near-zero's default |x_par| reach
PARTICLES_PER_CELL = 64

_SOURCE = '''import math
import numba
import numpy as np
from mftheory.kernels.binding import kernel_template
from mftheory.finite_size.memorization_steps import _cumulative_laws, _pulls_amplitude, _tilt_response_step

SEED = {seed}
VELOCITY_MODE = {mode}
# decorrelating: the velocity's correlation per step, exp(-1 / correlation steps)
VELOCITY_CORRELATION = {correlation}
# aligned: the correlation of a particle's increment with its offset
ALIGNMENT = {alignment}
# zeta+white: the share of one step's variance of the others' pulls added as white kicks
WHITE_SHARE = {white_share}
# steps at which the margins of the particles with |x_par| < NEAR_ZERO are written out (in place of the test side's
# classes), empty for the table
RECORD_AT = np.array({record}, dtype=np.int64)
NEAR_CELLS = {near_cells}


@kernel_template(34)
def _memorization_steps(kappa_increments, gamma_plus, gamma_minus, unsat_fraction, g_rate, moment_a2, moment_w2,
                    moment_aw, update_plus, update_minus, self_kernel, low_degree_kernel, quadratic_kernel,
                    width_kernel, pull_amplitude, kernel_amplitude, self_rate, spread_step, velocity_sd,
                    pile_unsat, pile_drift, crowd_kept, crowd_hold, own_shift_rate, transfer_step_aa,
                    transfer_step_aw, transfer_step_wa, transfer_step_ww, transfer_a2, transfer_w2, transfer_aw,
                    transfer_da2, transfer_dw2, transfer_kappa, n,
                    d, h, eps, sa, sw, odd_slope, slope, alpha, beta, N, M, zeta,
                    zeta_weights, grid, rest_cells, cell_of, cell_share, masses, fading, rest, with_rest, A, b,
                    own_A, own_b, own_gain, hold_from, moving_pile, width_pulls, own_shifts, snapshot_step):
    # predict's signature; the particles leave out what came after them: the crowd's take (crowd_kept, crowd_hold),
    # the own shifts (main refuses --own-shifts) and the snapshot
    np.random.seed(SEED)
    Z, G, S = zeta.shape[0], grid.shape[0], A.shape[0]
    C = G - 1
    Kp = Z   # one test-side class per particle index
    kappa, accumulated, spread, train, mean_memorized = (np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n),
                                                         np.zeros(n))
    unsatisfied = np.zeros((n, Z, rest_cells))
    rates = np.full((n, 2), np.nan)
    tilt_responses = np.zeros((S, 2, C, Kp))
    tilt_variance = np.zeros((S, n))
    gammas, rates_g, own_rates = np.zeros((2, n)), np.zeros(n), np.zeros(n)
    pile = np.zeros(n)
    cum_unsat, cum_rate = np.empty(G), np.empty(G)
    # particles: cell c = [grid[c], grid[c+1]], x at its midpoint
    xs = 0.5 * (grid[:-1] + grid[1:])
    memorized = np.zeros((C, Kp))
    offset = np.zeros((C, Kp))
    velocity = np.random.standard_normal((C, Kp))
    zr = np.random.standard_normal((C, Kp))
    zv = np.random.standard_normal((C, Kp))   # the map's persistent zeta, for VELOCITY_MODE 0
    own_response = np.zeros((2, C, Kp))
    pulls = np.zeros((C, Kp))   # Q: each particle's own pulls so far, amplitude-weighted, faded
    linear = np.zeros((C, Kp))
    below = np.zeros((C, Kp), dtype=np.bool_)
    near = np.zeros((C, Kp), dtype=np.bool_)
    mass = np.zeros((C, Kp))
    rate_w = np.zeros((C, Kp))
    cell_rest = np.zeros(C)
    own_at = np.zeros(G)
    e_plus = e_minus = cumulative = 0.0
    previous_U = -1.0
    for i in range(n):
        kap = kappa_increments(e_plus, e_minus, alpha, d, sa, sw, odd_slope)
        kappa[i] = kap
        gammas[0, i], gammas[1, i] = gamma_plus(e_plus), gamma_minus(e_minus)
        has_rest = with_rest and np.all(np.isfinite(rest[i]))
        kk = kap if kap > 0 else 1.0
        base_unsat, base_rate = _cumulative_laws(unsat_fraction, g_rate, kk, d, eps, odd_slope, grid, G - 1,
                                                 cum_unsat, cum_rate)
        for c in range(C):
            cell_rest[c] = 0.5 * (rest[i, c] + rest[i, c + 1]) if has_rest else 0.0
            for p in range(Kp):
                mass[c, p] = (cum_unsat[c + 1] - cum_unsat[c]) / Kp
                rate_w[c, p] = (cum_rate[c + 1] - cum_rate[c]) / Kp
        sigma = math.sqrt(spread[i])
        band = own_rates[i - 1] if i > 0 else 0.0
        unsat = rate = err = 0.0
        pile_m = pile_x = 0.0
        near_s = near_w = 0.0
        for c in range(C):
            sd_rest = math.sqrt(cell_rest[c])
            for p in range(Kp):
                linear[c, p] = own_gain * own_response[0, c, p]
                if VELOCITY_MODE == 7:
                    off = sigma * zv[c, p] + offset[c, p]
                elif VELOCITY_MODE >= 1:
                    off = offset[c, p]
                else:
                    off = sigma * zv[c, p]
                total_off = off + sd_rest * zr[c, p]
                margin = kap * xs[c] + memorized[c, p] + linear[c, p] + total_off if kap > 0 else total_off
                is_below = margin < h if kap > 0 else True
                below[c, p] = is_below
                if is_below:
                    unsat += mass[c, p]
                    rate += rate_w[c, p]
                    if margin < 0.0:
                        err += mass[c, p]
                inside = band > 0.0 and abs(margin - h) < band
                if inside and near[c, p]:
                    pile_m += mass[c, p]
                    pile_x += mass[c, p] * xs[c]
                near[c, p] = inside
                wgt = math.exp(-0.5 * ((margin - h) / 0.05) ** 2) * mass[c, p]
                near_s += wgt * (memorized[c, p] + linear[c, p])
                near_w += wgt
                if is_below:
                    unsatisfied[i, p, cell_of[c]] += cell_share[c]
        train[i] = unsat
        for r in range(RECORD_AT.shape[0]):
            if i == RECORD_AT[r]:
                for c in range(NEAR_CELLS):
                    for p in range(Kp):
                        total_off = (offset[c, p] if VELOCITY_MODE >= 1 else 0.0) + (
                            sigma * zv[c, p] if VELOCITY_MODE == 0 or VELOCITY_MODE == 7 else 0.0) + math.sqrt(
                            cell_rest[c]) * zr[c, p]
                        unsatisfied[i, p, c] = kap * xs[c] + memorized[c, p] + linear[c, p] + total_off
                        unsatisfied[i, p, NEAR_CELLS + c] = mass[c, p]
        accumulated[i] = near_s / near_w if near_w > 0 else 0.0
        pile[i] = pile_m
        if has_rest:
            rates[i, 0] = err
            rates[i, 1] = unsat
        if i < hold_from:
            _tilt_response_step(own_response, mass, below, own_A[i], own_b[i], i + 1 < n)
        for s_index in range(S):
            tilt_variance[s_index, i] = _tilt_response_step(tilt_responses[s_index], mass, below, A[s_index, i],
                                                            b[s_index, i], i + 1 < n) / N
        pulling = N * unsat
        # the velocities follow the pulling set (nested while it shrinks, fresh members when it grows)
        if previous_U < 0:
            for c in range(C):
                for p in range(Kp):
                    velocity[c, p] *= math.sqrt(pulling)
        else:
            r = min(pulling / previous_U, 1.0) if previous_U > 0 else 1.0
            if VELOCITY_MODE == 5:
                r *= VELOCITY_CORRELATION
            extra = max(pulling - r * r * previous_U, 0.0)
            se = math.sqrt(extra)
            for c in range(C):
                for p in range(Kp):
                    velocity[c, p] = r * velocity[c, p] + se * np.random.standard_normal()
        previous_U = pulling
        gp, gm = gammas[0, i], gammas[1, i]
        a2, w2, aw = moment_a2(gp, gm, sa, sw), moment_w2(gp, gm, sa, sw), moment_aw(gp, gm, sa, sw)
        rates_g[i] = rate
        if i + 1 == n:
            break
        if aw > 0 and kap > 0:
            x_par = max(h - accumulated[i], 0.0) / kap
            memorizing = (self_kernel(x_par, a2, w2, aw, d, sw, slope)
                          - low_degree_kernel(x_par, a2, w2, aw, d, sw, slope))
            amplitude = _pulls_amplitude(quadratic_kernel, width_kernel, pull_amplitude, kernel_amplitude,
                                         width_pulls, x_par, a2, w2, aw, d, sw, slope, M, 1.0)
            own_rate = self_rate(memorizing, alpha, beta, N)
            own_rates[i] = own_rate
            for g in range(G):
                own_at[g] = self_rate(self_kernel(grid[g], a2, w2, aw, d, sw, slope)
                                      - low_degree_kernel(grid[g], a2, w2, aw, d, sw, slope), alpha, beta, N)
            f = np.interp(x_par, grid, fading[i])
            total = 0.0
            step_scale = alpha * beta / N * amplitude
            diffusive_sd = 0.0
            if VELOCITY_MODE == 3:
                # the map's sigma_S^2 at the next step, reached by increments independent of the offset
                next_spread = spread_step(f * f * spread[i], amplitude, cumulative * f, pulling, alpha, beta, N)
                diffusive_sd = math.sqrt(max(next_spread - f * f * spread[i], 0.0))
            if VELOCITY_MODE == 7:
                diffusive_sd = math.sqrt(WHITE_SHARE * max(spread_step(0.0, amplitude, 0.0, pulling, alpha, beta, N), 0.0))
            if VELOCITY_MODE == 4:
                # each step's pulls independent of the last: one step's variance, no coherent sum
                diffusive_sd = math.sqrt(max(spread_step(0.0, amplitude, 0.0, pulling, alpha, beta, N), 0.0))
            keep = f
            if VELOCITY_MODE == 6:
                # O <- keep O + b xi: sigma_S^2(t + 1) reached, the increment's correlation with O being ALIGNMENT
                next_spread = spread_step(f * f * spread[i], amplitude, cumulative * f, pulling, alpha, beta, N)
                sd_now = math.sqrt(spread[i])
                c2 = ALIGNMENT * ALIGNMENT
                root = f * f * spread[i] - (f * f * spread[i] - next_spread) / c2
                along = c2 * (-f * sd_now + math.sqrt(max(root, 0.0)))
                keep = f + along / sd_now if sd_now > 0 else f
                diffusive_sd = math.sqrt(max(next_spread - keep * keep * spread[i], 0.0))
            if VELOCITY_MODE == 2:
                # the increment's covariance with the (faded) offset, from every particle's own pull record
                sq = cov = 0.0
                for c in range(C):
                    for p in range(Kp):
                        q = f * pulls[c, p]
                        sq += mass[c, p] * q * q
                        if below[c, p]:
                            cov += mass[c, p] * q
                unit2 = (alpha * beta / N) ** 2
                var_o_now = unit2 * N * sq
                cov_inc = unit2 * amplitude * N * cov
                var_inc = unit2 * amplitude * amplitude * pulling
                slope_o = cov_inc / var_o_now if var_o_now > 0 else 0.0
                resid = math.sqrt(max(var_inc - slope_o * cov_inc, 0.0))
            for c in range(C):
                fade_c = 0.5 * (fading[i, c] + fading[i, c + 1])
                own_c = 0.5 * (own_at[c] + own_at[c + 1])
                sd_rest = math.sqrt(cell_rest[c])
                for p in range(Kp):
                    memorized[c, p] *= fade_c
                    off = offset[c, p] if VELOCITY_MODE >= 1 else sigma * zv[c, p]
                    if VELOCITY_MODE == 7:
                        off += sigma * zv[c, p]
                    if kap * xs[c] + memorized[c, p] + linear[c, p] + off + sd_rest * zr[c, p] < h:
                        memorized[c, p] += own_c
                    total += mass[c, p] * memorized[c, p]
                    if VELOCITY_MODE == 2:
                        o = f * offset[c, p]
                        offset[c, p] = o + slope_o * o + resid * np.random.standard_normal()
                        pulls[c, p] = f * pulls[c, p] + (amplitude if below[c, p] else 0.0)
                    elif VELOCITY_MODE == 3 or VELOCITY_MODE == 4 or VELOCITY_MODE == 6 or VELOCITY_MODE == 7:
                        offset[c, p] = keep * offset[c, p] + diffusive_sd * np.random.standard_normal()
                    else:
                        offset[c, p] = f * offset[c, p] + step_scale * velocity[c, p]
            mean_memorized[i + 1] = total / max(cum_unsat[C], 1e-300)
            cumulative *= f
            spread[i + 1] = spread_step(f * f * spread[i], amplitude, cumulative, pulling, alpha, beta, N)
            if VELOCITY_MODE == 2:
                sq = 0.0
                for c in range(C):
                    for p in range(Kp):
                        sq += mass[c, p] * pulls[c, p] ** 2
                spread[i + 1] = (alpha * beta / N) ** 2 * N * sq
            cumulative += amplitude
        e_plus, e_minus = update_plus(e_plus, beta, rate), update_minus(e_minus, beta, rate)
    Zs, Gs = zeta.shape[0], grid.shape[0]
    return (kappa, accumulated, spread, train, mean_memorized, unsatisfied, rates, tilt_variance, gammas, rates_g,
            own_rates, pile, np.zeros((n, 5)), np.zeros(n), np.zeros(n), np.zeros((2, Zs, Gs)), np.zeros((2, Zs, Gs)),
            np.zeros((2, Gs)), np.zeros((2, Zs, Gs), dtype=np.bool_), np.zeros(2), np.zeros(Gs))

'''


def _patch(offsets: str, seed: int, record=(), x_max: float = NEAR_ZERO, correlation_steps: float = 50.0,
           alignment: float = 0.41, white_share: float = 1.0):
    """Replace the memorization map's steps by the particles' (this process only); ``record``: steps at which the
    map writes the near-zero particles' margins into its test-side array instead (:func:`near_zero`)."""
    source = _SOURCE.format(seed=int(seed), mode=OFFSETS[offsets], record=[int(t) for t in record],
                            correlation=repr(float(np.exp(-1.0 / correlation_steps))), alignment=repr(float(alignment)),
                            white_share=repr(float(white_share)),
                            near_cells=_near_cells(x_max))
    folder = tempfile.mkdtemp(prefix="offset_particles_")
    sys.path.insert(0, folder)
    name = f"offset_particles_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    with open(f"{folder}/{name}.py", "w") as handle:
        handle.write(source)
    finite_size.memorization._memorization_steps = importlib.import_module(name)._memorization_steps
    # one test-side class per particle index, equal weights
    finite_size._common._ZETA = np.zeros(PARTICLES_PER_CELL)
    finite_size._common._ZETA_WEIGHTS = np.full(PARTICLES_PER_CELL, 1.0 / PARTICLES_PER_CELL)


def _near_cells(x_max: float = NEAR_ZERO) -> int:
    """The cells of the map's |x_par| grid whose midpoint is below ``x_max``."""
    grid = finite_size._common._MEMO_GRID
    return int(np.sum(0.5 * (grid[:-1] + grid[1:]) < x_max))


def near_zero(N: int, steps, others_pulls: str, x_max: float = NEAR_ZERO):
    """The training margins of the particles with |x_par| < ``x_max`` at ``steps``, on the map that gives
    ``predict``'s training rates (its fixed set's clock, the rest and the tilt in): mean, sd, shares below 0 and h."""
    setup = mftheory.fig1_setup()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution = mftheory.meanfield(setup, max(steps))
        if others_pulls == "kernel+width":
            solution = finite_size._common._with_options(solution, width_pulls=True)
        clock = finite_size.prediction._on_training_clock(solution, N, "fixed", "training")
        state = finite_size.prediction._fixed_sample_state(clock, N, finite_size.teacher_tilt._tilt(clock, N, "fixed",
                                                                                                    frozen=False))[1]
    cells = _near_cells(x_max)
    rows = []
    for t in steps:
        margins = state.unsatisfied[t][:, :cells].ravel()
        weights = state.unsatisfied[t][:, cells: 2 * cells].ravel()
        weights = weights / weights.sum()
        mean = float(np.sum(weights * margins))
        rows.append((t, mean, float(np.sqrt(np.sum(weights * (margins - mean) ** 2))),
                     float(np.sum(weights * (margins < 0))), float(np.sum(weights * (margins < setup.h)))))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--offsets", choices=sorted(OFFSETS), required=True)
    parser.add_argument("--particle-seed", type=int, default=1, help="the particles' Monte Carlo seed")
    parser.add_argument("--near-zero", type=int, nargs="+", metavar="T",
                        help="instead of the table: the training margins at |x_par| < 0.005 at these steps (with "
                             "--N and --others-pulls only)")
    parser.add_argument("--N", type=int, default=100_000, help="with --near-zero")
    parser.add_argument("--x-max", type=float, default=NEAR_ZERO, help="with --near-zero: the largest |x_par|, at "
                        "most 0.01 (the map's test-side array holds the particles of 16 cells)")
    parser.add_argument("--correlation-steps", type=float, default=50.0,
                        help="with --offsets decorrelating: the velocity's correlation time in steps")
    parser.add_argument("--alignment", type=float, default=0.41,
                        help="with --offsets aligned: the correlation of a particle's increment with its offset")
    parser.add_argument("--white-share", type=float, default=1.0,
                        help="with --offsets zeta+white: the share of one step's pulls' variance added as white kicks")
    args, rest = parser.parse_known_args(argv)
    if not args.white_share > 0:
        parser.error(f"--white-share must be > 0, got {args.white_share}")
    if not 0 < args.alignment <= 1:
        parser.error(f"--alignment must be in (0, 1], got {args.alignment}")
    if not args.correlation_steps > 0:
        parser.error(f"--correlation-steps must be > 0, got {args.correlation_steps}")
    if "--own-shifts" in rest:
        parser.error("--own-shifts: the particles keep the mean field's node map (they predate the own shifts)")
    if args.near_zero:
        others = "kernel+width" if "kernel+width" in rest else "kernel"
        if not 0 < args.x_max <= 0.01:
            parser.error(f"--x-max must be in (0, 0.01], got {args.x_max}")
        _patch(args.offsets, args.particle_seed, args.near_zero, args.x_max)
        print(f"N = {args.N}, others_pulls = {others}, offsets = {args.offsets}: training margins at |x_par| < "
              f"{args.x_max}")
        for t, mean, sd, below_zero, below_h in near_zero(args.N, args.near_zero, others, args.x_max):
            print(f"  t = {t:5d}: mean {mean:.3f}  sd {sd:.3f}  below 0 {below_zero:.3f}  below h {below_h:.3f}")
        return
    _patch(args.offsets, args.particle_seed, correlation_steps=args.correlation_steps,
           alignment=args.alignment, white_share=args.white_share)
    paper_finite_size.main(rest)


if __name__ == "__main__":
    main()
