"""The driver: the Dask client (a LocalCluster or a scheduler) and sweep(), which submits the points, writes their
files and the table, and resumes from the finished ones."""
from __future__ import annotations

import json
import os
import pathlib
import sys
import time

from mftheory.model import Setup, check_int
from mftheory.validate.sweeping.grid import (RETRIES, WORKER_ENV, SweepError, _check_seeds, _precheck_theory,
                                    _resolve_record_steps, expand_grid, point_key)
from mftheory.validate.sweeping.store import _concatenate, _is_complete, _write_parquet_atomically
from mftheory.validate.sweeping.task import _arrow_table, compute_point


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


def output_folder(out) -> pathlib.Path:
    """``out`` as a Path, checked before any work: a ValueError naming out unless it is (or can be made) a
    directory."""
    if out is None:
        raise ValueError("out must be a directory")
    out = pathlib.Path(out)
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"out must be a directory, but {existing} is a file")
    return out


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
    out = output_folder(out)
    _precheck_theory(points, steps)
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
