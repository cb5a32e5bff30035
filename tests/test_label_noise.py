"""mftheory.derivations.label_noise against independent numerics: the exact fixed point (mpmath root of the drift), finite
differences of the generated rate kernel, and the mean-field map run with a small label noise."""
import dataclasses
import math

import mpmath
import numpy as np
import pytest
import sympy as sp

from mftheory.derivations import label_noise as LN
from mftheory.derivations import symbols as S
from mftheory.derivations.meanfield import derive
from mftheory import kernels
from mftheory.dynamics import meanfield
from mftheory.model import fig1_setup
from mftheory.variant import variant_of

STEPS = 300


@pytest.fixture(scope="module")
def noise():
    return LN.derive_label_noise(derive("relu", "hinge", "gaussian"))


def exact_threshold(eps, dps=40):
    """x* where (1-eps) E[1{|x| < x*}|x|] = eps E[|x|] for Gaussian data, i.e. (1-eps)(1 - e^{-x^2/2}) = eps,
    found by mpmath's root finder (no closed form used)."""
    with mpmath.workdps(dps):
        eps = mpmath.mpf(eps)
        return mpmath.findroot(lambda x: (1 - eps) * (1 - mpmath.exp(-x**2 / 2)) - eps, mpmath.sqrt(2 * eps))


def test_api_symbols_and_cache(noise):
    assert LN.derive_label_noise(noise.derivation) is noise
    assert noise.threshold_method == "series of the closed-form fixed point"
    assert noise.dg_deps.free_symbols == {S.kappa, S.d, S.h, S.odd_slope}
    assert noise.dg_dkappa.free_symbols == {S.kappa, S.d, S.h, S.odd_slope}
    assert noise.threshold_series.free_symbols == {S.eps}
    assert noise.kappa_series.free_symbols == {S.eps, S.h}
    assert noise.dkappa_dE_plus.free_symbols == {S.E_plus, S.alpha, S.d, S.sigma_a, S.sigma_w, S.odd_slope}
    assert noise.dkappa_dE_minus.free_symbols == {S.E_minus, S.alpha, S.d, S.sigma_a, S.sigma_w, S.odd_slope}
    allowed = {LN.dE_plus, LN.dE_minus, S.E_plus, S.E_minus, S.g, S.beta, LN.dg}
    assert all(e.free_symbols <= allowed for e in noise.sensitivity_update)
    assert [s.key for s in noise.steps] == ["noise_threshold_series", "noise_kappa_series", "noise_dg_deps",
                                            "noise_dg_dkappa", "noise_dkappa_dE", "noise_dg", "noise_sensitivity"]
    assert all(sp.latex(s.equation) for s in noise.steps)


def test_non_hinge_scaling_is_refused():
    with pytest.raises(NotImplementedError, match="sqrt\\(eps\\)"):
        LN.derive_label_noise(derive("relu", "quadratic_hinge", "gaussian"))


@pytest.mark.parametrize("eps", [1e-3, 1e-2])
def test_threshold_series_against_exact_root(noise, eps):
    x_series = float(noise.threshold_series.subs(S.eps, eps))
    k_series = float(noise.kappa_series.subs({S.eps: eps, S.h: 1}))
    exact = exact_threshold(eps)
    # the mpmath root agrees with the kernel's closed form
    assert float(exact) == pytest.approx(kernels.load("gaussian", "hinge").fixed_point_threshold(100.0, eps),
                                         rel=1e-13)
    rel_x = abs(x_series / exact - 1)
    rel_k = abs(k_series * exact - 1)  # h = 1: kappa_fp = 1 / x*
    lead_only = abs(math.sqrt(2 * eps) / exact - 1)
    print(f"eps={eps:g}: x* exact {float(exact):.12g} series {x_series:.12g} rel err {float(rel_x):.3e} "
          f"(/eps^2 = {float(rel_x) / eps**2:.4f}); kappa rel err {float(rel_k):.3e} (/eps^2 = "
          f"{float(rel_k) / eps**2:.4f}); leading term alone {float(lead_only):.3e}")
    # relative order eps is right: what is left is O(eps^2) (next coefficients 85/96 for x*, -31/96 for kappa)
    assert rel_x < 1.2 * eps**2 and rel_k < 0.5 * eps**2
    assert lead_only > 0.7 * eps  # the correction 3/4 eps is what brings the error down to eps^2


