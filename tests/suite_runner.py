"""Runs part of the quick validation suite as a user would (``python -m mftheory.validate run``) and checks what every
part of it must satisfy; shared by test_suite.py and test_suite_features.py, which run its two halves on two cores."""
import json
import os
import subprocess
import sys

from mftheory.validate.checks import Check

FEATURES_HALF = ["features_starvation", "features_spectral_decoupling", "features_error_curves", "features_many"]
CORE_HALF = ["fig1", "rich_lazy", "overfitting", "data_laws", "label_noise", "label_noise_small", "losses",
             "user_variant"]


def run_quick_cases(tmp_path, cases):
    """Run ``cases`` of the quick suite; every check passes, every figure and the report are written. Returns the
    report's rows and its markdown."""
    out = tmp_path / "v"
    result = subprocess.run([sys.executable, "-m", "mftheory.validate", "run", "--suite", "quick", "--out", str(out),
                             "--cases", *cases], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["complete"] and {r["case"] for r in report["checks"]} == set(cases)
    assert all(r["pass"] for r in report["checks"])
    assert set(report["figures"]) == set(cases)
    for fig in report["figures"].values():
        assert (out / fig).stat().st_size > 10_000
    markdown = (out / "report.md").read_text()
    assert "nan" not in markdown and "| 0 | info |" not in markdown
    assert (out / "report.json").stat().st_mode & 0o777 == 0o666 & ~_umask()
    return report["checks"], markdown


def judged_rows_fail_when_off_by_their_resolution(rows, resolutions, per_case):
    """Every judged row fails when the theory is off by its case's stated resolution (either way): the tolerances
    come from the runs' spread, not from worst-case bounds. ``resolutions`` maps a quantity's prefix to it,
    ``per_case`` a case whose rows all share one. Returns the judged rows."""
    judged = [r for r in rows if not r["informational"] and not r["upper_bound"] and not r.get("theory_only")]
    for r in judged:
        resolution = per_case.get(r["case"]) or next(v for prefix, v in resolutions.items()
                                                     if r["quantity"].startswith(prefix))
        assert r["resolution"] <= resolution, (r["case"], r["quantity"], r["resolution"])
        for factor in (1 - resolution, 1 + resolution):
            off = Check(r["case"], r["quantity"], r["theory"] * factor, r["simulation"], r["tolerance"],
                        relative=r["relative"])
            assert not off.passed, (r["case"], r["quantity"], factor)
    return judged


def _umask():
    current = os.umask(0o022)
    os.umask(current)
    return current
