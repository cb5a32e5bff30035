"""The quick validation suite runs end to end and its checks pass; the report is complete."""
import json
import math
import subprocess
import sys

import pytest

from mftheory.validate.checks import Check
from suite_runner import CORE_HALF, judged_rows_fail_when_off_by_their_resolution, run_quick_cases


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


def test_a_quantity_with_bars_keeps_the_report_table_whole():
    """A quantity named with |x| (an absolute value) is escaped in report.md, so its row keeps the table's eight
    cells."""
    from mftheory.validate.suite import _markdown

    row = Check("c", "ratio, mean |sim - predicted| / |sim - mean field|", 0.0, 0.5, 0.0, informational=True)
    report = {"suite": "quick", "scale": {}, "seed": 0, "checks": [row.as_dict()], "figures": {"c": "c.png"},
              "seconds": {"c": 1.0}, "cases": ["c"]}
    line = next(line for line in _markdown(report).splitlines() if line.startswith("| c |"))
    cells = [cell for cell in line.replace("\\|", "").split("|")[1:-1]]
    assert len(cells) == 8 and "\\|sim - predicted\\|" in line


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
def test_quick_suite_core_cases_pass_and_write_the_report(tmp_path):
    """The quick suite's cases of the Gaussian, sphere and label-noise laws (its feature-law cases run in
    test_suite_features.py, so that the two halves run on two cores)."""
    from mftheory.validate import cases as case_module

    rows, markdown = run_quick_cases(tmp_path, CORE_HALF)
    assert "| fig1 | gamma_plus" in markdown and "| user_variant | gamma_plus" in markdown
    assert "reaches the fixed point | " in markdown and "(theory vs theory)" in markdown
    resolutions = {"gamma_plus": case_module.GAMMA_RESOLUTION, "f_unsat(": case_module.UNSAT_RESOLUTION,
                   "kappa at the fixed point": case_module.LABEL_NOISE_RESOLUTION}
    # the two checks judged at one finite N, whose tolerances are wider (their docstrings say why)
    per_case = {"overfitting": case_module.OVERFITTING_RESOLUTION,
                "label_noise_small": case_module.LABEL_NOISE_SMALL_RESOLUTION}
    judged = judged_rows_fail_when_off_by_their_resolution(rows, resolutions, per_case)
    # fig1 and user_variant: gamma_plus and f_unsat at three times; data_laws, losses: two laws / losses;
    # overfitting, label_noise, label_noise_small: one each
    assert len(judged) == 2 * 3 + 2 * 3 + 2 + 2 + 1 + 1 + 1


def test_the_two_halves_are_the_quick_suite():
    from mftheory.validate.cases import CORE_CASES
    from suite_runner import FEATURES_HALF

    assert sorted(CORE_HALF + FEATURES_HALF) == sorted(CORE_CASES)


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
