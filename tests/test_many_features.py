"""More than two features: the nested quadrature against the two-feature closed forms, mpmath and a Monte Carlo of
the simulator's own data law; the K-feature mean field's shapes and its input checks."""
import mpmath as mp
import numpy as np
import pytest

import mftheory
from mftheory.features import meanfield_features
from mftheory.kernels.generated import features_hinge, features_quadratic_hinge
from mftheory.kernels.generated import manyfeatures_hinge, manyfeatures_quadratic_hinge
from mftheory.validate.simulator import draw_feature_examples


def _setup(**changes):
    base = dict(d=20, alpha=1.0, h=1.0, eta=500.0, M=200, data="features", feature_freq=(0.8, 0.4, 0.2),
                feature_strength=(1.0, 0.7, 1.3))
    return mftheory.Setup(**(base | changes))


@pytest.mark.parametrize("many, two", [(manyfeatures_hinge, features_hinge),
                                       (manyfeatures_quadratic_hinge, features_quadratic_hinge)])
def test_two_features_by_nested_quadrature_match_the_closed_forms(many, two):
    """At K = 2 the sum over patterns and the quadrature reproduce the closed-form loop (a different method: the
    by-parts closed forms, erf and exponentials) to 1e-12, spectral decoupling included."""
    steps, mu, p = 300, np.array([1.0, 1.5]), np.array([0.8, 0.3])
    got = [np.empty((steps + 1, 2)), np.empty((steps + 1, 2)), np.empty((steps + 1, 4)), np.empty((steps, 3, 3))]
    ref = [np.empty((steps + 1, 2)), np.empty((steps + 1, 2)), np.empty((steps + 1, 4)), np.empty((steps, 3, 3))]
    many.meanfield_loop(steps, 25.0, 1.0, 100.0, 0.5, 1.0, 1.0, mu, p, 1.0, 0.05, *got)
    two.meanfield_loop(steps, 25.0, 1.0, 100.0, 0.5, 1.0, 1.0, mu[0], mu[1], p[0], p[1], 1.0, 0.05, *ref)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("slopes", [(0.01, 30.0), (30.0, 0.01), (2.0, 0.1), (0.0, 0.0)])
