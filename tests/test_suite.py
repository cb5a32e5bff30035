"""The quick validation suite runs end to end and its checks pass; the report is complete."""
import json
import math
import subprocess
import sys

import pytest

from mftheory.validate.checks import Check


def test_check_arithmetic():
    assert Check("c", "q", 2.0, 2.1, 0.06, relative=True).passed
    assert not Check("c", "q", 2.0, 2.2, 0.06, relative=True).passed
    assert not Check("c", "q", 1.0, float("nan"), 1.0).passed
    assert Check("c", "q", 0.0, 5.0, 0.0, informational=True).passed


def test_a_relative_check_of_a_zero_prediction_is_judged_not_a_crash():
    """A prediction of exactly 0 (no training example misclassified) against a simulation: agreement has no error,
    anything else an unbounded one; the row still writes into the report."""
    assert Check("c", "q", 0.0, 0.0, 0.1, relative=True).passed
    off = Check("c", "q", 0.0, 1e-4, 0.1, relative=True)
    assert off.error == math.inf and not off.passed and off.as_dict()["pass"] is False


def test_resolution_is_the_smallest_relative_error_the_check_detects():
    # relative check: passes for theory T in [s/(1+tol), s/(1-tol)]
    check = Check("c", "q", 2.0, 2.1, 0.06, relative=True)
    assert check.resolution == pytest.approx(max(2.1 / (0.94 * 2.0) - 1, 1 - 2.1 / (1.06 * 2.0)), rel=1e-9)
    for factor in (1 + check.resolution * 1.001, 1 - check.resolution * 1.001):
        assert not Check("c", "q", 2.0 * factor, 2.1, 0.06, relative=True).passed
    assert Check("c", "q", 2.0 * (1 + check.resolution * 0.999), 2.1, 0.06, relative=True).passed
    # absolute check: T in [s - tol, s + tol]
    assert Check("c", "q", 1.0, 1.0, 0.1).resolution == pytest.approx(0.1, rel=1e-9)
    # one-sided: only lowering the bound can make the simulation exceed it
    assert Check("c", "q", 0.2, 0.1, 0.01, upper_bound=True).resolution == pytest.approx(0.55, rel=1e-9)
    assert Check("c", "q", 0.2, 0.1, 0.01, lower_bound=True).resolution == 0.0   # fails already
    assert math.isnan(Check("c", "q", 0.0, 0.1, 0.2).resolution)
    assert math.isnan(Check("c", "q", 1.0, 0.1, 0.2, informational=True).resolution)


@pytest.mark.slow
def test_quick_suite_passes_and_writes_the_report(tmp_path):
    out = tmp_path / "v"
    result = subprocess.run([sys.executable, "-m", "mftheory.validate", "run", "--suite", "quick", "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert {r["case"] for r in report["checks"]} == {"fig1", "rich_lazy", "overfitting", "data_laws", "label_noise",
                                                     "label_noise_small", "losses", "user_variant",
                                                     "features_starvation", "features_spectral_decoupling",
                                                     "features_error_curves", "features_many"}
    assert all(r["pass"] for r in report["checks"])
    _judged_rows_can_fail(report["checks"])
    for fig in report["figures"].values():
        assert (out / fig).stat().st_size > 10_000
    markdown = (out / "report.md").read_text()
    assert "| fig1 | gamma_plus" in markdown and "| user_variant | gamma_plus" in markdown
    assert "reaches the fixed point | " in markdown and "(theory vs theory)" in markdown
    assert "nan" not in markdown and "| 0 | info |" not in markdown
    assert (out / "report.json").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _judged_rows_can_fail(rows):
    """Every judged row of the cases judged on extrapolated runs fails when the theory is off by the case's stated
    resolution (either way): their tolerances come from the runs' spread, not from worst-case bounds."""
    from mftheory.validate import cases, features

    resolutions = {"kappa_": features.KAPPA_RESOLUTION, "gamma_plus": cases.GAMMA_RESOLUTION,
                   "f_unsat(": cases.UNSAT_RESOLUTION, "kappa at the fixed point": cases.LABEL_NOISE_RESOLUTION}
    # the two checks judged at one finite N, whose tolerances are wider (their docstrings say why)
    per_case = {"overfitting": cases.OVERFITTING_RESOLUTION, "label_noise_small": cases.LABEL_NOISE_SMALL_RESOLUTION,
                "features_error_curves": features.CURVE_RESOLUTION}
    judged = [r for r in rows if not r["informational"] and not r["upper_bound"] and not r.get("theory_only")]
    assert len(judged) == (2 * 3 + 2 * 3 + 2 + 2 + 2 * len(features.rare_frequencies(cases.QUICK)) * 3 * 2 + 1 + 2
                           + len(features.decoupling_losses(cases.QUICK)) * 3 * 2
                           + sum(_curve_crossings_reached(features, cases.QUICK, *setting)
                                 for setting in features.curve_settings(cases.QUICK))
                           + 3 * 3)   # features_many: three slopes at three times
    for r in judged:
        resolution = per_case.get(r["case"]) or next(v for prefix, v in resolutions.items()
                                                     if r["quantity"].startswith(prefix))
        assert r["resolution"] <= resolution, (r["case"], r["quantity"], r["resolution"])
        for factor in (1 - resolution, 1 + resolution):
            off = Check(r["case"], r["quantity"], r["theory"] * factor, r["simulation"], r["tolerance"],
                        relative=r["relative"])
            assert not off.passed, (r["case"], r["quantity"], factor)


def _curve_crossings_reached(features, scale, p_2, mu_2):
    """How many of the learning-curve case's crossings (2 features x 3 levels) the mean field reaches in the run."""
    from mftheory.features import first_crossing, meanfield_features

    sol = meanfield_features(features.curve_setup(scale, p_2, mu_2), scale.steps)
    return sum(math.isfinite(first_crossing(sol.f_unsat_patterns[:, k], level))
               for k in range(2) for level in features.CURVE_LEVELS)


def _umask():
    import os

    current = os.umask(0o022)
    os.umask(current)
    return current


def test_unknown_case_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mftheory.validate", "run", "--cases", "nope", "--out", str(tmp_path)],
                            capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_report_is_written_case_by_case_and_an_interrupted_run_keeps_what_it_finished(tmp_path, monkeypatch):
    """The report is rewritten after every case: a run stopped in its second case leaves the first case's rows,
    marked partial."""
    from mftheory.validate import suite

    def fake_case(name, scale, out, seed):
        if name == "rich_lazy":
            raise KeyboardInterrupt
        figure = out / f"{name}.png"
        figure.write_bytes(b"png")
        return [Check(name, "q", 1.0, 1.01, 0.05, relative=True)], figure

    monkeypatch.setattr(suite, "run_case", fake_case)
    with pytest.raises(KeyboardInterrupt):
        suite.run("quick", tmp_path, cases=["fig1", "rich_lazy"])
    report = json.loads((tmp_path / "report.json").read_text())
    assert not report["complete"] and [r["case"] for r in report["checks"]] == ["fig1"]
    assert "Partial: 1 of 2 cases so far" in (tmp_path / "report.md").read_text()
    monkeypatch.setattr(suite, "run_case", lambda name, *a: fake_case("fig1", *a))
    assert suite.run("quick", tmp_path, cases=["fig1", "overfitting"])["complete"]
    assert "Partial" not in (tmp_path / "report.md").read_text()
