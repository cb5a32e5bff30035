"""The quadratic network's parameters, checked once (conventions in :mod:`mftheory.quadratic`)."""
from __future__ import annotations

import dataclasses

from mftheory.model import _check_choice, _check_real, check_int

QUADRATIC_DATA_LAWS = ("goe", "gaussian")


@dataclasses.dataclass(frozen=True)
class QuadraticSetup:
    """Widths kappa = m/d and kappa_star = m*/d, the penalty ``lam`` (lambda), the label noise ``Delta``, the init
    scale ``gamma`` and the dimension ``d`` (used by the simulator; the theory is the d -> infinity limit)."""

    kappa: float
    kappa_star: float
    lam: float
    Delta: float = 0.0
    gamma: float = 1.0
    d: int = 100
    data: str = "goe"

    def __post_init__(self):
        for name, low, low_open in (("kappa", 0.0, True), ("kappa_star", 0.0, True), ("lam", 0.0, False),
                                    ("Delta", 0.0, False), ("gamma", 0.0, True)):
            object.__setattr__(self, name, _check_real(name, getattr(self, name), low=low, low_open=low_open))
        object.__setattr__(self, "d", check_int("d", self.d, 2))
        _check_choice("data", self.data, QUADRATIC_DATA_LAWS)
        if self.width(self.kappa) < 1:
            raise ValueError(f"kappa * d must give at least one hidden unit, got kappa={self.kappa}, d={self.d}")
        if self.width(self.kappa_star) < 1:
            raise ValueError(f"kappa_star * d must give at least one teacher unit, got kappa_star={self.kappa_star}, "
                             f"d={self.d}")

    def replace(self, **changes) -> "QuadraticSetup":
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)

    def width(self, ratio: float) -> int:
        """The number of columns m = int(ratio d) (ratio = kappa for the student, kappa_star for the teacher)."""
        return int(round(ratio * self.d))

    @property
    def m(self) -> int:
        return self.width(self.kappa)

    @property
    def m_star(self) -> int:
        return self.width(self.kappa_star)

    def n_examples(self, alpha: float) -> int:
        """n = int(alpha d^2)."""
        return int(_check_real("alpha", alpha, low=0.0, low_open=True) * self.d**2)
