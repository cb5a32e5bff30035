"""What every validation case shares: the problem scales, what a case returns and the measured gamma_+."""
from __future__ import annotations

import dataclasses
import math
import numpy as np

from mftheory.model import Setup
from mftheory.validate.checks import CaseResult  # noqa: F401  (what every case returns)


@dataclasses.dataclass(frozen=True)
class Scale:
    """Sizes of one suite: quick (minutes on 2 cores) or paper (the paper's Fig. 1 sizes)."""

    name: str
    d: int
    M: int
    N: int
    eta: float
    steps: int

    def setup(self, **changes) -> Setup:
        return Setup(d=self.d, alpha=1.0, h=1.0, eta=self.eta, M=self.M).replace(**changes)


QUICK = Scale("quick", d=20, M=200, N=40_000, eta=500.0, steps=300)
PAPER = Scale("paper", d=100, M=400, N=100_000, eta=1e3, steps=2000)


def measured_gamma_plus(sim):
    """log P_+ from the simulated nodes: least-squares slope of (a + w_par) on (a0 + w0) at each recorded step."""
    s0 = sim.a[0] + sim.w_par[0]
    return np.log((sim.a + sim.w_par) @ s0 / (s0 @ s0))


# what the mean-field checks resolve: a mean field off by this much fails every row of its kind (tests check it)
def pooled_standard_error(groups):
    """Standard error of one group's mean, from the spread of every group's runs around its own mean (pooled
    variance with sum(n_g - 1) degrees of freedom); all groups have the same number of runs."""
    deviations = np.concatenate([g - g.mean() for g in groups])
    runs = len(groups[0])
    return math.sqrt(np.sum(deviations**2) / (len(groups) * (runs - 1)) / runs)


def seed_mean(values):
    """Mean over seeds (axis 0) and its standard error (sd over seeds / sqrt(seeds), ddof 1)."""
    values = np.asarray(values, dtype=float)
    return values.mean(axis=0), values.std(axis=0, ddof=1) / math.sqrt(values.shape[0])
