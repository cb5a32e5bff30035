"""Time ``mftheory.finite_size.predict`` at the Fig. 1 setting (d = 100, M = 400, 2000 steps): N = None (finite
width only), one fixed set of N = 1e5 and 2.5e4 (also with margin_density="infinite"), N = 1e5 fresh examples at
every step. Best of --repeat calls after one call that compiles; and the first call (N = 1e5) in a new process,
once the disk caches are filled (the second of two new processes): what a user waits for in a new session.

    python bench/bench_predict.py [--repeat 3] [--compare REV]

``--compare REV`` also times the same calls with the package as it was at git revision REV (a temporary worktree,
in a fresh process of this same run), side by side.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CALLS = {"N=None": dict(N=None), "N=1e5 fixed": dict(N=100_000), "N=2.5e4 fixed": dict(N=25_000),
         "N=2.5e4 fixed, infinite density": dict(N=25_000, margin_density="infinite"),
         "N=1e5 fresh": dict(N=100_000, sample="fresh")}


def time_calls(repeat: int) -> dict:
    import mftheory
    from mftheory.dynamics import meanfield
    from mftheory.finite_size import predict

    solution = meanfield(mftheory.fig1_setup(), 2000)
    out = {}
    for name, kwargs in CALLS.items():
        predict(solution, **kwargs)   # compile, fill the per-solution caches
        best = float("inf")
        for _ in range(repeat):
            fresh = meanfield(mftheory.fig1_setup(), 2000)   # no per-solution cache carried over
            start = time.perf_counter()
            predict(fresh, **kwargs)
            best = min(best, time.perf_counter() - start)
        out[name] = best
    return out


FIRST = "first call, new process (N=1e5)"


def first_call() -> dict:
    """The first ``predict`` of this process (N = 1e5), after the mean-field solution it needs."""
    import mftheory
    from mftheory.dynamics import meanfield
    from mftheory.finite_size import predict

    solution = meanfield(mftheory.fig1_setup(), 2000)
    start = time.perf_counter()
    predict(solution, N=100_000)
    return {FIRST: time.perf_counter() - start}


def _in_new_process(tree: pathlib.Path, call: str) -> dict:
    code = (f"import sys, json; sys.path.insert(0, {str(tree)!r}); sys.path.insert(0, {str(ROOT / 'bench')!r}); "
            f"import bench_predict; print(json.dumps(bench_predict.{call}))")
    env = dict(os.environ, PYTHONPATH=str(tree))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _timings(tree: pathlib.Path, repeat: int) -> dict:
    _in_new_process(tree, "first_call()")   # fills the disk caches
    return {**_in_new_process(tree, f"time_calls({repeat})"), **_in_new_process(tree, "first_call()")}


def _at_revision(rev: str, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), rev], check=True)
        try:
            return _timings(tree, repeat)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", metavar="REV", help="also time the package at this git revision")
    args = parser.parse_args(argv)
    import numba

    print(f"cores={os.cpu_count()}, NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}", flush=True)
    here = _timings(ROOT, args.repeat)
    there = _at_revision(args.compare, args.repeat) if args.compare else None
    width = max(map(len, list(CALLS) + [FIRST]))
    print(f"{'predict(fig1 solution, ...)':<{width}}  {'this tree':>10}" + (f"  {args.compare:>10}  speed-up" if there else ""))
    for name, t in here.items():
        line = f"{name:<{width}}  {1000 * t:>8.0f} ms"
        if there:
            line += f"  {1000 * there[name]:>8.0f} ms  {there[name] / t:>6.2f}x"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
