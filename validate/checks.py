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
        if not self.relative:
            return diff
        if self.theory == 0:   # a relative error of a zero prediction: none if the simulation agrees, else unbounded
            return 0.0 if diff == 0 else math.inf
        return diff / abs(self.theory)

    @property
    def passed(self) -> bool:
        return bool(self.informational or (math.isfinite(self.error) and self.error <= self.tolerance))

    @property
    def resolution(self) -> float:
        """The smallest relative error of the theory this check detects: a theory value off by this fraction, either
        way (the failing way only, for a one-sided check), fails it; 0 when the check fails already. NaN for a row
        that cannot be judged by a relative shift (informational, or a theory of exactly zero)."""
        if self.informational or not math.isfinite(self.theory) or self.theory == 0:
            return math.nan
        ways = (-1.0,) if self.upper_bound else (1.0,) if self.lower_bound else (1.0, -1.0)
        return max(self._first_failing_shift(way) for way in ways)

    def _first_failing_shift(self, way: float) -> float:
        # past the interval where it passes, a shifted check fails for every larger shift, so bisection finds the edge
        def fails(r: float) -> bool:
            return not dataclasses.replace(self, theory=self.theory * (1.0 + way * r)).passed

        if not self.passed:
            return 0.0
        lo, hi = 0.0, 1e-6
        while not fails(hi):
            lo, hi = hi, 2.0 * hi
            if hi > 1e6:
                return math.inf
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if fails(mid) else (mid, hi)
        return hi

    def as_dict(self) -> dict:
        # plain floats: the numbers may come in as NumPy scalars, which json cannot write
        return {"case": self.case, "quantity": self.quantity, "theory": float(self.theory),
                "simulation": float(self.simulation), "error": float(self.error), "tolerance": float(self.tolerance),
                "relative": self.relative,
                "informational": self.informational, "theory_only": self.theory_only,
                "upper_bound": self.upper_bound, "lower_bound": self.lower_bound, "pass": self.passed,
                "resolution": float(self.resolution)}


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
