"""Sweeps of the quadratic network on Dask: gradient descent's long-time state beside ``mftheory.quadratic``.

One task per point x seed (a point: kappa, kappa_star, lam, Delta, d, data, alpha, time, eta), run on a
single-threaded worker; each finished task is written atomically to ``OUT/points/KEY.parquet`` and skipped when
the sweep is run again, and the table of every row is ``OUT/table.parquet`` (columns: the point, the seed,
``mse_sim``, ``in_sample_error_sim``, ``rank_sim`` and the theory's ``mse_theory``, ``in_sample_error_theory``,
``rank_theory``; NaN where the theory does not apply, lambda = 0).

Built-ins (``python -m mftheory.validate sweep --builtin NAME --out DIR``):

* ``quadratic_thresholds``: the recovery map over (kappa*, alpha) at kappa = 1 and a small penalty (lambda =
  0.02, the lambda -> 0+ side), with the predicted threshold min_t M(t)/2 and the lambda = 0 count;
* ``quadratic_double_descent``: the test error against alpha with label noise Delta = 1 at lambda = 0.02, 0.05
  and 0.2, the peak near the interpolation threshold (``thresholds(...).interpolation``, 0.307 at Delta = 1,
  kappa* = 0.5).
"""
from __future__ import annotations

import hashlib
import json
import math
import pathlib

import numpy as np

from mftheory.atomic import write_atomically
from mftheory.validate.sweeping.store import _is_complete, _write_parquet_atomically

POINT_FIELDS = ("kappa", "kappa_star", "lam", "Delta", "d", "data", "alpha", "time", "eta")