def test_threshold_error_shrinks_like_eps_squared(noise):
    errs = [abs(float(noise.threshold_series.subs(S.eps, e)) / exact_threshold(e) - 1) for e in (1e-2, 1e-3)]
    ratio = float(errs[0] / errs[1])
    print(f"x* series error ratio eps=1e-2 vs 1e-3: {ratio:.2f} (eps^2 scaling: 100)")
    assert 80 < ratio < 125


@pytest.mark.parametrize("kappa", [0.3, 1.0, 3.0, 10.0])
@pytest.mark.parametrize("activation, leak", [("relu", 0.0), ("leaky_relu", 0.1)])
def test_dg_against_finite_differences_of_the_kernel(noise, kappa, activation, leak):
    k = kernels.load("gaussian", "hinge")
    d, h = 100.0, 1.0
    c = variant_of(fig1_setup(activation=activation, leak=leak)).odd_slope(leak)
    args = {S.kappa: kappa, S.d: d, S.h: h, S.odd_slope: c}
    dg_deps = float(sp.N(noise.dg_deps.subs(args), 30))
    dg_dkappa = float(sp.N(noise.dg_dkappa.subs(args), 30))
    # g is affine in eps, so the central difference has no truncation error; step 1e-3 leaves rounding ~1e-13
    de = 1e-3
    fd_eps = (k.g_rate(kappa, d, h, de, c) - k.g_rate(kappa, d, h, -de, c)) / (2 * de)
    # central difference in kappa with step 1e-5 kappa: truncation (delta^2/6)|g'''/g'| <= ~1e-8 here
    # (h/kappa <= 3.4), rounding 1e-16 |g| / (delta |g'|) <= ~1e-9
    dk = 1e-5 * kappa
    fd_kappa = (k.g_rate(kappa + dk, d, h, 0.0, c) - k.g_rate(kappa - dk, d, h, 0.0, c)) / (2 * dk)
    print(f"{activation} kappa={kappa}: dg/deps {dg_deps:.15g} fd rel err {abs(fd_eps / dg_deps - 1):.1e}; "
          f"dg/dkappa {dg_dkappa:.15g} fd rel err {abs(fd_kappa / dg_dkappa - 1):.1e}")
    assert fd_eps == pytest.approx(dg_deps, rel=1e-10)
    assert fd_kappa == pytest.approx(dg_dkappa, rel=1e-6)


def test_dkappa_dE_against_kernel(noise):
    k = kernels.load("gaussian", "hinge")
    s = fig1_setup()
    c = variant_of(fig1_setup()).odd_slope(0.0)
    consts = {S.alpha: s.alpha, S.d: s.d, S.sigma_a: s.sigma_a, S.sigma_w: s.sigma_w, S.odd_slope: c}
    for ep, em in ((0.0, 0.0), (0.3, -0.2), (4.0, -0.9)):
        pt = {**consts, S.E_plus: ep, S.E_minus: em}
        h = 1e-6
        fd_p = (k.kappa_increments(ep + h, em, s.alpha, s.d, s.sigma_a, s.sigma_w, c)
                - k.kappa_increments(ep - h, em, s.alpha, s.d, s.sigma_a, s.sigma_w, c)) / (2 * h)
        fd_m = (k.kappa_increments(ep, em + h, s.alpha, s.d, s.sigma_a, s.sigma_w, c)
                - k.kappa_increments(ep, em - h, s.alpha, s.d, s.sigma_a, s.sigma_w, c)) / (2 * h)
        # kappa is quadratic in E_+-: the central difference is exact up to rounding (~1e-10 relative)
        assert fd_p == pytest.approx(float(noise.dkappa_dE_plus.subs(pt)), rel=1e-8)
        assert fd_m == pytest.approx(float(noise.dkappa_dE_minus.subs(pt)), rel=1e-8)


