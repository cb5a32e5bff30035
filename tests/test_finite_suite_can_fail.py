"""Every judged row of the finite-size suite can fail: each case at ``RESOLUTION_SCALE`` (validate/cases/finite_size.py)
returns judged rows that pass, each resolving the case's stated resolution (``*_RESOLUTION``) and failing with the
theory shifted by 1.01 times its own resolution (the failing way only, for a one-sided row); its figure draws.

The rows that fail at that scale are listed below with the reason (known gaps, allowed, not required, to stay so);
the rows that pass but resolve less than their case's stated resolution are listed with their own, asserted."""
import dataclasses
import math

import matplotlib.pyplot as plt
import pytest

from mftheory.validate.cases import CASES, FINITE_SIZE_CASES, draw_case
from mftheory.validate.cases.degree2_spread import DEGREE2_SPREAD_RESOLUTION
from mftheory.validate.cases.finite_size import (FINITE_SAMPLE_RESOLUTION, FINITE_SAMPLE_SCALING_RESOLUTION,
                                                 FINITE_SIZE_RESOLUTION, FINITE_WIDTH_RESOLUTION,
                                                 FINITE_WIDTH_SCALING_RESOLUTION,
                                                 MISLABEL_ONSET_RESOLUTION, PROPAGATOR_RESOLUTION, RESOLUTION_SCALE,
                                                 TILT_RESOLUTION, USER_ACTIVATION_RESOLUTION)

STATED = {"finite_width": FINITE_WIDTH_RESOLUTION, "finite_width_scaling": FINITE_WIDTH_SCALING_RESOLUTION,
          "finite_width_user_activation": USER_ACTIVATION_RESOLUTION,
          "finite_sample": FINITE_SAMPLE_RESOLUTION,
          "finite_sample_scaling": FINITE_SAMPLE_SCALING_RESOLUTION, "mislabel_onset": MISLABEL_ONSET_RESOLUTION,
          "tilt": TILT_RESOLUTION, "propagator": PROPAGATOR_RESOLUTION, "finite_size": FINITE_SIZE_RESOLUTION,
          "degree2_spread": DEGREE2_SPREAD_RESOLUTION}
# the propagator reads the deposits off at 50_000 fresh points, not 200_000: that read-off is 3/4 of the case's
# time at this scale, and the jackknife over the probes, not it, sets the rows' errors (resolutions within 10%)
OPTIONS = {"propagator": {"n_fresh": 50_000}}

# (case, quantity): why the row fails at RESOLUTION_SCALE
FAILING = {
    ("propagator", "degree-2 retention at x_par = 0, fixed sample, 10 steps after t = 33"):
        "one fixed set's deposit drops faster at first than the propagator has it (the nodes' kinks, README); "
        "off by 0.340 against a tolerance of 0.340",
}
# (case, quantity): (the row's own stated resolution, why it is coarser than its case's): measured at
# RESOLUTION_SCALE and rounded up by under a tenth, so a row that gets coarser still fails the test
COARSE = {
    ("propagator", "degree-2 retention at x_par = 0, fixed sample, 33 steps after t = 33"):
        (0.95, "the fixed set's faster drop (0.49 against 0.86): resolution 0.88"),
    ("propagator", "degree-2 retention at x_par = 0, fixed sample, 66 steps after t = 33"):
        (1.45, "the fixed set's faster drop (0.34 against 0.65, jackknife se 0.16): resolution 1.33"),
    ("propagator", "degree-2 retention without the hinge's flips (growth only), fixed sample, 33 steps"):
        (0.75, "jackknife se 0.14 over the 20 probes: resolution 0.69"),
    ("propagator", "degree-2 retention without the hinge's flips (growth only), fixed sample, 66 steps"):
        (1.4, "jackknife se 0.39 over the 20 probes: resolution 1.29"),
    ("propagator", "degree-2 retention at x_par = 0, fresh sample, 66 steps after t = 33"):
        (0.95, "retention 0.65 with jackknife se 0.13: resolution 0.86"),
    ("finite_size", "training f_unsat, N=2000 (t=100)"): (0.9, "3 se = 0.24 of the prediction: resolution 0.72"),
    # the node law's deformation is small at t = 100 against the seeds' spread of it (3 seeds per width)
    ("finite_width_scaling", "node law: c in -log E[a^2 s^2] / (E a^2 s_0^2) = c / M + b over the widths (t=100)"):
        (1.3, "3 se = 0.37 of the prediction and the prediction 0.79 of GD's: resolution 1.25"),
    # the train error counts a few misclassified examples per run at this scale (N = 2000: 17, 14 and 5; N = 8000:
    # 90, 80 and 50), and the prediction sits at 0.65-0.94 of GD's, so a shift relative to it resolves less; the
    # last row at N = 2000 is judged absolutely (3 se reach the prediction: 3 se + 1/sqrt(M) of it + 1/N)
    ("finite_size", "train error, N=2000 (t=32)"): (1.8, "relative tolerance 0.48: resolution 1.66"),
    ("finite_size", "train error, N=2000 (t=38)"): (7.5, "relative tolerance 0.81: resolution 7.04"),
    ("finite_size", "train error, N=2000 (t=100)"): (1.8, "absolute tolerance 0.0029 on 0.0021: resolution 1.70"),
    ("finite_size", "train error, N=8000 (t=32)"): (0.6, "relative tolerance 0.30: resolution 0.56"),
    ("finite_size", "train error, N=8000 (t=38)"): (0.65, "relative tolerance 0.33: resolution 0.60"),
    ("finite_size", "train error, N=8000 (t=100)"): (0.53, "relative tolerance 0.28: resolution 0.49"),
}


