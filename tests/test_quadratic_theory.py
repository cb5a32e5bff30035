"""The quadratic network's long-time theory: SymPy results and generated kernels against independent numerics
(mpmath at high precision, Monte Carlo of random matrices)."""
import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from mftheory.derivations import quadratic as Q
from mftheory.derivations.quadratic import derive_quadratic
from mftheory.kernels.generated import quadratic as K
from mftheory.quadratic import QuadraticSetup, long_time, thresholds

@pytest.fixture(autouse=True)
def _mpmath_digits():
    """This module's mpmath precision, set around each test: a module-level ``mp.dps`` is overwritten by whichever
    test module is imported last (a 50-digit check then ran at 30)."""
    with mp.workdps(40):
        yield



@pytest.fixture(scope="module")
def derivation():
    return derive_quadratic()


def _goe(rng, d):
    h = rng.normal(0.0, math.sqrt(1.0 / (2 * d)), (d, d))
    return h + h.T


def _teacher(rng, d, kappa_star):
    m = int(round(kappa_star * d))
    w = rng.normal(0.0, 1.0 / math.sqrt(m), (d, m))
    return w @ w.T


def _mp_density(x, s, ks):
    """-Im G / pi from mpmath's roots of the cubic, at 40 digits (independent of Cardano's formula)."""
    coefficients = [s, -ks * s - x, ks * x - ks + 1, -ks]
    roots = mp.polyroots([mp.mpf(c) for c in coefficients], maxsteps=200, extraprec=200)
    return max(0, max(-mp.im(r) for r in roots)) / mp.pi


@pytest.mark.parametrize("s,ks", [(0.2, 0.5), (0.01, 0.3), (1.5, 1.4), (0.05, 0.8)])
def test_density_matches_mpmath_roots(s, ks):
    support = K.support(s, ks)
    for left, right in support:
        for frac in (0.01, 0.3, 0.5, 0.77, 0.99):
            x = left + frac * (right - left)
            assert K.density(x, s, ks) == pytest.approx(float(_mp_density(x, s, ks)), rel=1e-8, abs=1e-10)
    # outside the support the density vanishes
    assert K.density(support[0, 0] - 0.05, s, ks) == 0.0
    assert K.density(support[-1, 1] + 0.05, s, ks) == 0.0


@pytest.mark.parametrize("s,ks", [(0.2, 0.5), (0.01, 0.3), (1.5, 1.4)])
def test_spectral_moments_match_free_cumulants(derivation, s, ks):
    """Mass 1 and the first three moments from the free cumulants (1, 1/ks + s, 1/ks^2), against the quadrature."""
    xs, ws = K.spectral_nodes(s, ks, 1e9)
    k1, k2, k3 = [float(c.subs({Q.s: s, Q.kappa_star: ks})) for c in derivation.free_cumulants]
    moments = [1.0, k1, k2 + k1**2, k3 + 3 * k1 * k2 + k1**3]
    for power, expected in enumerate(moments):
        assert float(np.sum(ws * xs**power)) == pytest.approx(expected, rel=1e-9)


def test_density_matches_random_matrices():
    """The eigenvalue CDF of Z* + sqrt(s) G (d = 600) at five points against the integrated density."""
    rng = np.random.default_rng(1)
    d, s, ks = 600, 0.1, 0.5
    eigenvalues = np.linalg.eigvalsh(_teacher(rng, d, ks) + math.sqrt(s) * _goe(rng, d))
    edges = sorted(float(e) for e in K.support(s, ks).ravel())
    for point in (-0.5, 0.2, 1.0, 2.5, 4.0):
        xs, ws = K.spectral_nodes(s, ks, point)  # panels split at the point: the CDF is a sum of whole panels
        predicted = float(np.sum(ws[xs < point]))
        breaks = [edges[0]] + [e for e in edges[1:] if e < point] + [point]
        exact_cdf = float(mp.quad(lambda x: _mp_density(x, s, ks), breaks)) if point > edges[0] else 0.0
        assert predicted == pytest.approx(exact_cdf, abs=1e-7)  # both quadratures reach about 1e-8
        # eigenvalue counts fluctuate by O(1/d) (rigidity) around the limit law
        assert np.mean(eigenvalues < point) == pytest.approx(exact_cdf, abs=5.0 / d)


