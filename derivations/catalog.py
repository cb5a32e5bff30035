"""The ingredients a derivation is built from: activations, margin losses, data laws, init law.

Each is a plain SymPy expression, so a user variant is just another instance:

>>> import sympy as sp
>>> from mftheory.derivations import symbols as S
>>> softplus_margin = Loss("softplus", sp.log(1 + sp.exp(S.h - S.z)))
"""
from __future__ import annotations

import dataclasses

import sympy as sp

from mftheory.derivations import symbols as S
from mftheory.derivations import sympy_memo as memo


@dataclasses.dataclass(frozen=True)
class Activation:
    """sigma(z) as an expression in ``symbols.z`` (parameters such as the leak ``symbols.leak`` allowed)."""

    name: str
    expr: sp.Expr

    def __post_init__(self):
        if S.z not in self.expr.free_symbols:
            raise ValueError(f"activation {self.name!r}: expr must depend on mftheory.derivations.symbols.z")

    @property
    def derivative(self) -> sp.Expr:
        return sp.diff(self.expr.rewrite(sp.Piecewise), S.z)

    @property
    def branches(self) -> tuple[sp.Expr, sp.Expr]:
        """sigma on z > 0 and on z < 0, each as a plain expression in z (for integrals split at the kink)."""
        p = sp.Symbol("p", positive=True)
        pw = self.expr.rewrite(sp.Piecewise)
        return pw.subs(S.z, p).subs(p, S.z), pw.subs(S.z, -p).subs(p, -S.z)


@dataclasses.dataclass(frozen=True)
class Loss:
    """A margin loss l(z) of the margin z = y f, as an expression in ``symbols.z`` (and ``symbols.h``).

    The gradient weight of an example is u = -l'(z); SymPy's Piecewise derivative of max(0, h - z) is 0 at
    z = h, which fixes the convention Heaviside(0) = 0: an example with y f = h is satisfied.
    """

    name: str
    expr: sp.Expr

    def __post_init__(self):
        if S.z not in self.expr.free_symbols:
            raise ValueError(f"loss {self.name!r}: expr must depend on mftheory.derivations.symbols.z")

    @property
    def weight(self) -> sp.Expr:
        """u(z) = -l'(z)."""
        return memo.simplify(-sp.diff(self.expr.rewrite(sp.Piecewise), S.z))


@dataclasses.dataclass(frozen=True)
class DataLaw:
    """A spherically symmetric input law, through the density of |x_par| on (0, radius).

    ``substitution`` (optional) is x as a function of ``symbols.v``: integrals over x are done in v when it
    makes them elementary (the sphere: x = sqrt(d v)).
    """

    name: str
    abs_par_density: sp.Expr
    radius: sp.Expr
    description: str
    substitution: sp.Expr | None = None


RELU = Activation("relu", sp.Max(0, S.z))
# max(z, s z) for 0 <= s < 1, written so that SymPy can decide the branch for any s
LEAKY_RELU = Activation("leaky_relu", sp.Piecewise((S.z, S.z >= 0), (S.leak * S.z, True)))

HINGE = Loss("hinge", sp.Max(0, S.h - S.z))
QUADRATIC_HINGE = Loss("quadratic_hinge", sp.Max(0, S.h - S.z) ** 2 / 2)
LOGISTIC = Loss("logistic", sp.log(1 + sp.exp(-S.z)))

GAUSSIAN = DataLaw(
    "gaussian",
    abs_par_density=2 * sp.exp(-S.x**2 / 2) / sp.sqrt(2 * sp.pi),
    radius=sp.oo,
    description=r"x \sim \mathcal{N}(0, I_d)",
)
# x uniform on the sphere of radius sqrt(d): x_par/sqrt(d) has density proportional to (1-t^2)^((d-3)/2);
# the normaliser is written with log-gamma so that it stays finite for large d
SPHERE = DataLaw(
    "sphere",
    abs_par_density=2
    * sp.exp(sp.loggamma(S.d / 2) - sp.loggamma((S.d - 1) / 2))
    / sp.sqrt(sp.pi * S.d)
    * (1 - S.x**2 / S.d) ** ((S.d - 3) / 2),
    radius=sp.sqrt(S.d),
    description=r"x \sim \mathrm{Unif}(\sqrt{d}\, S^{d-1})",
    substitution=sp.sqrt(S.d * S.v),
)

# joint density of a node's (a_0, w_0 = w.w*) at init
GAUSSIAN_INIT = (
    sp.exp(-S.a0**2 / (2 * S.sigma_a**2) - S.w0**2 / (2 * S.sigma_w**2)) / (2 * sp.pi * S.sigma_a * S.sigma_w)
)

ACTIVATIONS = {act.name: act for act in (RELU, LEAKY_RELU)}
LOSSES = {loss.name: loss for loss in (HINGE, QUADRATIC_HINGE, LOGISTIC)}
DATA_LAWS = {law.name: law for law in (GAUSSIAN, SPHERE)}


_TABLES = {"activation": (ACTIVATIONS, Activation), "loss": (LOSSES, Loss), "data": (DATA_LAWS, DataLaw)}


def resolve(field: str, value):
    """The catalog object that a setup's ``field`` ("activation", "loss" or "data") names: a built-in name or a
    user's own object."""
    table, kind = _TABLES[field]
    if isinstance(value, str):
        if value not in table:
            raise ValueError(f"{field} must be one of {', '.join(map(repr, table))} or a mftheory.derivations.catalog."
                             f"{kind.__name__}; got {value!r}")
        return table[value]
    if not isinstance(value, kind):
        raise ValueError(f"{field} must be one of {', '.join(map(repr, table))} or a mftheory.derivations.catalog."
                         f"{kind.__name__}; got {type(value).__name__}")
    return value


def builtin_name(field: str, value) -> str | None:
    """The built-in name of ``value`` if it is a built-in (by name, or an object equal to one), else None.

    Raises ValueError for a user's object that takes a built-in's name with another expression."""
    obj = resolve(field, value)
    table = _TABLES[field][0]
    if obj.name in table:
        if table[obj.name] != obj:
            raise ValueError(f"{field} {obj.name!r} is the name of a built-in with another definition; give your "
                             f"{_TABLES[field][1].__name__} another name")
        return obj.name
    return None
