"""Features of unequal frequency: derived drifts against mpmath, the data law, the mean field against simulation."""
import math

import mpmath as mp
import numpy as np
import pytest

import sympy as sp

import mftheory
from mftheory.derivations import symbols as S
from mftheory.derivations.catalog import Loss
from mftheory.features import FeatureSolution, meanfield_features
from mftheory.kernels.generated import features_hinge as K
from mftheory.validate.features import feature_slopes
from mftheory.validate.simulator import draw_feature_examples, simulate

@pytest.fixture(autouse=True)
def _mpmath_digits():
    """This module's mpmath precision, set around each test: a module-level ``mp.dps`` is overwritten by whichever
    test module is imported last (a 50-digit check then ran at 30)."""
    with mp.workdps(25):
        yield



def _setup(**changes):
    base = dict(d=20, alpha=1.0, h=1.0, eta=500.0, M=200, data="features", feature_freq=(0.8, 0.3),
                feature_strength=(1.0, 1.5))
    return mftheory.Setup(**(base | changes))


def _mp_drift(k1, k2, mu1, mu2, p1, p2, h):
    """G_k = E[1[y F < h] y x_k] by two-dimensional mpmath quadrature over the half-normals, pattern by pattern."""
    z = 1 - (1 - p1) * (1 - p2)
    half = lambda g: 2 * mp.npdf(g)
    a, b = k1 * mu1, k2 * mu2
    one = lambda s: mp.quad(lambda g: g * half(g), [0, h / s])
    both = lambda s, t: mp.quad(lambda g1: g1 * half(g1) * mp.quad(half, [0, (h - s * g1) / t]), [0, h / s])
    G1 = (p1 * (1 - p2) * mu1 * one(a) + p1 * p2 * mu1 * both(a, b)) / z
    G2 = ((1 - p1) * p2 * mu2 * one(b) + p1 * p2 * mu2 * both(b, a)) / z
    return float(G1), float(G2)


@pytest.mark.parametrize("k1,k2", [(0.3, 0.2), (1.5, 0.4), (0.05, 2.0)])
def test_drift_matches_mpmath(k1, k2):
    args = (1.0, 1.5, 0.8, 0.3, 1.0)
    assert K.drift_at(k1, k2, *args) == pytest.approx(_mp_drift(k1, k2, *args), rel=1e-10)


def test_drift_and_unsat_limits_at_zero_slope():
    """At the init every example is unsatisfied and G_k = P(feature k) mu_k sqrt(2/pi)."""
    G1, G2 = K.drift_at(0.0, 0.0, 1.0, 1.5, 0.8, 0.3, 1.0)
    z = 1 - 0.2 * 0.7
    assert G1 == pytest.approx(0.8 / z * math.sqrt(2 / math.pi)) and G2 == pytest.approx(0.3 / z * 1.5 * math.sqrt(2 / math.pi))
    assert K.unsat_fractions(0.0, 0.0, 1.0, 1.5, 0.8, 0.3, 1.0)[3] == pytest.approx(1.0, abs=1e-12)


def test_unsat_of_both_matches_mpmath():
    a, b, h = 0.7, 1.2, 1.0
    exact = mp.quad(lambda g1: 2 * mp.npdf(g1) * mp.quad(lambda g2: 2 * mp.npdf(g2), [0, (h - a * g1) / b]), [0, h / a])
    assert K.both_unsat(a, b, h) == pytest.approx(float(exact), rel=1e-12)


def test_data_law():
    rng = np.random.default_rng(0)
    X, y = draw_feature_examples(rng, 200_000, 6, (0.8, 0.3), (1.0, 2.0))
    present = X[:, :2] != 0
    assert present.any(axis=1).all()                       # an example with no feature is redrawn
    z = 1 - 0.2 * 0.7
    assert present[:, 0].mean() == pytest.approx(0.8 / z, abs=0.005)
    assert present[:, 1].mean() == pytest.approx(0.3 / z, abs=0.005)
    assert np.all(np.sign(X[present[:, 0], 0]) == y[present[:, 0]])   # each feature alone classifies
    assert np.abs(X[present[:, 1], 1]).mean() == pytest.approx(2.0 * math.sqrt(2 / math.pi), rel=0.01)
    assert X[:, 2:].std() == pytest.approx(1.0, rel=0.01) and y.mean() == pytest.approx(0.0, abs=0.01)


