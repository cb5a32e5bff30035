"""mftheory.finite_size.predict: its derived pieces against independent numbers, its average over x_par against
a Monte Carlo of the same composition, its limits, and its input checks."""
import math

import numpy as np
import pytest
from scipy.stats import norm

import mftheory
from mftheory import finite_size, kernels

SETUP = mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=200)


@pytest.fixture(scope="module")
def solution():
    return mftheory.meanfield(SETUP, 120)


@pytest.mark.parametrize("m,threshold,var", [(0.3, 0.0, 0.04), (-0.2, 0.0, 1.0), (1.4, 1.0, 0.01), (0.0, 1.0, 9.0)])
def test_margin_below_is_the_normal_cdf(m, threshold, var):
    """The derived P(m + delta < theta_h) against scipy's normal cdf."""
    k = kernels.load("gaussian", "hinge")
    assert k.margin_below(m, threshold, var) == pytest.approx(norm.cdf((threshold - m) / math.sqrt(var)),
                                                              rel=1e-12, abs=1e-300)


def test_tilt_output_variance_matches_a_monte_carlo_of_the_tilt():
    """Var over x_perp of tau . x_perp, tau_k = alpha c v_k / sqrt(d) with v_k ~ N(0, V_v): a Monte Carlo over v
    and x_perp (2e5 draws, relative se about 0.3%)."""
    k = kernels.load("gaussian", "hinge")
    d, alpha, c, var_v = 20, 1.5, 0.5, 0.3
    rng = np.random.default_rng(0)
    v = rng.normal(0.0, math.sqrt(var_v), (200_000, d - 1))
    x = rng.standard_normal((200_000, d - 1))
    sample = np.var(np.sum(alpha * c * v / math.sqrt(d) * x, axis=1))
    assert k.tilt_output_variance(var_v, alpha, c, float(d)) == pytest.approx(sample, rel=0.015)


def test_rates_are_the_average_of_the_composition_over_x(solution):
    """test_error and test_unsat against a Monte Carlo over x_par ~ N(0, 1) of the normal cdf with the rest's
    variance from the finite-width kernels at each point (no interpolation) plus the tilt's: checks the
    quadrature and the interpolation of the rest (the Monte Carlo's own relative se is below 1%)."""
    pred = finite_size.predict(solution, 40_000, "fresh")
    fw = solution.variant.finite_width_kernels()
    moments = np.empty((len(solution.t), 5))
    solution.kernels.fill_moments(solution.gamma_plus, solution.gamma_minus, 1.0, 1.0, moments)
    x = np.abs(np.random.default_rng(1).standard_normal(400_000))
    for t in (20, 60, 120):
        args = tuple(moments[t, :3]) + (SETUP.alpha, float(SETUP.M), float(SETUP.d), SETUP.sigma_w, SETUP.slope)
        grid = np.linspace(0.0, 6.0, 301)
        rest = finite_size._rest_variance(fw.output_variance, fw.common_second, fw.common_mean, fw.linear_second,
                                          grid, float(SETUP.d), args)
        sd = np.sqrt(np.interp(x, grid, rest) + pred.tilt_sd[t] ** 2)
        kappa = solution.kappa[t]
        error = norm.cdf(-kappa * x / sd)
        unsat = norm.cdf((SETUP.h - kappa * x) / sd)
        for sample, predicted in ((error, pred.test_error[t]), (unsat, pred.test_unsat[t])):
            se = sample.std() / math.sqrt(len(x))
            assert abs(sample.mean() - predicted) < 4 * se + 1e-4 * predicted, (t, sample.mean(), predicted)


def test_without_finite_size_effects_it_is_the_mean_field(solution):
    """M -> infinity and N = None: no error and the mean-field f_unsat; train equals test (nothing memorized)."""
    # the same mean field (beta = eta alpha / M fixed) at a width where the 1/sqrt(M) parts vanish
    wide = mftheory.meanfield(SETUP.replace(M=10**12, eta=SETUP.eta * 10**12 / SETUP.M), 120)
    pred = finite_size.predict(wide)
    t = np.arange(5, 121)
    assert np.all(pred.test_error[t] < 1e-6)
    assert pred.test_unsat[t] == pytest.approx(wide.f_unsat[t], abs=1e-4)
    assert np.array_equal(pred.train_error, pred.test_error) and np.array_equal(pred.train_unsat, pred.test_unsat)
    assert pred.test_error[0] == 0.5 and pred.test_unsat[0] == 1.0


def test_a_fixed_training_set_is_memorized_and_a_smaller_one_more(solution):
    """With one fixed set the training points carry their memorized margin: the training f_unsat sits below the
    test one, more so for N/4; the fresh-point slope falls behind kappa and the tilt grows as N shrinks."""
    big, small = finite_size.predict(solution, 40_000), finite_size.predict(solution, 10_000)
    t = np.arange(30, 121)
    for pred in (big, small):
        assert np.all(pred.train_unsat[t] < pred.test_unsat[t]) and np.all(pred.memorized[t] > 0)
    assert np.all(small.train_unsat[t] < big.train_unsat[t]) and np.all(small.tilt[t] > big.tilt[t])
    assert np.all(small.kappa[t] < big.kappa[t]) and np.all(big.kappa[t] <= solution.kappa[t])


def test_predict_checks_its_inputs(solution):
    with pytest.raises(ValueError, match="N"):
        finite_size.predict(solution, 0)
    with pytest.raises(ValueError, match="sample must be"):
        finite_size.predict(solution, 100, sample="online")
    with pytest.raises(ValueError, match="solution must be"):
        finite_size.predict(SETUP)
