"""Figures of a sweep, drawn from its table only: plot_sweep, the built-in figure functions (FIGURES) and their
helpers (final_rows, fit_power_law, crossover_laziness)."""
from __future__ import annotations

import json
import pathlib

import numpy as np

from mftheory.model import Setup
from mftheory.validate.figures import new_figure, save_figure
from mftheory.validate.sweeping.grid import SETUP_FIELDS
from mftheory.validate.sweeping.store import _jsonable


def final_rows(table):
    """The rows at each run's last step (t == steps)."""
    return table[table["t"] == table["steps"]]


def plot_sweep(table, x, y, hue=None, at="final", ax=None, logx=None, logy=False, theory=True, path=None):
    """Plot quantity ``y`` (a base name such as "alignment", or any column) against column ``x``.

    Simulation: mean over seeds with the standard deviation as error bars (markers); theory: a line (if the
    ``{y}_theory`` column exists and ``theory``).  ``hue`` splits the series by a column; ``at`` = "final" uses the
    last step of each run, an integer a given step t, None every row.  Returns the matplotlib Axes; with ``path``
    the figure is also saved there.
    """
    if at == "final":
        rows = final_rows(table)
    elif at is None:
        rows = table
    else:
        rows = table[table["t"] == int(at)]
    if x not in rows.columns:
        raise ValueError(f"x={x!r} is not a column of the table")
    sim_col = f"{y}_sim" if f"{y}_sim" in rows.columns else y
    th_col = f"{y}_theory" if theory and f"{y}_theory" in rows.columns else None
    if sim_col not in rows.columns:
        raise ValueError(f"y={y!r} is not a quantity or column of the table")
    if hue is not None and hue not in rows.columns:
        raise ValueError(f"hue={hue!r} is not a column of the table")
    if ax is None:
        # pyplot here, so that the figure shows inline in a notebook; its backend is the user's choice
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
    groups = [(None, rows)] if hue is None else list(rows.groupby(hue, sort=True))
    for j, (label, g) in enumerate(groups):
        agg = g.groupby(x, sort=True)[sim_col].agg(["mean", "std"]).reset_index()
        name = "" if hue is None else f"{hue}={label} "
        ax.errorbar(agg[x], agg["mean"], yerr=agg["std"].fillna(0.0), fmt="o", ms=4, capsize=2, color=f"C{j}",
                    label=f"{name}simulation")
        if th_col is not None:
            th = g.groupby(x, sort=True)[th_col].mean().reset_index()
            ax.plot(th[x], th[th_col], "-", color=f"C{j}", lw=1, label=f"{name}theory")
    if logx is None:
        vals = rows[x].to_numpy()
        logx = bool(np.issubdtype(vals.dtype, np.number) and np.all(vals > 0) and vals.max() / vals.min() > 20)
    ax.set(xscale="log" if logx else "linear", yscale="log" if logy else "linear", xlabel=x, ylabel=y)
    ax.legend(fontsize=7)
    if path is not None:
        ax.figure.savefig(path, dpi=110, bbox_inches="tight")
    return ax


def _save(fig, out: pathlib.Path, name: str, numbers: dict):
    from mftheory.atomic import write_atomically

    save_figure(fig, out / f"{name}.png")
    write_atomically(out / f"{name}.json", json.dumps(_jsonable(numbers), indent=1))
    return {"figure": str(out / f"{name}.png"), "numbers": numbers}


def _setup_of(row) -> Setup:
    return Setup(**{k: (row[k].item() if hasattr(row[k], "item") else row[k]) for k in SETUP_FIELDS})


def crossover_laziness(setup: Setup, steps: int, alphas=None) -> float:
    """Predicted lazy/rich crossover: the laziness alpha sigma_a sigma_w/(h sqrt d) at which the theory's alignment
    at ``steps`` crosses 1/2, varying alpha at a fixed per-node rate beta (eta = beta M / alpha) on a fine grid
    (log-linear interpolation); NaN if it does not cross in the range."""
    from mftheory.dynamics import meanfield

    beta = setup.beta
    alphas = np.logspace(-3, 3, 121) if alphas is None else np.asarray(alphas)
    rich, align = [], []
    for a in alphas:
        s = setup.replace(alpha=float(a), eta=beta * setup.M / float(a))
        try:
            sol = meanfield(s, steps)
        except ValueError:
            continue
        rich.append(s.laziness)
        align.append(float(sol.alignment[-1]))
    rich, align = np.array(rich), np.array(align)
    above = align - 0.5
    for k in range(len(rich) - 1):
        if above[k] == 0:
            return float(rich[k])
        if above[k] * above[k + 1] < 0:
            lr = np.log(rich[k]) + (np.log(rich[k + 1]) - np.log(rich[k])) * above[k] / (above[k] - above[k + 1])
            return float(np.exp(lr))
    return float("nan")


