"""Validation case of features of unequal frequency (``data="features"``): the mean field against gradient descent.

The simulator draws the law itself (:func:`mftheory.validate.simulator.draw_feature_examples`, no formula of the theory);
the slope of the trained network along feature k is measured from its weights as the linear part of f,
alpha c (1/M) sum_i a_i w_ik / sqrt(d) (c = 1/2 for ReLU: the odd part of sigma, the model's definition).
"""
from __future__ import annotations

import math
import pathlib

import numpy as np

from mftheory.features import meanfield_features
from mftheory.model import Setup
from mftheory.validate.checks import Check, sample_noise, threshold_blur
from mftheory.validate.figures import new_figure, save_figure
from mftheory.validate.simulator import draw_problem, network_output, simulate

FREQUENT = 0.8
RARE = (0.8, 0.4, 0.2)


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


def features_starvation(scale, out: pathlib.Path, seed: int = 0):
    """Gradient starvation: p_1 = 0.8 and p_2 = 0.8, 0.4, 0.2 (equal strengths), hinge and logistic losses; the
    slope along each feature and the unsatisfied fraction of the examples with the rare feature alone, theory
    (mean field) against one gradient-descent run per (loss, p_2) at three times. Reported: kappa_2 / kappa_1 at
    the last step for each loss (the starvation ratio). Tolerances, as in the hinge network's mean-field checks (3 sd of
    the leading finite-size errors, relative): the 1/sqrt(M) blur of the finite network's output and the
    1/sqrt(N f) sample noise of the examples that drive each feature (N pi f_U of them)."""
    checks = []
    fig, axes = new_figure(2, 2, figsize=(11, 8))
    chunks = (scale.steps // 4, scale.steps // 2, scale.steps)
    for row, loss in enumerate(("hinge", "logistic")):
        checks += _starvation_rows(scale, seed, loss, chunks, axes[row])
    for axis in axes.ravel():
        axis.legend(fontsize=6)
    fig.suptitle(f"gradient starvation, p_1 = {FREQUENT}, d={scale.d}, M={scale.M}, N={scale.N}; top: hinge, "
                 f"bottom: logistic", fontsize=10)
    return checks, save_figure(fig, out / "features_starvation.png")


def _starvation_rows(scale, seed, loss, chunks, ax):
    checks = []
    for colour, p_2 in enumerate(RARE):
        setup = Setup(d=scale.d, alpha=1.0, h=1.0, eta=scale.eta, M=scale.M, data="features", loss=loss,
                      feature_freq=(FREQUENT, p_2), feature_strength=(1.0, 1.0))
        sol = meanfield_features(setup, scale.steps)
        X, y, a, W, _, _ = draw_problem(setup, scale.N, seed=seed, n_test=0)
        done = 0
        measured = []
        for stop in chunks:
            sim = simulate(setup, N=scale.N, steps=stop - done, seed=seed, X=X, y=y, a0=a, W0=W, n_test=0,
                           record_steps=[stop - done])
            a, W, done = sim.a_final, sim.W_final, stop
            slopes = feature_slopes(setup, a, W)
            patterns, masks = _pattern_unsat(setup, a, W, X, y)
            measured.append((stop, slopes, patterns))
            f_total = float(sol.f_unsat[stop])
            for k in range(2):
                driving = scale.N * (FREQUENT if k == 0 else p_2) * max(f_total, 1e-9)
                tol = 3 * (threshold_blur(setup.M) + 1.0 / math.sqrt(max(driving, 1.0)))
                checks.append(Check("features_starvation", f"kappa_{k + 1}, {loss}, p_2={p_2} (t={stop})",
                                    float(sol.kappa_features[stop, k]), float(slopes[k]), tol, relative=True))
            rare_alone = float(sol.f_unsat_patterns[stop, 1])
            n_rare = int(masks[1].sum())
            checks.append(Check("features_starvation", f"f_unsat of rare-only examples, {loss}, p_2={p_2} (t={stop})",
                                rare_alone, float(patterns[1]),
                                3 * (threshold_blur(setup.M) + sample_noise(n_rare, rare_alone)), relative=True))
        t = sol.t
        ax[0].plot(t, sol.kappa_features[:, 0], "-", color=f"C{colour}", label=f"theory kappa_1, p_2={p_2}")
        ax[0].plot(t, sol.kappa_features[:, 1], "--", color=f"C{colour}", label=f"theory kappa_2")
        ax[0].plot([m[0] for m in measured], [m[1][0] for m in measured], "o", color=f"C{colour}")
        ax[0].plot([m[0] for m in measured], [m[1][1] for m in measured], "s", mfc="none", color=f"C{colour}")
        ax[1].plot(t, sol.f_unsat_patterns[:, 1], "--", color=f"C{colour}", label=f"rare only, p_2={p_2}")
        ax[1].plot(t, sol.f_unsat_patterns[:, 0], "-", color=f"C{colour}", label="frequent only")
        ax[1].plot([m[0] for m in measured], [m[2][1] for m in measured], "s", mfc="none", color=f"C{colour}")
        ax[1].plot([m[0] for m in measured], [m[2][0] for m in measured], "o", color=f"C{colour}")
        last = measured[-1][1]
        checks.append(Check("features_starvation", f"kappa_2 / kappa_1, {loss}, p_2={p_2} (t={chunks[-1]})",
                            float(sol.kappa_features[-1, 1] / sol.kappa_features[-1, 0]), float(last[1] / last[0]),
                            0.0, relative=True, informational=True))
    ax[0].set(xlabel="GD step", ylabel="slope along the feature",
              title=f"(a) kappa_k, {loss} (lines: theory, marks: GD)")
    ax[1].set(xlabel="GD step", ylabel="unsatisfied fraction", yscale="log",
              title=f"(b) examples with one feature only, {loss}")
    return checks
