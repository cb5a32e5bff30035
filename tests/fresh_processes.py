"""Runs a script in new Python processes one after another, all with one kernel cache: what a later process finds
on disk from an earlier one (numba's cached machine code, generated modules)."""
import json
import os
import subprocess
import sys


def results_in_new_processes(source: str, cache_dir, runs: int = 2) -> list:
    """Run ``source``, which prints one line ``RESULT`` followed by JSON, in ``runs`` new processes one after
    another with ``MFTHEORY_CACHE=cache_dir`` (also their working folder); returns each process's parsed JSON."""
    env = dict(os.environ, MFTHEORY_CACHE=str(cache_dir))
    results = []
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", source], env=env, capture_output=True, text=True,
                              cwd=str(cache_dir))
        assert proc.returncode == 0, proc.stderr[-3000:]
        results.append(json.loads(proc.stdout.strip().splitlines()[-1][len("RESULT"):]))
    return results