@pytest.mark.parametrize("bad,match", [(dict(feature_freq=(0.8,)), "feature_freq"),
                                       (dict(feature_freq=(0.8, 0.0)), r"feature_freq\[1\]"),
                                       (dict(feature_strength=(1.0, -2.0)), r"feature_strength\[1\]"),
                                       (dict(feature_strength=None), "feature_strength"),
                                       (dict(data="gaussian"), "data='features' only"), (dict(d=2), "d")])
def test_setup_rejects_bad_feature_parameters(bad, match):
    with pytest.raises(ValueError, match=match):
        _setup(**bad)


def test_meanfield_dispatches_and_refuses_what_is_not_derived():
    sol = mftheory.meanfield(_setup(), 10)
    assert isinstance(sol, FeatureSolution) and sol.kappa_features.shape == (11, 2)
    cubic = Loss("cubic_hinge", sp.Max(0, S.h - S.z) ** 3 / 3)   # a user's loss: not derived for this law
    with pytest.raises(ValueError, match="loss must be one of 'hinge', 'logistic', 'quadratic_hinge'"):
        meanfield_features(_setup(loss=cubic), 10)


def test_meanfield_matches_simulation_and_starves_the_rare_feature():
    setup = _setup(feature_strength=(1.0, 1.0))
    sol = meanfield_features(setup, 100)
    sim = simulate(setup, N=40_000, steps=100, seed=1, n_test=0, record_steps=[100])
    slopes = feature_slopes(setup, sim.a_final, sim.W_final)
    # 3 x (1/sqrt(M) blur + sample noise of the N f_U driving examples), relative
    np.testing.assert_allclose(slopes, sol.kappa_features[100], rtol=3 * (1 / math.sqrt(200) + 0.02))
    assert sol.kappa_features[100, 1] < 0.6 * sol.kappa_features[100, 0]   # equal strength, rarer: slower
    # the node map acts as derived: the covariance's a-w_k entry gives kappa_k
    a0, w0 = np.random.default_rng(0).standard_normal(50_000), np.random.default_rng(1).standard_normal((50_000, 2))
    nodes = sol.node(a0, w0)
    measured = 0.5 * (nodes[-1, 0] * nodes[-1, 1:]).mean(axis=1) / math.sqrt(setup.d)
    np.testing.assert_allclose(measured, sol.kappa_features[-1], rtol=0.05)


def test_logistic_drift_matches_mpmath():
    """The generated quadrature of the logistic loss's drift against two-dimensional mpmath quadrature."""
    from mftheory.kernels.generated import features_logistic as L

    k1, k2, mu1, mu2, p1, p2, h = 0.7, 0.4, 1.0, 1.5, 0.8, 0.3, 1.0
    with mp.workdps(15):
        G1, G2 = _mp_logistic_drift(k1, k2, mu1, mu2, p1, p2)
    assert L.drift_at(k1, k2, mu1, mu2, p1, p2, h) == pytest.approx((float(G1), float(G2)), rel=1e-9)


def _mp_logistic_drift(k1, k2, mu1, mu2, p1, p2):
    """The logistic drift by two-dimensional mpmath quadrature, at the caller's working precision. The test runs it
    at 15 digits, set locally: the module-wide mp.dps is overwritten by whichever test module pytest imports last
    (40 digits in the full suite), and the 2-D tanh-sinh quadrature's cost grows steeply with the digits (measured: 7 s
    at 15, 35 s at 25; 65 s in a full run, at 40). 15 digits are enough for a reference checked at rel=1e-9: the values
    at 15, 20 and 25 digits agree to 1e-16 and each is within 4e-14 of the kernel."""
    u = lambda z: 1 / (1 + mp.exp(z))
    half = lambda g: 2 * mp.npdf(g)
    a, b = k1 * mu1, k2 * mu2
    one = lambda s: mp.quad(lambda g: u(s * g) * g * half(g), [0, 5, mp.inf])
    both = lambda s, t: mp.quad(lambda g1, g2: u(s * g1 + t * g2) * g1 * half(g1) * half(g2), [0, 5, mp.inf], [0, 5, mp.inf])
    z = 1 - (1 - p1) * (1 - p2)
    G1 = (p1 * (1 - p2) * mu1 * one(a) + p1 * p2 * mu1 * both(a, b)) / z
    G2 = ((1 - p1) * p2 * mu2 * one(b) + p1 * p2 * mu2 * both(b, a)) / z
    return G1, G2


