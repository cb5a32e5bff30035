"""Cost of the theory side: mean-field solution, generated-kernel throughput, cold derivation, warm import.

Usage (from the repository root)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_theory.py
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/bench_theory.py --steps 10000 --evals 1000000 --no-derive

(unset OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE as for the NumPy baselines; they do not matter much here.)

What it measures (all times are minima over ``--repeat`` runs, kernels already compiled or loaded from numba's
on-disk cache, except the two subprocess rows):

* ``meanfield(fig1_setup(), steps)``: the whole call, and the generated ``discrete_map`` kernel alone;
* ``meanfield`` of the built-in variants whose drift is a quadrature, with ``tabulate=False`` (the quadrature at
  every evaluation) beside the rate table built in the call (cold) and reused (warm);
* generated scalar kernels (``drift``, ``g_rate``, ``unsat_fraction`` of ``gaussian_hinge``, closed form, and
  of ``gaussian_logistic``, Gauss-Legendre quadrature) called from a jitted loop over ``--evals`` random
  arguments kappa in [0, 3]: evaluations per second on one core (the loop is serial); a kernel that would take
  more than ``--max-seconds`` gets fewer arguments (the table shows how many);
* cold derivation: ``mftheory.derivations.build.build(target=tmpdir, force=True)`` in a fresh subprocess (SymPy
  derivation + code generation of every built-in module, no numba compilation);
* warm start: ``import mftheory`` + one ``meanfield(fig1_setup(), 2000)`` in a fresh subprocess (numba
  caches already on disk), wall time of the subprocess.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KERNELS = ("drift", "g_rate", "unsat_fraction")
MODULES = ("gaussian_hinge", "gaussian_logistic")


def _best(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _loop(kernel, name):
    """A jitted serial loop calling the jitted scalar ``kernel`` (arguments as in the generated signature)."""
    from numba import njit

    if name == "g_rate":
        @njit
        def run(kappas, d, h, eps):
            s = 0.0
            for i in range(kappas.shape[0]):
                s += kernel(kappas[i], d, h, eps, 1.0)
            return s
    else:
        @njit
        def run(kappas, d, h, eps):
            s = 0.0
            for i in range(kappas.shape[0]):
                s += kernel(kappas[i], d, h, eps)
            return s
    return run


def _subprocess_time(code, env=None):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        return None, proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"rc={proc.returncode}"
    return wall, proc.stdout.strip()


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return (f"threadpoolctl not installed; numpy BLAS: {blas.get('name', '?')} {blas.get('version', '')} "
                f"({blas.get('openblas configuration', '').strip()})")
    return "; ".join(f"{p.get('internal_api')} {p.get('version')} threads={p.get('num_threads')}"
                     for p in threadpool_info())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--evals", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=2.0,
                        help="a kernel whose --evals evaluations would take longer gets fewer (printed) arguments")
    parser.add_argument("--no-derive", action="store_true", help="skip the cold derivation (about a minute or more)")
    args = parser.parse_args(argv)

    import numba

    import mftheory
    from mftheory import kernels
    from mftheory.variant import variant_of
    from mftheory.dynamics import meanfield
    from mftheory.kappa_tables import _cache as table_cache
    from mftheory.kappa_tables import no_table

    print(f"numba {numba.__version__}, numpy {np.__version__}; cores={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}; NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}")
    print("BLAS:", _blas_info(), flush=True)
    rows = []
    setup = mftheory.fig1_setup()

    # meanfield: whole call and the discrete map alone
    meanfield(setup, 10)  # compile / load caches
    t = _best(lambda: meanfield(setup, args.steps), args.repeat)
    rows.append((f"meanfield(fig1_setup(), {args.steps})", f"{1e3 * t:.2f} ms", f"{1e6 * t / args.steps:.2f} us/step"))
    # every built-in variant whose drift is a quadrature: the table (cold: built in the call; warm: cached)
    # beside the quadrature at every evaluation, in this same run
    for data, loss in (("gaussian", "logistic"), ("sphere", "logistic"), ("sphere", "quadratic_hinge"),
                       ("sphere", "hinge")):
        variant = mftheory.fig1_setup(data=data, loss=loss)
        meanfield(variant, 10)
        meanfield(variant, 10, tabulate=False)
        repeat = max(1, min(args.repeat, 2))
        t_off = _best(lambda: meanfield(variant, args.steps, tabulate=False), repeat)

        def cold():
            table_cache.clear()
            meanfield(variant, args.steps)

        t_cold = _best(cold, args.repeat)
        t_warm = _best(lambda: meanfield(variant, args.steps), args.repeat)
        rows.append((f"meanfield({data}, {loss}, {args.steps}): quadrature / table cold / table warm",
                     f"{1e3 * t_off:.1f} / {1e3 * t_cold:.1f} / {1e3 * t_warm:.1f} ms",
                     f"speed-up {t_off / t_cold:.0f}x cold, {t_off / t_warm:.0f}x warm"))
    k = kernels.load(setup.data, setup.loss)
    slope = variant_of(setup).odd_slope(setup.leak)
    n = args.steps + 1
    arrs = [np.zeros(n) for _ in range(4)]

    def dmap():
        k.discrete_map(args.steps, setup.beta, setup.alpha, float(setup.d), setup.h, setup.label_noise,
                       setup.sigma_a, setup.sigma_w, slope, *arrs, *no_table())

    dmap()
    t = _best(dmap, args.repeat)
    rows.append((f"discrete_map kernel alone, {args.steps} steps", f"{1e3 * t:.3f} ms",
                 f"{1e6 * t / args.steps:.3f} us/step"))

    # generated scalar kernels from a jitted loop
    kappas = np.random.default_rng(0).uniform(0.0, 3.0, args.evals)
    for mod_name in MODULES:
        mod = kernels.load(*mod_name.split("_", 1))
        for name in KERNELS:
            run = _loop(getattr(mod, name), name)
            run(kappas[:10], 100.0, 1.0, 0.0)  # compile
            probe = _best(lambda: run(kappas[:1000], 100.0, 1.0, 0.0), 1)
            n_ev = args.evals if probe * args.evals / 1000 < args.max_seconds else \
                max(1000, int(args.max_seconds * 1000 / probe))  # slow (quadrature) kernels: fewer arguments
            sub = kappas[:n_ev]
            t = _best(lambda: run(sub, 100.0, 1.0, 0.0), args.repeat)
            rows.append((f"{mod_name}.{name} x {n_ev:.0e} (jitted loop)", f"{1e3 * t:.2f} ms",
                         f"{n_ev / t / 1e6:.3g} M evals/s/core"))

    # fresh subprocesses
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = ("import time; t0 = time.perf_counter(); import mftheory; from mftheory.dynamics import meanfield; "
            "t1 = time.perf_counter(); meanfield(mftheory.fig1_setup(), 2000); "
            "print(f'{t1 - t0:.3f} {time.perf_counter() - t1:.3f}')")
    _subprocess_time(code, env)  # make sure the numba caches exist
    best = None
    for _ in range(min(args.repeat, 3)):
        wall, out = _subprocess_time(code, env)
        if wall is not None and (best is None or wall < best[0]):
            best = (wall, out)
    if best is None:
        rows.append(("warm import mftheory + meanfield(2000), fresh process", "failed", out))
    else:
        imp, pred = best[1].split()
        rows.append(("warm import mftheory + meanfield(2000), fresh process", f"{best[0]:.2f} s",
                     f"import {float(imp):.2f} s + prediction {float(pred):.2f} s (+ interpreter start)"))
    if not args.no_derive:
        with tempfile.TemporaryDirectory() as tmp:
            code = (f"from mftheory.derivations.build import build; import pathlib; "
                    f"r = build(target=pathlib.Path({tmp!r}), force=True); print(len(r))")
            wall, out = _subprocess_time(code, env)
            rows.append(("cold derivation build(target=tmpdir, force=True), fresh process",
                         "failed" if wall is None else f"{wall:.1f} s",
                         out if wall is None else f"{out} modules derived and generated"))

    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'what':<{width}}  {'time':>12}  rate / detail")
    print("-" * (width + 40))
    for what, time_, detail in rows:
        print(f"{what:<{width}}  {time_:>12}  {detail}")


if __name__ == "__main__":
    main()