def test_risk_matches_monte_carlo_denoising():
    """MSE = I_min2 - s + 2 s D (Stein's identity) against ||eta(Y) - Z*||^2 / d measured on random matrices."""
    rng = np.random.default_rng(2)
    d, s, ks, theta = 500, 0.15, 0.5, 0.4
    _, min2, D, rank, _ = K.spectral_functionals(s, ks, theta)
    predicted = K.risk(min2, s, D)
    errors = []
    for _ in range(3):
        z_star = _teacher(rng, d, ks)
        values, vectors = np.linalg.eigh(z_star + math.sqrt(s) * _goe(rng, d))
        estimate = (vectors * np.maximum(values - theta, 0.0)) @ vectors.T
        errors.append(np.sum((estimate - z_star) ** 2) / d)
    # the dropped O(d) part of the divergence and the d(d+1)/2 count are O(1/d) relative
    assert np.mean(errors) == pytest.approx(predicted, rel=3.0 / d + 0.01)


def test_divided_difference_of_a_threshold_at_zero_is_a_half_for_a_semicircle():
    """The PSD cone's statistical dimension: D(theta = 0) = 1/2 for a symmetric law (interpolation at 1/4 as
    Delta -> infinity)."""
    assert K.semicircle_divided_difference(0.0, 1.0) == pytest.approx(0.5, abs=1e-10)
    assert thresholds(0.7, 0.5, Delta=1e3).interpolation == 0.25
    # at s = 1e4, the largest s the quadrature takes, the threshold is within 2.2e-3 of the limit
    _, _, D, rank, _ = K.spectral_functionals(1e4, 0.5, 0.0)
    assert 0.25 < D / 2 < 0.25 + 2.2e-3 and 0.5 < rank < 0.504


def test_interpolation_threshold_with_label_noise():
    """lambda -> 0+: below the threshold the estimator fits the data (theta > 0, D = 2 alpha), above it the fit is
    positive. Checked against the long-time fixed point itself at a tiny penalty, on both sides; the threshold
    falls from the noiseless limit toward 1/4 as Delta grows; nan where its rank exceeds kappa; inf at Delta = 0."""
    found = [thresholds(0.9, 0.5, Delta=D) for D in (0.1, 1.0, 4.0, 30.0)]
    values = [f.interpolation for f in found]
    assert values == sorted(values, reverse=True) and 0.25 < values[-1] < values[0] < 0.4375
    one = found[1]
    assert one.interpolation == pytest.approx(0.30696, abs=1e-4) and one.interpolation_rank == pytest.approx(0.5834, abs=1e-3)
    below, above = long_time(QuadraticSetup(0.9, 0.5, 1e-5, Delta=1.0), [0.95 * one.interpolation, 1.05 * one.interpolation]).in_sample_error
    assert below < 1e-6 < 1e-3 < above
    assert math.isnan(thresholds(0.55, 0.5, Delta=1.0).interpolation)   # rank 0.58 > kappa
    assert thresholds(0.7, 0.5).interpolation == math.inf and math.isnan(thresholds(0.4, 0.5).interpolation)


def test_semicircle_min2_matches_mpmath(derivation):
    v, t = mp.mpf("0.6"), mp.mpf("0.3")
    density = lambda u: mp.sqrt(max(4 * v - u * u, 0)) / (2 * mp.pi * v)   # no complex rounding at the edges
    exact = mp.quad(lambda u: min(u, t) ** 2 * density(u), [-2 * mp.sqrt(v), t, 2 * mp.sqrt(v)])
    assert K.semicircle_min2(0.3, 0.6) == pytest.approx(float(exact), rel=1e-12)
    symbolic = derivation.semicircle_min2.subs({Q.t: sp.Rational(3, 10), Q.v: sp.Rational(3, 5)})
    assert float(symbolic.evalf(30)) == pytest.approx(float(exact), rel=1e-25)


def test_recovery_risk_is_the_general_risk_at_small_noise():
    """M(t) (the s -> 0 limit, null block as a semicircle) against MSE(s, t sqrt(s)) / s at s = 1e-6."""
    ks, s = 0.5, 1e-6
    for t in (0.1, 0.3, 0.6):
        _, min2, D, _, _ = K.spectral_functionals(s, ks, t * math.sqrt(s))
        assert K.risk(min2, s, D) / s == pytest.approx(K.recovery_risk_at(t, ks), abs=5e-3)


