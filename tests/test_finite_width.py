"""Finite-width corrections: the derived variance against Monte Carlo, kernels against SymPy/mpmath."""
import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import mftheory
from mftheory.derivations import symbols as S
from mftheory.derivations.finite_width import derive_finite_width
from mftheory.finite_size import finite_width
from mftheory.kernels.generated import finite_width_leaky_relu, finite_width_relu
from mftheory.dynamics import meanfield

@pytest.fixture(autouse=True)
def _mpmath_digits():
    """This module's mpmath precision, set around each test: a module-level ``mp.dps`` is overwritten by whichever
    test module is imported last (a 50-digit check then ran at 30)."""
    with mp.workdps(30):
        yield



def test_relu_variance_is_the_design_form():
    """(alpha^2/M)(2 V_a V_z + 3 C^2)/4, the ReLU node variance worked out by hand, symbolically."""
    D = derive_finite_width("relu")
    by_name = {str(s): s for s in D.node_variance.free_symbols}
    Va, Vz, C = by_name["V_a"], by_name["V_z"], by_name["C"]
    assert sp.simplify(D.node_variance - (2 * Va * Vz + 3 * C**2) / 4) == 0


@pytest.mark.parametrize("activation,leak", [("relu", 0.0), ("leaky_relu", 0.2)])
def test_output_variance_matches_monte_carlo_over_inits(activation, leak):
    """Nodes drawn from their init law and moved by the mean-field map; Var of alpha a sigma(z) at fixed x."""
    setup = mftheory.Setup(d=30, alpha=1.0, h=1.0, eta=100.0, M=50, activation=activation, leak=leak)
    sol = meanfield(setup, 40)
    rng = np.random.default_rng(7)
    n = 400_000
    a0, w0 = rng.standard_normal(n), rng.standard_normal(n)
    a, w = sol.node(a0, w0)
    a, w = a[-1], w[-1]
    x_par, r = 0.8, math.sqrt(setup.d - 1)
    z = (w * x_par + rng.standard_normal(n) * r) / math.sqrt(setup.d)  # w_perp . x_perp ~ N(0, r^2)
    out = setup.alpha * a * np.maximum(z, setup.slope * z)
    mc = out.var() / setup.M
    fw = finite_width(sol)
    m = fw.moments[-1]
    kernel = finite_width_relu if activation == "relu" else finite_width_leaky_relu
    theory = kernel.output_variance(x_par, r**2, m[0], m[1], m[2], 1.0, float(setup.M), float(setup.d), 1.0, leak)
    assert theory == pytest.approx(mc, rel=0.02)  # MC relative sd ~ sqrt(2/n) * kurtosis factor < 0.5%


def test_kernels_match_sympy_and_mpmath():
    D = derive_finite_width("leaky_relu")
    rng = np.random.default_rng(3)
    for _ in range(5):
        vals = {S.m_a2: rng.uniform(0.5, 30), S.m_w2: rng.uniform(0.5, 30), S.m_aw: rng.uniform(0.1, 20),
                S.alpha: rng.uniform(0.5, 2), S.M: float(rng.integers(10, 1000)), S.d: float(rng.integers(5, 200)),
                S.sigma_w: rng.uniform(0.5, 2), S.leak: rng.uniform(0, 0.5), S.h: rng.uniform(0.1, 2),
                S.x_par: rng.uniform(-2, 2), S.r2: rng.uniform(1, 200)}
        args = [float(vals[s]) for s in (S.m_a2, S.m_w2, S.m_aw, S.alpha, S.M, S.d, S.sigma_w, S.leak)]
        k = finite_width_leaky_relu
        assert k.output_variance(float(vals[S.x_par]), float(vals[S.r2]), *args) == \
            pytest.approx(float(sp.N(D.output_variance.subs(vals), 30)), rel=1e-12)
        assert k.band_sd(float(vals[S.h]), *args) == pytest.approx(float(sp.N(D.band_sd.subs(vals), 30)), rel=1e-12)
        (integral,) = [i for i in sp.preorder_traversal(D.test_error.value) if isinstance(i, sp.Integral)]
        f = sp.lambdify(S.x, integral.function.subs(vals), "mpmath")
        assert k.test_error(*args) == pytest.approx(float(mp.quad(f, [0, mp.inf])), rel=1e-10)


def test_finite_width_prediction_shrinks_like_one_over_sqrt_m():
    small = finite_width(meanfield(mftheory.fig1_setup(M=100, eta=250.0), 300))
    large = finite_width(meanfield(mftheory.fig1_setup(M=1600, eta=4000.0), 300))  # same beta, same mean field
    assert large.band_sd[-1] / small.band_sd[-1] == pytest.approx(0.25, rel=1e-9)
    assert 0 < large.test_error[-1] < small.test_error[-1]
    with pytest.raises(ValueError, match="data must be 'gaussian'"):
        finite_width(meanfield(mftheory.fig1_setup(data="sphere"), 5))


