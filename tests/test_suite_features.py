"""The quick validation suite's feature-law cases (``data="features"``) run end to end and their checks pass at the
resolutions their docstrings state."""
import math

import pytest

from suite_runner import FEATURES_HALF, judged_rows_fail_when_off_by_their_resolution, run_quick_cases


@pytest.mark.slow
def test_quick_suite_feature_cases_pass_and_write_the_report(tmp_path):
    from mftheory.validate import cases, features

    rows, _ = run_quick_cases(tmp_path, FEATURES_HALF)
    per_case = {"features_error_curves": features.CURVE_RESOLUTION}
    judged = judged_rows_fail_when_off_by_their_resolution(rows, {"kappa_": features.KAPPA_RESOLUTION}, per_case)
    starvation = 2 * len(features.rare_frequencies(cases.QUICK)) * 3 * len(features.starvation_losses(cases.QUICK))
    decoupling = len(features.decoupling_losses(cases.QUICK)) * 3 * 2
    curves = sum(_curve_crossings_reached(features, cases.QUICK, *setting)
                 for setting in features.curve_settings(cases.QUICK))
    assert len(judged) == starvation + decoupling + curves + 3 * 3   # features_many: three slopes at three times


def _curve_crossings_reached(features, scale, p_2, mu_2):
    """How many of the learning-curve case's crossings (2 features x 3 levels) the mean field reaches in the run."""
    from mftheory.features import first_crossing, meanfield_features

    sol = meanfield_features(features.curve_setup(scale, p_2, mu_2), scale.steps)
    return sum(math.isfinite(first_crossing(sol.f_unsat_patterns[:, k], level))
               for k in range(2) for level in features.CURVE_LEVELS)
