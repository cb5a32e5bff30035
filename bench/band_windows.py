"""The Fig. 1d band against one GD run, window by window: coverage measured and expected, the spread of the
crossings in band sds, what each part of the band would have to be, and what the offsets do not depend on.

Usage (from the repository root; about 40 s, the run stored by the validation suites is reused)::

    python bench/band_windows.py              # Fig. 1 (the finite-paper scale)
    python bench/band_windows.py --scale finite

Runs the validation case ``finite_width`` (one fixed set, seed 0) and, over windows of the step t_sat at which
training examples are first satisfied, prints:

- the coverage of the predicted band, and the coverage expected (the Gaussian's truncated at |x_par| = 0,
  ``truncated_coverage``), also with the band's sample part scaled by 0.9 to 0.5 in the last window;
- the sd of the crossings' offsets in band sds, for the predicted band and with the frozen rest (no degree-2
  feedback);
- the two labels' mean offsets (F's common part, which the band leaves out, would set them apart) and the
  correlation of the offsets with |x_perp|^2 (the radial degree-2 term);
- GD's tilt against the prediction's early.
"""
from __future__ import annotations

import argparse

import numpy as np

from mftheory.validate.cases import CASES
from mftheory.validate.cases.common import PAPER
from mftheory.validate.cases.finite_size import _crossings, truncated_coverage
from mftheory.validate.simulation_cache import reuse_simulations
from mftheory.validate.simulator import draw_problem
from mftheory.validate.suite import SUITES


def offsets_in_band_sds(band_sd, ts, dist, half, where):
    """The crossings' offsets over the band (widened by the crossing interval's uniform spread), for the sharp
    crossings among ``where``, with those crossings' mask."""
    sd = band_sd[ts]
    sharp = (half <= sd / 4) & where
    return dist[sharp] / np.sqrt(sd[sharp] ** 2 + half[sharp] ** 2 / 3), sharp


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("finite-paper", "finite"), default="finite-paper")
    args = parser.parse_args(argv)
    scale = SUITES[args.scale][0] if args.scale != "finite-paper" else PAPER
    with reuse_simulations():
        result = CASES["finite_width"](scale, seed=0)
    band, sim, setup = result.data["band"], result.data["sim"], result.data["setup"]
    ts, dist, half, centre = _crossings(sim, band.crossing)
    first = sim.t_sat >= 2
    label = np.sign(sim.x_par[first])
    X = draw_problem(setup, scale.N, seed=0, n_test=0)[0]
    radial = ((X[:, 1:] ** 2).sum(axis=1) - (setup.d - 1))[first]
    edges = [e for e in (2, 20, 30, 60, 100, 200, 500, scale.steps + 1) if e <= scale.steps + 1]
    frozen = np.sqrt(band.rest_sd_frozen ** 2 + band.tilt_sd ** 2 + band.bend_sd ** 2 + band.sample_sd ** 2)
    print(f"{args.scale}: d = {setup.d}, M = {setup.M}, N = {scale.N}, {scale.steps} steps; windows of t_sat")
    print(f"{'window':>10} {'n':>6} {'coverage':>9} {'expected':>9} {'sd':>6} {'sd frozen rest':>15} "
          f"{'mean y=+1':>10} {'mean y=-1':>10} {'corr rho2':>10}")
    for lo, hi in zip(edges[:-1], edges[1:]):
        within = (ts >= lo) & (ts < hi)
        z, sharp = offsets_in_band_sds(band.band_sd, ts, dist, half, within)
        if sharp.sum() < 50:
            continue
        sd_eff = np.sqrt(band.band_sd[ts][sharp] ** 2 + half[sharp] ** 2 / 3)
        expected = np.mean(truncated_coverage(centre[sharp], sd_eff))
        z_frozen, _ = offsets_in_band_sds(frozen, ts, dist, half, within)
        print(f"{f'{lo}-{hi - 1}':>10} {sharp.sum():>6} {np.mean(np.abs(z) <= 1):>9.3f} {expected:>9.3f} "
              f"{z.std():>6.3f} {z_frozen.std():>15.3f} {z[label[sharp] > 0].mean():>+10.3f} "
              f"{z[label[sharp] < 0].mean():>+10.3f} {np.corrcoef(z, radial[sharp])[0, 1]:>+10.3f}")
    late = ts >= edges[-2]
    print(f"last window ({edges[-2]} on), the band's sample part scaled by f:")
    for f in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5):
        scaled = np.sqrt(band.rest_sd ** 2 + band.tilt_sd ** 2 + band.bend_sd ** 2 + (f * band.sample_sd) ** 2)
        z, sharp = offsets_in_band_sds(scaled, ts, dist, half, late)
        sd_eff = np.sqrt(scaled[ts][sharp] ** 2 + half[sharp] ** 2 / 3)
        print(f"  f = {f:.1f}: coverage {np.mean(np.abs(z) <= 1):.3f}, expected "
              f"{np.mean(truncated_coverage(centre[sharp], sd_eff)):.3f}")
    steps = np.asarray(sim.record_steps)
    print("tilt, GD / prediction (tan of the angle):")
    for t in (10, 15, 20, 25, 30, 40, 60, 100):
        j = int(np.searchsorted(steps, t))
        step = int(steps[j])
        measured = np.tan(sim.teacher_angle[j])
        print(f"  t = {step}: {measured:.4f} / {band.tilt_sd[step]:.4f} = {measured / band.tilt_sd[step]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
