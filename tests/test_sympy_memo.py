"""The derivations' SymPy calls kept for the process (derivations/sympy_memo.py): a kept result is SymPy's own,
arguments that differ only in type are not merged, and a call that raised is tried again."""
import mpmath as mp
import pytest
import sympy as sp

from mftheory.derivations import sympy_memo as memo


def test_a_repeated_integral_is_the_first_result_and_its_value_is_right():
    x, b = sp.Symbol("x", real=True), sp.Symbol("b", positive=True)
    integrand = x**2 * sp.exp(-b * x**2) * sp.erf(x)
    first = memo.integrate(integrand, (x, 0, sp.oo))
    again = memo.integrate(x**2 * sp.exp(-b * x**2) * sp.erf(x), (x, 0, sp.oo))
    assert again is first
    assert sp.simplify(first - sp.integrate(integrand, (x, 0, sp.oo))) == 0
    exact = mp.quad(lambda t: t**2 * mp.exp(-mp.mpf("0.7") * t**2) * mp.erf(t), [0, mp.inf])
    assert float(first.subs(b, sp.Rational(7, 10)).evalf(30)) == pytest.approx(float(exact), rel=1e-12)


def test_arguments_equal_in_python_but_not_in_type_are_kept_apart():
    x = sp.Symbol("x")
    exact = memo.simplify(sp.Integer(2) * x / 2)
    assert memo.simplify(sp.Float(2.0) * x / 2) is not exact
    assert memo.integrate(x, (x, 0, 1)) == sp.Rational(1, 2)
    assert memo.integrate(x, (x, 0, 1.0)) == sp.Float(0.5) and isinstance(memo.integrate(x, (x, 0, 1.0)), sp.Float)


def test_an_unhashable_argument_is_computed_every_time():
    x = sp.Symbol("x")
    matrix = sp.Matrix([[sp.sin(x)**2 + sp.cos(x)**2]])
    assert memo.simplify(matrix) == sp.Matrix([[1]])
    assert memo.simplify(matrix) == sp.Matrix([[1]])


def test_a_call_that_raised_is_tried_again():
    calls = []

    def flaky(value):
        calls.append(value)
        if len(calls) == 1:
            raise TimeoutError
        return value

    kept = memo._memoized(flaky)
    with pytest.raises(TimeoutError):
        kept(sp.Integer(3))
    assert kept(sp.Integer(3)) == 3 and kept(sp.Integer(3)) == 3 and len(calls) == 2
