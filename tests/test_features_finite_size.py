"""The tilt of F along the noise coordinates with the loss's feedback on the features law (mftheory.features_finite_size)
and the one-feature test error built on it."""
import math

import mpmath as mp
import numpy as np
import pytest

import mftheory
from mftheory.features import meanfield_features
from mftheory.kernels.generated import features_hinge as K


def _setup(**changes):
    base = dict(d=20, alpha=1.0, h=1.0, eta=500.0, M=200, data="features", feature_freq=(0.8, 0.2),
                feature_strength=(1.0, 1.0))
    return mftheory.Setup(**(base | changes))


@pytest.mark.parametrize("a, b, p_1, p_2, h", [(0.7, 1.3, 0.8, 0.2, 1.0), (2.0, 0.4, 0.5, 0.5, 0.8),
                                               (0.3, 0.3, 0.3, 0.9, 1.5), (5.0, 1e-3, 0.8, 0.2, 1.0)])
def test_margin_density_is_the_derivative_of_the_unsatisfied_mass(a, b, p_1, p_2, h):
    """The generated density of the margins at h against mpmath: d/dh of P(y F < h), summed over the presence
    patterns (the examples with both features by quadrature of the half-normal pair), 30 digits."""
    mp.mp.dps = 30
    a_, b_ = mp.mpf(a), mp.mpf(b)
    z = 1 - (1 - p_1) * (1 - p_2)

    def mass(x):
        single = lambda s: mp.erf(x / (mp.sqrt(2) * s))
        both = mp.quad(lambda t: 2 * mp.npdf(t) * mp.erf((x - a_ * t) / (b_ * mp.sqrt(2))), [0, x / a_])
        return (p_1 * (1 - p_2) * single(a_) + (1 - p_1) * p_2 * single(b_) + p_1 * p_2 * both) / z

    exact = float(mp.diff(mass, mp.mpf(h)))
    assert K.margin_density(a, b, h, p_1, p_2) == pytest.approx(exact, rel=1e-12, abs=1e-300)


def test_frozen_tilt_is_the_node_laws_and_the_feedback_only_shrinks_it():
    """Without the feedback, one noise coordinate of v = (1/M) sum a_i w_i has variance sigma_w^2 E[a^2] / M along the
    node law exactly; with it the tilt decays once margins reach the threshold; a fixed sample adds to it, the
    more the smaller N."""
    setup = _setup()
    sol = meanfield_features(setup, 120)
    frozen = sol.tilt_variance(feedback=False)
    assert frozen == pytest.approx(setup.sigma_w**2 * sol.node_moments()[:, 0, 0] / setup.M, rel=1e-12)
    with_feedback = sol.tilt_variance()
    assert np.all(with_feedback <= frozen * (1 + 1e-12)) and np.all(with_feedback[10:] < 0.7 * frozen[10:])
    assert with_feedback[-1] < 1e-6 * frozen[-1]
    small, large = sol.tilt_variance(N=20_000), sol.tilt_variance(N=80_000)
    assert np.all(small[20:] > large[20:]) and np.all(large[20:] > with_feedback[20:])
    fresh = sol.tilt_variance(N=20_000, sample="fresh")
    assert np.all(fresh[20:] < small[20:])   # fresh noise averages out over steps, one fixed set's does not


