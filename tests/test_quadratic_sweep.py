"""The quadratic network's Dask sweep: rows, theory beside simulation, resume, and the built-in figures."""
import pandas as pd
import pytest

from mftheory.validate.sweeping.quadratic import (double_descent_points, plot_double_descent, plot_thresholds,
                                         quadratic_sweep, threshold_points)


def test_sweep_rows_resume_and_figures(tmp_path):
    points = [dict(kappa=1.0, kappa_star=0.5, lam=0.2, Delta=1.0, d=10, data="goe", alpha=a, time=5.0, eta=0.04)
              for a in (0.3, 0.6)]
    table = quadratic_sweep(points, 2, tmp_path, workers=2, progress=False)
    assert len(table) == 4 and set(table["seed"]) == {0, 1}
    assert (table["mse_sim"] > 0).all() and (table["mse_theory"] > 0).all()
    files = sorted((tmp_path / "points").glob("*.parquet"))
    stamps = [f.stat().st_mtime_ns for f in files]
    again = quadratic_sweep(points, 2, tmp_path, workers=2, progress=False)   # every task is done: none runs
    assert [f.stat().st_mtime_ns for f in files] == stamps
    pd.testing.assert_frame_equal(table, again)
    assert plot_double_descent(table, tmp_path)["figure"].exists()
    thresholds_table = table.assign(lam=0.01)
    assert plot_thresholds(thresholds_table, tmp_path)["figure"].exists()


def test_builtin_points_span_the_predicted_thresholds():
    points = threshold_points()
    assert {p["kappa_star"] for p in points} == {0.2, 0.35, 0.5, 0.65}
    assert len(double_descent_points()) == 24


def test_bad_point_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs"):
        quadratic_sweep([dict(kappa=1.0)], 1, tmp_path)
