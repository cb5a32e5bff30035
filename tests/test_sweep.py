"""validate.sweep on Dask: a LocalCluster run, fault tolerance on a real scheduler + workers (a worker killed,
the driver killed and rerun), and input validation."""
from __future__ import annotations

import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mftheory import Setup
from mftheory.validate.sweeping import PARAMS, QUANTITIES, expand_grid, point_key, sweep

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = Setup(d=5, alpha=1.0, h=1.0, eta=2.0, M=10)
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# slow enough points (about 0.5 s each) that a kill lands mid-sweep
SLOW_SPEC = """
[sweep]
steps = 3000
seeds = [0, 1]
N = 20000
record_steps = [0, 10, 100, 1000, 3000]
[base]
d = 5
alpha = 1.0
h = 1.0
eta = 2.0
M = 10
[grid]
alpha = [1.0, 1.1, 1.2, 1.3, 1.4, 1.5]
"""
SLOW_TOTAL = 12


def n_columns():
    return 3 + len(PARAMS) + 4 + 2 * len(QUANTITIES)  # point, key, seed; params; beta, laziness, steps, t


# ----------------------------------------------------------------------------------------------------------
def test_local_cluster_rows_columns_and_resume(tmp_path):
    out = tmp_path / "run"
    df = sweep(TINY, {"N": [500, 1000]}, seeds=[0, 1], steps=20, out=out, workers=2, progress=False)
    assert df.shape == (2 * 2 * 21, n_columns())
    assert df.attrs["summary"]["computed"] == 4 and df.attrs["summary"]["failed"] == 0
    assert list(df["point"].unique()) == [0, 1] and sorted(df["seed"].unique()) == [0, 1]
    assert set(df["N"]) == {500, 1000} and (df["d"] == 5).all()
    assert len(list((out / "points").glob("*.parquet"))) == 4
    on_disk = pd.read_parquet(out / "table.parquet")
    pd.testing.assert_frame_equal(on_disk, df)
    final = df[df["t"] == 20]
    assert np.all(np.abs(final["gamma_plus_sim"] - final["gamma_plus_theory"]) < 0.3)
    # a rerun computes nothing and gives the same table, bit for bit
    before = (out / "table.parquet").read_bytes()
    again = sweep(TINY, {"N": [500, 1000]}, seeds=[0, 1], steps=20, out=out, workers=2, progress=False)
    assert again.attrs["summary"]["computed"] == 0 and again.attrs["summary"]["skipped"] == 4
    assert (out / "table.parquet").read_bytes() == before


def test_keys_canonical():
    p = expand_grid(TINY, {"alpha": [1, 1.0]}, N=500)
    assert point_key(p[0], 0, 20, [0, 20]) == point_key(p[1], 0, 20, [0, 20])  # 1 and 1.0: the same Setup value
    q = expand_grid(TINY, {"alpha": [1.0 + 2**-52]}, N=500)[0]
    assert point_key(p[0], 0, 20, [0, 20]) != point_key(q, 0, 20, [0, 20])  # one ulp apart: different points
    assert point_key(p[0], 0, 20, [0, 20]) != point_key(p[0], 1, 20, [0, 20])
    assert point_key(p[0], 0, 20, [0, 20]) != point_key(p[0], 0, 20, [0, 10, 20])


# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("grid, match", [
    ({}, "grid must not be empty"),
    ([], "grid must not be empty"),
    ({"alpah": [1.0]}, "unknown parameter 'alpah'"),
    ({"alpha": []}, r"grid\['alpha'\] is empty"),
    ({"alpha": [1.0, -1.0]}, "grid point 1 .*alpha must lie in"),
    ({"data": ["gaussian", "cube"]}, "grid point 1 .*data must be one of"),
    ({"N": [500, 0]}, "N must be an integer >= 1"),
    ({"eta": [1e6]}, "grid point 0 .*discrete map"),
    ([{"alpha": 1.0}, {"foo": 2}], "unknown parameter 'foo' in grid point 1"),
])
def test_bad_inputs_raise_before_submitting(tmp_path, grid, match):
    with pytest.raises(ValueError, match=match):
        sweep(TINY, grid, seeds=[0], steps=20, out=tmp_path / "x", N=500, scheduler="tcp://127.0.0.1:1")
    assert not (tmp_path / "x").exists()  # nothing written, nothing submitted (the address is never contacted)


def test_bad_arguments(tmp_path):
    for kwargs, match in [({"seeds": []}, "seeds"), ({"seeds": [-1]}, "seeds"), ({"steps": -3}, "steps"),
                          ({"record_steps": [0, 50]}, "record_steps"), ({"N": None}, "N must be given")]:
        args = {"seeds": [0], "steps": 20, "N": 500, **kwargs}
        with pytest.raises(ValueError, match=match):
            sweep(TINY, {"alpha": [1.0]}, out=tmp_path / "x", scheduler="tcp://127.0.0.1:1", **args)