def figure_phase(table, out):
    """(a) Rich/lazy phase diagram over laziness alpha/(h sqrt d) and d, coloured by the final simulated alignment,
    with the predicted crossover line (theory alignment = 1/2 at the last step, from meanfield on a fine grid)."""
    out = pathlib.Path(out)
    fin = final_rows(table)
    agg = fin.groupby(["point"], sort=True).agg(d=("d", "first"), laziness=("laziness", "first"),
                                               alignment_sim=("alignment_sim", "mean"),
                                               alignment_theory=("alignment_theory", "mean")).reset_index()
    steps = int(fin["steps"].iloc[0])
    ds = sorted(int(v) for v in fin["d"].unique())
    d_line = np.unique(np.round(np.logspace(np.log10(min(ds)), np.log10(max(ds)), 12)).astype(int)) if len(ds) > 1 \
        else np.array(ds)
    row0 = fin.iloc[0]
    base = _setup_of(row0)
    line = [crossover_laziness(base.replace(d=int(d)), steps) for d in d_line]
    at_d = {d: crossover_laziness(base.replace(d=int(d)), steps) for d in ds}
    fig, ax = new_figure(1, 2, figsize=(12, 4.5))
    sc = ax[0].scatter(agg["laziness"], agg["d"], c=agg["alignment_sim"], cmap="viridis", vmin=0, vmax=1, s=90,
                       edgecolors="k")
    fig.colorbar(sc, ax=ax[0], label="final alignment (simulation, mean over seeds)")
    ax[0].plot(line, d_line, "r-", lw=2, label="theory: alignment = 1/2")
    ax[0].set(xscale="log", yscale="log", xlabel="alpha sigma_a sigma_w / (h sqrt d)  (lazy ->)", ylabel="d",
              title=f"rich/lazy phase diagram (t={steps})")
    ax[0].legend(fontsize=7)
    plot_sweep(table, "laziness", "alignment", hue="d", ax=ax[1])
    ax[1].axhline(0.5, color="k", ls=":", lw=1)
    ax[1].set(title="final alignment: simulation (points) vs theory (lines)")
    # the simulated crossover per d (log-interpolated), for the numbers
    sim_cross = {}
    for d, g in agg.groupby("d"):
        g = g.sort_values("laziness")
        r, a = g["laziness"].to_numpy(), g["alignment_sim"].to_numpy() - 0.5
        sim_cross[int(d)] = float("nan")
        for k in range(len(r) - 1):
            if a[k] * a[k + 1] < 0:
                sim_cross[int(d)] = float(np.exp(np.log(r[k]) + (np.log(r[k + 1]) - np.log(r[k])) * a[k] / (a[k] - a[k + 1])))
                break
    numbers = {"steps": steps, "crossover_laziness_theory": {int(d): v for d, v in at_d.items()},
               "crossover_laziness_sim": sim_cross,
               "alignment": [{"d": int(r.d), "laziness": float(r.laziness), "sim": float(r.alignment_sim),
                              "theory": float(r.alignment_theory)} for r in agg.itertuples()]}
    return _save(fig, out, "phase", numbers)


def figure_overfitting(table, out):
    """(b) Final train and test error and their gap against N (one series per d); the mean-field theory says 0."""
    out = pathlib.Path(out)
    fin = final_rows(table).copy()
    fin["gap_sim"] = fin["test_error_sim"] - fin["train_error_sim"]
    fig, ax = new_figure(1, 3, figsize=(15, 4))
    plot_sweep(fin, "N", "train_error", hue="d", ax=ax[0], theory=False, at=None)
    plot_sweep(fin, "N", "test_error", hue="d", ax=ax[1], theory=False, at=None)
    plot_sweep(fin, "N", "gap", hue="d", ax=ax[2], theory=False, at=None)
    for a, title in zip(ax, ("train error", "test error", "generalisation gap (test - train)")):
        a.set(title=f"{title} (theory: 0)")
    agg = fin.groupby(["d", "N"], sort=True)[["train_error_sim", "test_error_sim", "gap_sim"]].mean().reset_index()
    numbers = {"final": agg.to_dict(orient="records")}
    return _save(fig, out, "overfitting", numbers)


