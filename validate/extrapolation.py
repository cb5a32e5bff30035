"""Simulated values at N -> infinity, for judging the mean field (exact at M, N -> infinity) on what it predicts.

A finite training set biases what gradient descent measures at order 1/N (memorization takes over part of the
drive). :func:`sample_size_runs` runs ``SEEDS`` seeds at N/2 and at 2N; :meth:`SampleSizeRuns.extrapolate`
removes the 1/N order by Richardson extrapolation, (4 v(2N) - v(N/2)) / 3, over pairs of runs that share their
init, and gives the standard error from the pairs' spread (the finite-M init at order 1/sqrt(M), and the samples). The finite width's own bias is second
order (the first order in 1/sqrt(M) has zero mean and is in the spread): cases allow 1/M for it.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from mftheory.model import Setup
from mftheory.validate.simulator import SimulationResult, draw_problem, simulate

SEEDS = 3
RATIO = 4        # the two sizes N/2 and 2N differ by this factor


def extrapolate_in_sample_size(small, large, ratio: float = RATIO):
    """Richardson extrapolation in 1/N of paired runs at N (``small``, seeds on axis 0) and at ratio N (``large``,
    the same inits on the same rows): the value at N -> infinity, (ratio large - small) / (ratio - 1), averaged
    over the pairs, and its standard error from the pairs' spread. Pairing keeps the finite-M init's part of the
    spread at its own size; only the samples' parts are amplified by the extrapolation."""
    small, large = np.asarray(small, dtype=float), np.asarray(large, dtype=float)
    per_pair = (ratio * large - small) / (ratio - 1)
    return per_pair.mean(axis=0), per_pair.std(axis=0, ddof=1) / math.sqrt(per_pair.shape[0])


@dataclasses.dataclass(frozen=True)
class SampleSizeRuns:
    """``SEEDS`` runs at N/2 (``small``) and at 2N (``large``) of one setup, same steps and record steps."""

    setup: Setup
    N: int
    small: tuple[SimulationResult, ...]
    large: tuple[SimulationResult, ...]

    def extrapolate(self, statistic: Callable[[SimulationResult], np.ndarray]):
        """``statistic`` of each run, extrapolated to N -> infinity: (value, standard error)."""
        return extrapolate_in_sample_size([statistic(s) for s in self.small], [statistic(s) for s in self.large])

    @property
    def record_steps(self) -> np.ndarray:
        return self.small[0].record_steps


def sample_size_runs(setup: Setup, N: int, steps: int, seed: int = 0, **simulate_args) -> SampleSizeRuns:
    """``SEEDS`` pairs of runs of ``setup``: at N/2 (seeds seed, seed + 1, ...) and at 2N from the same init with
    a training set of its own (seeds seed + SEEDS, ...)."""
    small, large = [], []
    for r in range(SEEDS):
        _, _, a0, W0, _, _ = draw_problem(setup, N // 2, seed=seed + r, n_test=0)
        X, y, _, _, _, _ = draw_problem(setup, 2 * N, seed=seed + SEEDS + r, n_test=0)
        small.append(simulate(setup, N=N // 2, steps=steps, seed=seed + r, a0=a0, W0=W0, **simulate_args))
        large.append(simulate(setup, N=2 * N, steps=steps, seed=seed + SEEDS + r, X=X, y=y, a0=a0, W0=W0,
                              **simulate_args))
    return SampleSizeRuns(setup=setup, N=N, small=tuple(small), large=tuple(large))