def test_tilt_propagation_against_the_nodes_it_sums():
    """The (K+1)-dimensional linear map of X = (1/M) sum_i (a_i, w_i1, w_i2) w_ik is checked against the nodes
    themselves: M nodes drawn from the init, each moved by the node map and by the hinge's drive along the noise,
    r = -rho_h alpha c v_noise / sqrt(d), through Delta a = beta c w_noise . r / sqrt(d), Delta w_noise = beta c a r /
    sqrt(d), at the quick suite's beta = eta alpha / M = 2.5, 16 steps (the feedback has taken the tilt to 1/40 of
    the frozen init's). Var v_k over 30 draws x 18 coordinates (540 samples: standard error sqrt(2/540) = 6.1% of
    the variance); the map leaves out the nodes' cross terms (1/M) sum_i w_ik w_il, l != k, a relative
    sqrt(d / M) = 3% per step, which the feedback carries (measured: 4% at this step, 8% at step 30). Tolerance:
    4 standard errors + twice that."""
    setup = _setup(M=20_000, eta=50_000.0)
    steps = 16
    sol = meanfield_features(setup, steps)
    predicted = sol.tilt_variance()
    from mftheory.features_finite_size import margin_responses

    density = margin_responses(sol)
    c, d = (1 + setup.slope) / 2, setup.d
    rng = np.random.default_rng(3)
    samples = []
    for _ in range(30):
        nodes = np.column_stack([rng.normal(0, setup.sigma_a, setup.M), rng.normal(0, setup.sigma_w, (setup.M, 2))])
        noise = rng.normal(0, setup.sigma_w, (setup.M, d - 2))
        for t in range(steps):
            v = (nodes[:, 0:1] * noise).mean(axis=0)
            r = -density[t] * setup.alpha * c * v / math.sqrt(d)
            moved = nodes @ sol.node_maps[t].T
            moved[:, 0] += setup.beta * c * (noise @ r) / math.sqrt(d)
            noise = noise + setup.beta * c * nodes[:, 0:1] * r / math.sqrt(d)
            nodes = moved
        samples.append((nodes[:, 0:1] * noise).mean(axis=0))
    measured = np.var(np.concatenate(samples))
    assert predicted[-1] < 0.05 * sol.tilt_variance(feedback=False)[-1]   # the check is on the feedback's regime
    assert measured == pytest.approx(predicted[-1], rel=4 * math.sqrt(2 / 540) + 2 * math.sqrt(d / setup.M))


@pytest.mark.parametrize("loss", ["hinge", "quadratic_hinge", "logistic"])
def test_feedback_test_error_lies_below_the_frozen_init(loss):
    sol = meanfield_features(_setup(loss=loss), 150)
    frozen, fed = sol.finite_width_test_error(feedback=False), sol.finite_width_test_error()
    assert fed.shape == frozen.shape == (151, 2)
    late = slice(30, None)
    assert np.all(fed[late] < frozen[late]) and np.all(fed[late] > 0)


def test_one_feature_test_error_against_adaptive_quadrature():
    """The compiled average over |g| (Gauss-Legendre panels) against scipy's adaptive quadrature of the same
    composition: the rest's variance (whole - common - linear over d - 2 noise coordinates, from the generated
    finite-width kernels) plus the tilt's, at four steps; 1e-10 relative."""
    from scipy import integrate, special

    from mftheory.kernels.generated import finite_width_relu as fw

    setup = _setup()
    sol = meanfield_features(setup, 150)
    predicted = sol.finite_width_test_error()
    moments, tilt = sol.node_moments(), sol.tilt_variance()
    c, d, M, alpha = 0.5, float(setup.d), float(setup.M), setup.alpha
    for t in (5, 20, 75, 150):
        C = moments[t]
        args = (C[0, 0], C[2, 2], C[0, 2], alpha, M, d, setup.sigma_w, setup.slope)
        extra = (alpha * c) ** 2 * (d - 2) / d * tilt[t]

        def integrand(x):
            whole = fw.output_variance(x, d - 2, *args)
            common = fw.common_second(x, *args) - fw.common_mean(x, *args) ** 2
            linear = fw.linear_second(x, *args) * (d - 2) / (d - 1)
            var = max(whole - alpha**2 / M * (common + linear), 0.0) + extra
            return 2 * math.exp(-x * x / 2) / math.sqrt(2 * math.pi) * 0.5 * special.erfc(
                sol.kappa_features[t, 1] * x / math.sqrt(2 * var))

        exact = integrate.quad(integrand, 0, 12, limit=200, epsabs=1e-14, epsrel=1e-12)[0]
        assert predicted[t, 1] == pytest.approx(exact, rel=1e-10)


