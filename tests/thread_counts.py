"""Runs a computation at two numba thread counts in a subprocess of its own, so that the comparison has two counts
to compare whatever the test process was started with (under pytest-xdist, conftest.py gives each worker
cores // workers threads)."""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

_DRIVER = """
import hashlib, pickle, numba
results = []
for threads in (1, 2):
    numba.set_num_threads(threads)
    results.append(hashlib.sha256(pickle.dumps(compute())).hexdigest())
print("RESULT", numba.config.NUMBA_NUM_THREADS, *results)
"""


def digests_at_one_and_two_threads(compute_source: str) -> tuple[str, str]:
    """``compute_source`` defines ``compute()`` returning picklable arrays; returns the sha256 digests of its
    result with one and with two numba threads."""
    env = dict(os.environ, NUMBA_NUM_THREADS="2",
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", compute_source + _DRIVER], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")][-1].split()
    assert line[1] == "2"
    return line[2], line[3]
