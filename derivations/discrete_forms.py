"""The discrete GD map in the forms the kernels compute it, each proved equal to the derivation's own.

The mean field gives kappa_t = C (exp(2 gamma_+) - exp(-2 gamma_-)) and the per-step update of gamma_+-. The kernels
carry E_+- = P_+- - 1 instead (P_+- = prod_k (1 +- beta g_k)): one step is then a multiply-add with no transcendental
function, it keeps full relative precision while beta g is tiny, and kappa follows from E_+- without cancelling
at t = 0. Each form below is checked symbolically against the expression it replaces.
"""
from __future__ import annotations

import dataclasses

import sympy as sp
from sympy.codegen.cfunctions import log1p

from mftheory.derivations import symbols as S
from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.checks import require
from mftheory.derivations.safe_forms import exp_difference


@dataclasses.dataclass(frozen=True)
class DiscreteForms:
    """``kappa_prefactor`` C; ``kappa_safe``: kappa in gamma_+-, as C exp(2 gamma_+) (-expm1(-2 gamma_- - 2 gamma_+))
    (no overflow before kappa itself overflows); ``kappa_from_increments``: kappa in E_+-;
    ``increment_updates``: (E_+, E_-) after one GD step with rate g; ``gamma_from_increments``: gamma_+- from E_+-."""

    kappa_prefactor: sp.Expr
    kappa_safe: sp.Expr
    kappa_from_increments: sp.Expr
    increment_updates: tuple
    gamma_from_increments: tuple


def discrete_forms(derivation) -> DiscreteForms:
    """The forms of ``derivation``'s discrete map (a :class:`~mftheory.derivations.meanfield.MeanFieldDerivation`)."""
    kd = derivation.kappa_discrete
    prefactor = memo.simplify(kd / (sp.exp(2 * S.gamma_plus) - sp.exp(-2 * S.gamma_minus)))
    require(prefactor.free_symbols.isdisjoint({S.gamma_plus, S.gamma_minus}))
    kappa_safe = prefactor * exp_difference(2 * S.gamma_plus, -2 * S.gamma_minus)
    require(memo.simplify((kappa_safe - kd).rewrite(sp.exp)) == 0)
    # P_+^2 - P_-^2 = (E_+ - E_-)(2 + E_+ + E_-) with P_+ = exp(gamma_+) = 1 + E_+ and P_- = exp(-gamma_-) = 1 + E_-
    from_increments = prefactor * (S.E_plus - S.E_minus) * (2 + S.E_plus + S.E_minus)
    require(memo.simplify(kd.subs({S.gamma_plus: sp.log(1 + S.E_plus), S.gamma_minus: -sp.log(1 + S.E_minus)})
                        - from_increments) == 0)
    updates, gammas = [], []
    for j, (sign, e, gamma) in enumerate(((1, S.E_plus, S.gamma_plus), (-1, S.E_minus, S.gamma_minus))):
        # one step multiplies P_+- by 1 +- beta g
        updated = e + sign * S.beta * S.g * (1 + e)
        step = derivation.discrete_update[j].subs(gamma, sign * sp.log(1 + e))
        require(memo.simplify(sp.expand_log(sp.exp(sign * step), force=True) - (1 + updated)) == 0)
        updates.append(updated)
        gammas.append(sign * log1p(e))
    return DiscreteForms(prefactor, kappa_safe, from_increments, tuple(updates), tuple(gammas))