def _sensitivity_run(noise, setup, steps):
    """d kappa / d eps at eps = 0 for every step, from the module's recursion, iterated along the eps = 0 map."""
    c = variant_of(setup).odd_slope(setup.leak)
    consts = {S.alpha: setup.alpha, S.d: float(setup.d), S.sigma_a: setup.sigma_a, S.sigma_w: setup.sigma_w,
              S.odd_slope: c, S.h: setup.h, S.beta: setup.beta}
    dg_deps = sp.lambdify(S.kappa, noise.dg_deps.subs(consts), "math")
    dg_dkappa = sp.lambdify(S.kappa, noise.dg_dkappa.subs(consts), "math")
    # at t = 0 kappa = 0, where the formulas read 0/0: use their limits
    dg_deps_0 = float(sp.limit(noise.dg_deps.subs(consts), S.kappa, 0, "+"))
    dg_dkappa_0 = float(sp.limit(noise.dg_dkappa.subs(consts), S.kappa, 0, "+"))
    assert dg_dkappa_0 == 0.0
    dk_plus = sp.lambdify(S.E_plus, noise.dkappa_dE_plus.subs(consts), "math")
    dk_minus = sp.lambdify(S.E_minus, noise.dkappa_dE_minus.subs(consts), "math")
    args = (LN.dE_plus, LN.dE_minus, S.E_plus, S.E_minus, S.g, LN.dg)
    update_plus, update_minus = (sp.lambdify(args, e.subs(consts), "math") for e in noise.sensitivity_update)
    explicit = [sp.lambdify((LN.dE_plus, LN.dE_minus, S.E_plus, S.E_minus, S.kappa), e.subs(consts), "math")
                for e in noise.sensitivity_update_explicit]

    base = meanfield(setup, steps)
    e_plus = np.expm1(base.gamma_plus)    # gamma_+ = log(1 + E_+)
    e_minus = np.expm1(-base.gamma_minus)  # gamma_- = -log(1 + E_-)
    d_plus = d_minus = 0.0  # E_+- = 0 at t = 0 whatever eps
    dkappa = np.zeros(steps + 1)
    for t in range(steps):
        kap, g = base.kappa[t], base.g[t]
        dkap = dk_plus(e_plus[t]) * d_plus + dk_minus(e_minus[t]) * d_minus
        dg = (dg_dkappa(kap) if kap > 0 else dg_dkappa_0) * dkap + (dg_deps(kap) if kap > 0 else dg_deps_0)
        new = (update_plus(d_plus, d_minus, e_plus[t], e_minus[t], g, dg),
               update_minus(d_plus, d_minus, e_plus[t], e_minus[t], g, dg))
        if kap > 0:  # the explicit form (g and dg substituted) gives the same step
            alt = [f(d_plus, d_minus, e_plus[t], e_minus[t], kap) for f in explicit]
            assert alt == pytest.approx(new, rel=1e-12, abs=1e-14)
        d_plus, d_minus = new
        dkappa[t + 1] = dk_plus(e_plus[t + 1]) * d_plus + dk_minus(e_minus[t + 1]) * d_minus
    return base, dkappa


def test_first_order_slowdown_against_meanfield(noise):
    setup = fig1_setup()
    base, dkappa = _sensitivity_run(noise, setup, STEPS)
    residuals = {}
    for eps in (1e-4, 1e-3):
        noisy = meanfield(dataclasses.replace(setup, label_noise=eps), STEPS)
        residuals[eps] = np.max(np.abs(noisy.kappa - base.kappa - eps * dkappa))
        zeroth = np.max(np.abs(noisy.kappa - base.kappa))
        print(f"eps={eps:g}: max_t |kappa_eps - kappa_0| = {zeroth:.4e}, max_t |kappa_eps - kappa_0 - eps dkappa| = "
              f"{residuals[eps]:.4e} (/eps^2 = {residuals[eps] / eps**2:.1f}); at t={STEPS}: kappa_0 "
              f"{base.kappa[-1]:.8f} kappa_eps {noisy.kappa[-1]:.8f} linear {base.kappa[-1] + eps * dkappa[-1]:.8f}")
        assert residuals[eps] < 0.05 * zeroth  # first order captures the slowdown
    ratio = residuals[1e-3] / residuals[1e-4]
    print(f"dkappa/deps at t={STEPS}: {dkappa[-1]:.6f} (relative {dkappa[-1] / base.kappa[-1]:.4f}); "
          f"residual ratio {ratio:.2f} (eps^2 scaling: 100)")
    assert np.all(dkappa[1:] < 0)  # label noise slows kappa down at every step
    assert 70 < ratio < 140