def fit_power_law(x, y):
    """Least squares of log y on log x: (exponent, its standard error, prefactor) from numpy.polyfit(cov=True)
    (NaN errors with fewer than 4 points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    if len(lx) < 2:
        return float("nan"), float("nan"), float("nan")
    if len(lx) >= 4:
        coef, cov = np.polyfit(lx, ly, 1, cov=True)
        err = float(np.sqrt(cov[0, 0]))
    else:
        coef = np.polyfit(lx, ly, 1)
        err = float("nan")
    return float(coef[0]), err, float(np.exp(coef[1]))


def figure_finite_size(table, out):
    """(c) Residuals |gamma_plus_sim - gamma_plus_theory| and |f_unsat_sim - f_unsat_theory| at the last step against
    M (points at the largest N) and against N (points at the largest M), mean over seeds, with fitted power laws."""
    out = pathlib.Path(out)
    fin = final_rows(table).copy()
    fin["gamma_plus_residual"] = (fin["gamma_plus_sim"] - fin["gamma_plus_theory"]).abs()
    fin["f_unsat_residual"] = (fin["f_unsat_sim"] - fin["f_unsat_theory"]).abs()
    series = {"M": fin[fin["N"] == fin["N"].max()], "N": fin[fin["M"] == fin["M"].max()]}
    fig, ax = new_figure(1, 2, figsize=(12, 4.5))
    numbers = {}
    for j, (var, rows) in enumerate(series.items()):
        for k, q in enumerate(("gamma_plus_residual", "f_unsat_residual")):
            agg = rows.groupby(var, sort=True)[q].agg(["mean", "std", "count"]).reset_index()
            slope, err, pref = fit_power_law(agg[var], agg["mean"])
            numbers[f"{q}_vs_{var}"] = {"exponent": slope, "stderr": err, "prefactor": pref,
                                        var: agg[var].tolist(), "mean": agg["mean"].tolist(),
                                        "sem": (agg["std"] / np.sqrt(agg["count"])).tolist()}
            ax[j].errorbar(agg[var], agg["mean"], yerr=agg["std"] / np.sqrt(agg["count"]), fmt="os"[k], ms=4,
                           capsize=2, color=f"C{k}", label=f"{q}: slope {slope:.2f} +- {err:.2f}")
            xs = np.array([agg[var].min(), agg[var].max()], float)
            ax[j].plot(xs, pref * xs ** slope, "-", color=f"C{k}", lw=1)
        other = "N" if var == "M" else "M"
        ax[j].set(xscale="log", yscale="log", xlabel=var, ylabel="|sim - theory| at the last step",
                  title=f"finite-{var} residuals ({other} = {int(rows[other].max())})")
        ax[j].legend(fontsize=7)
    return _save(fig, out, "finite_size", numbers)


def figure_label_noise(table, out):
    """(d) The label-noise fixed point over eps: simulated kappa (slope of f along x_par on fresh inputs, last step)
    against mftheory's label_noise_fixed_point kappa (line, fine eps grid) and the theory's kappa at the last step."""
    from mftheory.dynamics import label_noise_fixed_point

    out = pathlib.Path(out)
    fin = final_rows(table)
    agg = fin.groupby("label_noise", sort=True).agg(kappa_sim=("kappa_sim", "mean"), sd=("kappa_sim", "std"),
                                                    kappa_theory=("kappa_theory", "mean")).reset_index()
    base = _setup_of(fin.iloc[0])
    eps_fine = np.linspace(max(1e-3, agg["label_noise"].min() * 0.8), min(0.49, agg["label_noise"].max() * 1.1), 60)
    fp_fine = [label_noise_fixed_point(base.replace(label_noise=float(e))).kappa for e in eps_fine]
    fp = [label_noise_fixed_point(base.replace(label_noise=float(e))).kappa for e in agg["label_noise"]]
    fig, ax = new_figure(figsize=(6, 4))
    ax.plot(eps_fine, fp_fine, "k-", lw=1, label="fixed point kappa (theory)")
    ax.plot(agg["label_noise"], agg["kappa_theory"], "x", color="C1", label=f"theory kappa(t={int(fin['steps'].iloc[0])})")
    ax.errorbar(agg["label_noise"], agg["kappa_sim"], yerr=agg["sd"].fillna(0.0), fmt="o", ms=4, capsize=2,
                color="C0", label="simulation (slope of f on fresh inputs)")
    ax.set(xlabel="label noise eps", ylabel="kappa", yscale="log", title="label-noise fixed point")
    ax.legend(fontsize=7)
    numbers = {"points": [{"eps": float(e), "kappa_fixed_point": float(k), "kappa_theory_last": float(kt),
                           "kappa_sim": float(ks), "kappa_sim_sd": float(sd), "rel_error": float(ks / k - 1)}
                          for e, k, kt, ks, sd in zip(agg["label_noise"], fp, agg["kappa_theory"], agg["kappa_sim"],
                                                      agg["sd"])]}
    return _save(fig, out, "label_noise", numbers)


FIGURES = {"phase": figure_phase, "overfitting": figure_overfitting, "finite_size": figure_finite_size,
           "label_noise": figure_label_noise}
