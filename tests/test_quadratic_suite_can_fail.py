"""Every judged row of the quadratic network's cases can fail, as tests/test_quadratic_validation.py shows for
quadratic_alpha: at the tiny scale each case returns judged rows that pass, each resolving a theory off by under 1/2
and failing with the theory shifted by 1.01 times its own resolution (the failing way only, for a one-sided row); the
runs' convergence rows pass and are no prediction (no resolution); the figure draws.

The rows that fail at the tiny scale are listed below with the reason (known gaps, allowed, not required, to stay
so); the rows that pass but resolve less than 1/2 are listed with their own stated resolution, asserted."""
import dataclasses
import math

import matplotlib.pyplot as plt
import pytest

from mftheory.validate.cases import draw_case
from mftheory.validate.quadratic.cases import QUADRATIC_CASES, QuadraticScale

TINY = QuadraticScale("tiny", d=24, seeds=4, alphas=(0.5,), lambdas=(0.5,))   # as tests/test_quadratic_validation.py
RESOLUTION = 0.5   # a theory off by a half fails every judged row (quadratic_alpha's test asks the same)
CASES = [name for name in QUADRATIC_CASES if name != "quadratic_alpha"]   # that one: test_quadratic_validation.py

# (case, start of the quantity): why the rows fail at the tiny scale
FAILING = {
    ("quadratic_threshold_map", "MSE, kappa*=0.2, lambda=0.02, alpha=0.3195"):
        "d = 24: a teacher of rank 5 at 1.25 times the threshold; GD's MSE 0.0034 against 0.0012",
    ("quadratic_threshold_map", "in-sample error, kappa*=0.2, lambda=0.02, alpha=0.3195"):
        "the same runs: 2.5e-4 against 1.8e-4 (tolerance 0.36)",
}
# (case, start of the quantity): (the rows' own stated resolution, why they resolve less than RESOLUTION): measured at
# the tiny scale and rounded up by under a tenth, so a row that gets coarser still fails the test
COARSE = {
    ("quadratic_gaussian_inputs", "relative MSE deviation"):
        (2.6, "one-sided, against the simulated deviation at d/2 (not a theory): resolution 2.4"),
    ("quadratic_gaussian_inputs", "relative in-sample error deviation"): (6.5, "the same: resolution 6.0"),
    ("quadratic_double_descent", "in-sample error, Delta=1, lambda=0.02, alpha=0.15"): (1.0, "resolution 0.93"),
    ("quadratic_double_descent", "MSE, Delta=1, lambda=0.02, alpha=0.25"): (0.8, "at the interpolation peak: 0.73"),
    ("quadratic_double_descent", "MSE, Delta=1, lambda=0.02, alpha=0.6"): (0.9, "resolution 0.81"),
    ("quadratic_recovery", "MSE, lambda=0.01, alpha="):
        (5.5, "the MSE near and above recovery spreads over the seeds (tolerances 0.62-0.79): resolutions 2.5-5.1"),
    ("quadratic_recovery", "in-sample error, lambda=0.01, alpha=0.5"): (0.75, "resolution 0.66"),
    ("quadratic_recovery", "in-sample error, lambda=0.01, alpha=0.7"): (0.7, "resolution 0.62"),
    ("quadratic_lambda0", "MSE / MSE(0), alpha="):
        (22.0, "one-sided bounds on an outcome (recovered or not), 0.02 below the count and 1e-3 above it, met by "
               "far: resolutions 10-20 and 1 (GD reaches 1e-14 and below)"),
    ("quadratic_threshold_map", "MSE, kappa*=0.2, lambda=0.02, alpha=0.2044"):
        (math.inf, "tolerance 1.14 >= 1: no theory too high fails it (resolution inf)"),
    ("quadratic_threshold_map", "in-sample error, kappa*=0.2, lambda=0.02, alpha=0.2044"): (0.9, "resolution 0.80"),
    ("quadratic_threshold_map", "MSE, kappa*=0.5, lambda=0.02, alpha=0.3377"): (1.75, "resolution 1.6"),
    ("quadratic_threshold_map", "MSE, kappa*=0.5, lambda=0.02, alpha=0.5277"): (1.05, "resolution 0.94"),
    ("quadratic_rank_limited", "MSE, kappa=0.3, lambda=0.1, alpha=0.4"):
        (0.7, "d = 24, 4 seeds: the rank-limited runs' MSE spreads over the seeds near the count: resolution 0.63"),
    ("quadratic_rank_limited", "in-sample error, kappa=0.3, lambda=0.1, alpha=0.4"): (0.8, "the same: resolution 0.73"),
    ("quadratic_rank_limited", "MSE, kappa=0.3, lambda=0.1, alpha=0.6"):
        (5.0, "d = 24 (m = 7): the four runs' MSE spreads from 0.17 to 0.40 (tolerance 0.78): resolution 4.6; at the "
              "quick scale (d = 40, 6 seeds) the tolerance is 0.26"),
    ("quadratic_rank_limited", "in-sample error, kappa=0.3, lambda=0.1, alpha=0.6"): (4.5, "the same: resolution 4.1"),
    ("quadratic_rank_limited", "MSE, kappa=0.3, lambda=0.1, alpha=1.0"): (1.3, "the same spread: resolution 1.17"),
    ("quadratic_rank_limited", "in-sample error, kappa=0.3, lambda=0.1, alpha=1.0"): (1.3, "resolution 1.17"),
    ("quadratic_flow", "MSE at t=2, GD extrapolated"):
        (0.6, "4 pairs at d = 24, each run's test error spreading by about 16% (teacher and init): resolution 0.56"),
}


def _listed(table, name, quantity):
    return any(case == name and quantity.startswith(start) for case, start in table)


def _ways(check):
    """The signs of the relative shifts of the theory that can fail the row."""
    return (-1.0,) if check.upper_bound else (1.0,) if check.lower_bound else (1.0, -1.0)


def _shifted(check, way, shift):
    return dataclasses.replace(check, theory=check.theory * (1.0 + way * shift))


# over 10 s each (measured on 2 cores)
SLOW = {"quadratic_recovery", "quadratic_threshold_map"}


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
                                  for name in CASES])
def test_every_judged_row_of_the_quadratic_case_fails_with_the_theory_off_by_its_resolution(name):
    result = QUADRATIC_CASES[name](TINY)
    plt.close(draw_case(name, result))   # the figure draws from the returned data alone
    settled = [c for c in result.checks if c.quantity.startswith("largest relative change")]
    judged = [c for c in result.checks if not c.informational and not c.theory_only and c not in settled]
    assert judged, name
    for check in settled:   # a convergence check of the runs, not a prediction
        assert check.passed and math.isnan(check.resolution), check
    for case, start in (*FAILING, *COARSE):
        assert case != name or any(c.quantity.startswith(start) for c in judged), ("no judged row", start)
    for check in judged:
        key = (name, check.quantity)
        if not check.passed:
            assert _listed(FAILING, *key), (key, check)
            continue
        resolution = check.resolution
        stated = next((bound for (case, start), (bound, _) in COARSE.items()
                       if case == name and check.quantity.startswith(start)), RESOLUTION)
        assert 0 < resolution <= stated, (key, resolution, stated)
        if not math.isfinite(resolution):
            continue
        for way in _ways(check):
            assert not _shifted(check, way, 1.01 * resolution).passed, (key, way)
            assert not _shifted(check, way, stated).passed, (key, way)