def _point_key(point: dict, seed: int, fields=POINT_FIELDS) -> str:
    text = json.dumps({k: point[k] for k in fields} | {"seed": seed}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def compute_quadratic_point(point: dict, seed: int) -> dict:
    """Simulate one point for one seed and put the theory beside it (runs on a worker)."""
    import numba

    numba.set_num_threads(1)
    from mftheory.quadratic import QuadraticSetup, long_time
    from mftheory.validate.quadratic.simulator import simulate_quadratic

    setup = QuadraticSetup(point["kappa"], point["kappa_star"], point["lam"], Delta=point["Delta"], d=point["d"],
                           data=point["data"])
    steps = int(math.ceil(point["time"] / point["eta"] - 1e-9))
    run = simulate_quadratic(setup, point["alpha"], point["time"], eta=point["eta"], seed=seed,
                             record_steps=[0, steps])
    row = dict(point) | {"seed": seed, "mse_sim": float(run.mse[-1]),
                         "in_sample_error_sim": float(run.in_sample_error[-1]), "rank_sim": run.rank_fraction()}
    if point["lam"] > 0:
        pred = long_time(setup, [point["alpha"]])
        row |= {"mse_theory": float(pred.mse[0]), "in_sample_error_theory": float(pred.in_sample_error[0]),
                "rank_theory": float(pred.rank[0]), "rank_limited": bool(pred.rank_limited[0])}
    else:
        row |= {"mse_theory": math.nan, "in_sample_error_theory": math.nan, "rank_theory": math.nan,
                "rank_limited": False}
    return row


def quadratic_sweep(points, seeds, out, scheduler=None, workers=None, progress=True):
    """Run every point of ``points`` (dicts with POINT_FIELDS) for every seed on Dask; return the table
    (a pandas DataFrame), also written to ``out/table.parquet``. Finished tasks are not run again."""
    return point_sweep(compute_quadratic_point, POINT_FIELDS, points, seeds, out, scheduler, workers, progress)


def point_sweep(compute, fields, points, seeds, out, scheduler=None, workers=None, progress=True):
    """The sweep driver of the point-by-point sweeps: ``compute(point, seed) -> row dict`` on Dask for every
    point (dicts with ``fields``) and seed, one atomic Parquet file per task (skipped when it exists), the table
    of all rows in ``out/table.parquet``."""
    import pandas as pd
    import pyarrow as pa

    from mftheory.validate.sweeping.driver import _client, output_folder

    out = output_folder(out)
    (out / "points").mkdir(parents=True, exist_ok=True)
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    for point in points:
        missing = set(fields) - set(point)
        if missing:
            raise ValueError(f"a sweep point needs {sorted(missing)}; got {point}")
    jobs = [(point, seed, _point_key(point, seed, fields)) for point in points for seed in seeds]
    todo = [job for job in jobs if not _is_complete(out / "points" / f"{job[2]}.parquet")]
    if todo:
        client, cluster = _client(scheduler, workers)
        try:
            futures = {client.submit(compute, point, seed, pure=False): key
                       for point, seed, key in todo}
            from distributed import as_completed

            iterator = as_completed(futures)
            if progress:
                from tqdm import tqdm

                iterator = tqdm(iterator, total=len(futures), desc="sweep", unit="task")
            for future in iterator:
                row = future.result()
                _write_parquet_atomically(pa.Table.from_pylist([row]), out / "points" / f"{futures[future]}.parquet")
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    table = pd.concat([pd.read_parquet(out / "points" / f"{key}.parquet") for _, _, key in jobs], ignore_index=True)
    _write_parquet_atomically(pa.Table.from_pandas(table, preserve_index=False), out / "table.parquet")
    return table


def threshold_points(d=40, kappa=1.0, kappa_stars=(0.2, 0.35, 0.5, 0.65), lam=0.02, eta=0.04, time=None,
                     steps=8):
    """The recovery map's points: for each kappa*, alpha spread around its predicted lambda -> 0+ threshold."""
    from mftheory.quadratic import thresholds

    points = []
    for ks in kappa_stars:
        limit = thresholds(kappa, ks).recovery_lambda0plus
        for factor in np.linspace(0.6, 1.5, steps):
            points.append(dict(kappa=kappa, kappa_star=ks, lam=lam, Delta=0.0, d=d, data="goe",
                               alpha=round(float(factor * limit), 4), time=time or max(40.0, 12.0 / lam), eta=eta))
    return points


def double_descent_points(d=40, lams=(0.02, 0.05, 0.2), alphas=(0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.6, 0.8), eta=0.04):
    return [dict(kappa=0.7, kappa_star=0.5, lam=lam, Delta=1.0, d=d, data="goe", alpha=a,
                 time=max(40.0, 12.0 / lam), eta=eta) for lam in lams for a in alphas]


def plot_thresholds(table, out) -> dict:
    """Recovery map: log10 MSE of gradient descent over (kappa*, alpha), the predicted lines on top."""
    from mftheory.quadratic import thresholds
    from mftheory.validate.figures import new_figure, save_figure

    mean = table.groupby(["kappa_star", "alpha"], as_index=False)[["mse_sim", "mse_theory"]].mean()
    kappa = float(table["kappa"].iloc[0])
    fig, ax = new_figure(1, 1, figsize=(6, 4.5))
    sc = ax.scatter(mean["kappa_star"], mean["alpha"], c=np.log10(mean["mse_sim"]), cmap="viridis", s=80)
    fig.colorbar(sc, ax=ax, label="log10 MSE (gradient descent)")
    grid = np.linspace(0.05, 0.95, 60)
    ax.plot(grid, [thresholds(kappa, k).recovery_psd for k in grid], "r-", label="lambda -> 0+: min_t M(t)/2")
    if kappa < 1:
        ax.axhline(thresholds(kappa, 0.0 + 1e-9).recovery_lambda0, color="k", ls="--", label="lambda = 0 count")
    ax.set(xlabel="kappa* = m*/d", ylabel="alpha = n/d^2",
           title=f"recovery map, kappa={kappa}, lambda={table['lam'].iloc[0]}, d={table['d'].iloc[0]}")
    ax.legend(fontsize=7)
    path = save_figure(fig, pathlib.Path(out) / "quadratic_thresholds.png")
    numbers = {f"kappa*={k}": {"threshold": thresholds(kappa, k).recovery_lambda0plus,
                                "alpha": list(g["alpha"]), "mse_sim": list(g["mse_sim"]),
                                "mse_theory": list(g["mse_theory"])}
               for k, g in mean.groupby("kappa_star")}
    return {"figure": path, "numbers": numbers}


def plot_double_descent(table, out) -> dict:
    from mftheory.quadratic import QuadraticSetup, long_time, thresholds
    from mftheory.validate.figures import new_figure, save_figure

    fig, ax = new_figure(1, 1)
    numbers = {}
    for k, (lam, g) in enumerate(table.groupby("lam")):
        mean = g.groupby("alpha", as_index=False)["mse_sim"].agg(["mean", "std", "count"])
        se = mean["std"] / np.sqrt(mean["count"])
        ax.errorbar(mean["alpha"], mean["mean"], yerr=se, fmt="o", color=f"C{k}", label=f"GD, lambda={lam}")
        grid = np.linspace(0.05, float(g["alpha"].max()) * 1.05, 80)
        first = g.iloc[0]
        curve = long_time(QuadraticSetup(first["kappa"], first["kappa_star"], lam, Delta=first["Delta"]), grid)
        ax.plot(grid, curve.mse, color=f"C{k}", label=f"theory, lambda={lam}")
        numbers[f"lambda={lam}"] = {"alpha": list(mean["alpha"]), "mse_sim": list(mean["mean"]),
                                    "theory_peak_alpha": float(grid[np.argmax(curve.mse)])}
    first = table.iloc[0]
    interpolation = thresholds(first["kappa"], first["kappa_star"], first["Delta"]).interpolation
    ax.axvline(interpolation, color="k", ls=":", label=f"interpolation threshold {interpolation:.3f} (lambda -> 0+)")
    ax.set(xlabel="alpha = n/d^2", ylabel="MSE", title="double descent with label noise Delta = 1")
    ax.legend(fontsize=7)
    return {"figure": save_figure(fig, pathlib.Path(out) / "quadratic_double_descent.png"), "numbers": numbers}


def _starvation_points():
    from mftheory.validate.sweeping.starvation import starvation_points

    return starvation_points()


def _plot_starvation(table, out):
    from mftheory.validate.sweeping.starvation import plot_starvation

    return plot_starvation(table, out)


# the built-in sweeps run point by point (the hinge network's grid sweeps are TOML specs in validate/sweeps/)
BUILTIN_QUADRATIC_SWEEPS = {
    "starvation": ("the rare feature's slope against p_2/p_1, hinge, quadratic hinge and logistic (data='features')",
                   _starvation_points, _plot_starvation),
    "quadratic_thresholds": ("recovery map over (kappa*, alpha) at kappa = 1, lambda = 0.02, with the predicted "
                             "thresholds", threshold_points, plot_thresholds),
    "quadratic_double_descent": ("test error against alpha with label noise Delta = 1 at three penalties",
                                 double_descent_points, plot_double_descent),
}


def run_builtin(name, out, seeds=2, scheduler=None, workers=None, figure=True, progress=True):
    """Run the built-in point sweep ``name``; return (table, {"figure": path, "numbers": ...} or None)."""
    _, make_points, plot = BUILTIN_QUADRATIC_SWEEPS[name]
    if name == "starvation":
        from mftheory.validate.sweeping.starvation import FIELDS, compute_starvation_point

        table = point_sweep(compute_starvation_point, FIELDS, make_points(), seeds, out, scheduler, workers, progress)
    else:
        table = quadratic_sweep(make_points(), seeds, out, scheduler=scheduler, workers=workers, progress=progress)
    result = plot(table, out) if figure else None
    if result is not None:
        write_atomically(pathlib.Path(out) / "numbers.json", json.dumps(result["numbers"], indent=1, default=float))
    return table, result
