"""Parameter sweeps of theory against simulation on Dask (dask.distributed): resumable and fault-tolerant.

API::

    from mftheory import Setup
    from validate import sweep, plot_sweep
    base = Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=100)
    df = sweep(base, {"d": [10, 20], "N": [2000, 8000]}, seeds=[0, 1], steps=300, out="runs/demo")
    plot_sweep(df, x="N", y="f_unsat", hue="d")

Command line::

    python -m validate sweep SPEC.toml --out DIR [--scheduler ADDRESS] [--workers K]
    python -m validate sweep --builtin phase|overfitting|finite_size|label_noise --out DIR
    python -m validate sweep --list

Spec (TOML)::

    [sweep]
    steps = 300
    seeds = [0, 1]            # or an integer k: seeds 0 .. k-1
    N = 4000                  # optional when N is a grid key
    record_steps = [0, 10, 300]   # optional, default validate.simulator.default_record_steps(steps)
    figure = "phase"          # optional: a built-in figure function drawn from the table
    [base]                    # the mftheory.Setup fields not in the grid
    d = 20
    alpha = 1.0
    h = 1.0
    eta = 500.0
    M = 100
    [grid]                    # full product over the keys, in this order ...
    d = [10, 20, 40]
    N = [1000, 4000]
    alpha_eta = [{alpha = 0.1, eta = 5000.0}, {alpha = 1.0, eta = 500.0}]   # ... a list of tables: fields varied together

or ``[[grid]]`` tables (TOML's array of tables): an explicit list of points, each overriding ``[base]``.

Grid keys are :class:`mftheory.Setup` field names or ``"N"``; a key whose values are tables (dicts) is a *group*
whose name is only a label.  Everything is validated before anything is submitted (unknown names, empty lists,
invalid Setup values, a discrete map undefined for the point) with a ``ValueError`` naming the parameter.

Output, under ``out``:

``points/KEY.parquet``
    one small file per finished point x seed.  KEY = sha256 of the canonical JSON of the point's full parameters
    (the validated Setup fields and N, floats as ``float.hex``), the seed, steps, the resolved record_steps and the
    fixed simulation options (``n_test``, the table schema version).  Each file is written by the driver through a
    temporary file in the same directory (``.KEY.*.tmp``), fsync'd and ``os.replace``'d over the final name, so a
    file under that name is always complete; a rerun skips the points whose file is there (and reads as Parquet).
``table.parquet``
    (atomic too) the concatenation of the point files in grid order, then seed order, then t: the same spec gives the
    same table bit for bit (the simulator is bit-reproducible for a given seed).  Its schema metadata
    ``mftheory.sweep`` holds the spec, the seeds and the package versions (no timestamps).
``summary.json``
    points computed / skipped / failed, wall time, points per second (this run's, so it changes between runs).

The table is tidy: one row per point x seed x recorded step t, with the point's parameters (every Setup field,
``N``, and the derived ``beta`` and ``laziness``), ``point`` (index in the grid), ``seed``, ``steps``, ``t``, ``key``
and, theory and simulation side by side (``*_theory``, ``*_sim``):

``gamma_plus``      theory ``MeanFieldSolution.gamma_plus[t]``; simulation ``validate.cases.measured_gamma_plus``
``f_unsat``         fraction of unsatisfied training examples (theory: mean field; sim: measured)
``train_error``, ``test_error``   simulation; the mean-field theory predicts 0
``alignment``       theory ``solution.alignment``; sim mean_i w_par^2 / mean_i (w_par^2 + |w_perp|^2)
``relative_change`` theory ``solution.relative_change``; sim sqrt(mean_i[(a - a0)^2 + (w_par - w_par0)^2] /
                    mean_i[a0^2 + w_par0^2 + |w_perp0|^2]): only the a and w_par part of the change is counted
                    (the theory's w_perp does not move; the simulator records |w_perp| but not its direction), and
                    the denominator is the empirical |theta_0|^2 instead of its expectation sigma_a^2 + d sigma_w^2
``kappa``           theory ``solution.kappa[t]``; sim: least-squares slope of f along x_par on 4000 fresh inputs,
                    at the last step only (NaN elsewhere: the simulator keeps only the final weights)

Dask
----
Each point x seed is one task, submitted with ``retries=3`` under its KEY (a task whose worker dies is
rescheduled by the scheduler; a task that raises is retried).  Results come back to the driver, which writes the
files: workers need no shared filesystem.  Without ``scheduler`` a ``distributed.LocalCluster`` is started with
``n_workers = workers or os.cpu_count()`` processes, one thread each, and ``NUMBA_NUM_THREADS=1``,
``OMP_NUM_THREADS=1``, ``OPENBLAS_NUM_THREADS=1``, ``MKL_NUM_THREADS=1`` in their environment; every task also calls
``numba.set_num_threads(1)``, so K workers use K cores.  Memory per task is bounded by the simulator's inputs
(N x d training and 10^4 x d test inputs; it never builds N x M arrays) and the (R, M) recorded trajectory.

On a cluster, start a scheduler and workers there and pass its address (``--scheduler tcp://HOST:8786``); with
``--workers K`` the driver waits until K workers have joined.  Workers must have this package installed and should
run one thread each (``--nthreads 1``) with ``NUMBA_NUM_THREADS=1`` set:

* SLURM / PBS with dask-jobqueue (``pip install dask-jobqueue``)::

      from dask_jobqueue import SLURMCluster          # or PBSCluster
      cluster = SLURMCluster(cores=32, processes=32, memory="64GB", walltime="02:00:00",
                             job_script_prologue=["export NUMBA_NUM_THREADS=1 OMP_NUM_THREADS=1"])
      cluster.scale(jobs=6)                          # 192 single-threaded workers
      sweep(base, grid, seeds, steps, out, scheduler=cluster.scheduler_address)   # or Client(cluster)

  or from a login node ``python -m validate sweep spec.toml --out DIR --scheduler tcp://...:8786 --workers 192``.
* Kubernetes (``dask-kubernetes`` operator or the Dask Helm chart): create a ``DaskCluster`` whose worker image has
  this package, with ``--nthreads 1`` and ``NUMBA_NUM_THREADS=1``; port-forward or expose the scheduler service and
  pass its address (``--scheduler tcp://SCHEDULER-SERVICE:8786``).
* Anything else: ``dask scheduler`` on one host, ``dask worker tcp://HOST:8786 --nthreads 1 --nworkers K`` on each.

The driver can be killed at any time; rerunning the same command finishes the rest.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import itertools
import json
import os
import pathlib
import sys
import tempfile
import time
import tomllib
from importlib import resources
from numbers import Integral, Real

import numpy as np

from mftheory.model import Setup, check_int
from validate.figures import new_figure, save_figure

__all__ = ["sweep", "plot_sweep", "expand_grid", "point_key", "load_spec", "run_spec", "builtin_specs",
           "FIGURES", "SweepError"]

SCHEMA_VERSION = 1
N_TEST = 10_000
N_FRESH = 4000  # fresh inputs for the simulated kappa
SETUP_FIELDS = tuple(f.name for f in dataclasses.fields(Setup))
PARAMS = SETUP_FIELDS + ("N",)
QUANTITIES = ("gamma_plus", "f_unsat", "train_error", "test_error", "alignment", "relative_change", "kappa")
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
RETRIES = 3
METADATA_KEY = b"mftheory.sweep"


class SweepError(RuntimeError):
    """Some points failed (after the retries); the finished ones are kept, a rerun computes the rest."""

    def __init__(self, message, summary):
        super().__init__(message)
        self.summary = summary


# ----------------------------------------------------------------------------------------------------------
# grid, validation, keys
# ----------------------------------------------------------------------------------------------------------
def _check_name(name, where):
    if name not in PARAMS:
        raise ValueError(f"unknown parameter {name!r} in {where}; parameters are the mftheory.Setup fields "
                         f"{', '.join(SETUP_FIELDS)} and 'N'")


def expand_grid(base: Setup | dict, grid, N=None) -> list[dict]:
    """The list of points (dicts of every Setup field and N) of ``grid`` over ``base``, in a deterministic order.

    ``grid``: a dict from parameter name to a non-empty list of values (full product over the keys in their
    order; a key whose values are dicts is a group of fields varied together, its name only a label), or a
    non-empty list of dicts (explicit points).  Each point is validated by building its ``Setup``.
    """
    if isinstance(base, Setup):
        base_values = base.as_dict()
    elif isinstance(base, dict):
        for name in base:
            _check_name(name, "base")
        base_values = dict(base)
        if "N" in base_values:
            N = base_values.pop("N") if N is None else N
    else:
        raise ValueError(f"base must be a mftheory.Setup (or a dict of its fields), got {type(base).__name__}")
    if isinstance(grid, dict):
        if not grid:
            raise ValueError("grid must not be empty: give at least one parameter with a list of values")
        axes = []
        for name, values in grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
                raise ValueError(f"grid[{name!r}] must be a list of values, got {type(values).__name__}")
            if not values:
                raise ValueError(f"grid[{name!r}] is empty: give at least one value")
            if all(isinstance(v, dict) for v in values):
                for v in values:
                    for field in v:
                        _check_name(field, f"grid[{name!r}]")
                axes.append([dict(v) for v in values])
            elif any(isinstance(v, dict) for v in values):
                raise ValueError(f"grid[{name!r}] mixes tables and values")
            else:
                _check_name(name, "grid")
                axes.append([{name: v} for v in values])
        overrides = [{k: v for part in combo for k, v in part.items()} for combo in itertools.product(*axes)]
    elif isinstance(grid, (list, tuple)):
        if not grid:
            raise ValueError("grid must not be empty: give at least one point")
        for i, point in enumerate(grid):
            if not isinstance(point, dict):
                raise ValueError(f"grid point {i} must be a dict of parameters, got {type(point).__name__}")
            for name in point:
                _check_name(name, f"grid point {i}")
        overrides = [dict(p) for p in grid]
    else:
        raise ValueError(f"grid must be a dict of lists or a list of dicts, got {type(grid).__name__}")
    points = []
    for i, change in enumerate(overrides):
        values = {**base_values, **change}
        n = values.pop("N", N)
        if n is None:
            raise ValueError("N must be given (argument N, [sweep] N, or a grid key)")
        n = check_int("N", n, 1)
        missing = [f for f in ("d", "alpha", "h", "eta", "M") if f not in values]
        if missing:
            raise ValueError(f"grid point {i}: missing Setup field(s) {', '.join(missing)} (give them in base)")
        try:
            setup = Setup(**values)
        except ValueError as err:
            raise ValueError(f"grid point {i} ({_describe(change)}): {err}") from None
        except TypeError as err:
            raise ValueError(f"grid point {i} ({_describe(change)}): {err}") from None
        points.append({**setup.as_dict(), "N": n})
    return points


def _describe(change):
    return ", ".join(f"{k}={v!r}" for k, v in change.items()) or "base"


def _canonical(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value).hex()
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_canonical(v) for v in value]
    raise TypeError(f"cannot canonicalise {value!r}")


def point_key(params: dict, seed: int, steps: int, record_steps) -> str:
    """sha256 (hex) of the canonical JSON of the full parameters (floats as float.hex), seed, steps, record_steps
    and the fixed simulation options."""
    payload = {"params": {k: _canonical(params[k]) for k in PARAMS}, "seed": int(seed), "steps": int(steps),
               "record_steps": _canonical([int(r) for r in record_steps]), "n_test": N_TEST, "n_fresh": N_FRESH,
               "schema": SCHEMA_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _check_seeds(seeds):
    if isinstance(seeds, Integral) and not isinstance(seeds, bool):
        seeds = list(range(check_int("seeds", seeds, 1)))
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (list, tuple, range, np.ndarray)) or len(seeds) == 0:
        raise ValueError(f"seeds must be a non-empty list of integers >= 0 (or an integer k: seeds 0..k-1), got {seeds!r}")
    seeds = [check_int("seeds", s, 0) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    return seeds


def _resolve_record_steps(record_steps, steps):
    from validate.simulator import _check_record_steps
    return [int(r) for r in _check_record_steps(record_steps, steps)]


def _precheck_theory(points, steps):
    """The discrete map must be defined at every point (cheap: milliseconds per point)."""
    from mftheory.dynamics import meanfield
    seen = set()
    for i, p in enumerate(points):
        setup = Setup(**{k: p[k] for k in SETUP_FIELDS})
        if setup in seen:
            continue
        seen.add(setup)
        try:
            meanfield(setup, steps)
        except ValueError as err:
            raise ValueError(f"grid point {i} (eta={setup.eta!r}, alpha={setup.alpha!r}, M={setup.M}): {err}") from None


# ----------------------------------------------------------------------------------------------------------
# the task
# ----------------------------------------------------------------------------------------------------------
def compute_point(params: dict, seed: int, steps: int, record_steps: list) -> dict:
    """Simulate and solve one point for one seed; return the table's columns (numpy arrays, one row per step).

    Runs on a Dask worker: one numba thread, single-threaded BLAS; no file is written here.
    """
    import numba

    numba.set_num_threads(1)
    from mftheory.dynamics import meanfield
    from validate.cases import measured_gamma_plus
    from validate.simulator import simulate, slope_along_teacher

    setup = Setup(**{k: params[k] for k in SETUP_FIELDS})
    N = int(params["N"])
    # (simulate runs its BLAS single-threaded itself; the rest uses no multi-threaded BLAS call that matters: gemv on (R, M), einsum)
    sim = simulate(setup, N=N, steps=steps, seed=seed, record_steps=record_steps, n_test=N_TEST)
    sol = meanfield(setup, steps)
    t = np.asarray(sim.record_steps, dtype=np.int64)
    R = len(t)
    gp_sim = measured_gamma_plus(sim)
    wpar2 = sim.w_par ** 2
    align_sim = wpar2.mean(axis=1) / (wpar2 + sim.w_perp_norm ** 2).mean(axis=1)
    theta0 = np.mean(sim.a[0] ** 2 + sim.w_par[0] ** 2 + sim.w_perp_norm[0] ** 2)
    change = np.sqrt(np.mean((sim.a - sim.a[0]) ** 2 + (sim.w_par - sim.w_par[0]) ** 2, axis=1) / theta0)
    # kappa of the trained network: slope of f along x_par on fresh inputs (no BLAS: einsum without optimize)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 7, 2020])))
    kappa_final = slope_along_teacher(sim, rng.standard_normal((N_FRESH, setup.d)))
    kappa_sim = np.full(R, np.nan)
    if t[-1] == steps:
        kappa_sim[-1] = kappa_final
    return {
        "t": t,
        "gamma_plus_theory": sol.gamma_plus[t], "gamma_plus_sim": np.asarray(gp_sim, dtype=np.float64),
        "f_unsat_theory": sol.f_unsat[t], "f_unsat_sim": np.asarray(sim.f_unsat, dtype=np.float64),
        "train_error_theory": np.zeros(R), "train_error_sim": np.asarray(sim.train_error, dtype=np.float64),
        "test_error_theory": np.zeros(R), "test_error_sim": np.asarray(sim.test_error, dtype=np.float64),
        "alignment_theory": sol.alignment[t], "alignment_sim": align_sim,
        "relative_change_theory": sol.relative_change[t], "relative_change_sim": change,
        "kappa_theory": sol.kappa[t], "kappa_sim": kappa_sim,
    }


def _arrow_table(params, seed, steps, key, cols):
    import pyarrow as pa

    R = len(cols["t"])
    setup = Setup(**{k: params[k] for k in SETUP_FIELDS})
    data = {"key": pa.array([key] * R, pa.string()), "seed": pa.array(np.full(R, seed, np.int64))}
    for name in PARAMS:
        v = params[name]
        if isinstance(v, str):
            data[name] = pa.array([v] * R, pa.string())
        elif isinstance(v, Integral):
            data[name] = pa.array(np.full(R, int(v), np.int64))
        else:
            data[name] = pa.array(np.full(R, float(v), np.float64))
    data["beta"] = pa.array(np.full(R, setup.beta, np.float64))
    data["laziness"] = pa.array(np.full(R, setup.laziness, np.float64))
    data["steps"] = pa.array(np.full(R, steps, np.int64))
    data["t"] = pa.array(np.asarray(cols["t"], np.int64))
    for q in QUANTITIES:
        for side in ("theory", "sim"):
            data[f"{q}_{side}"] = pa.array(np.asarray(cols[f"{q}_{side}"], np.float64))
    return pa.table(data)


# ----------------------------------------------------------------------------------------------------------
# files
# ----------------------------------------------------------------------------------------------------------
def _write_parquet_atomically(table, path: pathlib.Path):
    import pyarrow.parquet as pq

    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _is_complete(path: pathlib.Path) -> bool:
    import pyarrow.parquet as pq

    if not path.is_file():
        return False
    try:
        pq.read_metadata(path)
        return True
    except Exception:
        return False


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("mftheory", "numpy", "scipy", "numba", "pandas", "pyarrow", "dask", "distributed"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


# ----------------------------------------------------------------------------------------------------------
# the sweep
# ----------------------------------------------------------------------------------------------------------
def _client(scheduler, workers):
    """(client, cluster or None) for a scheduler address / Client / None (a LocalCluster)."""
    from distributed import Client, LocalCluster

    if scheduler is None:
        n = workers or os.cpu_count() or 1
        try:
            cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                   env=dict(WORKER_ENV), host="127.0.0.1")
        except Exception as err:  # distributed raises a bare Exception ("Nanny failed to start") or RuntimeError
            raise RuntimeError(
                "could not start the local Dask workers. If sweep() is called from a script, put the call under "
                "`if __name__ == \"__main__\":` (each worker process re-imports the script); otherwise pass "
                f"scheduler= an existing cluster. Dask said: {err}") from err
        return Client(cluster), cluster
    if isinstance(scheduler, Client):
        return scheduler, None
    if not isinstance(scheduler, str) or not scheduler:
        raise ValueError(f"scheduler must be an address such as 'tcp://host:8786' or a distributed.Client, got {scheduler!r}")
    client = Client(scheduler, timeout="30s")
    if workers:
        client.wait_for_workers(workers, timeout=600)
    return client, None


def sweep(base, grid, seeds, steps, out, scheduler=None, record_steps=None, N=None, workers=None,
          spec=None, progress=True, verbose=True):
    """Run ``grid`` over ``base`` for every seed on Dask; write ``out/points/*.parquet`` and ``out/table.parquet``.

    Parameters
    ----------
    base : mftheory.Setup (or a dict of its fields)
    grid : dict name -> list (product; values that are dicts form a group), or list of dicts (explicit points);
        names are Setup fields or "N"
    seeds : list of ints >= 0 (or an int k: 0..k-1)
    steps : int >= 0, the GD steps of every simulation
    out : directory
    scheduler : None (a LocalCluster of ``workers`` single-threaded processes, default os.cpu_count()),
        a scheduler address ("tcp://host:8786") or a ``distributed.Client``
    record_steps : steps recorded (default ``default_record_steps(steps)``)
    N : training-set size, unless "N" is a grid key
    workers : LocalCluster size; with a scheduler address, wait until that many workers joined
    spec : the spec stored in the table metadata (default: built from the arguments)

    Returns the table as a pandas DataFrame (``df.attrs["summary"]`` holds the run's summary).
    Raises ValueError on bad input before anything is submitted, SweepError if points failed after retries.
    """
    steps = check_int("steps", steps, 0)
    seeds = _check_seeds(seeds)
    if workers is not None:
        workers = check_int("workers", workers, 1)
    points = expand_grid(base, grid, N)
    rec = _resolve_record_steps(record_steps, steps)
    _precheck_theory(points, steps)
    if out is None:
        raise ValueError("out must be a directory")
    out = pathlib.Path(out)
    if spec is None:
        spec = {"base": base.as_dict() if isinstance(base, Setup) else dict(base), "grid": grid, "N": N,
                "steps": steps, "seeds": seeds, "record_steps": record_steps}
    jobs = []  # (point index, seed, key, params), in table order
    for i, p in enumerate(points):
        for s in seeds:
            jobs.append((i, s, point_key(p, s, steps, rec), p))
    pdir = out / "points"
    pdir.mkdir(parents=True, exist_ok=True)
    for stale in pdir.glob(".*.tmp"):  # temporaries of a killed driver
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
    todo, seen = {}, set()
    for i, s, key, p in jobs:
        if key in seen:
            continue
        seen.add(key)
        if not _is_complete(pdir / f"{key}.parquet"):
            todo[key] = (p, s)
    skipped = len(seen) - len(todo)
    start = time.perf_counter()
    computed, failed = 0, {}
    if todo:
        from distributed import as_completed

        client, cluster = _client(scheduler, workers)
        try:
            futures = {}
            for key, (p, s) in todo.items():
                fut = client.submit(compute_point, p, s, steps, rec, key=f"mftheory-sweep-{key}", retries=RETRIES,
                                    pure=False)
                futures[fut] = key
            bar = None
            if progress:
                from tqdm import tqdm
                bar = tqdm(total=len(futures), desc="sweep", unit="pt", file=sys.stderr)
            for fut in as_completed(list(futures)):
                key = futures[fut]
                p, s = todo[key]
                try:
                    cols = fut.result()
                except Exception as err:  # after the retries
                    failed[key] = f"{type(err).__name__}: {err}"
                else:
                    _write_parquet_atomically(_arrow_table(p, s, steps, key, cols), pdir / f"{key}.parquet")
                    computed += 1
                fut.release()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(f"done {computed} failed {len(failed)}")
            if bar is not None:
                bar.close()
        finally:
            if cluster is not None:
                client.close()
                cluster.close()
            elif not _is_client(scheduler):
                client.close()
    wall = time.perf_counter() - start
    summary = {"points": len(seen), "computed": computed, "skipped": skipped, "failed": len(failed),
               "wall_s": wall, "points_per_s": computed / wall if wall > 0 and computed else 0.0,
               "failures": failed}
    from mftheory.atomic import write_atomically
    write_atomically(out / "summary.json", json.dumps(summary, indent=1))
    if verbose:
        print(f"sweep: {len(seen)} point x seed: computed {computed}, skipped {skipped} (already done), failed "
              f"{len(failed)}; wall {wall:.1f} s, {summary['points_per_s']:.2f} points/s", file=sys.stderr)
    if failed:
        first = next(iter(failed.items()))
        raise SweepError(f"{len(failed)} point(s) failed after {RETRIES} retries (finished ones are kept; rerun to "
                         f"retry); first: {first[0][:12]}: {first[1]}", summary)
    table = _concatenate(jobs, pdir, spec, seeds)
    _write_parquet_atomically(table, out / "table.parquet")
    df = table.to_pandas()
    df.attrs["summary"] = summary
    return df


def _is_client(obj):
    try:
        from distributed import Client
    except ImportError:
        return False
    return isinstance(obj, Client)


def _concatenate(jobs, pdir, spec, seeds):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = []
    for i, s, key, p in jobs:
        tab = pq.read_table(pdir / f"{key}.parquet")
        tab = tab.replace_schema_metadata(None)
        parts.append(tab.add_column(0, "point", pa.array(np.full(tab.num_rows, i, np.int64))))
    table = pa.concat_tables(parts)
    meta = {"spec": _jsonable(spec), "seeds": seeds, "versions": _versions(), "schema": SCHEMA_VERSION}
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(meta, sort_keys=True).encode()})


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, range, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Setup):
        return obj.as_dict()
    return obj


def read_metadata(path) -> dict:
    """The ``mftheory.sweep`` metadata (spec, seeds, versions) of a table written by :func:`sweep`."""
    import pyarrow.parquet as pq

    return json.loads(pq.read_schema(path).metadata[METADATA_KEY])


# ----------------------------------------------------------------------------------------------------------
# specs (TOML)
# ----------------------------------------------------------------------------------------------------------
_SWEEP_KEYS = {"steps", "seeds", "N", "record_steps", "figure", "name", "description"}


def builtin_specs() -> dict:
    """Built-in sweep name -> path of its TOML spec (validate/sweeps/*.toml)."""
    folder = resources.files("validate") / "sweeps"
    return {p.name[:-5]: pathlib.Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def load_spec(path) -> dict:
    """Read and check a TOML spec; returns a dict with keys base, grid, seeds, steps, N, record_steps, figure."""
    path = pathlib.Path(path)
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ValueError(f"spec file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"spec file {path} is not valid TOML: {err}") from None
    return parse_spec(raw, str(path))


def parse_spec(raw: dict, where: str = "spec") -> dict:
    unknown = set(raw) - {"sweep", "base", "grid"}
    if unknown:
        raise ValueError(f"{where}: unknown section(s) {sorted(unknown)}; expected [sweep], [base], [grid]")
    head = raw.get("sweep", {})
    if not isinstance(head, dict):
        raise ValueError(f"{where}: [sweep] must be a table")
    bad = set(head) - _SWEEP_KEYS
    if bad:
        raise ValueError(f"{where}: unknown key(s) {sorted(bad)} in [sweep]; allowed: {sorted(_SWEEP_KEYS)}")
    if "steps" not in head:
        raise ValueError(f"{where}: [sweep] steps is required")
    if "seeds" not in head:
        raise ValueError(f"{where}: [sweep] seeds is required (a list of integers or a count)")
    if "grid" not in raw:
        raise ValueError(f"{where}: [grid] (or [[grid]] points) is required")
    figure = head.get("figure")
    if figure is not None and figure not in FIGURES:
        raise ValueError(f"{where}: [sweep] figure must be one of {sorted(FIGURES)}, got {figure!r}")
    base = raw.get("base", {})
    if not isinstance(base, dict):
        raise ValueError(f"{where}: [base] must be a table")
    return {"base": base, "grid": raw["grid"], "seeds": head["seeds"], "steps": head["steps"], "N": head.get("N"),
            "record_steps": head.get("record_steps"), "figure": figure, "name": head.get("name"),
            "description": head.get("description")}


def run_spec(spec: dict, out, scheduler=None, workers=None, figure=True, progress=True):
    """Run a parsed spec; draw its figure (if any) into ``out``. Returns (DataFrame, figure result or None)."""
    out = pathlib.Path(out)
    df = sweep(spec["base"], spec["grid"], spec["seeds"], spec["steps"], out, scheduler=scheduler,
               record_steps=spec["record_steps"], N=spec["N"], workers=workers, spec=spec, progress=progress)
    result = None
    if figure and spec.get("figure"):
        result = FIGURES[spec["figure"]](df, out)
    return df, result


# ----------------------------------------------------------------------------------------------------------
# figures (from the table only)
# ----------------------------------------------------------------------------------------------------------
def final_rows(table):
    """The rows at each run's last step (t == steps)."""
    return table[table["t"] == table["steps"]]


def plot_sweep(table, x, y, hue=None, at="final", ax=None, logx=None, logy=False, theory=True, path=None):
    """Plot quantity ``y`` (a base name such as "alignment", or any column) against column ``x``.

    Simulation: mean over seeds with the standard deviation as error bars (markers); theory: a line (if the
    ``{y}_theory`` column exists and ``theory``).  ``hue`` splits the series by a column; ``at`` = "final" uses the
    last step of each run, an integer a given step t, None every row.  Returns the matplotlib Axes; with ``path``
    the figure is also saved there.
    """
    if at == "final":
        rows = final_rows(table)
    elif at is None:
        rows = table
    else:
        rows = table[table["t"] == int(at)]
    if x not in rows.columns:
        raise ValueError(f"x={x!r} is not a column of the table")
    sim_col = f"{y}_sim" if f"{y}_sim" in rows.columns else y
    th_col = f"{y}_theory" if theory and f"{y}_theory" in rows.columns else None
    if sim_col not in rows.columns:
        raise ValueError(f"y={y!r} is not a quantity or column of the table")
    if hue is not None and hue not in rows.columns:
        raise ValueError(f"hue={hue!r} is not a column of the table")
    if ax is None:
        # pyplot here, so that the figure shows inline in a notebook; its backend is the user's choice
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
    groups = [(None, rows)] if hue is None else list(rows.groupby(hue, sort=True))
    for j, (label, g) in enumerate(groups):
        agg = g.groupby(x, sort=True)[sim_col].agg(["mean", "std"]).reset_index()
        name = "" if hue is None else f"{hue}={label} "
        ax.errorbar(agg[x], agg["mean"], yerr=agg["std"].fillna(0.0), fmt="o", ms=4, capsize=2, color=f"C{j}",
                    label=f"{name}simulation")
        if th_col is not None:
            th = g.groupby(x, sort=True)[th_col].mean().reset_index()
            ax.plot(th[x], th[th_col], "-", color=f"C{j}", lw=1, label=f"{name}theory")
    if logx is None:
        vals = rows[x].to_numpy()
        logx = bool(np.issubdtype(vals.dtype, np.number) and np.all(vals > 0) and vals.max() / vals.min() > 20)
    ax.set(xscale="log" if logx else "linear", yscale="log" if logy else "linear", xlabel=x, ylabel=y)
    ax.legend(fontsize=7)
    if path is not None:
        ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    return ax


def _save(fig, out: pathlib.Path, name: str, numbers: dict):
    from mftheory.atomic import write_atomically

    save_figure(fig, out / f"{name}.png")
    write_atomically(out / f"{name}.json", json.dumps(_jsonable(numbers), indent=1))
    return {"figure": str(out / f"{name}.png"), "numbers": numbers}


def _setup_of(row) -> Setup:
    return Setup(**{k: (row[k].item() if hasattr(row[k], "item") else row[k]) for k in SETUP_FIELDS})


def crossover_laziness(setup: Setup, steps: int, alphas=None) -> float:
    """Predicted lazy/rich crossover: the laziness alpha sigma_a sigma_w/(h sqrt d) at which the theory's alignment
    at ``steps`` crosses 1/2, varying alpha at a fixed per-node rate beta (eta = beta M / alpha) on a fine grid
    (log-linear interpolation); NaN if it does not cross in the range."""
    from mftheory.dynamics import meanfield

    beta = setup.beta
    alphas = np.logspace(-3, 3, 121) if alphas is None else np.asarray(alphas)
    rich, align = [], []
    for a in alphas:
        s = setup.replace(alpha=float(a), eta=beta * setup.M / float(a))
        try:
            sol = meanfield(s, steps)
        except ValueError:
            continue
        rich.append(s.laziness)
        align.append(float(sol.alignment[-1]))
    rich, align = np.array(rich), np.array(align)
    above = align - 0.5
    for k in range(len(rich) - 1):
        if above[k] == 0:
            return float(rich[k])
        if above[k] * above[k + 1] < 0:
            lr = np.log(rich[k]) + (np.log(rich[k + 1]) - np.log(rich[k])) * above[k] / (above[k] - above[k + 1])
            return float(np.exp(lr))
    return float("nan")


def figure_phase(table, out):
    """(a) Rich/lazy phase diagram over laziness alpha/(h sqrt d) and d, coloured by the final simulated alignment,
    with the predicted crossover line (theory alignment = 1/2 at the last step, from meanfield on a fine grid)."""
    out = pathlib.Path(out)
    fin = final_rows(table)
    agg = fin.groupby(["point"], sort=True).agg(d=("d", "first"), laziness=("laziness", "first"),
                                               alignment_sim=("alignment_sim", "mean"),
                                               alignment_theory=("alignment_theory", "mean")).reset_index()
    steps = int(fin["steps"].iloc[0])
    ds = sorted(int(v) for v in fin["d"].unique())
    d_line = np.unique(np.round(np.logspace(np.log10(min(ds)), np.log10(max(ds)), 12)).astype(int)) if len(ds) > 1 \
        else np.array(ds)
    row0 = fin.iloc[0]
    base = _setup_of(row0)
    line = [crossover_laziness(base.replace(d=int(d)), steps) for d in d_line]
    at_d = {d: crossover_laziness(base.replace(d=int(d)), steps) for d in ds}
    fig, ax = new_figure(1, 2, figsize=(12, 4.5))
    sc = ax[0].scatter(agg["laziness"], agg["d"], c=agg["alignment_sim"], cmap="viridis", vmin=0, vmax=1, s=90,
                       edgecolors="k")
    fig.colorbar(sc, ax=ax[0], label="final alignment (simulation, mean over seeds)")
    ax[0].plot(line, d_line, "r-", lw=2, label="theory: alignment = 1/2")
    ax[0].set(xscale="log", yscale="log", xlabel="alpha sigma_a sigma_w / (h sqrt d)  (lazy ->)", ylabel="d",
              title=f"rich/lazy phase diagram (t={steps})")
    ax[0].legend(fontsize=7)
    plot_sweep(table, "laziness", "alignment", hue="d", ax=ax[1])
    ax[1].axhline(0.5, color="k", ls=":", lw=1)
    ax[1].set(title="final alignment: simulation (points) vs theory (lines)")
    # the simulated crossover per d (log-interpolated), for the numbers
    sim_cross = {}
    for d, g in agg.groupby("d"):
        g = g.sort_values("laziness")
        r, a = g["laziness"].to_numpy(), g["alignment_sim"].to_numpy() - 0.5
        sim_cross[int(d)] = float("nan")
        for k in range(len(r) - 1):
            if a[k] * a[k + 1] < 0:
                sim_cross[int(d)] = float(np.exp(np.log(r[k]) + (np.log(r[k + 1]) - np.log(r[k])) * a[k] / (a[k] - a[k + 1])))
                break
    numbers = {"steps": steps, "crossover_laziness_theory": {int(d): v for d, v in at_d.items()},
               "crossover_laziness_sim": sim_cross,
               "alignment": [{"d": int(r.d), "laziness": float(r.laziness), "sim": float(r.alignment_sim),
                              "theory": float(r.alignment_theory)} for r in agg.itertuples()]}
    return _save(fig, out, "phase", numbers)


def figure_overfitting(table, out):
    """(b) Final train and test error and their gap against N (one series per d); the mean-field theory says 0."""
    out = pathlib.Path(out)
    fin = final_rows(table).copy()
    fin["gap_sim"] = fin["test_error_sim"] - fin["train_error_sim"]
    fig, ax = new_figure(1, 3, figsize=(15, 4))
    plot_sweep(fin, "N", "train_error", hue="d", ax=ax[0], theory=False, at=None)
    plot_sweep(fin, "N", "test_error", hue="d", ax=ax[1], theory=False, at=None)
    plot_sweep(fin, "N", "gap", hue="d", ax=ax[2], theory=False, at=None)
    for a, title in zip(ax, ("train error", "test error", "generalisation gap (test - train)")):
        a.set(title=f"{title} (theory: 0)")
    agg = fin.groupby(["d", "N"], sort=True)[["train_error_sim", "test_error_sim", "gap_sim"]].mean().reset_index()
    numbers = {"final": agg.to_dict(orient="records")}
    return _save(fig, out, "overfitting", numbers)


def fit_power_law(x, y):
    """Least squares of log y on log x: (exponent, its standard error, prefactor) from numpy.polyfit(cov=True)
    (NaN errors with fewer than 4 points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if len(lx) < 2:
        return float("nan"), float("nan"), float("nan")
    if len(lx) >= 4:
        coef, cov = np.polyfit(lx, ly, 1, cov=True)
        err = float(np.sqrt(cov[0, 0]))
    else:
        coef = np.polyfit(lx, ly, 1)
        err = float("nan")
    return float(coef[0]), err, float(np.exp(coef[1]))


def figure_finite_size(table, out):
    """(c) Residuals |gamma_plus_sim - gamma_plus_theory| and |f_unsat_sim - f_unsat_theory| at the last step against
    M (points at the largest N) and against N (points at the largest M), mean over seeds, with fitted power laws."""
    out = pathlib.Path(out)
    fin = final_rows(table).copy()
    fin["gamma_plus_residual"] = (fin["gamma_plus_sim"] - fin["gamma_plus_theory"]).abs()
    fin["f_unsat_residual"] = (fin["f_unsat_sim"] - fin["f_unsat_theory"]).abs()
    series = {"M": fin[fin["N"] == fin["N"].max()], "N": fin[fin["M"] == fin["M"].max()]}
    fig, ax = new_figure(1, 2, figsize=(12, 4.5))
    numbers = {}
    for j, (var, rows) in enumerate(series.items()):
        for k, q in enumerate(("gamma_plus_residual", "f_unsat_residual")):
            agg = rows.groupby(var, sort=True)[q].agg(["mean", "std", "count"]).reset_index()
            slope, err, pref = fit_power_law(agg[var], agg["mean"])
            numbers[f"{q}_vs_{var}"] = {"exponent": slope, "stderr": err, "prefactor": pref,
                                        var: agg[var].tolist(), "mean": agg["mean"].tolist(),
                                        "sem": (agg["std"] / np.sqrt(agg["count"])).tolist()}
            ax[j].errorbar(agg[var], agg["mean"], yerr=agg["std"] / np.sqrt(agg["count"]), fmt="os"[k], ms=4,
                           capsize=2, color=f"C{k}", label=f"{q}: slope {slope:.2f} +- {err:.2f}")
            xs = np.array([agg[var].min(), agg[var].max()], float)
            ax[j].plot(xs, pref * xs ** slope, "-", color=f"C{k}", lw=1)
        other = "N" if var == "M" else "M"
        ax[j].set(xscale="log", yscale="log", xlabel=var, ylabel="|sim - theory| at the last step",
                  title=f"finite-{var} residuals ({other} = {int(rows[other].max())})")
        ax[j].legend(fontsize=7)
    return _save(fig, out, "finite_size", numbers)


def figure_label_noise(table, out):
    """(d) The label-noise fixed point over eps: simulated kappa (slope of f along x_par on fresh inputs, last step)
    against mftheory's label_noise_fixed_point kappa (line, fine eps grid) and the theory's kappa at the last step."""
    from mftheory.dynamics import label_noise_fixed_point

    out = pathlib.Path(out)
    fin = final_rows(table)
    agg = fin.groupby("label_noise", sort=True).agg(kappa_sim=("kappa_sim", "mean"), sd=("kappa_sim", "std"),
                                                    kappa_theory=("kappa_theory", "mean")).reset_index()
    base = _setup_of(fin.iloc[0])
    eps_fine = np.linspace(max(1e-3, agg["label_noise"].min() * 0.8), min(0.49, agg["label_noise"].max() * 1.1), 60)
    fp_fine = [label_noise_fixed_point(base.replace(label_noise=float(e))).kappa for e in eps_fine]
    fp = [label_noise_fixed_point(base.replace(label_noise=float(e))).kappa for e in agg["label_noise"]]
    fig, ax = new_figure(figsize=(6, 4))
    ax.plot(eps_fine, fp_fine, "k-", lw=1, label="fixed point kappa (theory)")
    ax.plot(agg["label_noise"], agg["kappa_theory"], "x", color="C1", label=f"theory kappa(t={int(fin['steps'].iloc[0])})")
    ax.errorbar(agg["label_noise"], agg["kappa_sim"], yerr=agg["sd"].fillna(0.0), fmt="o", ms=4, capsize=2,
                color="C0", label="simulation (slope of f on fresh inputs)")
    ax.set(xlabel="label noise eps", ylabel="kappa", yscale="log", title="label-noise fixed point")
    ax.legend(fontsize=7)
    numbers = {"points": [{"eps": float(e), "kappa_fixed_point": float(k), "kappa_theory_last": float(kt),
                           "kappa_sim": float(ks), "kappa_sim_sd": float(sd), "rel_error": float(ks / k - 1)}
                          for e, k, kt, ks, sd in zip(agg["label_noise"], fp, agg["kappa_theory"], agg["kappa_sim"],
                                                      agg["sd"])]}
    return _save(fig, out, "label_noise", numbers)


FIGURES = {"phase": figure_phase, "overfitting": figure_overfitting, "finite_size": figure_finite_size,
           "label_noise": figure_label_noise}


# ----------------------------------------------------------------------------------------------------------
# command line (``python -m validate sweep``; the parser is attached by validate.suite.main)
# ----------------------------------------------------------------------------------------------------------
def add_parser(subparsers):
    p = subparsers.add_parser(
        "sweep", help="run a parameter sweep (TOML spec or a built-in) on Dask",
        description="Run a sweep of theory against simulation on Dask: one task per point x seed, finished points "
                    "written atomically to OUT/points/KEY.parquet and skipped on rerun, the table in "
                    "OUT/table.parquet. Without --scheduler a local cluster of --workers single-threaded "
                    "processes is started.",
        epilog=f"built-in sweeps: {', '.join(sorted(builtin_specs()))}. See the validate.sweeping docstring for the "
               "spec format and for running on SLURM/PBS (dask-jobqueue) or Kubernetes.")
    p.add_argument("spec", nargs="?", help="the sweep spec (TOML)")
    p.add_argument("--builtin", choices=sorted(builtin_specs()), help="run a built-in sweep instead of SPEC")
    p.add_argument("--out", help="output directory (required unless --list)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://10.0.0.1:8786")
    p.add_argument("--workers", type=int, help="local cluster size (default: CPU count); with --scheduler, wait "
                                               "for this many workers")
    p.add_argument("--no-figure", action="store_true", help="do not draw the spec's figure")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list the built-in sweeps and exit")
    return p


def cli(args) -> int:
    builtins = builtin_specs()
    if args.list:
        for name, path in sorted(builtins.items()):
            spec = load_spec(path)
            print(f"{name:<12} {spec.get('description') or ''}")
        return 0
    try:
        if (args.spec is None) == (args.builtin is None):
            raise ValueError("give exactly one of SPEC.toml or --builtin NAME")
        if not args.out:
            raise ValueError("--out DIR is required")
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        spec = load_spec(builtins[args.builtin] if args.builtin else args.spec)
        df, fig = run_spec(spec, args.out, scheduler=args.scheduler, workers=args.workers,
                           figure=not args.no_figure, progress=not args.no_progress)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}/table.parquet ({len(df)} rows, {df.shape[1]} columns)")
    if fig is not None:
        print(f"wrote {fig['figure']}")
        print(json.dumps(_jsonable(fig["numbers"]), indent=1)[:4000])
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validate.sweep")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    return cli(parser.parse_args(argv))