def test_logistic_meanfield_matches_simulation():
    setup = _setup(loss="logistic", feature_strength=(1.0, 1.0))
    sol = meanfield_features(setup, 100)
    sim = simulate(setup, N=40_000, steps=100, seed=2, n_test=0, record_steps=[100])
    np.testing.assert_allclose(feature_slopes(setup, sim.a_final, sim.W_final), sol.kappa_features[100],
                               rtol=3 * (1 / math.sqrt(200) + 0.02))


@pytest.mark.parametrize("k1,k2", [(0.7, 0.4), (2.0, 0.05), (1e-3, 1.2)])
def test_quadratic_hinge_drift_matches_mpmath(k1, k2):
    """The quadratic hinge's drift (closed form but for the triangle's mass) against two-dimensional mpmath
    quadrature of u(z) = max(h - z, 0), written from the loss's definition."""
    from mftheory.kernels.generated import features_quadratic_hinge as Q

    mu1, mu2, p1, p2, h = 1.0, 1.5, 0.8, 0.3, 1.0
    half = lambda g: 2 * mp.npdf(g)
    a, b = k1 * mu1, k2 * mu2
    with mp.workdps(20):
        one = lambda s: mp.quad(lambda g: (h - s * g) * g * half(g), [0, h / s])
        both = lambda s, t: mp.quad(lambda g1: g1 * half(g1) * mp.quad(lambda g2: (h - s * g1 - t * g2) * half(g2),
                                                                       [0, (h - s * g1) / t]), [0, min(h / s, 40)])
        z = 1 - (1 - p1) * (1 - p2)
        G1 = (p1 * (1 - p2) * mu1 * one(a) + p1 * p2 * mu1 * both(a, b)) / z
        G2 = ((1 - p1) * p2 * mu2 * one(b) + p1 * p2 * mu2 * both(b, a)) / z
    assert Q.drift_at(k1, k2, mu1, mu2, p1, p2, h) == pytest.approx((float(G1), float(G2)), rel=1e-10)


def test_quadratic_hinge_meanfield_matches_simulation():
    """Tolerance as for the hinge: 3 x (the 1/sqrt(M) blur of the finite init + 2% sample noise of the N f_U
    examples that drive the slopes at N = 40000), relative."""
    setup = _setup(loss="quadratic_hinge", feature_strength=(1.0, 1.0))
    sol = meanfield_features(setup, 100)
    sim = simulate(setup, N=40_000, steps=100, seed=3, n_test=0, record_steps=[100])
    np.testing.assert_allclose(feature_slopes(setup, sim.a_final, sim.W_final), sol.kappa_features[100],
                               rtol=3 * (1 / math.sqrt(200) + 0.02))
    hinge = meanfield_features(_setup(feature_strength=(1.0, 1.0)), 100)
    # and it is not the hinge's: a dispatch to the hinge kernels would fail here
    assert not np.allclose(sol.kappa_features[100], hinge.kappa_features[100], rtol=0.05)


@pytest.mark.parametrize("loss", ["hinge", "quadratic_hinge", "logistic"])
def test_generated_modules_are_the_derivation_golden_text(loss):
    from mftheory.derivations.build import GENERATED_DIR
    from mftheory.derivations.features import derive_features
    from mftheory.derivations.features_codegen import features_module_source

    strip = lambda text: [line for line in text.splitlines() if not line.startswith("# sympy: ")]
    assert strip(features_module_source(derive_features(loss))) == strip(
        (GENERATED_DIR / f"features_{loss}.py").read_text())


