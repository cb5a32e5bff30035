"""The tables in kappa (mftheory/kappa_tables.py, the template's table_panel / table_value): where the rate g or the
unsatisfied fraction is a quadrature, a table stands for it in the mean-field loops; checked against the kernel
itself, against mpmath, and the mean field with and without it."""
import math

import mpmath as mp
import numpy as np
import pytest

import mftheory
from mftheory import kernels
from mftheory.kappa_tables import TOLERANCE, kappa_table, no_table

RATE, UNSAT = 0, 1


@pytest.mark.parametrize("data,loss,d,eps", [("gaussian", "logistic", 100, 0.0), ("gaussian", "logistic", 100, 0.1),
                                             ("sphere", "logistic", 100, 0.0), ("sphere", "quadratic_hinge", 20, 0.0),
                                             ("sphere", "hinge", 20, 0.0)])
def test_tables_agree_with_the_kernel(data, loss, d, eps):
    """At 4000 kappa spread over [1e-4, 1e5] (log-uniform) each table is within 10 TOLERANCE of the kernel relative
    to (1 + kappa)^2 q's size (the panels are fitted to 1e-13 at points between the fitting points; these are
    others), and relative to q itself where q does not cross zero."""
    k = kernels.load(data, loss)
    h, c = 1.0, 0.5
    kappas = np.concatenate([10 ** np.random.default_rng(0).uniform(-4, 5, 4000), [0.0]])
    for quantity, which, exact_of in (("rate", RATE, lambda x: k.g_rate(x, float(d), h, eps, c)),
                                      ("unsat", UNSAT, lambda x: k.unsat_fraction(x, float(d), h, eps))):
        edges, coeffs = kappa_table(k, quantity, float(d), h, eps, c)
        if not getattr(k, "RATE_BY_QUADRATURE" if which == RATE else "UNSAT_BY_QUADRATURE"):
            assert edges.size == 0
            continue
        # every panel of kappa <= 250 reached the tolerance; past it, with label noise, the flipped examples'
        # weight is a step narrower than the quadrature's finest panel and the kernel's own values stop being
        # smooth to 1e-13: those panels keep the kernel (so does the sphere hinge's kink at kappa = h / sqrt d)
        kink = loss == "hinge" and quantity == "unsat"
        assert len(edges) > 1 and (kink or np.all(np.isfinite(coeffs[edges[1:] <= 250 / 251])))
        table = np.array([k.table_value(which, x, float(d), h, eps, c, edges, coeffs) for x in kappas])
        exact = np.array([exact_of(x) for x in kappas])
        scaled = np.abs(exact) * (1 + kappas) ** 2
        error = np.abs(table - exact) * (1 + kappas) ** 2
        assert np.max(error) <= 10 * TOLERANCE * np.max(scaled), quantity
        if eps == 0.0:
            np.testing.assert_allclose(table, exact, rtol=1e-12, atol=0)


def test_table_against_mpmath():
    """Gaussian data, logistic loss: g = c E[|x| u(kappa |x|)] / sqrt(d), u(z) = 1 / (1 + e^z), at 30 digits."""
    k = kernels.load("gaussian", "logistic")
    edges, coeffs = kappa_table(k, "rate", 100.0, 1.0, 0.0, 0.5)
    with mp.workdps(30):
        for kappa in (0.0, 0.37, 2.5, 41.0, 3e3):
            exact = 0.5 / 10 * mp.quad(lambda x: 2 * x * mp.npdf(x) / (1 + mp.exp(kappa * x)), [0, 1, 10, mp.inf])
            value = k.table_value(RATE, kappa, 100.0, 1.0, 0.0, 0.5, edges, coeffs)
            assert value == pytest.approx(float(exact), rel=1e-12)


def test_closed_forms_need_no_table_and_bad_quantities_are_refused():
    edges, coeffs = kappa_table(kernels.load("gaussian", "hinge"), "rate", 100.0, 1.0, 0.0, 0.5)
    assert edges.size == 0 and coeffs.shape[0] == 0
    with pytest.raises(ValueError, match="quantity must be one of"):
        kappa_table(kernels.load("gaussian", "hinge"), "drift", 100.0, 1.0, 0.0, 0.5)


@pytest.mark.parametrize("data,loss", [("gaussian", "logistic"), ("sphere", "logistic"), ("sphere", "hinge")])
def test_meanfield_with_and_without_the_tables(data, loss):
    setup = mftheory.fig1_setup(data=data, loss=loss, label_noise=0.05)
    fast = mftheory.meanfield(setup, 1500)
    slow = mftheory.meanfield(setup, 1500, tabulate=False)
    for name in ("kappa", "gamma_plus", "gamma_minus", "g", "gamma", "f_unsat"):
        ours, theirs = getattr(fast, name), getattr(slow, name)
        # g falls to 0 at the label-noise fixed point: there its error is relative to its size over the run
        np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-12 * np.max(np.abs(theirs)))
    with pytest.raises(ValueError, match="tabulate must be True or False"):
        mftheory.meanfield(setup, 10, tabulate="yes")


def test_a_panel_that_failed_keeps_the_kernel():
    """A panel that cannot reach the tolerance at the smallest width keeps the kernel (NaN coefficients)."""
    k = kernels.load("gaussian", "logistic")
    edges = np.array([0.0, 0.5, 0.999])
    coeffs = np.vstack([np.full(16, np.nan), np.zeros(16)])
    args = (100.0, 1.0, 0.0, 0.5)
    assert k.table_value(RATE, 0.3, *args, edges, coeffs) == k.g_rate(0.3, *args)
    assert k.table_value(RATE, 2.0, *args, edges, coeffs) == 0.0      # from the (zero) expansion of its panel
    assert k.table_value(RATE, 5000.0, *args, edges, coeffs) == k.g_rate(5000.0, *args)   # outside the table
    assert math.isfinite(k.table_value(RATE, 2.0, *args, *no_table()))
