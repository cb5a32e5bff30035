"""mftheory.feedback_spectrum: the degree-2 feedback's spectral laws at finite width against random matrices and
against the feedback operator of M nodes drawn from the init, and how predict uses them."""
import math

import numpy as np
import pytest
from scipy.integrate import quad

import mftheory
from mftheory import finite_size
from mftheory.kernels.generated import finite_width_leaky_relu, finite_width_relu
from mftheory.feedback_spectrum import (_init_grid, derived_rates, feedback_spectrum, operator_retention,
                                         spectral_quantiles)

LEVELS = (np.arange(64) + 0.5) / 64


def test_the_law_of_independent_rank_one_terms_matches_their_eigenvalues():
    """spectral_quantiles against the eigenvalues of sum_j tau_j p_j p_j^T with 3000 independent isotropic p_j in
    1000 dimensions (unequal weights): the quantiles between 1/64 and 63/64 within 0.02 + 2% (the law is the
    n -> infinity limit: the bulk's eigenvalues fluctuate by O(1/n), its upper edge by O(n^-2/3) ~ 1%, and the
    law is read off m(x + i eta) with eta the grid's spacing, on 2500 points a smoothing of about 0.5% of the
    trace; predict's 1200 points smooth twice as much, which moves the retention it uses by under 1%, below)."""
    rng = np.random.default_rng(1)
    n, J = 1000, 3000
    tau = rng.standard_normal(J) ** 2 * np.exp(-rng.standard_normal(J) ** 2 / 2)
    X = rng.standard_normal((J, n))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    L = (X.T * tau) @ X
    eigenvalues = np.linalg.eigvalsh(L / (np.trace(L) / n))
    free, aligned = spectral_quantiles(tau, np.ones(J), n, points=2500)
    assert free.mean() == pytest.approx(1.0, abs=0.01)
    np.testing.assert_allclose(free[1:-1], np.quantile(eigenvalues, LEVELS[1:-1]), rtol=0.02, atol=0.02)
    np.testing.assert_array_equal(aligned, free)


def test_the_init_grid_integrates_the_init_law_exactly():
    """The halved Gauss-Hermite grid: E a^2, E w^2, E a^2 w^2 and E a^4 of independent Gaussians, exactly."""
    for nodes in (5, 12):
        a, w, p = _init_grid(1.3, 0.7, nodes)
        assert p.sum() == pytest.approx(1.0, rel=1e-14)
        for value, exact in (((p * a**2).sum(), 1.69), ((p * w**2).sum(), 0.49), ((p * a**2 * w**2).sum(), 0.8281),
                             ((p * a**4).sum(), 3 * 1.69**2)):
            assert value == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("activation,leak", [("relu", 0.0), ("leaky_relu", 0.3)])
def test_a_nodes_degree2_coefficient_matches_quadrature(activation, leak):
    """The generated h_2(mu) = E[sigma(mu + shat xi)(xi^2 - 1)] against scipy's quadrature of its definition."""
    fw = finite_width_relu if activation == "relu" else finite_width_leaky_relu
    d, sigma_w = 30.0, 1.2
    shat = sigma_w * math.sqrt((d - 1) / d)
    sigma = (lambda z: max(z, 0.0)) if activation == "relu" else (lambda z: z if z > 0 else leak * z)
    for mu in (0.0, 0.4, -1.1):
        exact = quad(lambda xi: sigma(mu + shat * xi) * (xi**2 - 1) * math.exp(-xi**2 / 2) / math.sqrt(2 * math.pi),
                     -12, 12, points=[-mu / shat], limit=200)[0]
        assert fw.degree2_node(mu, sigma_w, d, leak) == pytest.approx(exact, rel=1e-9, abs=1e-14)


@pytest.fixture(scope="module")
def wide_solution():
    """d = 50, M = 200 at the Fig. 1 rate: the spectrum's effect on F's degree-2 part is large late."""
    setup = mftheory.fig1_setup().replace(d=50, M=200, eta=2.5 * 200 / mftheory.fig1_setup().alpha)
    return mftheory.meanfield(setup, 500)