def test_bad_spec_cli(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(SLOW_SPEC.replace("alpha = [1.0", "alpah = [1.0"))
    r = _cli(spec, tmp_path / "o", timeout=60)
    assert r.returncode == 2 and "unknown parameter 'alpah'" in r.stderr
    spec.write_text("[sweep]\nsteps = 10\n")
    r = _cli(spec, tmp_path / "o", timeout=60)
    assert r.returncode == 2 and "seeds is required" in r.stderr
    spec.write_text("[sweep\n")
    r = _cli(spec, tmp_path / "o", timeout=60)
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    r = _cli(tmp_path / "missing.toml", tmp_path / "o", timeout=60)
    assert r.returncode == 2 and "does not exist" in r.stderr
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------------------------------------
# a real scheduler and two worker processes on localhost
# ----------------------------------------------------------------------------------------------------------
def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(cmd):
    return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=30)


@pytest.fixture
def dask_cluster():
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs = [_start(["dask", "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"])]
    try:
        workers = [_start(["dask", "worker", address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                           "--name", f"w{i}"]) for i in range(2)]
        procs += workers
        deadline = time.time() + 60
        while True:
            try:
                with Client(address, timeout="5s") as client:
                    client.wait_for_workers(2, timeout=60)
                break
            except (OSError, TimeoutError):
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        yield address, workers
    finally:
        for proc in reversed(procs):
            _kill(proc)


def _cli(spec, out, scheduler=None, timeout=240):
    cmd = [sys.executable, "-m", "mftheory.validate", "sweep", str(spec), "--out", str(out), "--no-progress"]
    if scheduler:
        cmd += ["--scheduler", scheduler]
    return subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)


def _popen_cli(spec, out, scheduler):
    cmd = [sys.executable, "-m", "mftheory.validate", "sweep", str(spec), "--out", str(out), "--no-progress",
           "--scheduler", scheduler]
    return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for_points(out, at_least, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        files = list((out / "points").glob("*.parquet")) if (out / "points").exists() else []
        if len(files) >= at_least:
            return files
        if proc.poll() is not None:
            raise AssertionError(f"driver exited early: {proc.returncode} {proc.stderr.read()}")
        time.sleep(0.02)
    raise AssertionError("no point finished in time")


def _summary(stderr):
    m = re.search(r"computed (\d+), skipped (\d+) \(already done\), failed (\d+)", stderr)
    assert m, stderr
    return tuple(int(g) for g in m.groups())


def test_worker_killed_mid_sweep(tmp_path, dask_cluster):
    address, workers = dask_cluster
    spec = tmp_path / "slow.toml"
    spec.write_text(SLOW_SPEC)
    out = tmp_path / "run"
    driver = _popen_cli(spec, out, address)
    try:
        files = _wait_for_points(out, 1, driver)
        assert len(files) < SLOW_TOTAL, "the sweep finished before the kill: make the points slower"
        _kill(workers[0])  # SIGKILL the nanny and its worker
        stdout, stderr = driver.communicate(timeout=240)
    finally:
        _kill(driver)
    assert driver.returncode == 0, stderr
    assert _summary(stderr) == (SLOW_TOTAL, 0, 0)
    df = pd.read_parquet(out / "table.parquet")
    assert df.shape == (SLOW_TOTAL * 5, n_columns())
    assert len(list((out / "points").glob("*.parquet"))) == SLOW_TOTAL


def test_driver_killed_and_rerun(tmp_path, dask_cluster):
    address, _ = dask_cluster
    spec = tmp_path / "slow.toml"
    spec.write_text(SLOW_SPEC)
    out = tmp_path / "run"
    driver = _popen_cli(spec, out, address)
    try:
        _wait_for_points(out, 2, driver)
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        _kill(driver)
    files = sorted((out / "points").glob("*.parquet"))
    assert 2 <= len(files) < SLOW_TOTAL, "the kill did not land mid-sweep"
    for f in files:  # every point file is complete
        assert pq.read_table(f).num_rows == 5
    assert not (out / "table.parquet").exists()
    stamps = {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in files}
    # rerun: finishes the rest without recomputing the finished points
    r = _cli(spec, out, address)
    assert r.returncode == 0, r.stderr
    computed, skipped, failed = _summary(r.stderr)
    assert (computed, skipped, failed) == (SLOW_TOTAL - len(files), len(files), 0)
    for f in files:
        assert (f.stat().st_ino, f.stat().st_mtime_ns) == stamps[f.name]
    assert not list((out / "points").glob(".*.tmp"))
    # the same table as an uninterrupted run
    ref = tmp_path / "ref"
    r = _cli(spec, ref, address)
    assert r.returncode == 0, r.stderr
    assert _summary(r.stderr) == (SLOW_TOTAL, 0, 0)
    a, b = pd.read_parquet(out / "table.parquet"), pd.read_parquet(ref / "table.parquet")
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for col in a.columns:
        if a[col].dtype.kind in "fiu":
            assert a[col].to_numpy().tobytes() == b[col].to_numpy().tobytes(), col
    assert (out / "table.parquet").read_bytes() == (ref / "table.parquet").read_bytes()
    assert len(a) == SLOW_TOTAL * 5
