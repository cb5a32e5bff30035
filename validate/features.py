"""Validation case of features of unequal frequency (``data="features"``): the mean field against gradient descent.

The simulator draws the law itself (:func:`mftheory.validate.simulator.draw_feature_examples`, no formula of the theory);
the slope of the trained network along feature k is measured from its weights as the linear part of f,
alpha c (1/M) sum_i a_i w_ik / sqrt(d) (c = 1/2 for ReLU: the odd part of sigma, the model's definition).
"""
from __future__ import annotations

import math

import numpy as np

from mftheory.features import meanfield_features
from mftheory.model import Setup
from mftheory.validate.checks import CaseResult, Check
from mftheory.validate.extrapolation import SEEDS, extrapolate_in_sample_size
from mftheory.validate.figures import new_figure
from mftheory.validate.simulator import draw_problem, network_output, simulate

FREQUENT = 0.8
RARE = (0.8, 0.4, 0.2)


def rare_frequencies(scale) -> tuple[float, ...]:
    """The rare feature's frequencies a suite covers: the quick suite keeps the two ends, to keep its time."""
    return (RARE[0], RARE[-1]) if scale.name == "quick" else RARE


def feature_slopes(setup: Setup, a, W) -> np.ndarray:
    """The network's slope along each feature: alpha c mean_i(a_i w_ik) / sqrt(d), k = 1, 2."""
    c = (1.0 + setup.slope) / 2.0
    return setup.alpha * c * (np.asarray(a)[:, None] * np.asarray(W)[:, :2]).mean(axis=0) / math.sqrt(setup.d)


def _pattern_unsat(setup, a, W, X, y):
    """Unsatisfied fraction of the training examples with feature 1 alone, feature 2 alone, both."""
    margin = y * network_output(setup, a, W, X)
    present = X[:, :2] != 0
    masks = (present[:, 0] & ~present[:, 1], ~present[:, 0] & present[:, 1], present[:, 0] & present[:, 1])
    return np.array([np.mean(margin[m] < setup.h) if m.any() else np.nan for m in masks]), masks


# what the case can resolve: a mean field off by this much (relative) fails every row of its kind
KAPPA_RESOLUTION = 0.06


def starvation_losses(scale) -> tuple[str, ...]:
    """The losses of the starvation case: all three derived for this law; the quick suite keeps two for time."""
    return ("hinge", "logistic") if scale.name == "quick" else ("hinge", "quadratic_hinge", "logistic")