def test_widely_different_slopes_are_resolved(slopes):
    """A starved feature's slope can be thousands of times smaller than another's: the panel next to the margin
    keeps the error at 1e-12 against the closed forms there too."""
    kappa, mu, p = np.array(slopes), np.array([1.0, 1.5]), np.array([0.8, 0.3])
    drift, unsat = np.empty(2), np.empty(4)
    manyfeatures_hinge.drift_and_unsat(kappa, mu, p, 1.0, drift, unsat)
    np.testing.assert_allclose(drift, features_hinge.drift_at(*kappa, *mu, *p, 1.0), rtol=1e-12)
    np.testing.assert_allclose(unsat, features_hinge.unsat_fractions(*kappa, *mu, *p, 1.0), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("slopes", [(0.8, 1.1, 0.5), (0.05, 2.0, 0.7)])
def test_three_feature_pattern_against_mpmath(slopes):
    """A pattern of three features (two nested variables, the last closed) against mpmath's two-dimensional
    quadrature of the same averages, E[|g_j| 1[margin < h]] for each j and the mass, slopes of one order and slopes
    40 times apart."""
    slopes, h = np.array(slopes), 1.0
    drifts = np.empty(3)
    mass = manyfeatures_hinge.pattern_averages(slopes, h, drifts)
    with mp.workdps(20):
        for j in range(3):
            a1, a2 = (slopes[i] for i in range(3) if i != j)
            al = slopes[j]
            weight = lambda x, y: mp.sqrt(2 / mp.pi) * (1 - mp.exp(-(h - a1 * x - a2 * y) ** 2 / (2 * al**2)))
            exact = mp.quad(lambda x: mp.quad(lambda y: 4 * mp.npdf(x) * mp.npdf(y) * weight(x, y),
                                              [0, (h - a1 * x) / a2]), [0, h / a1])
            assert drifts[j] == pytest.approx(float(exact), rel=1e-12), j
        a1, a2, al = slopes
        exact = mp.quad(lambda x: mp.quad(lambda y: 4 * mp.npdf(x) * mp.npdf(y)
                                          * mp.erf((h - a1 * x - a2 * y) / (mp.sqrt(2) * al)), [0, (h - a1 * x) / a2]),
                        [0, h / a1])
    assert mass == pytest.approx(float(exact), rel=1e-12)


@pytest.mark.parametrize("many, loss", [(manyfeatures_hinge, "hinge"), (manyfeatures_quadratic_hinge, "quadratic_hinge")])
def test_three_features_drift_against_the_simulators_law(many, loss):
    """G_k = E[u y x_k] and the unsatisfied fraction at F = sum_k kappa_k x_k against a Monte Carlo of the law as
    the simulator draws it (no formula of the theory): within 4 standard errors."""
    kappa, mu, p, h = np.array([0.8, 1.1, 0.5]), np.array([1.0, 0.7, 1.3]), np.array([0.6, 0.4, 0.3]), 1.0
    drift, unsat = np.empty(3), np.empty(8)
    many.drift_and_unsat(kappa, mu, p, h, drift, unsat)
    X, y = draw_feature_examples(np.random.default_rng(5), 2_000_000, 3, p, mu)
    margin = y * (X @ kappa)
    u = (margin < h) * (1.0 if loss == "hinge" else (h - margin))
    samples = u[:, None] * y[:, None] * X
    se = samples.std(axis=0) / np.sqrt(len(y))
    assert np.all(np.abs(drift - samples.mean(axis=0)) < 4 * se), (drift, samples.mean(axis=0), se)
    below = margin < h
    assert abs(unsat[-1] - below.mean()) < 4 * below.std() / np.sqrt(len(y))
    alone = (X != 0).sum(axis=1) == 1
    first_alone = alone & (X[:, 0] != 0)
    assert abs(unsat[0] - below[first_alone].mean()) < 4 * below[first_alone].std() / np.sqrt(first_alone.sum())


def test_three_feature_solution():
    sol = meanfield_features(_setup(), 50)
    assert sol.features == 3
    assert sol.kappa_features.shape == (51, 3) and sol.drift.shape == (51, 3)
    assert sol.f_unsat_patterns.shape == (51, 7) and sol.node_maps.shape == (50, 4, 4)
    assert sol.patterns[0] == (1, 0, 0) and sol.patterns[3] == (0, 0, 1) and sol.patterns[-1] == (1, 1, 1)
    np.testing.assert_array_equal(sol.alone(2), sol.f_unsat_patterns[:, 3])
    moments = sol.node_moments()
    setup = sol.setup
    np.testing.assert_allclose(setup.alpha * 0.5 * moments[:, 0, 1:] / np.sqrt(setup.d), sol.kappa_features,
                               rtol=1e-12, atol=1e-15)
    # at equal strengths the rarer a feature, the later it is learnt
    equal = meanfield_features(_setup(feature_strength=(1.0, 1.0, 1.0)), 100)
    assert np.all(np.diff(equal.learning_time(0.6)) > 0)
    with pytest.raises(ValueError, match="k must be a feature index in \\[0, 2\\]"):
        sol.error_curve(3)


@pytest.mark.parametrize("changes, message", [
    (dict(feature_freq=(0.5,) * 5, feature_strength=(1.0,) * 5), "2 <= K <= 4"),
    (dict(feature_freq=(0.5, 0.5, 0.5), feature_strength=(1.0, 1.0)), "same length K"),
    (dict(d=3), "d must be an integer >= 4"),
    (dict(feature_freq=(0.5, 1.5, 0.5)), "feature_freq\\[1\\]"),
])
def test_bad_feature_laws_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        _setup(**changes)


def test_a_loss_not_derived_for_three_features_is_refused():
    with pytest.raises(ValueError, match="loss must be one of 'hinge', 'quadratic_hinge' for more than two features"):
        meanfield_features(_setup(loss="logistic"), 10)