def test_starvation_sweep_runs_and_draws(tmp_path):
    from mftheory.validate.sweeping.quadratic import point_sweep
    from mftheory.validate.sweeping.starvation import FIELDS, compute_starvation_point, plot_starvation

    points = [dict(loss=loss, p_1=0.8, p_2=0.4, d=8, M=20, N=500, eta=50.0, steps=3000)
              for loss in ("hinge", "logistic")]
    table = point_sweep(compute_starvation_point, FIELDS, points, 1, tmp_path, workers=2, progress=False)
    assert len(table) == 2 and (table["kappa_2_theory_t3000"] > 0).all() and (table["kappa_1_sim_t300"] > 0).all()
    result = plot_starvation(table, tmp_path)
    assert result["figure"].exists() and "hinge, t=3000" in result["numbers"]


def test_spectral_decoupling_output_moments_match_monte_carlo():
    """C_jk = E[x_j x_k] (derivations/features.py) against the law drawn by the simulator."""
    X, _ = draw_feature_examples(np.random.default_rng(3), 400_000, 4, (0.8, 0.3), (1.0, 1.5))
    measured = np.array([np.mean(X[:, 0] ** 2), np.mean(X[:, 0] * X[:, 1]), np.mean(X[:, 1] ** 2)])
    sd = np.array([np.std(X[:, 0] ** 2), np.std(X[:, 0] * X[:, 1]), np.std(X[:, 1] ** 2)]) / math.sqrt(len(X))
    derived = np.array(K.output_moments(1.0, 1.5, 0.8, 0.3))
    assert np.all(np.abs(derived - measured) < 4 * sd), (derived, measured, sd)


def test_spectral_decoupling_step_is_the_penalised_gradient():
    """One simulated GD step with spectral decoupling against the gradient of l(y f) + (lambda/2) f^2 written out in
    NumPy (the screening is off: every example pulls)."""
    setup = _setup(loss="hinge", spectral_decoupling=0.3, M=7, d=5)
    X, y = draw_feature_examples(np.random.default_rng(4), 300, 5, (0.8, 0.3), (1.0, 1.5))
    rng = np.random.default_rng(5)
    a0, W0 = rng.standard_normal(7), rng.standard_normal((7, 5))
    sim = simulate(setup, X=X, y=y, a0=a0, W0=W0, steps=1, n_test=0, record_steps=[1])
    Z = X @ W0.T / math.sqrt(5)
    f = setup.alpha / 7 * np.maximum(Z, 0) @ a0
    pull = (y * f < setup.h) * y - 0.3 * f                      # -dl/df of each example
    a1 = a0 + setup.beta / 300 * np.maximum(Z, 0).T @ pull
    W1 = W0 + setup.beta / (math.sqrt(5) * 300) * a0[:, None] * (((Z > 0) * pull[:, None]).T @ X)
    np.testing.assert_allclose(sim.a_final, a1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(sim.W_final, W1, rtol=1e-12, atol=1e-12)
    assert not sim.screened


def test_spectral_decoupling_meanfield_matches_simulation_and_lifts_the_rare_feature():
    """Logistic loss, lambda = 0.05: the penalty stops the slopes' growth; the mean field with the derived drift
    against GD (same tolerance as without the penalty), and the penalty visibly changes the slopes."""
    setup = _setup(loss="logistic", feature_strength=(1.0, 1.0), spectral_decoupling=0.05)
    sol = meanfield_features(setup, 150)
    plain = meanfield_features(setup.replace(spectral_decoupling=0.0), 150)
    sim = simulate(setup, N=40_000, steps=150, seed=2, n_test=0, record_steps=[150])
    rtol = 3 * (1 / math.sqrt(200) + 0.02)
    np.testing.assert_allclose(feature_slopes(setup, sim.a_final, sim.W_final), sol.kappa_features[150], rtol=rtol)
    assert np.all(np.abs(sol.kappa_features[150] / plain.kappa_features[150] - 1) > 2 * rtol)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "x"])