def test_the_spectrum_follows_the_operator_of_drawn_nodes(wide_solution):
    """feedback_spectrum's aligned law against the recursion with the feedback operator of M = 200 nodes drawn from
    the init and moved along the mean-field node map (d = 50; the rate per step the derived isotropic one, the
    operator over its trace average; ``operator_retention``): the retention of the init's degree-2 variance at the
    threshold at t = 200 / 350 / 500, two draws, within 3 standard errors of the draws plus 8% (the law is the limit
    of many nodes: at these sizes the bench, bench/feedback_spectrum_law.py, finds it within 1-10% of the operator
    up to t = 999)."""
    sol = wide_solution
    rates = derived_rates(sol)
    law = feedback_spectrum(sol).retention(rates)
    finer = feedback_spectrum(sol, points=2500, nodes=12).retention(rates)
    np.testing.assert_allclose(law[1:], finer[1:], rtol=0.01)   # predict's resolution against a finer one
    report = (200, 350, 500)
    draws = np.array([[operator_retention(sol, rates, seed, report)[t][0] for t in report] for seed in range(2)])
    mean, se = draws.mean(axis=0), draws.std(axis=0, ddof=1) / math.sqrt(len(draws))
    isotropic = np.cumprod((1 - rates) ** 2)
    for j, t in enumerate(report):
        assert abs(law[t] - mean[j]) <= 3 * se[j] + 0.08 * mean[j], (t, law[t], mean[j], se[j])
    # late, the spread keeps far more than the isotropic average: the test tells the two apart
    assert mean[-1] > 1.5 * isotropic[500] and law[500] > 1.5 * isotropic[500]


def test_predict_takes_the_spectrum_without_a_fixed_set_only(wide_solution):
    """degree2_spread's default: True for N=None and fresh data, False for one fixed set; False reproduces the
    isotropic feedback exactly; the spread keeps more of the degree-2 part late at d = 50, M = 200."""
    sol = wide_solution
    spread, isotropic = finite_size.predict(sol), finite_size.predict(sol, degree2_spread=False)
    assert spread.degree2_spread and not isotropic.degree2_spread
    assert finite_size.rest_feedback(sol, None, spread=False).damping == pytest.approx(
        finite_size.feedback._init_feedback(sol).damping, abs=0.0)
    assert spread.rest_sd[500] > 1.05 * isotropic.rest_sd[500]
    assert finite_size.predict(sol, 40_000, "fresh").degree2_spread
    with pytest.raises(TypeError, match="degree2_spread"):
        finite_size.predict(sol, degree2_spread="yes")


def test_the_laws_are_solved_once_per_solution_and_shared_read_only():
    """The laws depend on the solution alone, so predictions at several N along one solution share one solve: the
    second call returns the same object, equal to the bit to a solve along an equal solution computed anew, with
    arrays a caller cannot change; the kept solve goes with its solution."""
    import gc
    import importlib
    import weakref

    module = importlib.import_module("mftheory.feedback_spectrum")   # the package exports the function by that name
    setup = mftheory.fig1_setup(d=40, M=100)
    sol = mftheory.meanfield(setup, 301)
    first = feedback_spectrum(sol)
    assert feedback_spectrum(sol) is first
    anew = feedback_spectrum(mftheory.meanfield(setup, 301))
    assert anew is not first
    np.testing.assert_array_equal(anew.aligned, first.aligned)
    np.testing.assert_array_equal(anew.free, first.free)
    with pytest.raises(ValueError, match="read-only"):
        first.aligned[0, 0] = 2.0
    assert feedback_spectrum(sol, points=600) is not first   # another resolution is another solve
    before = finite_size.predict(sol, N=20000, sample="fresh")
    again = finite_size.predict(sol, N=20000, sample="fresh")
    np.testing.assert_array_equal(before.test_error, again.test_error)
    alive = weakref.ref(first)
    kept = len(module._SOLVED)
    del sol, first, anew, before, again
    gc.collect()
    assert alive() is None
    assert len(module._SOLVED) == kept - 2   # the two solves along sol (the other solution's went with it)
