"""The paper's Fig. 1 run with our simulator, against the dense NumPy baseline, PyTorch CPU and the dense bound.

Usage (from the repository root)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_simulator.py                # Fig. 1, 2000 steps
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_simulator.py --steps 200 --window 5   # quicker

Run it with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE *unset* as above: on these machines they are set in some
shells and they mis-tune OpenBLAS for the NumPy baseline.  The default size is the paper's Fig. 1 (N=1e5,
M=400, d=100, eta=1e3, hinge, ReLU, 2000 steps).  What it measures, each in its own subprocess (so that the
peak memory, max RSS of the subprocess, is that implementation's own) on the same data and initial state
(``mftheory.validate.simulator.draw_problem`` with the same seed):

* **whole run**: the simulator (``simulate``, float64 and float32, CPU backend; also ``backend="cuda"`` when a
  GPU is usable) for all ``--steps`` steps: wall time (kernels already compiled / loaded from numba's cache),
  peak memory;
* **windows**: every implementation (simulator, NumPy baseline ``bench/numpy_baseline.py``, PyTorch CPU when
  importable) for ``--window`` steps from step 0 ("early": every example unsatisfied) and from the float64
  simulator's state after ``--late-from`` steps ("late": few unsatisfied).  ms/step = (time of the window -
  time of 0 steps) / window, the minimum over ``--repeat`` runs.  The NumPy and PyTorch *whole-run* times
  are NOT measured (the NumPy run takes ~18 min): they are extrapolated as early ms/step x late-from +
  late ms/step x (steps - late-from), and marked "extrapolated" in the table;
* **trajectory checks** in each window against the float64 simulator from the same state: max relative
  difference of the final W and the number of steps at which the number of unsatisfied examples differs;
* **dense bound**: the two dense products of one step, X W^T ((N x d)(d x M)) and G^T X ((M x N)(N x d)), with
  NumPy's BLAS in float64 and float32 (minimum of ``--repeat`` + 2 runs): no dense-GD implementation can beat
  it.

Timings on a shared 2-core machine are noisy (a busy core slows multi-threaded BLAS a lot): run it on a quiet
machine and compare minima.
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


def _run_simulator(setup, X, y, a0, W0, steps, dtype, backend="cpu"):
    from mftheory.validate.simulator import simulate

    res = simulate(setup, X=X, y=y, a0=a0, W0=W0, steps=steps, n_test=0, record_steps=np.arange(steps + 1),
                   dtype=dtype, backend=backend)
    return res.a_final, res.W_final, np.round(res.f_unsat * res.N).astype(np.int64)


def _run_simulator_cuda(setup, X, y, a0, W0, steps, dtype):
    return _run_simulator(setup, X, y, a0, W0, steps, dtype, backend="cuda")


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


IMPLS = {"simulator": _run_simulator, "simulator-cuda": _run_simulator_cuda, "numpy": _run_numpy,
         "torch": _run_torch}


def _peak_mib():
    """Peak resident memory of this process in MiB: VmHWM (ru_maxrss would also count the parent's pages at fork)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss():
    """Start a new VmHWM window (Linux >= 4.0: writing 5 to clear_refs); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _worker(args):
    """Runs one measurement in this (fresh) process and writes its results to args.out (+ .json)."""
    from mftheory.validate.simulator import draw_problem

    setup = _setup(args)
    dtype = np.dtype(args.dtype).type
    X, y, a0, W0, _, _ = draw_problem(setup, args.N, seed=args.seed, n_test=0)
    if args.worker == "dense":
        return _dense_worker(args, X, dtype)
    run = IMPLS[args.worker]
    if args.state:
        state = np.load(args.state)
        a0, W0 = state["a"], state["W"]
    small = slice(0, min(args.N, 2000))
    run(setup, X[small], y[small], a0, W0, 1, dtype)  # warm-up: compile / load numba caches, BLAS threads
    # memory the run adds on top of the resident data and runtime: the peak RSS over the run alone, minus the
    # RSS just before it (the data itself is X and y, already resident)
    window = _reset_peak_rss()
    rss_before = _rss_mib()
    if args.mode == "whole":
        t0 = time.perf_counter()
        a, W, n_unsat = run(setup, X, y, a0, W0, args.steps, dtype)
        t_run = time.perf_counter() - t0
        info = dict(total_s=t_run, ms_per_step=1e3 * t_run / max(args.steps, 1))
    else:
        t_zero = min(_timed(run, setup, X, y, a0, W0, 0, dtype)[0] for _ in range(args.repeat))
        best = None
        for _ in range(args.repeat):
            t_run, result = _timed(run, setup, X, y, a0, W0, args.steps, dtype)
            if best is None or t_run < best[0]:
                best = (t_run, result)
        t_run, (a, W, n_unsat) = best
        info = dict(ms_per_step=1e3 * (t_run - t_zero) / max(args.steps, 1), total_s=t_run)
    info["peak_rss_mib"] = _peak_mib()
    info["run_extra_mib"] = info["peak_rss_mib"] - rss_before if window else float("nan")
    info["data_mib"] = (X.nbytes + y.nbytes) / 2**20
    np.savez(args.out, a=a, W=W, n_unsat=n_unsat)
    Path(str(args.out) + ".json").write_text(json.dumps(info))


def _timed(run, *a):
    t0 = time.perf_counter()
    result = run(*a)
    return time.perf_counter() - t0, result


def _dense_worker(args, X, dtype):
    """The two dense products of one GD step, alone (the 'dense bound')."""
    M = args.M
    rng = np.random.default_rng(0)
    Xd = np.ascontiguousarray(X, dtype=dtype)
    W = rng.standard_normal((M, args.d)).astype(dtype)
    G = rng.standard_normal((Xd.shape[0], M)).astype(dtype)
    Xd @ W.T, G.T @ Xd  # warm-up
    fwd = min(_timed(lambda: Xd @ W.T)[0] for _ in range(args.repeat + 2))
    bwd = min(_timed(lambda: G.T @ Xd)[0] for _ in range(args.repeat + 2))
    info = dict(ms_per_step=1e3 * (fwd + bwd), fwd_ms=1e3 * fwd, bwd_ms=1e3 * bwd, peak_rss_mib=_peak_mib())
    Path(str(args.out) + ".json").write_text(json.dumps(info))


def _spawn(args, tmp, worker, dt, mode, steps, state=""):
    out = Path(tmp) / f"{worker}-{dt}-{mode}.npz"
    cmd = [sys.executable, __file__, "--worker", worker, "--dtype", dt, "--out", str(out), f"--state={state}",
           f"--mode={mode}", f"--steps={steps}"]
    cmd += [f"--{k}={getattr(args, k)}" for k in ("N", "M", "d", "loss", "activation", "seed", "repeat")]
    subprocess.run(cmd, check=True)
    info = json.loads(Path(str(out) + ".json").read_text())
    return info, (np.load(out) if out.exists() else None)


def _cuda_usable():
    try:
        from mftheory.validate._cuda_kernels import cuda_status
    except Exception:
        return False
    return cuda_status()[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="length of the whole run (Fig. 1: 2000)")
    parser.add_argument("--window", type=int, default=10, help="steps per timing window (early and late)")
    parser.add_argument("--late-from", type=int, default=None,
                        help="start of the late window (default steps // 2): the float64 simulator's state there")
    parser.add_argument("--repeat", type=int, default=2, help="repeats of each window (the minimum is kept)")
    parser.add_argument("--N", type=int, default=100_000)
    parser.add_argument("--M", type=int, default=400)
    parser.add_argument("--d", type=int, default=100)
    parser.add_argument("--loss", default="hinge")
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--impls", default="simulator,simulator-cuda,numpy,torch")
    parser.add_argument("--dtypes", default="float64,float32")
    parser.add_argument("--no-whole", action="store_true", help="skip the whole simulator run")
    parser.add_argument("--worker", choices=sorted(IMPLS) + ["dense"], help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="window", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)

    late_from = args.steps // 2 if args.late_from is None else args.late_from
    if not 0 < late_from < args.steps:
        parser.error("--late-from must lie strictly between 0 and --steps")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"warning: {var}={os.environ[var]} is set; rerun with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`")
    impls = [i for i in args.impls.split(",") if i]
    if "torch" in impls:
        import importlib.util

        if importlib.util.find_spec("torch") is None:
            print("torch is not installed: skipping the PyTorch CPU baseline")
            impls.remove("torch")
    if "simulator-cuda" in impls and not _cuda_usable():
        print("no usable CUDA device: skipping backend='cuda'")
        impls.remove("simulator-cuda")
    dtypes = [dt for dt in args.dtypes.split(",") if dt]
    print(f"N={args.N} M={args.M} d={args.d} loss={args.loss} activation={args.activation} steps={args.steps} "
          f"window={args.window} late window from step {late_from}; seed={args.seed}; cores={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print("BLAS:", _blas_info(), flush=True)
    whole, windows, dense = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        from mftheory.validate.simulator import simulate

        t0 = time.perf_counter()
        res = simulate(_setup(args), N=args.N, steps=late_from, seed=args.seed, n_test=0)
        state = str(Path(tmp) / "state.npz")
        np.savez(state, a=res.a_final, W=res.W_final)
        print(f"late-window start state: {late_from} steps of the float64 simulator in {time.perf_counter() - t0:.1f} s, "
              f"f_unsat = {res.f_unsat[-1]:.4f}", flush=True)
        if not args.no_whole:
            for impl in [i for i in impls if i.startswith("simulator")]:
                for dt in dtypes:
                    info, res_w = _spawn(args, tmp, impl, dt, "whole", args.steps)
                    info["f_unsat_end"] = int(res_w["n_unsat"][-1]) / args.N
                    whole.append((impl, dt, info))
                    print(f"  whole run {impl} {dt}: {info['total_s']:.1f} s", flush=True)
        for phase, st in (("early", ""), ("late", state)):
            ref = None
            for impl in impls:
                for dt in dtypes:
                    info, r = _spawn(args, tmp, impl, dt, "window", args.window, st)
                    if ref is None and impl == "simulator" and dt == "float64":
                        ref = r
                    if ref is not None:
                        info["W_rel_diff"] = float(np.max(np.abs(r["W"] - ref["W"])) / np.max(np.abs(ref["W"])))
                        info["unsat_differs_at"] = int(np.count_nonzero(r["n_unsat"] != ref["n_unsat"]))
                    info["n_unsat_last"] = int(r["n_unsat"][-1])
                    windows.append((phase, impl, dt, info))
                    print(f"  {phase} window {impl} {dt}: {info['ms_per_step']:.1f} ms/step", flush=True)
        for dt in dtypes:
            info, _ = _spawn(args, tmp, "dense", dt, "dense", 0)
            dense.append((dt, info))

    ms = {(p, i, dt): info["ms_per_step"] for p, i, dt, info in windows}
    print(f"\nWindows of {args.window} steps (ms/step = min over {args.repeat} runs; checks against the float64 "
          f"simulator from the same state)")
    header = (f"{'phase':<6} {'implementation':<15} {'dtype':<8} {'ms/step':>9} {'peak RSS MiB':>13} "
              f"{'run adds/data':>14} {'W rel diff':>11} {'#steps unsat count differs':>27} {'unsat at end':>13}")
    print(header)
    print("-" * len(header))
    for phase, impl, dt, info in windows:
        diff = info.get("W_rel_diff")
        print(f"{phase:<6} {impl:<15} {dt:<8} {info['ms_per_step']:>9.1f} {info['peak_rss_mib']:>13.0f} "
              f"{_extra(info):>14} {'-' if diff is None else f'{diff:.1e}':>11} {info.get('unsat_differs_at', '-'):>27} "
              f"{info['n_unsat_last']:>13}")

    print(f"\nWhole Fig. 1 run ({args.steps} steps)")
    header = (f"{'implementation':<15} {'dtype':<8} {'whole run s':>12} {'ms/step avg':>12} {'peak RSS MiB':>13} "
              f"{'run adds/data':>14}  how")
    print(header)
    print("-" * len(header))
    for impl, dt, info in whole:
        print(f"{impl:<15} {dt:<8} {info['total_s']:>12.1f} {info['ms_per_step']:>12.1f} {info['peak_rss_mib']:>13.0f} "
              f"{_extra(info):>14}  measured (f_unsat at end {info['f_unsat_end']:.4f})")
    for impl in impls:
        if impl.startswith("simulator") and whole:
            continue
        for dt in dtypes:
            if ("early", impl, dt) in ms and ("late", impl, dt) in ms:
                total = 1e-3 * (ms["early", impl, dt] * late_from + ms["late", impl, dt] * (args.steps - late_from))
                peak = max(info["peak_rss_mib"] for p, i, d_, info in windows if i == impl and d_ == dt)
                print(f"{impl:<15} {dt:<8} {total:>12.1f} {1e3 * total / args.steps:>12.1f} {peak:>13.0f}  "
                      f"EXTRAPOLATED: early ms/step x {late_from} + late ms/step x {args.steps - late_from}")
    for dt, info in dense:
        total = 1e-3 * info["ms_per_step"] * args.steps
        print(f"{'dense bound':<15} {dt:<8} {total:>12.1f} {info['ms_per_step']:>12.1f} {info['peak_rss_mib']:>13.0f}  "
              f"X W^T {info['fwd_ms']:.1f} ms + G^T X {info['bwd_ms']:.1f} ms per step, x {args.steps} steps")


def _extra(info):
    """The memory a run adds over the resident data (peak RSS over the run minus RSS before), as a fraction of the
    data (X and y): 'peak within 1.5x of the data' means at most 0.5."""
    extra = info.get("run_extra_mib", float("nan"))
    return "n/a" if extra != extra else f"{extra / info['data_mib']:.2f}"


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


if __name__ == "__main__":
    main()