def test_spectral_decoupling_is_validated_and_refused_where_not_derived(bad):
    with pytest.raises(ValueError, match="spectral_decoupling"):
        _setup(spectral_decoupling=bad)
    with pytest.raises(ValueError, match="spectral_decoupling > 0 is derived for data='features' only"):
        mftheory.meanfield(mftheory.fig1_setup(spectral_decoupling=0.1), 10)
    cubic = Loss("cubic_hinge", sp.Max(0, S.h - S.z) ** 3 / 3)
    with pytest.raises(ValueError, match="spectral_decoupling > 0 is simulated on backend='cpu' with the built-in"):
        simulate(mftheory.fig1_setup(d=5, M=4, loss=cubic, spectral_decoupling=0.1), N=10, steps=1)


def test_error_curve_midpoint_is_where_the_median_example_is_satisfied():
    """The one-feature curve erf(h / (sqrt 2 kappa mu)) crosses 1/2 where kappa mu = h / (sqrt 2 erfinv(1/2)) (the
    median of |g| is sqrt 2 erfinv(1/2)); the widths follow from the crossings and the growth rate."""
    from scipy.special import erfinv

    setup = _setup(feature_strength=(1.0, 1.0), feature_freq=(0.8, 0.2))
    sol = meanfield_features(setup, 300)
    shape = sol.error_curve(0)
    target = setup.h / (math.sqrt(2) * erfinv(0.5))
    t = np.arange(301)
    assert np.interp(shape.midpoint, t, sol.kappa_features[:, 0]) == pytest.approx(target, rel=0.01)
    assert shape.start < shape.midpoint < shape.end and shape.width == shape.end - shape.start
    assert shape.sigmoid_width == pytest.approx(math.log(erfinv(0.9) / erfinv(0.1)) / shape.rate, rel=1e-12)
    assert math.isnan(sol.error_curve(1).end)          # the starved feature is not 90% satisfied by step 300
    with pytest.raises(ValueError, match="k must be a feature index in \\[0, 1\\]"):
        sol.error_curve(2)


def test_first_crossing_interpolates_and_says_never():
    from mftheory.features import first_crossing

    assert first_crossing(np.array([1.0, 0.8, 0.4, 0.2]), 0.5) == pytest.approx(1.75)
    assert first_crossing(np.array([0.3, 0.2]), 0.5) == 0.0
    assert math.isnan(first_crossing(np.array([1.0, 0.9]), 0.5))


def test_node_moments_give_kappa_and_the_finite_width_test_error_matches_a_monte_carlo():
    """The node covariance carried by the node maps gives kappa_k = alpha c E[a w_k] / sqrt(d) exactly; the finite-M
    test error of the examples with one feature (frozen-init law) against a Monte Carlo of that law: M = 400 nodes
    drawn from the mean-field node law N(0, C(t)) with noise weights N(0, sigma_w^2), F_M on fresh examples with
    that feature alone, 100 draws of the nodes, each with 4000 fresh examples (standard error about 2-3%, from the
    draws' spread: fresh examples per draw keep it honest). The kernel takes F_M Gaussian, exact as M -> infinity
    (at M = 50 the nodes' sum is skewed enough to move the error by 15%). Tolerance 3 standard errors."""
    from mftheory.validate.simulator import network_output

    setup = _setup(M=400, feature_strength=(1.0, 0.7))
    sol = meanfield_features(setup, 60)
    C = sol.node_moments()
    c = (1 + setup.slope) / 2
    assert sol.kappa_features == pytest.approx(setup.alpha * c * C[:, 0, 1:] / math.sqrt(setup.d), rel=1e-12)
    predicted = sol.finite_width_test_error(feedback=False)
    rng = np.random.default_rng(5)
    t = 60
    for k, freq in ((0, (1.0, 0.0)), (1, (0.0, 1.0))):
        errors = []
        for _ in range(100):
            X, y = draw_feature_examples(rng, 4000, setup.d, freq, setup.feature_strength)
            nodes = rng.multivariate_normal(np.zeros(3), C[t], size=setup.M)
            W = np.column_stack([nodes[:, 1:], rng.normal(0.0, setup.sigma_w, (setup.M, setup.d - 2))])
            errors.append(np.mean(y * network_output(setup, nodes[:, 0], W, X) < 0))
        se = np.std(errors, ddof=1) / math.sqrt(len(errors))
        assert abs(predicted[t, k] - np.mean(errors)) < 3 * se, (k, predicted[t, k], np.mean(errors), se)
        assert predicted[t, k] > 0.005
