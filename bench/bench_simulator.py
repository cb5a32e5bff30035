"""Per-step cost of the jitted GD simulator against the dense NumPy baseline (and PyTorch CPU if installed).

Usage (from the repository root)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_simulator.py --steps 20
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_simulator.py --steps 20 --from-step 1000

(the first times the early steps, where every example is unsatisfied; the second starts all implementations
from the state after 1000 steps, where few are).

Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE *unset* as above: on these machines they are set in some
shells and they mis-tune OpenBLAS for the NumPy baseline.  The default size is the paper's Fig. 1 (N=1e5,
M=400, d=100, eta=1e3, hinge, ReLU).  Every implementation runs in its own subprocess on the same data and
initial state (``validate.simulator.draw_problem`` with the same seed), so that its peak memory (max RSS of
the subprocess) is its own.  The time per step is (time of ``steps`` steps - time of 0 steps) / steps, after a
warm-up that compiles or loads the numba kernels.  The trajectories are checked against the float64
simulator: max relative difference of the final W, and at how many steps the number of unsatisfied examples
differs.  Timings on a shared 2-core machine are noisy: a busy core slows multi-threaded BLAS a lot.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def _setup(args):
    from mftheory.model import fig1_setup

    return fig1_setup(M=args.M, d=args.d, loss=args.loss, activation=args.activation)


def _run_simulator(setup, X, y, a0, W0, steps, dtype):
    from validate.simulator import simulate

    res = simulate(setup, X=X, y=y, a0=a0, W0=W0, steps=steps, n_test=0, record_steps=np.arange(steps + 1),
                   dtype=dtype)
    return res.a_final, res.W_final, np.round(res.f_unsat * res.N).astype(np.int64)


def _run_numpy(setup, X, y, a0, W0, steps, dtype):
    from numpy_baseline import numpy_gd

    return numpy_gd(setup, X, y, a0, W0, steps, dtype=dtype)


def _run_torch(setup, X, y, a0, W0, steps, dtype):
    import torch

    tdt = torch.float64 if dtype == np.float64 else torch.float32
    Xt = torch.as_tensor(X, dtype=tdt)
    yt = torch.as_tensor(y, dtype=tdt)
    a = torch.as_tensor(a0, dtype=tdt).clone()
    W = torch.as_tensor(W0, dtype=tdt).clone()
    N, d = Xt.shape
    M = a.shape[0]
    s, h = setup.slope, setup.h
    n_unsat = np.empty(steps + 1, dtype=np.int64)
    with torch.no_grad():
        for t in range(steps + 1):
            Z = Xt @ W.T / d ** 0.5
            on = Z > 0
            act = torch.where(on, Z, s * Z)
            f = setup.alpha / M * (act @ a)
            m = yt * f
            n_unsat[t] = int((m < h).sum())
            if t == steps:
                break
            if setup.loss == "hinge":
                u = (m < h).to(tdt)
            elif setup.loss == "quadratic_hinge":
                u = torch.clamp(h - m, min=0)
            else:
                u = torch.sigmoid(-m)
            uy = u * yt
            ga = act.T @ uy / N
            G = torch.where(on, uy[:, None], s * uy[:, None])
            gW = G.T @ Xt / N
            W += setup.beta / d ** 0.5 * a[:, None] * gW
            a += setup.beta * ga
    return a.numpy().astype(np.float64), W.numpy().astype(np.float64), n_unsat


IMPLS = {"simulator": _run_simulator, "numpy": _run_numpy, "torch": _run_torch}


def _worker(args):
    """Runs one implementation in this (fresh) process and writes its results to args.out."""
    from validate.simulator import draw_problem

    setup = _setup(args)
    dtype = np.dtype(args.dtype).type
    run = IMPLS[args.worker]
    X, y, a0, W0, _, _ = draw_problem(setup, args.N, seed=args.seed, n_test=0)
    if args.state:
        state = np.load(args.state)
        a0, W0 = state["a"], state["W"]
    small = slice(0, min(args.N, 2000))
    run(setup, X[small], y[small], a0, W0, 1, dtype)  # warm-up: compile / load numba caches, BLAS threads
    t0 = time.perf_counter()
    run(setup, X, y, a0, W0, 0, dtype)
    t_zero = time.perf_counter() - t0
    t0 = time.perf_counter()
    a, W, n_unsat = run(setup, X, y, a0, W0, args.steps, dtype)
    t_run = time.perf_counter() - t0
    np.savez(args.out, a=a, W=W, n_unsat=n_unsat)
    info = dict(ms_per_step=1e3 * (t_run - t_zero) / max(args.steps, 1), total_s=t_run,
                peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    Path(str(args.out) + ".json").write_text(json.dumps(info))


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        cfg = np.show_config(mode="dicts") if "mode" in np.show_config.__code__.co_varnames else {}
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return (f"threadpoolctl not installed; numpy BLAS: {blas.get('name', '?')} {blas.get('version', '')} "
                f"({blas.get('openblas configuration', '').strip()})")
    return "; ".join(f"{p.get('internal_api')} {p.get('version')} {p.get('architecture')} threads={p.get('num_threads')}"
                     for p in threadpool_info())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--M", type=int, default=400)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--loss", default="hinge")
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--impls", default="simulator,numpy,torch")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--from-step", type=int, default=0,
                        help="start every implementation from the state after this many steps of the float64 "
                             "simulator (to time the late phase, where few examples are unsatisfied)")
    parser.add_argument("--worker", choices=sorted(IMPLS), help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)

    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"warning: {var}={os.environ[var]} is set; rerun with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`")
    impls = [i for i in args.impls.split(",") if i]
    if "torch" in impls:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("torch is not installed: skipping the PyTorch CPU baseline")
            impls.remove("torch")
    print(f"from_step={args.from_step} N={args.N} M={args.M} d={args.d} loss={args.loss} activation={args.activation} steps={args.steps} "
          f"seed={args.seed}; cores={os.cpu_count()}")
    print("BLAS:", _blas_info())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        state = ""
        if args.from_step > 0:
            from validate.simulator import simulate

            t0 = time.perf_counter()
            res = simulate(_setup(args), N=args.N, steps=args.from_step, seed=args.seed, n_test=0)
            state = str(Path(tmp) / "state.npz")
            np.savez(state, a=res.a_final, W=res.W_final)
            print(f"start state: {args.from_step} steps of the float64 simulator in {time.perf_counter() - t0:.1f} s "
                  f"({1e3 * (time.perf_counter() - t0) / args.from_step:.1f} ms/step on average), "
                  f"f_unsat = {res.f_unsat[-1]:.4f}")
        ref = None
        for impl in impls:
            for dt in args.dtypes.split(","):
                out = Path(tmp) / f"{impl}-{dt}.npz"
                cmd = [sys.executable, __file__, "--worker", impl, "--dtype", dt, "--out", str(out), f"--state={state}"]
                cmd += [f"--{k}={getattr(args, k)}" for k in ("steps", "N", "M", "d", "loss", "activation", "seed")]
                subprocess.run(cmd, check=True)
                info = json.loads(Path(str(out) + ".json").read_text())
                res = np.load(out)
                if ref is None and impl == "simulator" and dt == "float64":
                    ref = res
                if ref is not None:
                    info["W_rel_diff"] = float(np.max(np.abs(res["W"] - ref["W"])) / np.max(np.abs(ref["W"])))
                    info["unsat_differs_at"] = int(np.count_nonzero(res["n_unsat"] != ref["n_unsat"]))
                info["n_unsat_last"] = int(res["n_unsat"][-1])
                rows.append((impl, dt, info))
                print(f"  done {impl} {dt}: {info['ms_per_step']:.1f} ms/step", flush=True)
    print()
    header = f"{'implementation':<12} {'dtype':<8} {'ms/step':>9} {'peak RSS MiB':>13} {'W rel diff':>11} " \
             f"{'#steps unsat count differs':>27} {'unsat at end':>13}"
    print(header)
    print("-" * len(header))
    for impl, dt, info in rows:
        diff = info.get("W_rel_diff")
        print(f"{impl:<12} {dt:<8} {info['ms_per_step']:>9.1f} {info['peak_rss_mib']:>13.0f} "
              f"{'-' if diff is None else f'{diff:.1e}':>11} {info.get('unsat_differs_at', '-'):>27} "
              f"{info['n_unsat_last']:>13}")
    print("\nW rel diff / unsat counts are against the float64 simulator (run first).")


if __name__ == "__main__":
    main()
