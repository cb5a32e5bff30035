"""Validation cases of the quadratic network: gradient descent's long-time state against ``mftheory.quadratic``.

Each case has the signature of the hinge cases, ``case(scale, seed) -> CaseResult`` with a ``draw_<case>(data)``
beside it; the hinge scale's name ("quick" or "paper") picks a :class:`QuadraticScale`.

Tolerances. Every judged number is a mean over ``scale.seeds`` runs (teacher, data and init redrawn), so 3
standard errors of that mean, from the runs' own spread, cover the sampling noise. On top of it, the theory is
the d -> infinity limit and drops two terms of relative order 1/d (``finite_d_allowance``): the count
d(d+1)/2 of a symmetric matrix's entries against d^2/2, and the eigenvalues' own derivatives in the
divergence of the spectral threshold, d p_+ against d^2 D / 2 (p_+ the rank fraction, D the divided-difference
integral; with the rank limit also the jump of the map at its cut, d rho(y_c) (y_c - theta)). Their relative sizes,
1/d and 2 (p_+ + rho(y_c) (y_c - theta)) / (d D), are added to the tolerance of each relative check.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from mftheory.kernels.generated import quadratic as K
from mftheory.quadratic import QuadraticSetup, gradient_flow, long_time, thresholds
from mftheory.validate.checks import CaseResult, Check
from mftheory.validate.figures import new_figure
from mftheory.validate.quadratic.simulator import simulate_many


@dataclasses.dataclass(frozen=True)
class QuadraticScale:
    name: str
    d: int
    seeds: int
    alphas: tuple
    lambdas: tuple = (0.5, 0.1, 0.05)
    kappa: float = 0.7
    kappa_star: float = 0.5

    def eta(self, data: str, kappa_star: float = 0.5) -> float:
        """A stable step: the curvature grows with the teacher's largest eigenvalue, the upper edge
        (1 + sqrt(kappa*))^2 / kappa* of its Marchenko-Pastur spectrum (1 + sqrt(kappa*))^2 / kappa* (5.83 at
        kappa* = 0.5, where 0.04 is stable); the Gaussian law's rank-one inputs (one eigenvalue ~ sqrt(d)) need a
        four times smaller one."""
        edge = (1 + math.sqrt(kappa_star)) ** 2 / min(kappa_star, 1.0)
        return (0.04 if data == "goe" else 0.01) * min(1.0, 5.83 / edge)

    @staticmethod
    def time(lam: float) -> float:
        """Long enough to converge: the slowest directions relax at rate ~ 2 lambda; 12 / lambda leaves them
        within e^-24 (the half-time values are reported beside the final ones)."""
        return max(40.0, 12.0 / lam)


QUICK_QUADRATIC = QuadraticScale("quick", d=40, seeds=6, alphas=(0.2, 0.5, 0.8))
PAPER_QUADRATIC = QuadraticScale("paper", d=100, seeds=3, alphas=(0.2, 0.5, 0.8))


def quadratic_scale(scale) -> QuadraticScale:
    """The quadratic scale for a suite's scale: itself if it is one, else by name (paper or quick)."""
    if isinstance(scale, QuadraticScale):
        return scale
    return PAPER_QUADRATIC if getattr(scale, "name", scale) == "paper" else QUICK_QUADRATIC


def finite_d_allowance(prediction, index: int, d: int) -> float:
    """Relative size of the O(1/d) terms the theory drops (module docstring): 1/d + 2 (p_+ + j) / (d D), j the
    rank-limited map's jump at its cut, rho(y_c) (y_c - theta) (0 where the rank does not limit)."""
    a = float(prediction.alpha[index])
    theta = float(prediction.theta[index])
    divided = 2 * a * (1 - prediction.setup.lam / theta)   # D from the threshold equation
    own = float(prediction.rank[index])
    if prediction.rank_limited[index]:
        cut = float(prediction.cut[index])
        own += K.density(cut, float(prediction.s[index]), prediction.setup.kappa_star) * (cut - theta)
    return 1.0 / d + (2 * own / (d * divided) if divided > 0 else 0.0)


def _mean_se(values):
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(values.size))


