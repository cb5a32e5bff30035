"""Rewrites that keep the generated kernels accurate where the naive form cancels or overflows.

Each rewrite is an identity (the tests check every rewritten kernel against the original SymPy expression at
50 digits); it only changes how the value is computed: 1 - exp(X) becomes -expm1(X) (accurate as h -> 0,
finite as kappa -> 0), 1 - (1 + Y)^P becomes -expm1(P log1p(Y)) and log(1 + X) becomes log1p(X).
"""
import sympy as sp
from sympy.codegen.cfunctions import expm1, log1p


def _rewrite_one_minus(term):
    if not (term.is_Add and len(term.args) == 2 and sp.S.One in term.args):
        return None
    rest = -(term - 1)  # term = 1 - rest
    if isinstance(rest, sp.exp):
        return -expm1(rest.args[0])
    if rest.is_Pow and rest.base.is_Add and sp.S.One in rest.base.args and not rest.exp.is_Integer:
        return -expm1(rest.exp * log1p(rest.base - 1))
    return None


def _rewrite_log_one_plus(term):
    if isinstance(term, sp.log) and term.args[0].is_Add and sp.S.One in term.args[0].args:
        return log1p(term.args[0] - 1)
    return None


def with_safe_forms(expr: sp.Expr) -> sp.Expr:
    expr = sp.factor_terms(expr)
    expr = expr.replace(lambda e: _rewrite_one_minus(e) is not None, _rewrite_one_minus)
    return expr.replace(lambda e: _rewrite_log_one_plus(e) is not None, _rewrite_log_one_plus)


def exp_difference(big, small):
    """exp(big) - exp(small) for big >= small, as exp(big) * (-expm1(small - big)): no overflow before the
    result itself overflows, no cancellation when big - small is tiny."""
    return -sp.exp(big) * expm1(small - big)