def test_a_smaller_training_set_raises_the_one_feature_test_error():
    """With N given the tilt carries the sample's part: the error on one-feature examples falls towards N = None."""
    sol = meanfield_features(_setup(), 120)
    errors = [sol.finite_width_test_error(N=n)[30:, 1] for n in (10_000, 40_000, 160_000)] + \
        [sol.finite_width_test_error()[30:, 1]]
    for larger, smaller in zip(errors, errors[1:]):
        assert np.all(larger > smaller)
    with pytest.raises(ValueError, match="N is used by the tilt's sample part, which needs feedback=True"):
        sol.finite_width_test_error(feedback=False, N=1000)


def test_what_the_feedback_is_not_derived_for_is_an_error():
    sol = meanfield_features(_setup(loss="logistic"), 10)
    with pytest.raises(ValueError, match="sample's part of the tilt is derived for the hinge loss.*N=None"):
        sol.tilt_variance(N=1000)
    assert sol.tilt_variance(N=1000, feedback=False).shape == (11,)
    decoupled = meanfield_features(_setup(loss="logistic", spectral_decoupling=0.05), 10)
    with pytest.raises(ValueError, match="without spectral decoupling.*feedback=False"):
        decoupled.finite_width_test_error()
    hinge = meanfield_features(_setup(), 10)
    with pytest.raises(ValueError, match="sample must be one of 'fixed', 'fresh'"):
        hinge.tilt_variance(N=100, sample="online")
    with pytest.raises(ValueError, match="N"):
        hinge.tilt_variance(N=0)


def _mp_response(loss, a, b, p_1, p_2, h):
    """-E[u'(a s_1 |g_1| + b s_2 |g_2|)] over the presence patterns by mpmath quadrature (u' from its definition;
    the logistic loss's pair by scipy's adaptive rule)."""
    slope = {"quadratic_hinge": lambda z: -1 if z < h else 0,
             "logistic": lambda z: -mp.exp(z) / (1 + mp.exp(z)) ** 2}[loss]
    half = lambda f: mp.quad(lambda g: 2 * mp.npdf(g) * f(g), [0, h / a, mp.inf] if loss != "logistic" else [0, mp.inf])
    single = lambda s: mp.quad(lambda g: 2 * mp.npdf(g) * slope(s * g), [0, h / s, mp.inf])
    if loss == "logistic":   # scipy's adaptive 2-D rule (mpmath's takes 20 s here); the density is 1e-31 past 12
        from scipy import integrate

        both = integrate.dblquad(lambda g2, g1: 4 * math.exp(-(g1 * g1 + g2 * g2) / 2) / (2 * math.pi)
                                 * float(slope(mp.mpf(a * g1 + b * g2))), 0, 12, 0, 12, epsabs=1e-14, epsrel=1e-13)[0]
    else:
        both = half(lambda g: mp.erf(max(h - a * g, 0) / (mp.sqrt(2) * b)) * -1)
    z = 1 - (1 - p_1) * (1 - p_2)
    return -float((p_1 * (1 - p_2) * single(a) + (1 - p_1) * p_2 * single(b) + p_1 * p_2 * both) / z)


@pytest.mark.parametrize("loss", ["quadratic_hinge", "logistic"])
def test_margin_response_of_the_other_losses_against_mpmath(loss):
    """The generated -E[u'(y F)] (quadratic hinge: the unsatisfied fraction; logistic: tensor quadrature) against
    mpmath, 1e-10 relative."""
    import importlib

    kernels = importlib.import_module(f"mftheory.kernels.generated.features_{loss}")
    mp.mp.dps = 20
    for k1, k2, p_1, p_2 in ((0.7, 1.3, 0.8, 0.2), (2.0, 0.4, 0.5, 0.5)):
        got = kernels.margin_response(k1, k2, 1.0, 1.0, p_1, p_2, 1.0)
        assert got == pytest.approx(_mp_response(loss, k1, k2, p_1, p_2, 1.0), rel=1e-10)
