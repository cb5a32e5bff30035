"""Time ``mftheory.finite_size.predict`` at the Fig. 1 setting (d = 100, M = 400, 2000 steps): N = None (finite
width only), one fixed set of N = 1e5 and 2.5e4 (also with margin_density="infinite"), N = 1e5 fresh examples at
every step, also along a solution already predicted at another N (N = 2.5e4 fresh: a sweep over N, which shares
what depends on the solution alone). Best of --repeat calls after one call that compiles; and the first call
(N = 1e5) in a new process, once the disk caches are filled (the second of two new processes): what a user waits
for in a new session.

    python bench/bench_predict.py [--repeat 3] [--compare REV] [--rounds R]

``--compare REV`` also times the same calls with the package as it was at git revision REV (a temporary worktree,
in a fresh process of this same run), side by side; ``--rounds R`` alternates the two R times and keeps each call's
best, so that a machine whose speed drifts slows both alike.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SWEEP = "N=1e5 fresh, after N=2.5e4 fresh"
CALLS = {"N=None": dict(N=None), "N=1e5 fixed": dict(N=100_000), "N=2.5e4 fixed": dict(N=25_000),
         "N=2.5e4 fixed, infinite density": dict(N=25_000, margin_density="infinite"),
         "N=1e5 fresh": dict(N=100_000, sample="fresh"),
         SWEEP: dict(N=100_000, sample="fresh")}


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
            if name == SWEEP:
                predict(fresh, N=25_000, sample="fresh")
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


@contextlib.contextmanager
def _worktree(rev: str):
    """A temporary checkout of git revision ``rev``."""
    with tempfile.TemporaryDirectory() as tmp:
        tree = pathlib.Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), rev], check=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)


def _best(rounds: list[dict]) -> dict:
    return {name: min(r[name] for r in rounds) for name in rounds[0]}


def _side_by_side(rev: str | None, repeat: int, rounds: int) -> tuple[dict, dict | None]:
    """This tree's timings and, with ``rev``, that revision's, alternating ``rounds`` times (each in new
    processes), the best of all rounds per call: on a machine whose speed drifts, both see the same spells."""
    if rev is None:
        return _best([_timings(ROOT, repeat) for _ in range(rounds)]), None
    here, there = [], []
    with _worktree(rev) as tree:
        for _ in range(rounds):
            here.append(_timings(ROOT, repeat))
            there.append(_timings(tree, repeat))
    return _best(here), _best(there)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--compare", metavar="REV", help="also time the package at this git revision")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate this tree and REV this many times, each in new processes; best of all")
    args = parser.parse_args(argv)
    import numba

    print(f"cores={os.cpu_count()}, NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}", flush=True)
    here, there = _side_by_side(args.compare, args.repeat, args.rounds)
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
