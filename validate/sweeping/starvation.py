"""The built-in starvation sweep (``python -m mftheory.validate sweep --builtin starvation --out DIR``): the rare feature's
slope against p_2 / p_1 for the hinge, quadratic hinge and logistic losses, gradient descent beside the mean field.

Points: p_1 = 0.8, p_2 / p_1 in {1, 1/2, 1/4, 1/8}, equal strengths, d = 20, M = 200, N = 40000, eta = 500,
recorded at steps 300 and 3000; the table's rows hold kappa_1, kappa_2 (simulated and predicted) at each.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

from mftheory.atomic import write_atomically

FIELDS = ("loss", "p_1", "p_2", "d", "M", "N", "eta", "steps")
TIMES = (300, 3000)


def compute_starvation_point(point: dict, seed: int) -> dict:
    import numba

    numba.set_num_threads(1)
    from mftheory.features import meanfield_features
    from mftheory.model import Setup
    from mftheory.validate.features import feature_slopes
    from mftheory.validate.simulator import draw_problem, simulate

    setup = Setup(d=point["d"], alpha=1.0, h=1.0, eta=point["eta"], M=point["M"], data="features", loss=point["loss"],
                  feature_freq=(point["p_1"], point["p_2"]), feature_strength=(1.0, 1.0))
    sol = meanfield_features(setup, point["steps"])
    X, y, a, W, _, _ = draw_problem(setup, point["N"], seed=seed, n_test=0)
    row = dict(point) | {"seed": seed}
    done = 0
    for stop in TIMES:
        sim = simulate(setup, N=point["N"], steps=stop - done, seed=seed, X=X, y=y, a0=a, W0=W, n_test=0,
                       record_steps=[stop - done])
        a, W, done = sim.a_final, sim.W_final, stop
        measured = feature_slopes(setup, a, W)
        for k in range(2):
            row[f"kappa_{k + 1}_sim_t{stop}"] = float(measured[k])
            row[f"kappa_{k + 1}_theory_t{stop}"] = float(sol.kappa_features[stop, k])
    return row


def starvation_points():
    return [dict(loss=loss, p_1=0.8, p_2=0.8 * r, d=20, M=200, N=40_000, eta=500.0, steps=max(TIMES))
            for loss in ("hinge", "quadratic_hinge", "logistic") for r in (1.0, 0.5, 0.25, 0.125)]


def plot_starvation(table, out) -> dict:
    from mftheory.validate.figures import new_figure, save_figure

    fig, ax = new_figure(1, 1)
    numbers = {}
    for k, (loss, g) in enumerate(table.groupby("loss")):
        mean = g.groupby("p_2", as_index=False).mean(numeric_only=True)
        ratio = mean["p_2"] / mean["p_1"]
        for j, t in enumerate(TIMES):
            sim = mean[f"kappa_2_sim_t{t}"] / mean[f"kappa_1_sim_t{t}"]
            theory = mean[f"kappa_2_theory_t{t}"] / mean[f"kappa_1_theory_t{t}"]
            ax.plot(ratio, theory, "-" if j else "--", color=f"C{k}", label=f"theory, {loss}, t={t}")
            ax.plot(ratio, sim, "os"[j], color=f"C{k}", label=f"GD, {loss}, t={t}")
            numbers[f"{loss}, t={t}"] = {"p2/p1": list(ratio), "kappa2/kappa1 sim": list(sim),
                                         "kappa2/kappa1 theory": list(theory)}
    ax.set(xscale="log", xlabel="p_2 / p_1", ylabel="kappa_2 / kappa_1",
           title="starvation of the rare feature (equal strengths)")
    ax.legend(fontsize=6)
    path = save_figure(fig, pathlib.Path(out) / "starvation.png")
    write_atomically(pathlib.Path(out) / "numbers.json", json.dumps(numbers, indent=1, default=float))
    return {"figure": path, "numbers": numbers}
