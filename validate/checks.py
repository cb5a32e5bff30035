"""A comparison of one theory prediction with simulation, and the finite-size scales tolerances are built from."""
from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Check:
    case: str
    quantity: str
    theory: float
    simulation: float
    tolerance: float
    relative: bool = False  # tolerance on |sim - theory| / |theory| instead of |sim - theory|
    informational: bool = False  # reported, not judged (no theory for it yet)
    # judged, but theory against theory (e.g. the map reaching its own fixed point): ``simulation`` then holds
    # the second theoretical value, and the row is not a validation against simulation
    theory_only: bool = False
    # judged one way only: passes whenever ``simulation`` is below (``upper_bound``) or above (``lower_bound``)
    # ``theory`` (a bound, not an estimate)
    upper_bound: bool = False
    lower_bound: bool = False

    @property
    def error(self) -> float:
        if self.upper_bound or self.lower_bound:
            diff = max(self.simulation - self.theory if self.upper_bound else self.theory - self.simulation, 0.0)
        else:
            diff = abs(self.simulation - self.theory)
        return diff / abs(self.theory) if self.relative else diff

    @property
    def passed(self) -> bool:
        return bool(self.informational or (math.isfinite(self.error) and self.error <= self.tolerance))

    def as_dict(self) -> dict:
        # plain floats: the numbers may come in as NumPy scalars, which json cannot write
        return {"case": self.case, "quantity": self.quantity, "theory": float(self.theory),
                "simulation": float(self.simulation), "error": float(self.error), "tolerance": float(self.tolerance),
                "relative": self.relative,
                "informational": self.informational, "theory_only": self.theory_only,
                "upper_bound": self.upper_bound, "lower_bound": self.lower_bound, "pass": self.passed}


def threshold_blur(M: int) -> float:
    """Relative sd of the finite-M output F_M around kappa x_par at the threshold: O(1/sqrt(M))."""
    return 1.0 / math.sqrt(M)


def sample_noise(N: int, f_unsat: float) -> float:
    """Relative sd of an empirical mean over the N f_U unsatisfied training examples."""
    return 1.0 / math.sqrt(max(N * f_unsat, 1.0))


@dataclasses.dataclass(frozen=True)
class CaseResult:
    """What a validation case returns: its ``checks`` (theory against simulation, each with its tolerance) and the
    ``data`` its figure shows (runs, predictions, arrays), so that the figure is drawn apart
    (:func:`mftheory.validate.cases.draw_case`) or redrawn by a user without running the case again."""

    checks: list
    data: dict
