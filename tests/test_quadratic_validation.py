"""The quadratic network's validation cases run end to end at a small scale, and their checks can fail."""
import json
import math

import pytest

from mftheory.validate.checks import Check
from mftheory.validate.cases import draw_case, run_case
from mftheory.validate.quadratic.cases import QuadraticScale, finite_d_allowance, quadratic_alpha
from mftheory.quadratic import QuadraticSetup, long_time

TINY = QuadraticScale("tiny", d=24, seeds=4, alphas=(0.5,), lambdas=(0.5,))


def test_alpha_case_compares_gradient_descent_with_the_theory(tmp_path):
    result = quadratic_alpha(TINY)
    checks = result.checks
    figure = draw_case("quadratic_alpha", result)   # drawn apart, from the returned data alone
    settled = [c for c in checks if c.quantity.startswith("largest relative change")]
    judged = [c for c in checks if not c.informational and c not in settled]
    assert figure.axes and len(judged) == 2 and len(settled) == 1 and settled[0].passed
    for check in judged:
        assert check.relative and check.tolerance > 0 and check.theory > 0 and check.simulation > 0
        json.dumps(check.as_dict())
    # the comparison is real: each judged row fails with the theory off by its stated resolution, under 1/2
    for check in judged:
        assert check.tolerance < 0.5 and 0 < check.resolution < 0.5, (check.quantity, check.resolution)
        for factor in (1 - check.resolution * 1.01, 1 + check.resolution * 1.01):
            assert not Check(check.case, "shifted", factor * check.theory, check.simulation, check.tolerance,
                             relative=True).passed
    assert math.isnan(settled[0].resolution)   # a convergence check of the runs, not a prediction


def test_spectrum_case_runs(tmp_path):
    checks, figure = run_case("quadratic_spectrum", TINY, tmp_path)
    assert figure.exists() and len(checks) == 5 and all(0 <= c.theory <= 1 + 1e-9 for c in checks)


def test_finite_d_allowance_is_of_order_one_over_d():
    pred = long_time(QuadraticSetup(0.7, 0.5, 0.1), [0.5])
    assert 1 / 40 < finite_d_allowance(pred, 0, 40) < 10 / 40
    assert finite_d_allowance(pred, 0, 80) == pytest.approx(finite_d_allowance(pred, 0, 40) / 2)


def test_one_sided_check():
    assert Check("c", "q", 0.2, 0.1, 0.01, upper_bound=True).passed
    assert not Check("c", "q", 0.2, 0.25, 0.01, upper_bound=True).passed
    assert Check("c", "q", 0.2, 0.205, 0.01, upper_bound=True).passed
