"""The Dask task (compute_point: theory and simulation of one point x seed, run on a worker) and the Arrow table
of its result."""
from __future__ import annotations

from numbers import Integral

import numpy as np

from mftheory.model import Setup
from mftheory.validate.sweeping.grid import N_FRESH, N_TEST, PARAMS, QUANTITIES, SETUP_FIELDS


def compute_point(params: dict, seed: int, steps: int, record_steps: list) -> dict:
    """Simulate and solve one point for one seed; return the table's columns (numpy arrays, one row per step).

    Runs on a Dask worker: one numba thread, single-threaded BLAS; no file is written here.
    """
    import numba

    numba.set_num_threads(1)
    from mftheory.dynamics import meanfield
    from mftheory.validate.cases import measured_gamma_plus
    from mftheory.validate.simulator import simulate, slope_along_teacher

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