def test_thresholds_limits():
    full = thresholds(1.5, 1.0)
    assert full.recovery_psd == 0.5 and full.recovery_lambda0 == 0.5
    assert thresholds(0.6, 0.3).recovery_lambda0 == pytest.approx(0.6 - 0.18)
    assert thresholds(0.2, 0.3).recovery_lambda0 == math.inf  # the network cannot represent Z*
    # fewer teacher directions need fewer examples
    values = [thresholds(2.0, ks).recovery_psd for ks in (0.1, 0.3, 0.5, 0.8)]
    assert values == sorted(values) and values[0] > 0


def test_generated_kernels_match_sympy(derivation):
    values = {Q.x: 0.7, Q.s: 0.3, Q.kappa_star: 0.4, Q.alpha: 0.6, Q.lam: 0.1, Q.theta: 0.5, Q.Delta: 0.3,
              Q.min2: 0.2, Q.D: 0.45, Q.mse: 0.25, Q.trace_z: 0.8}
    ev = lambda e: float(sp.sympify(e).subs(values))
    assert K.depressed_cubic(0.7, 0.3, 0.4) == pytest.approx(tuple(ev(e) for e in derivation.depressed), rel=1e-13)
    assert K.risk(0.2, 0.3, 0.45) == pytest.approx(ev(derivation.mse), rel=1e-14)
    assert K.noise(0.25, 0.6, 0.3) == pytest.approx(ev(derivation.noise), rel=1e-14)
    assert K.lambda_of_theta(0.5, 0.45, 0.6) == pytest.approx(ev(derivation.lambda_equation), rel=1e-14)
    assert K.train_loss(0.6, 0.3, 0.1, 0.5, 0.8) == pytest.approx(ev(derivation.train_loss), rel=1e-14)


def test_long_time_solves_its_fixed_point_and_limits():
    setup = QuadraticSetup(kappa=0.7, kappa_star=0.5, lam=0.1)
    pred = long_time(setup, [0.1, 0.4, 1.0])
    for i, a in enumerate(pred.alpha):
        residual, _ = K.fixed_point_residual(math.log(pred.s[i]), pred.theta[i], a, 0.1, 0.0, 0.5)
        assert max(map(abs, residual)) < 1e-9
    assert np.all(np.diff(pred.mse) < 0)  # more data, smaller test error
    assert pred.mse[0] < 1 + 1 / 0.5      # below the zero estimator's
    # a large penalty gives the zero estimator: MSE -> 1 + 1/kappa*, rank -> 0
    heavy = long_time(QuadraticSetup(kappa=0.7, kappa_star=0.5, lam=50.0), [0.5])
    assert heavy.mse[0] == pytest.approx(3.0, rel=1e-6) and heavy.rank[0] < 1e-6
    density, atom = pred.spectrum(1, [0.5, 1.0, 2.0])
    assert atom == pytest.approx(1 - pred.rank[1]) and np.all(density >= 0)