def test_hermite_parts_match_monte_carlo_and_the_mean():
    """Common (E over x_perp) and linear (E[xi .]) parts of each node's output for sampled nodes (with their own
    |w_perp|, which the kernels replace by its mean): their init variances against the generated kernels."""
    setup = mftheory.Setup(d=30, alpha=1.0, h=1.0, eta=100.0, M=50)
    sol = meanfield(setup, 40)
    m = finite_width(sol).moments[-1]
    rng = np.random.default_rng(11)
    nodes = 20000  # the node count sets the error of the variances (heavy-tailed a)
    a0, w0 = rng.standard_normal(nodes), rng.standard_normal(nodes)
    a, w = (v[-1] for v in sol.node(a0, w0))
    w_perp_norm = np.linalg.norm(rng.standard_normal((nodes, setup.d - 1)), axis=1)
    x_par = 0.6
    # xi = w_perp . x_perp / |w_perp| ~ N(0, 1) for one node: Gauss-Hermite nodes instead of samples, whose own
    # second moment would bias c1 by several percent
    xi, weight = np.polynomial.hermite_e.hermegauss(120)
    weight = weight / math.sqrt(2 * math.pi)
    z = (w[:, None] * x_par + w_perp_norm[:, None] * xi[None, :]) / math.sqrt(setup.d)
    act = np.maximum(z, 0.0)
    c0, c1 = act @ weight, (act * xi[None, :]) @ weight
    args = (m[0], m[1], m[2], 1.0, float(setup.M), float(setup.d), 1.0, 0.0)
    k = finite_width_relu
    assert k.common_mean(x_par, *args) == pytest.approx(m[2] * x_par / (2 * math.sqrt(setup.d)), rel=1e-10)
    common = k.common_second(x_par, *args) - k.common_mean(x_par, *args) ** 2
    assert common == pytest.approx(np.var(a * c0), rel=0.05)
    assert k.linear_second(x_par, *args) == pytest.approx(np.mean(a**2 * c1**2), rel=0.05)


@pytest.mark.parametrize("leak", [0.0, 0.2])
def test_the_linear_parts_bend_matches_monte_carlo_and_is_what_the_tilt_leaves(leak):
    """The part of each node's linear coefficient c_1 odd in w_par x_par (the bend of F's linear part with
    |x_par|): c_1 at +-x_par for sampled nodes (Gauss-Hermite over xi, each node's own |w_perp|), its odd half's
    second moments against the generated kernels at one point and between two, within the node count's 5%; and,
    the even half being the flat (1 + s) s_hat / 2 for a (leaky) ReLU, the whole linear variance is the flat part's
    plus the bend's (an identity between two kernels, to rounding)."""
    setup = mftheory.Setup(d=30, alpha=1.0, h=1.0, eta=100.0, M=50, activation="leaky_relu" if leak else "relu",
                           leak=leak)
    sol = meanfield(setup, 40)
    m = finite_width(sol).moments[-1]
    rng = np.random.default_rng(12)
    nodes = 20000
    a0, w0 = rng.standard_normal(nodes), rng.standard_normal(nodes)
    a, w = (v[-1] for v in sol.node(a0, w0))
    w_perp_norm = np.linalg.norm(rng.standard_normal((nodes, setup.d - 1)), axis=1)
    xi, weight = np.polynomial.hermite_e.hermegauss(120)
    weight = weight / math.sqrt(2 * math.pi)

    def c1(x_par):
        z = (w[:, None] * x_par + w_perp_norm[:, None] * xi[None, :]) / math.sqrt(setup.d)
        return (np.where(z > 0, z, leak * z) * xi[None, :]) @ weight

    def odd(x_par):
        return (c1(x_par) - c1(-x_par)) / 2

    k = finite_width_leaky_relu if leak else finite_width_relu
    args = (m[0], m[1], m[2], 1.0, float(setup.M), float(setup.d), 1.0, leak)
    x, y = 0.6, 0.25
    assert k.linear_odd_second(x, *args) == pytest.approx(np.mean(a**2 * odd(x) ** 2), rel=0.05)
    assert k.linear_odd_cross(x, y, *args) == pytest.approx(np.mean(odd(x) * odd(y)), rel=0.05)
    assert k.linear_odd_cross_a2(x, y, *args) == pytest.approx(np.mean(a**2 * odd(x) * odd(y)), rel=0.05)
    assert k.linear_odd_second(0.0, *args) == 0.0
    flat = (1 + leak) ** 2 / 4 * (setup.d - 1) / setup.d * m[0]    # E[a^2] ((1 + s) s_hat / 2)^2, sigma_w = 1
    for x_par in (0.0, 0.3, 1.5):
        assert k.linear_second(x_par, *args) == pytest.approx(flat + k.linear_odd_second(x_par, *args), rel=1e-9)