def test_sphere_series_against_exact_root():
    """Sphere data: d-dependent coefficients (x*^2 = 2 d eps/(d-1) + ...), both routes agree inside the module."""
    sphere = LN.derive_label_noise(derive("relu", "hinge", "sphere"))
    assert sp.limit(sphere.threshold_correction, S.d, sp.oo) == sp.Rational(3, 4)  # -> the Gaussian value
    d = 100
    kernel = kernels.load("sphere", "hinge")
    errs = []
    for eps in (1e-2, 1e-3):
        # E[|x| 1{|x| < x*}] / E|x| = 1 - (1 - x*^2/d)^((d-1)/2) on the sphere of radius sqrt(d)
        with mpmath.workdps(40):
            e = mpmath.mpf(eps)
            exact = mpmath.findroot(lambda x: (1 - e) * (1 - (1 - x**2 / d) ** mpmath.mpf((d - 1) / 2)) - e,
                                    mpmath.sqrt(2 * e))
        assert float(exact) == pytest.approx(kernel.fixed_point_threshold(float(d), eps), rel=1e-12)
        series = float(sphere.threshold_series.subs({S.eps: eps, S.d: d}))
        errs.append(float(abs(series / exact - 1)))
        assert errs[-1] < 1.2 * eps**2
    print(f"sphere d={d}: x* series rel err {errs[0]:.3e} (eps=1e-2), {errs[1]:.3e} (eps=1e-3), "
          f"ratio {errs[0] / errs[1]:.2f}")
    assert 80 < errs[0] / errs[1] < 125
    args = {S.kappa: 2.0, S.d: d, S.h: 1.0, S.odd_slope: 0.5}
    fd_eps = (kernel.g_rate(2.0, float(d), 1.0, 1e-3, 0.5) - kernel.g_rate(2.0, float(d), 1.0, -1e-3, 0.5)) / 2e-3
    fd_kappa = (kernel.g_rate(2.0 + 2e-5, float(d), 1.0, 0.0, 0.5)
                - kernel.g_rate(2.0 - 2e-5, float(d), 1.0, 0.0, 0.5)) / 4e-5
    assert fd_eps == pytest.approx(float(sp.N(sphere.dg_deps.subs(args), 30)), rel=1e-10)
    assert fd_kappa == pytest.approx(float(sp.N(sphere.dg_dkappa.subs(args), 30)), rel=1e-6)


def test_generated_expansion_matches_the_exact_map_to_second_order():
    """mftheory.label_noise_expansion (generated kernels) against the exact eps > 0 map: the residual
    kappa_eps - kappa_first_order shrinks like eps^2 (ratio ~100 for eps 1e-3 -> 1e-4), and the fixed-point series
    against label_noise_fixed_point to relative O(eps^2)."""
    from mftheory.dynamics import label_noise_expansion, label_noise_fixed_point

    residual = {}
    for eps in (1e-4, 1e-3):
        setup = fig1_setup(label_noise=eps)
        expansion = label_noise_expansion(setup, 300)
        exact = meanfield(setup, 300).kappa
        residual[eps] = np.max(np.abs(exact - expansion.kappa_first_order))
        assert np.all(expansion.dkappa_deps[1:] < 0)  # flipped labels slow kappa down at every step
        fp = label_noise_fixed_point(setup)
        assert expansion.kappa_fixed_point == pytest.approx(fp.kappa, rel=2 * eps**2)
    assert 70 < residual[1e-3] / residual[1e-4] < 130
    with pytest.raises(ValueError, match="loss must be 'hinge'"):
        label_noise_expansion(fig1_setup(loss="logistic"), 3)