def test_rank_limited_map_matches_monte_carlo_denoising():
    """The rank-limited map (keep Y's kappa d largest eigenvalues above theta, each shifted by theta) on random
    matrices (d = 500, three draws): its risk ||f(Y) - Z*||^2 / d against Stein's identity with I_cut and D, and
    I_cut and D themselves against their sums over the eigenvalues."""
    rng = np.random.default_rng(3)
    d, s, ks, theta, kappa = 500, 0.15, 0.5, 0.4, 0.3
    cut = K.rank_cut(s, ks, kappa, theta)
    _, residual, D, rank, trace = K.cut_functionals(s, ks, theta, cut)
    assert cut > theta and rank == pytest.approx(kappa, abs=1e-12)
    errors, residuals, divergences, traces = [], [], [], []
    for _ in range(3):
        z_star = _teacher(rng, d, ks)
        values, vectors = np.linalg.eigh(z_star + math.sqrt(s) * _goe(rng, d))
        kept = np.zeros(d, dtype=bool)
        kept[np.argsort(values)[-int(round(kappa * d)):]] = True
        kept &= values > theta
        f = np.where(kept, values - theta, 0.0)
        errors.append(np.sum(((vectors * f) @ vectors.T - z_star) ** 2) / d)
        residuals.append(np.mean(np.where(kept, theta ** 2, values ** 2)))
        gaps, steps = values[:, None] - values[None, :], f[:, None] - f[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            divergences.append(np.sum(np.where(gaps != 0, steps / gaps, 0.0)) / d ** 2)
        traces.append(np.sum(f) / d)
    # the dropped O(d) part of the divergence (the eigenvalues' own derivatives and the jump at the cut) and the
    # d(d+1)/2 count are O(1/d) relative; the eigenvalue sums fluctuate by O(1/d) (rigidity)
    assert np.mean(errors) == pytest.approx(K.risk(residual, s, D), rel=3.0 / d + 0.01)
    assert np.mean(residuals) == pytest.approx(residual, rel=0.01)
    assert np.mean(divergences) == pytest.approx(D, rel=0.01)
    assert np.mean(traces) == pytest.approx(trace, rel=0.01)


def test_rank_limited_map_is_the_soft_threshold_where_it_keeps_less_than_kappa():
    s, ks, theta = 0.15, 0.5, 0.4
    rank = K.spectral_functionals(s, ks, theta)[3]
    assert K.rank_cut(s, ks, rank + 0.01, theta) == theta
    assert K.cut_functionals(s, ks, theta, theta) == K.spectral_functionals(s, ks, theta)
    # a cut just above theta removes only a sliver: the functionals move continuously
    near = K.cut_functionals(s, ks, theta, K.rank_cut(s, ks, rank - 1e-6, theta))
    assert np.allclose(near, K.spectral_functionals(s, ks, theta), atol=1e-4)


def test_long_time_below_the_teachers_width_is_rank_limited():
    """kappa = 0.3 < kappa* = 0.5: the convex estimator's rank (about 1/2) exceeds kappa at every alpha, so the
    prediction is the rank-limited fixed point: it solves its own equations, has rank kappa, keeps Y's spectrum
    above a cut above theta, and errs more than the convex estimator (which the network cannot represent)."""
    setup = QuadraticSetup(kappa=0.3, kappa_star=0.5, lam=0.1)
    alphas = [0.3, 0.5, 1.0]
    pred, convex = long_time(setup, alphas), long_time(setup.replace(kappa=1.0), alphas)
    assert np.all(pred.rank_limited) and not np.any(convex.rank_limited)
    for i, a in enumerate(alphas):
        residual, functionals = K.rank_limited_residual(math.log(pred.s[i]), pred.theta[i], a, 0.1, 0.0, 0.5, 0.3)
        assert max(map(abs, residual)) < 1e-9 and functionals[5] == pytest.approx(pred.cut[i])
    assert np.allclose(pred.rank, 0.3, atol=1e-9) and np.all(pred.cut > pred.theta)
    assert np.all(pred.mse > convex.mse) and np.all(np.diff(pred.mse) < 0)
    density, atom = pred.spectrum(0, [0.5 * (pred.cut[0] - pred.theta[0]), 2.0 * (pred.cut[0] - pred.theta[0])])
    assert density[0] == 0.0 and density[1] > 0 and atom == pytest.approx(0.7)


@pytest.mark.parametrize("bad,match", [(dict(kappa=0.0), "kappa"), (dict(lam=-1.0), "lam"), (dict(d=1), "d"),
                                       (dict(data="sphere"), "data"), (dict(Delta=float("nan")), "Delta")])
def test_setup_rejects_bad_input(bad, match):
    kwargs = dict(kappa=0.7, kappa_star=0.5, lam=0.1) | bad
    with pytest.raises(ValueError, match=match):
        QuadraticSetup(**kwargs)


def test_long_time_rejects_zero_penalty_and_bad_alpha():
    with pytest.raises(ValueError, match="lam"):
        long_time(QuadraticSetup(kappa=0.7, kappa_star=0.5, lam=0.0), [0.5])
    with pytest.raises(ValueError, match="alpha"):
        long_time(QuadraticSetup(kappa=0.7, kappa_star=0.5, lam=0.1), [0.5, -1.0])


def test_generated_module_is_the_derivation_golden_text(derivation):
    """Regenerating the committed module from the derivation gives the same text (SymPy's version aside)."""
    from mftheory.derivations.build import GENERATED_DIR
    from mftheory.derivations.quadratic_codegen import quadratic_module_source

    strip = lambda text: [line for line in text.splitlines() if not line.startswith("# sympy: ")]
    assert strip(quadratic_module_source(derivation)) == strip((GENERATED_DIR / "quadratic.py").read_text())
