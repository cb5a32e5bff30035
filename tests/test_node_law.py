"""The node law with the loss's feedback on each node (derivations/fluctuations.py steps self_pull, turn_growth,
self_pull_law; mftheory.node_law): the generated shares and turns, the Gaussian factors and the recursion, each
against an independent number."""
import math

import numpy as np
import pytest
from scipy import integrate

import mftheory
from mftheory import kernels
from mftheory.kernels.generated import finite_width_leaky_relu, finite_width_relu

HERMITE = [lambda x: 1.0, lambda x: x, lambda x: x * x - 1.0]


def _shares_by_quadrature(sigma, dsigma):
    """E[sigma_part(xi) sigma'(xi) xi] for the part of degree >= 3 (sigma less its Hermite terms of degree <= 2)
    and the degree-2 part, by scipy's quadrature of the definitions (shat = 1; both activations are 1-homogeneous)."""
    def mean(f):
        return sum(integrate.quad(lambda x: f(x) * math.exp(-x * x / 2) / math.sqrt(2 * math.pi), lo, hi,
                                  epsabs=1e-14, epsrel=1e-13)[0] for lo, hi in ((-np.inf, 0.0), (0.0, np.inf)))
    h = [mean(lambda x, k=k: sigma(x) * HERMITE[k](x)) for k in range(3)]
    low = lambda x: sum(h[k] * HERMITE[k](x) / math.factorial(k) for k in range(3))
    high = mean(lambda x: (sigma(x) - low(x)) * dsigma(x) * x)
    degree2 = mean(lambda x: h[2] * HERMITE[2](x) / 2 * dsigma(x) * x)
    return high, degree2


@pytest.mark.parametrize("name,expression", [("relu", "Max(0, z)"), ("leaky", "Max(z, z / 5)"),
                                             ("user", "Max(0, z) + z / 2"), ("abs", "Abs(z)"),
                                             ("square", "Max(0, z)**2"), ("erf", "erf(z)"),
                                             ("shifted", "Max(0, z) + 1 / 10"), ("softplus", "log(1 + exp(z))")])
def test_one_homogeneity_is_decided_as_a_numerical_check_finds_it(name, expression):
    """The derived flag (``_one_homogeneous``: sigma(c z) = c sigma(z) for every c > 0, which lets
    ``predict`` scale the rest by the node law's factor) against sigma evaluated at random z and c."""
    import sympy as sp

    from mftheory.derivations import symbols as S
    from mftheory.derivations.catalog import Activation
    from mftheory.derivations.finite_width import _one_homogeneous

    expr = sp.sympify(expression, locals={"z": S.z})
    sigma = sp.lambdify(S.z, expr, "mpmath")
    rng = np.random.default_rng(3)
    z, c = rng.normal(scale=2.0, size=40), rng.uniform(0.1, 5.0, size=40)
    numerically = all(abs(float(sigma(ci * zi)) - ci * float(sigma(zi))) <= 1e-12 * (1 + abs(ci * zi))
                      for zi, ci in zip(z, c))
    assert _one_homogeneous(*Activation(name, expr).branches) is numerically
    assert numerically is (name in ("relu", "leaky", "user", "abs"))


def test_the_generated_modules_carry_the_flag():
    assert finite_width_relu.ONE_HOMOGENEOUS is True and finite_width_leaky_relu.ONE_HOMOGENEOUS is True


@pytest.mark.parametrize("module,leak", [(finite_width_relu, 0.0), (finite_width_leaky_relu, 0.3)])
def test_the_generated_shares_are_the_quadrature_of_their_definition(module, leak):
    sigma = lambda x: x if x > 0 else leak * x
    dsigma = lambda x: 1.0 if x > 0 else leak
    high, degree2 = _shares_by_quadrature(sigma, dsigma)
    assert module.self_pull_high(1.0, 100.0, leak) == pytest.approx(high, rel=1e-10)
    assert module.self_pull_degree2(1.0, 100.0, leak) == pytest.approx(degree2, rel=1e-10)