def _ways(check):
    """The signs of the relative shifts of the theory that can fail the row."""
    return (-1.0,) if check.upper_bound else (1.0,) if check.lower_bound else (1.0, -1.0)


def _shifted(check, way, shift):
    return dataclasses.replace(check, theory=check.theory * (1.0 + way * shift))


# over 10 s each (measured on 2 cores; the first in a process also compiles the simulator and the predictions)
SLOW = {"finite_width", "finite_width_scaling", "finite_width_user_activation", "finite_sample", "tilt", "propagator", "finite_size",
        "degree2_spread"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
                                  for name in FINITE_SIZE_CASES])
def test_every_judged_row_of_the_finite_case_fails_with_the_theory_off_by_its_resolution(name):
    result = CASES[name](RESOLUTION_SCALE, 0, **OPTIONS.get(name, {}))
    plt.close(draw_case(name, result))   # the figure draws from the returned data alone
    judged = [c for c in result.checks if not c.informational and not c.theory_only]
    assert judged, name
    if name == "finite_sample_scaling":   # the mean field's residual falls with N (first order in 1/N: exponent -1)
        exponent = next(c for c in result.checks if c.quantity.startswith("exponent of |sim - mean field|"))
        assert exponent.simulation < -0.5, exponent
    listed = {key for key in (*FAILING, *COARSE) if key[0] == name}
    assert listed <= {(name, c.quantity) for c in judged}, "a listed row is no longer a judged row of the case"
    stated = STATED[name]
    for check in judged:
        key = (name, check.quantity)
        if not check.passed:
            assert key in FAILING, (key, check)
            continue
        resolution = check.resolution
        assert math.isfinite(resolution) and resolution > 0, (key, resolution)
        for way in _ways(check):
            assert not _shifted(check, way, 1.01 * resolution).passed, (key, way)
        if key in COARSE:
            stated = COARSE[key][0]
        assert resolution <= stated, (key, resolution, stated)
        for way in _ways(check):   # a theory off by the case's stated resolution fails the row
            assert not _shifted(check, way, stated).passed, (key, way)


def test_a_row_that_predicts_less_than_one_example_is_judged_by_the_count():
    """A count whose prediction is below one example of the set (GD's value is then 0 or at least one example, its
    runs' spread often 0) is judged absolutely, one example allowed; a prediction of a few examples or more stays
    relative, and a sub-example prediction against many examples seen still fails."""
    from mftheory.validate.cases.finite_size import judged_row
    N, base_tol = 25_000, 0.063
    nothing_left = judged_row("train error", 8e-32, 0.0, 0.0, base_tol, N)
    assert nothing_left.passed and not nothing_left.relative
    assert not judged_row("train error", 3e-5, 4e-4, 5e-5, base_tol, N).passed   # 0.75 example predicted, 10 seen
    few = judged_row("training f_unsat", 2.3 / N, 0.0, 0.0, base_tol, N)   # 2.3 examples predicted, none seen
    assert few.relative and not few.passed
    assert judged_row("test error", 0.011, 0.0115, 2e-4, base_tol, N).passed


def test_the_band_coverage_expected_near_zero_is_the_truncated_gaussians():
    """Where an example is first satisfied, |x_par|, cannot lie below 0: the coverage expected of a band whose
    centre lies within a few sds of 0 is that of the Gaussian truncated there, against a Monte Carlo."""
    import numpy as np
    from mftheory.validate.cases.finite_size import truncated_coverage
    rng = np.random.default_rng(0)
    for centre in (6.0, 1.0, 0.3):
        x = rng.normal(centre, 1.0, 2_000_000)
        x = x[x >= 0]
        measured = np.mean(np.abs(x - centre) <= 1)
        assert abs(float(truncated_coverage(centre, 1.0)) - measured) < 4 * np.sqrt(measured * (1 - measured) / x.size)
    assert abs(float(truncated_coverage(6.0, 1.0)) - 0.6827) < 1e-4
