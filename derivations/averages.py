"""Data averages E[phi(|x_par|)] over a spherically symmetric law, as symbolic integrals.

The integrand may change form at one threshold b (for the hinge, b = x* = h/kappa, where examples become
satisfied). The average is split there and each piece is integrated; a piece SymPy cannot do in elementary
functions stays an unevaluated ``Integral`` and the kernel generator turns it into a fixed Gauss-Legendre
quadrature. SymPy's ``integrate`` is wrong on some Heaviside/Gaussian integrals, which is why the split is done
here rather than left to it, and why every closed form is checked against quadrature in the tests.
"""
from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading

import sympy as sp

from mftheory.derivations import symbols as S
from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.catalog import DataLaw

# functions the generated kernels can evaluate (math module, numba-compatible)
PRINTABLE_FUNCTIONS = (sp.exp, sp.log, sp.erf, sp.erfc, sp.loggamma, sp.Piecewise, sp.Max, sp.Min, sp.Abs)


@dataclasses.dataclass(frozen=True)
class Piece:
    """integrand(x) * density(x) integrated over x in (lower, upper)."""

    integrand: sp.Expr
    lower: sp.Expr
    upper: sp.Expr


@dataclasses.dataclass(frozen=True)
class DataAverage:
    """E[phi(|x_par|)]: the integral as written, its pieces, and its closed form when SymPy finds one."""

    phi: sp.Expr
    law: DataLaw
    threshold: sp.Expr | None
    pieces: tuple[Piece, ...]
    closed_form: sp.Expr | None

    @property
    def integral(self) -> sp.Expr:
        """The average as unevaluated integrals (for display and LaTeX)."""
        return sp.Add(*[sp.Integral(p.integrand * self.law.abs_par_density, (S.x, p.lower, p.upper))
                        for p in self.pieces])

    @property
    def value(self) -> sp.Expr:
        return self.closed_form if self.closed_form is not None else self.integral


class _Timeout(BaseException):
    """Not an Exception: SymPy's integrators catch Exception in places, which would swallow the time limit."""


@contextlib.contextmanager
def _time_limit(seconds):
    # SymPy's integrate can search for minutes before giving up. The limit counts this process's CPU time, not
    # the wall clock, so that whether an integral ends in closed form or as quadrature does not depend on what
    # else the machine is running. A signal only works on the main thread.
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):
        signal.setitimer(signal.ITIMER_VIRTUAL, 1.0)   # should some handler swallow it, it comes again
        raise _Timeout

    previous = signal.signal(signal.SIGVTALRM, _raise)
    signal.setitimer(signal.ITIMER_VIRTUAL, float(seconds))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0.0)
        signal.signal(signal.SIGVTALRM, previous)


def is_printable(expr: sp.Expr) -> bool:
    """True when expr uses only real elementary functions the kernel printer supports."""
    if expr.has(sp.Integral, sp.I, sp.exp_polar, sp.zoo, sp.nan):
        return False
    for fn in expr.atoms(sp.Function):
        if not isinstance(fn, PRINTABLE_FUNCTIONS):
            return False
    return True


# The sphere law needs d >= 2. SymPy cannot be told d > 1, so sphere integrals are done in n = d - 1 > 0
# (this removes the d == 1 branches and 0**(d-1) terms SymPy otherwise leaves) and mapped back at the end.
_n = sp.Symbol("n", positive=True)


def _to_n(expr, law):
    return expr.subs(S.d, _n + 1) if law.substitution is not None else expr


def _from_n(expr, law):
    return expr.subs(_n, S.d - 1) if law.substitution is not None else expr


def _threshold(phi):
    """The one x at which a Piecewise integrand changes form, or None."""
    points = set()
    for pw in phi.atoms(sp.Piecewise):
        for _, cond in pw.args:
            for rel in cond.atoms(sp.core.relational.Relational):
                if S.x in rel.free_symbols:
                    roots = [r for r in sp.solve(sp.Eq(rel.lhs, rel.rhs), S.x) if r.is_positive is not False]
                    points.update(roots)
    if len(points) > 1:
        raise NotImplementedError(f"integrand {phi} changes form at several points {points}; one is supported")
    return points.pop() if points else None


def _branch(phi, probe):
    """phi restricted to the side of the threshold that contains x = probe."""
    def pick(pw):
        for expr, cond in pw.args:
            if cond.subs(S.x, probe) in (True, sp.true):
                return expr
        raise ValueError(f"cannot decide which branch of {pw} holds at x = {probe}")

    return phi.replace(lambda e: isinstance(e, sp.Piecewise) and S.x in e.free_symbols, pick)


_Q = sp.Symbol("Q", positive=True)
_LAMBDA = sp.Symbol("lambda", real=True)
_LAMBDA2 = sp.Symbol("lambda_2", real=True)