def test_the_node_law_factors_are_a_monte_carlo_of_the_init():
    """E[exp(-v^T Q v)] and E[(p.v)^2 exp(-v^T Q v)] / E[(p.v)^2] over v ~ N(0, diag(sigma_a^2, sigma_w^2)): the
    generated kernels against 4e6 draws."""
    k = kernels.load("gaussian", "hinge")
    rng = np.random.default_rng(3)
    sa, sw = 1.2, 0.8
    v = rng.standard_normal((4_000_000, 2)) * [sa, sw]
    for (q_aa, q_aw, q_ww), (p_a, p_w) in (((0.3, 0.1, 0.5), (2.0, 1.5)), ((0.05, -0.02, 0.2), (-1.0, 3.0))):
        weight = np.exp(-(q_aa * v[:, 0] ** 2 + 2 * q_aw * v[:, 0] * v[:, 1] + q_ww * v[:, 1] ** 2))
        a2 = (p_a * v[:, 0] + p_w * v[:, 1]) ** 2
        assert k.self_pull_s2(q_aa, q_aw, q_ww, sa, sw) == pytest.approx(weight.mean(), rel=3e-3)
        assert k.self_pull_variance(p_a, p_w, q_aa, q_aw, q_ww, sa, sw) == pytest.approx(
            (a2 * weight).mean() / a2.mean(), rel=5e-3)


def test_the_recursion_follows_nodes_one_by_one():
    """200 000 nodes drawn from the init, moved by the mean-field node map and shrunk in |w_perp|^2 by
    (1 - rho_t a_i^2)^2 at each step with the prediction's own rho_t, then lengthened by exp(G_t a_i^2): their
    E[a^2 s^2] / (E a^2 s_0^2) and E s^2 / s_0^2 against the prediction's Gaussian integrals (which take each step
    to first order)."""
    setup = mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=250.0, M=100)
    sol = mftheory.meanfield(setup, 200)
    law = mftheory.node_law(sol)
    rng = np.random.default_rng(0)
    K = 200_000
    a, w = rng.standard_normal(K) * setup.sigma_a, rng.standard_normal(K) * setup.sigma_w
    s2 = rng.chisquare(setup.d - 1, K) * setup.sigma_w**2 / setup.d
    s0 = setup.sigma_w**2 * (setup.d - 1) / setup.d
    for t in range(200):
        s2 *= (1.0 - law.pull_rate[t] * a * a) ** 2
        bg = setup.beta * sol.g[t]
        a, w = a + bg * w, w + bg * a
    assert law.turn_growth[200] == pytest.approx(
        ((1 - law.tilt_damping[200]) ** 2 + (1 - law.degree2_damping[200]) ** 2 * (setup.d + 1) * (setup.d - 2)
         / (setup.d - 1) / 4) / (setup.M * np.mean(a * a)), rel=0.01)
    s2 *= np.exp(law.turn_growth[200] * a * a)
    assert law.variance_factor[200] < 0.9   # the pull is not negligible here, so the comparison means something
    assert law.variance_factor[200] == pytest.approx(np.mean(a * a * s2) / np.mean(a * a) / s0, abs=0.005)
    assert law.s2_factor[200] == pytest.approx(np.mean(s2) / s0, abs=0.003)
    assert law.variance_factor[0] == 1.0 and law.s2_factor[0] == 1.0


def test_the_pull_scales_as_one_over_the_width():
    """rho_t and G_t are of order 1/M: at fixed beta the log of the factor halves as M doubles, up to the second
    order."""
    logs = []
    for M in (400, 800, 1600):
        setup = mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=250.0 * M / 100, M=M)
        logs.append(math.log(mftheory.node_law(mftheory.meanfield(setup, 200)).variance_factor[200]))
    assert logs[0] / logs[1] == pytest.approx(2.0, rel=0.05)
    assert logs[1] / logs[2] == pytest.approx(2.0, rel=0.03)


def test_node_law_checks_its_inputs():
    sol = mftheory.meanfield(mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=200), 20)
    with pytest.raises(ValueError, match="hinge loss on Gaussian data"):
        mftheory.node_law(mftheory.meanfield(sol.setup.replace(loss="logistic"), 20))
    with pytest.raises(ValueError, match="clean labels"):
        mftheory.node_law(mftheory.meanfield(sol.setup.replace(label_noise=0.1), 20))
    with pytest.raises(ValueError, match="solution must be"):
        mftheory.node_law(sol.setup)