def features_starvation(scale, seed: int = 0) -> CaseResult:
    """Gradient starvation: p_1 = 0.8 and p_2 = 0.8, 0.4, 0.2 (the quick suite: 0.8 and 0.2; equal strengths), hinge,
    quadratic hinge and logistic losses (the quick suite: hinge and logistic); the
    slope along each feature and the unsatisfied fraction of the examples with the rare feature alone, theory
    (mean field, M, N -> infinity) against gradient descent at three times. Reported: kappa_2 / kappa_1 at the
    last step for each loss (the starvation ratio).

    The simulated value is extrapolated to N -> infinity: the finite training set biases both quantities at
    order 1/N (memorization takes over part of the drive; measured at d = 20: kappa is 3% low at N = 4e4 and 1%
    low at 1.6e5), so ``SEEDS`` pairs of runs from one init each, at N/2 and at 2N, give (4 v(2N) - v(N/2)) / 3,
    which removes that order (runs at N/4 and N left a 0.9% residual of the next order at p_2 = 0.8); the pairs' spread (the finite-M init, at order 1/sqrt(M), and the samples) gives
    the standard error.

    Judged: the slopes. Tolerance (relative): 3 standard errors of the extrapolated mean plus 1/M for the finite
    width's bias (second order: the first order in 1/sqrt(M) has zero mean and is in the spread). Resolution: a
    mean field off by ``KAPPA_RESOLUTION`` fails every row (the test suite checks it). Reported, not judged: the
    rare-only unsatisfied fractions: they sat 1.6-2.1% above the mean field at t = 75
    (standard error 0.2-0.7%) for p_2 = 0.4: a finite-width effect on a fraction at the threshold (second order in
    the output's blur) that the toolkit does not predict for this data law yet."""
    checks, shown = [], []
    losses = starvation_losses(scale)
    chunks = (scale.steps // 4, scale.steps // 2, scale.steps)
    for loss in losses:
        found, curves = _starvation_rows(scale, seed, loss, chunks)
        checks += found
        shown.append(curves)
    return CaseResult(checks, {"scale": scale, "losses": losses, "curves": shown})


def draw_features_starvation(data):
    scale, losses = data["scale"], data["losses"]
    fig, axes = new_figure(len(losses), 2, figsize=(11, 4 * len(losses)))
    axes = np.asarray(axes).reshape(len(losses), 2)
    for ax, curves in zip(axes, data["curves"]):
        _draw_starvation_row(ax, curves)
    for axis in axes.ravel():
        axis.legend(fontsize=6)
    fig.suptitle(f"gradient starvation, p_1 = {FREQUENT}, d={scale.d}, M={scale.M}, N -> infinity from N = "
                 f"{scale.N // 2} and {2 * scale.N} ({SEEDS} seeds each); rows: {', '.join(losses)}", fontsize=10)
    return fig


def _runs(setup, N, seed, chunks, init_seed):
    """Slopes (seeds, chunks, 2) and the rare-only unsatisfied fraction (seeds, chunks) of ``SEEDS`` runs; run r
    starts from the init drawn with seed ``init_seed + r`` (paired across sample sizes)."""
    slopes, rare = [], []
    for r in range(SEEDS):
        X, y, _, _, _, _ = draw_problem(setup, N, seed=seed + r, n_test=0)
        _, _, a, W, _, _ = draw_problem(setup, 8, seed=init_seed + r, n_test=0)
        done, per_chunk, per_chunk_rare = 0, [], []
        for stop in chunks:
            sim = simulate(setup, N=N, steps=stop - done, seed=seed + r, X=X, y=y, a0=a, W0=W, n_test=0,
                           record_steps=[stop - done])
            a, W, done = sim.a_final, sim.W_final, stop
            per_chunk.append(feature_slopes(setup, a, W))
            per_chunk_rare.append(_pattern_unsat(setup, a, W, X, y)[0][1])
        slopes.append(per_chunk)
        rare.append(per_chunk_rare)
    return np.array(slopes), np.array(rare)


def _starvation_rows(scale, seed, loss, chunks, case="features_starvation", frequencies=None,
                     spectral_decoupling=0.0):
    """The judged and reported rows of one loss, and what its figure row shows."""
    checks, curves = [], []
    for colour, p_2 in enumerate(rare_frequencies(scale) if frequencies is None else frequencies):
        setup = Setup(d=scale.d, alpha=1.0, h=1.0, eta=scale.eta, M=scale.M, data="features", loss=loss,
                      feature_freq=(FREQUENT, p_2), feature_strength=(1.0, 1.0),
                      spectral_decoupling=spectral_decoupling)
        sol = meanfield_features(setup, scale.steps)
        small = _runs(setup, scale.N // 2, seed, chunks, init_seed=seed)
        large = _runs(setup, 2 * scale.N, seed + SEEDS, chunks, init_seed=seed)
        slopes, slopes_se = extrapolate_in_sample_size(small[0], large[0])
        rare, rare_se = extrapolate_in_sample_size(small[1], large[1])
        measured = []
        for c, stop in enumerate(chunks):
            measured.append((stop, slopes[c], rare[c]))
            for k in range(2):
                theory = float(sol.kappa_features[stop, k])
                checks.append(Check(case, f"kappa_{k + 1}, {loss}, p_2={p_2} (t={stop})",
                                    theory, float(slopes[c, k]),
                                    3 * float(slopes_se[c, k]) / abs(theory) + 1.0 / setup.M, relative=True))
            checks.append(Check(case, f"f_unsat of rare-only examples, {loss}, p_2={p_2} (t={stop}; "
                                f"GD +- {float(rare_se[c]):.1g})", float(sol.f_unsat_patterns[stop, 1]),
                                float(rare[c]), 0.0, informational=True))
        curves.append((p_2, sol, measured))
        last = measured[-1][1]
        checks.append(Check(case, f"kappa_2 / kappa_1, {loss}, p_2={p_2} (t={chunks[-1]})",
                            float(sol.kappa_features[-1, 1] / sol.kappa_features[-1, 0]), float(last[1] / last[0]),
                            0.0, relative=True, informational=True))
    return checks, (loss, curves)


SPECTRAL_DECOUPLING = 0.05


def decoupling_losses(scale) -> tuple[str, ...]:
    """The losses of the spectral-decoupling case: the logistic loss (which starves without end when unpenalised)
    in the quick suite, the hinge beside it in the paper suite."""
    return ("logistic",) if scale.name == "quick" else ("hinge", "logistic")


def features_spectral_decoupling(scale, seed: int = 0) -> CaseResult:
    """Spectral decoupling against gradient starvation: the penalty (lambda/2) F(x)^2 on every example's output
    (lambda = ``SPECTRAL_DECOUPLING``), p_1 = 0.8 and p_2 = 0.2, equal strengths, the losses of
    :func:`decoupling_losses`. The
    mean field with the derived drift E[u y x_k] - lambda sum_j C_kj kappa_j against gradient descent (the simulator
    adds lambda f to every example's pull, from the loss's definition), judged and extrapolated to N -> infinity
    exactly as in ``features_starvation`` (same tolerance: 3 standard errors of the extrapolated mean plus 1/M;
    same resolution ``KAPPA_RESOLUTION``). Reported: kappa_2 / kappa_1 with the penalty, beside the mean field's
    without it (theory against theory: what the remedy buys)."""
    checks, shown = [], []
    chunks = (scale.steps // 4, scale.steps // 2, scale.steps)
    losses = decoupling_losses(scale)
    for loss in losses:
        found, curves = _starvation_rows(scale, seed, loss, chunks, case="features_spectral_decoupling",
                                         frequencies=(0.2,), spectral_decoupling=SPECTRAL_DECOUPLING)
        checks += found
        shown.append(curves)
        plain = meanfield_features(curves[1][0][1].setup.replace(spectral_decoupling=0.0), scale.steps)
        ratio = lambda sol: float(sol.kappa_features[-1, 1] / sol.kappa_features[-1, 0])
        checks.append(Check("features_spectral_decoupling", f"kappa_2 / kappa_1 without the penalty (mean field), "
                            f"{loss}, p_2=0.2 (t={scale.steps})", ratio(plain), ratio(curves[1][0][1]), 0.0,
                            informational=True, theory_only=True))
    return CaseResult(checks, {"scale": scale, "losses": losses, "curves": shown})


def draw_features_spectral_decoupling(data):
    fig = draw_features_starvation(data)
    fig.suptitle(f"spectral decoupling (lambda = {SPECTRAL_DECOUPLING}) against starvation, p_1 = {FREQUENT}, "
                 f"p_2 = 0.2, d={data['scale'].d}, M={data['scale'].M}; rows: {', '.join(data['losses'])}",
                 fontsize=10)
    return fig


def _draw_starvation_row(ax, row):
    """One loss: the slopes along the two features and the one-feature unsatisfied fractions, per p_2."""
    loss, curves = row
    for colour, (p_2, sol, measured) in enumerate(curves):
        t = sol.t
        ax[0].plot(t, sol.kappa_features[:, 0], "-", color=f"C{colour}", label=f"theory kappa_1, p_2={p_2}")
        ax[0].plot(t, sol.kappa_features[:, 1], "--", color=f"C{colour}", label="theory kappa_2")
        ax[0].plot([m[0] for m in measured], [m[1][0] for m in measured], "o", color=f"C{colour}")
        ax[0].plot([m[0] for m in measured], [m[1][1] for m in measured], "s", mfc="none", color=f"C{colour}")
        ax[1].plot(t, sol.f_unsat_patterns[:, 1], "--", color=f"C{colour}", label=f"rare only, p_2={p_2}")
        ax[1].plot(t, sol.f_unsat_patterns[:, 0], "-", color=f"C{colour}", label="frequent only")
        ax[1].plot([m[0] for m in measured], [m[2] for m in measured], "s", mfc="none", color=f"C{colour}")
    ax[0].set(xlabel="GD step", ylabel="slope along the feature",
              title=f"(a) kappa_k, {loss} (lines: theory, marks: GD)")
    ax[1].set(xlabel="GD step", ylabel="unsatisfied fraction", yscale="log",
              title=f"(b) examples with one feature only, {loss}")