def _half_line_moment(power: int, erf_power: int, two_slopes: bool = False):
    """int_0^oo x^power erf(lambda x)^erf_power exp(-Q x^2) dx in closed form, in the symbols _Q > 0 and _LAMBDA
    real (erf_power 0, 1 or 2); with ``two_slopes`` (erf_power 2) the integrand is x^power erf(lambda x)
    erf(lambda_2 x) exp(-Q x^2), _LAMBDA2 real. The base integrals (power 0 or 1) are classical (the erf-erf one is
    int_0^oo erf(a x) erf(b x) exp(-c^2 x^2) dx = atan(a b / (c sqrt(a^2 + b^2 + c^2))) / (c sqrt(pi)); x erf erf
    by parts to x^0 erf); each power above them is -d/dQ of the one two below. The tests check every case against
    mpmath."""
    Q, lam = _Q, _LAMBDA
    other = _LAMBDA2 if two_slopes else _LAMBDA
    base = {
        (0, 0): sp.sqrt(sp.pi) / (2 * sp.sqrt(Q)),
        (1, 0): 1 / (2 * Q),
        (0, 1): sp.atan(lam / sp.sqrt(Q)) / sp.sqrt(sp.pi * Q),
        (1, 1): lam / (2 * Q * sp.sqrt(Q + lam**2)),
        (0, 2): sp.atan(lam * other / (sp.sqrt(Q) * sp.sqrt(Q + lam**2 + other**2))) / sp.sqrt(sp.pi * Q),
        (1, 2): (lam * sp.atan(other / sp.sqrt(Q + lam**2)) / sp.sqrt(Q + lam**2)
                 + other * sp.atan(lam / sp.sqrt(Q + other**2)) / sp.sqrt(Q + other**2)) / (sp.pi * Q),
    }
    value = base[(power % 2, erf_power)]
    for _ in range(power // 2):
        value = -sp.diff(value, Q)
    return value


def _gaussian_moments(integrand, density):
    """int_0^oo integrand(x) density(x) dx in closed form when the product is a sum of terms
    c x^k erf(lambda x)^m exp(e0 - Q x^2) (k >= 0, m = 0, 1 or 2, Q > 0 given d > 1, c, lambda, e0 and Q free of
    x; erfc = 1 - erf; for m = 2 the two error functions may have different slopes): each is a Gaussian moment, c exp(e0) Gamma((k + 1)/2) / (2 Q^((k + 1)/2)) for m = 0, or
    :func:`_half_line_moment`. None for any other form. SymPy's integrate reaches the same values for m = 0 (the
    tests check them against quadrature) but can search for its time limit first when Q's sign depends on the
    symbols, and has no antiderivative for m = 2. The sum is returned with its common factors pulled out
    (``factor_terms``, milliseconds; ``simplify`` searched for seconds here, for a form no shorter to evaluate)."""
    product = (integrand * density).replace(sp.erfc, lambda arg: 1 - sp.erf(arg))
    body = sp.expand(sp.powsimp(sp.expand(product), combine="exp", force=True))
    total = sp.Integer(0)
    for term in sp.Add.make_args(body):
        # expand distributes a factor such as (d - 1) over a denominator of exponentials: factor it back, so the
        # exponentials move up as one exp of a quadratic
        numerator, denominator = sp.fraction(term)
        if denominator.has(S.x):
            term = sp.powsimp(numerator / sp.factor(denominator), combine="exp", force=True)
        coeff, dependent = term.as_independent(S.x, as_Add=False)
        power, exponent, slopes = sp.Integer(0), sp.Integer(0), []
        for factor in sp.Mul.make_args(dependent):
            base, exp = factor.as_base_exp()
            if factor == S.x:
                power += 1
            elif factor.is_Pow and factor.base == S.x and factor.exp.is_Integer and factor.exp > 0:
                power += factor.exp
            elif isinstance(factor, sp.exp):
                exponent += factor.args[0]
            elif isinstance(base, sp.erf) and exp.is_Integer and exp > 0:
                argument_slope = memo.simplify(base.args[0] / S.x)
                if argument_slope.has(S.x):
                    return None
                slopes += [argument_slope] * int(exp)
            elif factor != 1:
                return None
        erf_power = len(slopes)
        if erf_power > 2:
            return None
        two_slopes = erf_power == 2 and memo.simplify(slopes[0] - slopes[1]) != 0
        try:
            poly = sp.Poly(sp.expand(exponent), S.x)
        except sp.PolynomialError:
            return None
        if poly.degree() != 2 or poly.coeff_monomial(S.x) != 0:
            return None
        Q = sp.factor(-poly.coeff_monomial(S.x**2))
        if memo.simplify(Q.subs(S.d, _n + 1)).is_positive is not True:
            return None
        if erf_power == 0:
            moment = sp.gamma(sp.Rational(1, 2) * (power + 1)) / (2 * Q ** (sp.Rational(1, 2) * (power + 1)))
        else:
            moment = _half_line_moment(int(power), erf_power, two_slopes).subs(
                {_Q: Q, _LAMBDA: slopes[0], _LAMBDA2: slopes[-1]})
        total += coeff * sp.exp(poly.coeff_monomial(1)) * moment
    # factor_terms pulls the common factors out in milliseconds; simplify searched for seconds (its time limit)
    return sp.factor_terms(total)


def beyond_elementary(integrand) -> str | None:
    """Why SymPy's integrator is not asked for int integrand(x) dx at all, or None: it has no antiderivative in
    elementary and error functions for a product of two error functions of x, nor for an error function of
    a non-linear argument in x (Owen's T and bivariate normal integrals), and it searches for one until its time
    limit (seconds per integral, spent for nothing). Such a piece goes straight to quadrature."""
    for p in sp.preorder_traversal(integrand):
        if (isinstance(p, sp.Pow) and p.exp.is_negative and isinstance(p.base, sp.Add) and p.base.has(S.x)
                and any(isinstance(e, sp.exp) and e.has(S.x) for e in p.base.atoms(sp.exp))
                and any(not t.has(S.x) for t in sp.Add.make_args(p.base))):
            return f"a sum of exponentials of x in a denominator ({p.base}), as in the logistic loss's weight"
    error_functions = [f for f in integrand.atoms(sp.erf, sp.erfc) if f.has(S.x)]
    for f in error_functions:
        argument = f.args[0]
        if not (sp.diff(argument, S.x, 2) == 0):
            return f"the error function {f} has an argument non-linear in x"
    powers = [p for p in sp.preorder_traversal(integrand)
              if isinstance(p, sp.Pow) and isinstance(p.base, (sp.erf, sp.erfc)) and p.base.has(S.x)]
    if len(error_functions) > 1 or powers:
        return "a product of error functions of x"
    return None


def _integrate_piece(integrand, law, upper, seconds):
    """int_0^upper integrand(x) density(x) dx in closed form, or None."""
    if beyond_elementary(integrand) is not None or beyond_elementary(sp.expand(integrand)) is not None:
        return None
    density = _to_n(law.abs_par_density, law)
    try:
        with _time_limit(seconds):
            if law.substitution is None:
                result = memo.integrate(integrand * density, (S.x, 0, upper))
                # expanded, exp(-h^2/2kappa^2) stays a factor of its own instead of exp(+...) * exp(-...)
                result = sp.expand(memo.simplify(result))
            else:
                substitution = _to_n(law.substitution, law)
                jac = sp.diff(substitution, S.v)
                body = sp.powsimp((integrand * density).subs(S.x, substitution) * jac, force=True)
                v_upper = sp.solve(sp.Eq(substitution, upper), S.v)[0]
                # no simplify here: it rewrites (1 - c^2/d)^((d-1)/2) into d**(d/2) forms that overflow
                result = memo.integrate(body, (S.v, 0, v_upper))
    except (_Timeout, NotImplementedError, ValueError):
        return None
    return result if is_printable(result) else None


def data_average(phi: sp.Expr, law: DataLaw, seconds: int = 30) -> DataAverage:
    """E[phi(|x_par|)] under ``law``; phi is an expression in ``symbols.x`` (x = |x_par| > 0)."""
    phi = _to_n(sp.piecewise_fold(phi), law)
    b = _threshold(phi)
    radius = _to_n(law.radius, law)
    if b is None:
        pieces = (Piece(phi, sp.Integer(0), radius),)
    else:
        inner, outer = _branch(phi, b / 2), _branch(phi, 2 * b)
        upper = b if radius is sp.oo else sp.Min(b, radius)
        pieces = tuple(p for p in (Piece(inner, sp.Integer(0), upper), Piece(outer, upper, radius))
                       if p.integrand != 0)

    closed = None
    if len(pieces) == 1 and pieces[0].upper is sp.oo and pieces[0].lower == 0 and law.substitution is None:
        closed = _gaussian_moments(pieces[0].integrand, law.abs_par_density)
        if closed is not None:
            return DataAverage(phi=phi, law=law, threshold=None, pieces=pieces, closed_form=closed)
    total = sp.Integer(0)
    for piece in pieces:
        # int_lower^upper = F(upper) - F(lower) with F(c) = int_0^c, c a positive symbol
        antiderivative = _integrate_piece(piece.integrand, law, S.c, seconds)
        if antiderivative is None:
            break
        full = None
        if radius is not sp.oo:
            full = antiderivative.subs(S.c, radius)
        else:
            with contextlib.suppress(_Timeout):
                full = memo.simplify(sp.limit(antiderivative, S.c, sp.oo))
            if full is None or not is_printable(full):
                break

        def F(bound):
            if bound == 0:
                return sp.Integer(0)
            if bound == radius:
                return full
            if isinstance(bound, sp.Min):  # Min(b, R): the antiderivative is flat beyond R
                return sp.Piecewise((full, b >= radius), (antiderivative.subs(S.c, b), True))
            return antiderivative.subs(S.c, bound)

        total += F(piece.upper) - F(piece.lower)
    else:
        closed = _from_n(memo.simplify(total) if law.substitution is None else total, law)
    pieces = tuple(Piece(*(_from_n(e, law) for e in (p.integrand, p.lower, p.upper))) for p in pieces)
    return DataAverage(phi=_from_n(phi, law), law=law, threshold=b if b is None else _from_n(b, law),
                       pieces=pieces, closed_form=closed)