def _runs(setup, alphas, qs, seed, time_scale=1.0):
    eta = qs.eta(setup.data, setup.kappa_star)
    time = time_scale * qs.time(setup.lam)
    steps = int(math.ceil(time / eta - 1e-9))
    jobs = [dict(setup=setup, alpha=a, time=time, eta=eta, seed=seed + 1000 * i + r,
                 record_steps=[0, steps // 2, steps]) for i, a in enumerate(alphas) for r in range(qs.seeds)]
    runs = simulate_many(jobs)
    return [runs[i * qs.seeds:(i + 1) * qs.seeds] for i in range(len(alphas))]


def _alpha_checks(case, setup, qs, seed, label, keep_runs=False, time_scale=1.0, alphas=None):
    """MSE and in-sample error at each alpha of the scale (or of ``alphas``), plus the half-time values
    (convergence) as info."""
    alphas = qs.alphas if alphas is None else alphas
    pred = long_time(setup, alphas)
    grouped = _runs(setup, alphas, qs, seed, time_scale)
    checks, rows = [], []
    for i, (a, runs) in enumerate(zip(alphas, grouped)):
        allowance = finite_d_allowance(pred, i, setup.d)
        for quantity, field in (("MSE", "mse"), ("in-sample error", "in_sample_error")):
            mean, se = _mean_se([getattr(r, field)[-1] for r in runs])
            theory = float(getattr(pred, field)[i])
            checks.append(Check(case, f"{quantity}, {label}, alpha={a}", theory, mean,
                                3 * se / abs(theory) + allowance, relative=True))
            if field == "mse":
                # judged: the runs have settled (a diverging or still-moving run would make the comparison
                # above meaningless, its spread swelling the tolerance)
                change = max(abs(r.mse[-1] - r.mse[1]) / max(r.mse[-1], 1e-300) for r in runs)
                checks.append(Check(case, f"largest relative change of MSE over the second half of the runs, "
                                    f"{label}, alpha={a}", 0.0, change, 0.02))
                rows.append((a, mean, se))
        rank, _ = _mean_se([r.rank_fraction() for r in runs])
        checks.append(Check(case, f"rank / d, {label}, alpha={a}", float(pred.rank[i]), rank, 0.0,
                            informational=True))
    return (checks, rows, grouped) if keep_runs else (checks, rows)


def quadratic_alpha(scale, seed: int = 0) -> CaseResult:
    """Test error (MSE) and in-sample error of gradient descent's long-time state against alpha, at
    lambda = 0.5, 0.1, 0.05, kappa = 0.7, kappa* = 0.5, GOE data. Tolerances: module docstring (3 standard errors
    over the seeds plus the dropped O(1/d) terms)."""
    qs = quadratic_scale(scale)
    grid = np.linspace(0.05, max(qs.alphas) * 1.1, 60)
    checks, curves = [], []
    for lam in qs.lambdas:
        setup = QuadraticSetup(qs.kappa, qs.kappa_star, lam, d=qs.d)
        rows_checks, rows = _alpha_checks("quadratic_alpha", setup, qs, seed, f"lambda={lam}")
        checks += rows_checks
        curves.append((lam, long_time(setup, grid), rows, [c for c in rows_checks
                                                           if c.quantity.startswith("in-sample")]))
    return CaseResult(checks, {"qs": qs, "grid": grid, "curves": curves})


def draw_quadratic_alpha(data):
    qs, grid = data["qs"], data["grid"]
    fig, ax = new_figure(1, 2, figsize=(11, 4))
    for k, (lam, curve, rows, ins) in enumerate(data["curves"]):
        ax[0].plot(grid, curve.mse, color=f"C{k}", label=f"theory, lambda={lam}")
        ax[0].errorbar([r[0] for r in rows], [r[1] for r in rows], yerr=[r[2] for r in rows], fmt="o",
                       color=f"C{k}", label=f"GD, d={qs.d}")
        ax[1].plot(grid, curve.in_sample_error, color=f"C{k}")
        ax[1].plot([float(c.quantity.rsplit("=", 1)[1]) for c in ins], [c.simulation for c in ins], "o",
                   color=f"C{k}")
    ax[0].set(xlabel="alpha = n / d^2", ylabel="MSE = ||Z - Z*||^2 / d", yscale="log",
              title="(a) test error at long times")
    ax[1].set(xlabel="alpha = n / d^2", ylabel="(1/2n) sum_k r_k^2", title="(b) in-sample error")
    ax[0].legend(fontsize=7)
    fig.suptitle(f"quadratic network, kappa={qs.kappa}, kappa*={qs.kappa_star}, {qs.seeds} seeds per point",
                 fontsize=10)
    return fig


def quadratic_gaussian_inputs(scale, seed: int = 0) -> CaseResult:
    """The theory derived for GOE inputs, for X = (x x^T - I)/sqrt(d), x Gaussian, at lambda = 0.1. Both laws have
    the same second moments and the d -> infinity limit is expected to be the same (universality), but far more
    slowly: Tr(X_k Z) is a Gaussian quadratic form whose excess kurtosis 12 Tr Z^4 / (Tr Z^2)^2 is of order one at
    d = 40 (reported), where GOE's is zero. So the checks here are on the convergence itself: at each alpha the
    deviation from the theory at d must not exceed the one at d/2 (3 standard errors of the difference allowed);
    the values at both d are reported."""
    qs = quadratic_scale(scale)
    checks, rows, deviations = [], {}, {}
    for d in (qs.d // 2, qs.d):
        setup = QuadraticSetup(qs.kappa, qs.kappa_star, 0.1, d=d, data="gaussian")
        found, rows[d], runs = _alpha_checks("quadratic_gaussian_inputs", setup, qs, seed, f"gaussian inputs, d={d}",
                                             keep_runs=True)
        Z = runs[0][0].weights @ runs[0][0].weights.T
        kurtosis = 12 * np.trace(Z @ Z @ Z @ Z) / np.trace(Z @ Z) ** 2
        # reported, not judged: the absolute comparison at finite d (see the docstring)
        checks += [dataclasses.replace(c, informational=True) for c in found]
        pred = long_time(setup, qs.alphas)
        for field in ("mse", "in_sample_error"):
            for i, group in enumerate(runs):
                theory = float(getattr(pred, field)[i])
                mean, se = _mean_se([getattr(r, field)[-1] for r in group])
                deviations[d, field, i] = (abs(mean - theory) / theory, se / theory)
    for field, name in (("mse", "MSE"), ("in_sample_error", "in-sample error")):
        for i, a in enumerate(qs.alphas):
            (small, se_small), (large, se_large) = deviations[qs.d // 2, field, i], deviations[qs.d, field, i]
            checks.append(Check("quadratic_gaussian_inputs", f"relative {name} deviation: d={qs.d} (sim) at most "
                                f"d={qs.d // 2}'s (theory column), alpha={a}", small, large,
                                3 * math.hypot(se_small, se_large), upper_bound=True))
    checks.append(Check("quadratic_gaussian_inputs", f"excess kurtosis of Tr(X Z) at the learned Z, d={qs.d}, "
                        f"alpha={qs.alphas[0]} (GOE: 0)", 0.0, kurtosis, 0.0, informational=True))
    grid = np.linspace(0.05, max(qs.alphas) * 1.1, 60)
    return CaseResult(checks, {"grid": grid, "qs": qs, "rows": rows})


def draw_quadratic_gaussian_inputs(data):
    grid, qs, rows = data["grid"], data["qs"], data["rows"]
    fig, ax = new_figure(1, 1)
    setup = QuadraticSetup(qs.kappa, qs.kappa_star, 0.1, d=qs.d, data="gaussian")
    ax.plot(grid, long_time(setup, grid).mse, label="theory (GOE derivation)")
    for k, d in enumerate(rows):
        ax.errorbar([r[0] for r in rows[d]], [r[1] for r in rows[d]], yerr=[r[2] for r in rows[d]], fmt="os"[k],
                    label=f"GD, Gaussian inputs, d={d}")
    ax.set(xlabel="alpha", ylabel="MSE", yscale="log", title="X = (x x^T - I)/sqrt(d), lambda = 0.1")
    ax.legend(fontsize=7)
    return fig


def quadratic_spectrum(scale, seed: int = 0) -> CaseResult:
    """The spectrum of Z at long times (lambda = 0.1, alpha = 0.5): the fraction of Z's eigenvalues below five
    points (the atom at zero included) pooled over the seeds, against the theory's (Y's spectrum shifted by
    theta). Tolerance: 3 standard errors over the seeds plus 2/d (eigenvalue counts fluctuate by O(1/d) around
    the limit law, and the rank is counted at 1e-3 of the largest eigenvalue)."""
    qs = quadratic_scale(scale)
    setup = QuadraticSetup(qs.kappa, qs.kappa_star, 0.1, d=qs.d)
    alpha = 0.5
    pred = long_time(setup, [alpha])
    runs = _runs(setup, [alpha], qs, seed)[0]
    from mftheory.kernels.generated import quadratic as K

    s, theta = float(pred.s[0]), float(pred.theta[0])
    top = max(float(r.eigenvalues.max()) for r in runs)
    points = np.array([0.05, 0.25, 0.5, 1.0, 2.0]) * top / 2
    checks = []
    for p in points:
        xs, ws = K.spectral_nodes(s, qs.kappa_star, p + theta)
        theory = float(np.sum(ws[xs < p + theta]))
        mean, se = _mean_se([np.mean(r.eigenvalues < p) for r in runs])
        checks.append(Check("quadratic_spectrum", f"fraction of eigenvalues of Z below {p:.3f}", theory, mean,
                            3 * se + 2.0 / qs.d))
    return CaseResult(checks, {"alpha": alpha, "pred": pred, "runs": runs, "top": top})


def draw_quadratic_spectrum(data):
    alpha, pred, runs, top = data["alpha"], data["pred"], data["runs"], data["top"]
    fig, ax = new_figure(1, 1)
    grid = np.linspace(1e-3, top * 1.05, 300)
    density, atom = pred.spectrum(0, grid)
    nonzero = np.concatenate([r.eigenvalues[r.eigenvalues > 1e-3 * r.eigenvalues.max()] for r in runs])
    ax.hist(nonzero, bins=40, density=True, weights=None, alpha=0.4, label="GD (nonzero eigenvalues, pooled)")
    ax.plot(grid, density / max(1 - atom, 1e-12), label=f"theory (atom at 0: {atom:.3f})")
    ax.set(xlabel="eigenvalue of Z", ylabel="density of the nonzero part", title=f"spectrum of Z, alpha={alpha}")
    ax.legend(fontsize=7)
    return fig


def quadratic_double_descent(scale, seed: int = 0) -> CaseResult:
    """Label noise Delta = 1 at small lambda (0.02): the test error peaks near the interpolation threshold
    (thresholds().interpolation: 0.307 at kappa* = 0.5, Delta = 1, where the lambda -> 0+ peak lies). Judged: MSE at alpha = 0.15, 0.25, 0.4 and 0.6 (tolerances as in
    ``quadratic_alpha``); the peak's position is reported."""
    qs = quadratic_scale(scale)
    setup = QuadraticSetup(qs.kappa, qs.kappa_star, 0.02, Delta=1.0, d=qs.d)
    alphas = (0.15, 0.25, 0.4, 0.6)
    local = dataclasses.replace(qs, alphas=alphas)
    checks, rows = _alpha_checks("quadratic_double_descent", setup, local, seed, "Delta=1, lambda=0.02")
    grid = np.linspace(0.05, 0.8, 80)
    curve = long_time(setup, grid)
    peak = float(grid[np.argmax(curve.mse)])
    checks.append(Check("quadratic_double_descent", "alpha of the MSE peak (theory) vs interpolation threshold",
                        peak, thresholds(qs.kappa, qs.kappa_star, 1.0).interpolation, 0.0, informational=True,
                        theory_only=True))
    return CaseResult(checks, {"curve": curve, "grid": grid, "rows": rows,
                               "interpolation": thresholds(qs.kappa, qs.kappa_star, 1.0).interpolation})


def draw_quadratic_double_descent(data):
    curve, grid, rows = data["curve"], data["grid"], data["rows"]
    interpolation = data["interpolation"]
    fig, ax = new_figure(1, 1)
    ax.plot(grid, curve.mse, label="theory, lambda=0.02, Delta=1")
    ax.errorbar([r[0] for r in rows], [r[1] for r in rows], yerr=[r[2] for r in rows], fmt="o", label="GD")
    ax.axvline(interpolation, color="k", ls=":", label=f"interpolation threshold {interpolation:.3f} (lambda -> 0+)")
    ax.set(xlabel="alpha", ylabel="MSE", title="double descent with label noise")
    ax.legend(fontsize=7)
    return fig


def quadratic_recovery(scale, seed: int = 0) -> CaseResult:
    """Near perfect recovery at small lambda (0.01): the convex estimator's threshold (thresholds().recovery_psd,
    about 0.42 at kappa* = 0.5) separates an O(1) test error from one of order lambda^2. Judged: MSE at alpha =
    0.3, 0.5 and 0.7 (tolerances as in ``quadratic_alpha``)."""
    qs = quadratic_scale(scale)
    setup = QuadraticSetup(qs.kappa, qs.kappa_star, 0.01, d=qs.d)
    alphas = (0.3, 0.5, 0.7)
    local = dataclasses.replace(qs, alphas=alphas)
    checks, rows = _alpha_checks("quadratic_recovery", setup, local, seed, "lambda=0.01")
    grid = np.linspace(0.1, 0.8, 60)
    limits = thresholds(qs.kappa, qs.kappa_star)
    return CaseResult(checks, {"grid": grid, "limits": limits, "rows": rows, "setup": setup})


def draw_quadratic_recovery(data):
    grid, limits, rows, setup = data["grid"], data["limits"], data["rows"], data["setup"]
    fig, ax = new_figure(1, 1)
    ax.plot(grid, long_time(setup, grid).mse, label="theory, lambda=0.01")
    ax.errorbar([r[0] for r in rows], [r[1] for r in rows], yerr=[r[2] for r in rows], fmt="o", label="GD")
    ax.axvline(limits.recovery_psd, color="k", ls=":", label=f"lambda -> 0+ threshold {limits.recovery_psd:.3f}")
    ax.axvline(limits.recovery_lambda0, color="grey", ls="--",
               label=f"lambda = 0 count {limits.recovery_lambda0:.3f}")
    ax.set(xlabel="alpha", ylabel="MSE", yscale="log", title="recovery at small lambda")
    ax.legend(fontsize=7)
    return fig


def quadratic_lambda0(scale, seed: int = 0) -> CaseResult:
    """Perfect recovery without penalty (lambda = 0) at kappa = kappa* = 0.5: the count predicts it above
    alpha = kappa - kappa^2/2 = 0.375 (the PSD matrices of rank m form a manifold of dimension d m - m(m-1)/2;
    at finite d the count is exactly (d m - m(m-1)/2)/d^2), below the convex estimator's 0.422. Judged on each run
    at 0.8 and 1.25 times the finite-d count, as the test error relative to the zero estimator's,
    MSE / (1 + 1/kappa*): below the count the data are fitted by other matrices of rank m (ratio at least 0.02:
    the closest such fit is a finite distance away), above it only Z* fits them (ratio at most 1e-3 after the
    run's time, which is what gradient descent reaches when it converges to an interpolating point; it is
    not guaranteed to, which this checks). Reported: the in-sample error (interpolation on both sides) and the
    runs halfway between the count and the convex threshold, where the count alone predicts recovery."""
    qs = quadratic_scale(scale)
    kappa = kappa_star = 0.5
    setup = QuadraticSetup(kappa, kappa_star, 0.0, d=qs.d)
    m = setup.m
    count = (qs.d * m - m * (m - 1) / 2) / qs.d**2
    between = round((count + thresholds(kappa, kappa_star).recovery_psd) / 2, 4)   # reported, not judged
    alphas = (round(0.8 * count, 4), round(1.25 * count, 4), between)
    eta, time = qs.eta("goe"), 600.0
    steps = int(math.ceil(time / eta - 1e-9))
    record = np.unique(np.concatenate([np.geomspace(1, steps, 25).astype(int), [0, steps // 2, steps]]))
    jobs = [dict(setup=setup, alpha=a, time=time, eta=eta, seed=seed + 1000 * i + r, record_steps=record)
            for i, a in enumerate(alphas) for r in range(qs.seeds)]
    runs = simulate_many(jobs)
    zero = 1 + 1 / kappa_star
    checks = []
    for job, run in zip(jobs, runs):
        ratio = float(run.mse[-1]) / zero
        if job["alpha"] == between:
            checks.append(Check("quadratic_lambda0", f"MSE / MSE(0), alpha={between} (between the count and the "
                                f"convex threshold), seed {job['seed']}", 0.0, ratio, 0.0, informational=True))
            checks.append(Check("quadratic_lambda0", f"same, at half the time, seed {job['seed']}", 0.0,
                                float(run.mse[np.searchsorted(run.steps, steps // 2)]) / zero, 0.0,
                                informational=True))
            continue
        below = job["alpha"] < count
        checks.append(Check("quadratic_lambda0", f"MSE / MSE(0), alpha={job['alpha']} ({'below' if below else 'above'} "
                            f"the count {count:.4f}), seed {job['seed']}", 0.02 if below else 1e-3, ratio, 0.0,
                            lower_bound=below, upper_bound=not below))
        checks.append(Check("quadratic_lambda0", f"in-sample error, alpha={job['alpha']}, seed {job['seed']}", 0.0,
                            float(run.in_sample_error[-1]), 0.0, informational=True))
    limits = thresholds(kappa, kappa_star)
    return CaseResult(checks, {"alphas": alphas, "between": between, "jobs": jobs, "limits": limits, "runs": runs, "zero": zero})


def draw_quadratic_lambda0(data):
    alphas, between, jobs, limits, runs, zero = data["alphas"], data["between"], data["jobs"], data["limits"], data["runs"], data["zero"]
    fig, ax = new_figure(1, 1)
    colours = {alphas[0]: "C0", alphas[1]: "C1", between: "C2"}
    for job, run in zip(jobs, runs):
        ax.plot(run.t[1:], run.mse[1:] / zero, "o-", color=colours[job["alpha"]], ms=3)
    ax.plot([], [], "o-", color="C0", label=f"alpha = {alphas[0]} (below the count)")
    ax.plot([], [], "o-", color="C1", label=f"alpha = {alphas[1]} (above)")
    ax.plot([], [], "o-", color="C2", label=f"alpha = {between} (between count and convex threshold)")
    ax.set(xscale="log", yscale="log", xlabel="t", ylabel="MSE / MSE(Z=0)",
           title=f"lambda = 0, kappa = kappa* = 0.5: count {limits.recovery_lambda0}, convex {limits.recovery_psd:.3f}")
    ax.legend(fontsize=7)
    return fig


def quadratic_threshold_map(scale, seed: int = 0) -> CaseResult:
    """The recovery threshold over the teacher's width: at kappa = 1 and lambda = 0.02, for kappa* = 0.2 and 0.5,
    gradient descent at 0.8 and 1.25 times the predicted lambda -> 0+ threshold min_t M(t)/2, against the
    long-time theory at that lambda (tolerances as in ``quadratic_alpha``). The figure is the map: the predicted
    threshold line over kappa*, with the test error of each run (``python -m mftheory.validate sweep --builtin
    quadratic_thresholds`` draws the full map)."""
    qs = quadratic_scale(scale)
    checks, marks = [], []
    for kappa_star in (0.2, 0.5):
        limit = thresholds(1.0, kappa_star).recovery_lambda0plus
        alphas = (round(0.8 * limit, 4), round(1.25 * limit, 4))
        setup = QuadraticSetup(1.0, kappa_star, 0.02, d=qs.d)
        # twice the usual time: the many null directions of a narrow teacher relax slowly near the threshold
        found, rows = _alpha_checks("quadratic_threshold_map", setup, dataclasses.replace(qs, alphas=alphas), seed,
                                    f"kappa*={kappa_star}, lambda=0.02", time_scale=2.0)
        checks += found
        marks += [(kappa_star, a, m) for a, m, _ in rows]
    return CaseResult(checks, {"marks": marks, "qs": qs})


def draw_quadratic_threshold_map(data):
    marks, qs = data["marks"], data["qs"]
    fig, ax = new_figure(1, 1)
    grid = np.linspace(0.05, 0.95, 60)
    ax.plot(grid, [thresholds(1.0, k).recovery_psd for k in grid], "r-", label="lambda -> 0+ threshold")
    sc = ax.scatter([m[0] for m in marks], [m[1] for m in marks], c=np.log10([m[2] for m in marks]), s=80)
    fig.colorbar(sc, ax=ax, label="log10 MSE (GD, lambda = 0.02)")
    ax.set(xlabel="kappa*", ylabel="alpha", title=f"recovery threshold, kappa = 1, d = {qs.d}")
    ax.legend(fontsize=7)
    return fig


# the flow case's sizes: d^5 alpha operations per step, so its own d (at most this) keeps it to seconds per run
FLOW_D = 30
FLOW_ALPHAS = (8.0, 16.0)
FLOW_ETA = 0.01
FLOW_STEPS = (50, 100, 200, 400)
FLOW_JUDGED_FROM = 200   # earlier, one run's test error spreads by about 16% at d = 30 (teacher and init) and swamps it


def quadratic_flow(scale, seed: int = 0) -> CaseResult:
    """The test error over time against the population gradient flow (``mftheory.quadratic.gradient_flow``,
    alpha -> infinity) at lambda = 0.1, kappa = 0.7, kappa* = 0.5, d = 30 (the scale's d if smaller).

    Gradient descent runs at alpha = 8 and 16 from the same teacher and init (paired seeds) with eta = 0.01, and
    its test error is taken to alpha -> infinity by the leading 1/alpha law of the finite sample's noise,
    2 MSE(16) - MSE(8), run by run. Judged: that extrapolation at t = 2 and 4 (t = 0.5 and 1 reported: there one
    run's test error spreads by about 16% at d = 30, and 6 pairs resolve only 0.6 of it), relative
    tolerance 3 standard errors of its mean over the pairs plus 1/d for the terms of relative order 1/d the d ->
    infinity limit drops (module docstring). Reported beside them: MSE at alpha = 16 itself, and the long-time
    theory's excess at alpha = 16 over the flow's limit (the finite sample's share at t -> infinity).
    Measured separately (the population flow integrated by RK4 over 20 teachers, no data): at d = 30 it lies 7.7%
    / 4.5% above the d -> infinity limit at t = 1 / 2 and within 1% at d = 100; Euler steps of 0.01 move it by
    under 2%. So this case resolves about 10-25% at d = 30; what it cannot resolve is the 1/d term itself."""
    qs = quadratic_scale(scale)
    d = min(qs.d, FLOW_D)
    setup = QuadraticSetup(qs.kappa, qs.kappa_star, 0.1, d=d)
    times = FLOW_ETA * np.array(FLOW_STEPS, dtype=float)
    pred = gradient_flow(setup, times)
    jobs = [dict(setup=setup, alpha=a, time=float(times[-1]), eta=FLOW_ETA, seed=seed + r,
                 record_steps=[0, *FLOW_STEPS]) for a in FLOW_ALPHAS for r in range(qs.seeds)]
    runs = simulate_many(jobs)
    small = np.array([r.mse[1:] for r in runs[:qs.seeds]])
    large = np.array([r.mse[1:] for r in runs[qs.seeds:]])
    ratio = FLOW_ALPHAS[1] / FLOW_ALPHAS[0]
    extrapolated = (ratio * large - small) / (ratio - 1)
    checks = []
    for i, (step, t) in enumerate(zip(FLOW_STEPS, times)):
        mean, se = _mean_se(extrapolated[:, i])
        theory = float(pred.mse[i])
        checks.append(Check("quadratic_flow", f"MSE at t={t:g}, GD extrapolated to alpha -> infinity", theory, mean,
                            3 * se / theory + 1.0 / d, relative=True, informational=step < FLOW_JUDGED_FROM))
        mean16, _ = _mean_se(large[:, i])
        checks.append(Check("quadratic_flow", f"MSE at t={t:g}, GD at alpha={FLOW_ALPHAS[1]:g}", theory, mean16,
                            0.0, informational=True))
    late = float(long_time(setup, [FLOW_ALPHAS[1]]).mse[0])
    limit = float(gradient_flow(setup, [1e3]).mse[0])
    checks.append(Check("quadratic_flow", f"long-time MSE at alpha={FLOW_ALPHAS[1]:g} over the flow's limit (theory)",
                        late / limit, late / limit, 0.0, informational=True, theory_only=True))
    curve_t = np.linspace(0.0, float(times[-1]), 200)
    return CaseResult(checks, {"curve_t": curve_t, "curve": gradient_flow(setup, curve_t).mse, "times": times,
                               "small": small, "large": large, "extrapolated": extrapolated, "d": d})


def draw_quadratic_flow(data):
    fig, ax = new_figure(1, 1)
    ax.plot(data["curve_t"], data["curve"], label="theory, alpha -> infinity")
    for key, label, marker in (("small", f"GD, alpha={FLOW_ALPHAS[0]:g}", "s"), ("large", f"GD, alpha={FLOW_ALPHAS[1]:g}", "^"),
                               ("extrapolated", "GD extrapolated to alpha -> infinity", "o")):
        values = data[key]
        ax.errorbar(data["times"], values.mean(axis=0), yerr=values.std(axis=0, ddof=1) / math.sqrt(len(values)),
                    fmt=marker, ms=4, label=label)
    ax.set(xlabel="t = eta * steps", ylabel="MSE", yscale="log",
           title=f"gradient flow, lambda=0.1, kappa=0.7, kappa*=0.5, d={data['d']}")
    ax.legend(fontsize=7)
    return fig


RANK_LIMITED_ALPHAS = (0.4, 0.6, 1.0)
# the rank-limited runs settle more slowly than the convex ones (at alpha = 0.4, d = 40, the MSE still moved by 4%
# over the second half of the usual 12 / lambda): three times as long
RANK_LIMITED_TIME_SCALE = 3.0


def quadratic_rank_limited(scale, seed: int = 0) -> CaseResult:
    """Below the teacher's width: kappa = 0.3 < kappa* = 0.5, lambda = 0.1, GOE data. The convex estimator (rank
    about 1/2) cannot be represented; gradient descent's long-time MSE and in-sample error against the rank-limited
    fixed point (derivations/quadratic.py, step 4b: Y's kappa d largest eigenvalues above theta kept) at alpha =
    0.4, 0.6, 1.0, with the convex prediction beside it (info). Tolerances: module docstring (3 standard errors over
    the seeds plus the dropped O(1/d) terms, here with the cut's jump in the divergence); the runs last three times
    the usual 12 / lambda (``RANK_LIMITED_TIME_SCALE``)."""
    qs = quadratic_scale(scale)
    setup = QuadraticSetup(0.3, qs.kappa_star, 0.1, d=qs.d)
    checks, rows, grouped = _alpha_checks("quadratic_rank_limited", setup, qs, seed, "kappa=0.3, lambda=0.1",
                                          keep_runs=True, alphas=RANK_LIMITED_ALPHAS,
                                          time_scale=RANK_LIMITED_TIME_SCALE)
    pred = long_time(setup, RANK_LIMITED_ALPHAS)
    m = int(round(setup.kappa * setup.d))
    for i, (a, runs) in enumerate(zip(RANK_LIMITED_ALPHAS, grouped)):
        # Z's spectrum has a gap: its smallest nonzero eigenvalue is cut - theta, not 0 (reported: at d = 40 the
        # m-th eigenvalue fluctuates at the edge by about 0.1 from run to run)
        smallest, _ = _mean_se([np.sort(r.eigenvalues)[-m] for r in runs])
        checks.append(Check("quadratic_rank_limited", f"smallest nonzero eigenvalue of Z (the gap cut - theta), "
                                                      f"alpha={a}", float(pred.cut[i] - pred.theta[i]), smallest, 0.0,
                            informational=True))
    convex = long_time(setup.replace(kappa=1.0), RANK_LIMITED_ALPHAS)
    for a, mse in zip(RANK_LIMITED_ALPHAS, convex.mse):
        simulated = next(c.simulation for c in checks if c.quantity == f"MSE, kappa=0.3, lambda=0.1, alpha={a}")
        checks.append(Check("quadratic_rank_limited", f"MSE of the convex estimator (not representable), alpha={a}",
                            float(mse), simulated, 0.0, informational=True))
    grid = np.linspace(0.2, 1.1, 40)
    return CaseResult(checks, {"qs": qs, "grid": grid, "rows": rows, "limited": long_time(setup, grid),
                               "convex": long_time(setup.replace(kappa=1.0), grid)})


def draw_quadratic_rank_limited(data):
    fig, ax = new_figure(1, 1, figsize=(6, 4))
    ax.plot(data["grid"], data["limited"].mse, label="theory, rank-limited (kappa = 0.3)")
    ax.plot(data["grid"], data["convex"].mse, "--", color="grey", label="convex estimator (rank about 1/2)")
    rows = data["rows"]
    ax.errorbar([r[0] for r in rows], [r[1] for r in rows], yerr=[r[2] for r in rows], fmt="o", color="C0",
                label=f"GD, d={data['qs'].d}")
    ax.set(xlabel="alpha = n / d^2", ylabel="MSE", yscale="log",
           title="below the teacher's width: kappa=0.3, kappa*=0.5, lambda=0.1")
    ax.legend(fontsize=7)
    return fig


QUADRATIC_CASES = {"quadratic_alpha": quadratic_alpha, "quadratic_gaussian_inputs": quadratic_gaussian_inputs,
                   "quadratic_spectrum": quadratic_spectrum, "quadratic_double_descent": quadratic_double_descent,
                   "quadratic_recovery": quadratic_recovery, "quadratic_lambda0": quadratic_lambda0,
                   "quadratic_threshold_map": quadratic_threshold_map, "quadratic_flow": quadratic_flow,
                   "quadratic_rank_limited": quadratic_rank_limited}
QUADRATIC_DRAWERS = {name: globals()[f"draw_{name}"] for name in QUADRATIC_CASES}
