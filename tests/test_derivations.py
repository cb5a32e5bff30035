"""The derived equations equal the known closed forms of the mean-field theory (symbolically)."""
import math

import numpy as np
import pytest
import sympy as sp

from mftheory.derivations import symbols as S
from mftheory.derivations.catalog import Activation, Loss
from mftheory.derivations.meanfield import ReductionError, check_conditions, derive

SQRT2PI = sp.sqrt(2 / sp.pi)


def zero(expr):
    return sp.simplify(sp.expand(expr.rewrite(sp.exp))) == 0


@pytest.fixture(scope="module")
def gaussian_hinge():
    return derive("leaky_relu", "hinge", "gaussian")


def test_odd_slope_is_one_plus_s_over_two(gaussian_hinge):
    assert zero(gaussian_hinge.odd_slope - (1 + S.leak) / 2)
    assert derive("relu", "hinge", "gaussian").odd_slope == sp.Rational(1, 2)


def test_g_matches_design_with_label_noise(gaussian_hinge):
    D = gaussian_hinge
    xs = S.h / S.kappa
    expected = ((1 + S.leak) / (2 * sp.sqrt(S.d))) * (
        (1 - S.eps) * SQRT2PI * (1 - sp.exp(-xs**2 / 2)) - S.eps * SQRT2PI)
    assert zero(D.g.subs(S.odd_slope, D.odd_slope) - expected)


def test_kappa_flow_and_discrete_match_design(gaussian_hinge):
    D = gaussian_hinge
    pre = S.alpha * (1 + S.leak) * (S.sigma_a**2 + S.sigma_w**2)
    assert zero(D.kappa_flow.subs(S.odd_slope, D.odd_slope) - pre * sp.sinh(2 * S.gamma) / (4 * sp.sqrt(S.d)))
    Pp, Pm = sp.exp(S.gamma_plus), sp.exp(-S.gamma_minus)
    expected = S.alpha * (1 + S.leak) / (2 * sp.sqrt(S.d)) * (S.sigma_a**2 + S.sigma_w**2) * (Pp**2 - Pm**2) / 4
    assert zero(D.kappa_discrete.subs(S.odd_slope, D.odd_slope) - expected)


def test_node_maps_match_design(gaussian_hinge):
    D = gaussian_hinge
    a, w = D.node_flow
    assert zero(a - (S.a0 * sp.cosh(S.gamma) + S.w0 * sp.sinh(S.gamma)))
    assert zero(w - (S.w0 * sp.cosh(S.gamma) + S.a0 * sp.sinh(S.gamma)))
    a, w = D.node_discrete
    assert zero(a + w - (S.a0 + S.w0) * sp.exp(S.gamma_plus))
    assert zero(a - w - (S.a0 - S.w0) * sp.exp(-S.gamma_minus))
    # one step of the map is one GD step of the reduced node: (a, w) <- (a + beta g w, w + beta g a)
    gp, gm = D.discrete_update
    a1, w1 = (e.subs({S.gamma_plus: gp, S.gamma_minus: gm}, simultaneous=True) for e in D.node_discrete)
    assert zero(sp.expand(a1 - (a + S.beta * S.g * w)))
    assert zero(sp.expand(w1 - (w + S.beta * S.g * a)))


def test_threshold_unsat_fraction_and_fixed_point(gaussian_hinge):
    D = gaussian_hinge
    assert D.step("threshold").equation.rhs == S.h / S.kappa
    assert zero(D.f_unsat - (S.eps + (1 - S.eps) * sp.erf(S.h / S.kappa / sp.sqrt(2))))
    assert zero(D.threshold_fixed_point**2 - 2 * sp.log((1 - S.eps) / (1 - 2 * S.eps)))


def test_late_time_slope_is_one_quarter(gaussian_hinge):
    late = gaussian_hinge.late_time
    assert sp.limit(sp.diff(late, S.t) * S.t, S.t, sp.oo) == sp.Rational(1, 4)


def test_sphere_hinge_average_is_closed_and_tends_to_gaussian():
    D = derive("relu", "hinge", "sphere")
    assert D.clean_average.closed_form is not None
    full = D.flipped_average.closed_form  # E|x_par| on the sphere
    assert sp.limit(full, S.d, sp.oo) == SQRT2PI


def test_logistic_average_stays_an_integral():
    D = derive("relu", "logistic", "gaussian")
    assert D.clean_average.closed_form is None
    assert D.clean_average.integral.has(sp.Integral)


def test_conditions_pass_for_relu_and_name_the_failure():
    assert all(c.holds for c in check_conditions(Activation("relu", sp.Max(0, S.z))))
    cubic = Activation("cubic", S.z**3)
    with pytest.raises(ReductionError, match="sigma'\\(z\\) \\+ sigma'\\(-z\\) constant"):
        derive(cubic, "hinge", "gaussian")
    shifted_init = sp.exp(-(S.a0 - 1) ** 2 / 2 - S.w0**2 / 2) / (2 * sp.pi)
    with pytest.raises(ReductionError, match="init law invariant"):
        derive("relu", "hinge", "gaussian", init=shifted_init)
    # positive homogeneity is reported, not required: z + z^2 has a linear odd part
    quad = [c for c in check_conditions(Activation("zsq", S.z + S.z**2)) if c.name.startswith("sigma positively")][0]
    assert not quad.holds and not quad.required



def test_step_texts_typeset_their_mathematics_and_read_as_plain_text(gaussian_hinge):
    """Titles, assumptions and condition details carry their mathematics as $...$ (LaTeX, paired); the terminal
    (``mftheory derive --show``) reads them as ASCII."""
    from mftheory.cli import plain_text

    texts = [t for step in gaussian_hinge.steps for t in (step.title, step.assumptions)]
    texts += [t for cnd in gaussian_hinge.conditions for t in (cnd.latex, cnd.latex_name)]
    for text in texts:
        assert text.count("$") % 2 == 0, text
        assert "\\" not in plain_text(text) and "$" not in plain_text(text), text
    assert all(cnd.latex and cnd.latex_name and "$" not in cnd.detail for cnd in gaussian_hinge.conditions)
    assert plain_text(gaussian_hinge.step("gd").assumptions).startswith("The per-node rate is beta = eta alpha/M")
    assert plain_text(gaussian_hinge.step("kappa_flow").title) == "mean-field output is linear: F_t(x) = kappa x_par"

def test_user_loss_goes_through_the_same_derivation():
    softplus = Loss("softplus_margin", sp.log(1 + sp.exp(S.h - S.z)))
    D = derive("relu", softplus, "gaussian")
    assert zero(D.weight - 1 / (1 + sp.exp(S.z - S.h)))
    assert D.step("g").equation.rhs == D.g


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="loss must be one of"):
        derive("relu", "square", "gaussian")


def test_derivations_are_cached_on_disk_by_key(tmp_path, monkeypatch):
    """A derivation is pickled under $MFTHEORY_CACHE/derivations and read back by a later call (another process in
    practice); a corrupt entry is ignored and rewritten, and other arguments get their own entry."""
    import pickle

    from mftheory.derivations import meanfield

    monkeypatch.setenv("MFTHEORY_CACHE", str(tmp_path))
    on_disk = meanfield._derive.__wrapped__             # below the in-process lru_cache
    fresh = on_disk.uncached("relu", "hinge", "gaussian")
    first = on_disk("relu", "hinge", "gaussian")
    (entry,) = (tmp_path / "derivations").glob("_derive-*.pickle")
    assert first == fresh and pickle.loads(entry.read_bytes()) == fresh
    entry.write_bytes(pickle.dumps("read back from disk"))
    assert on_disk("relu", "hinge", "gaussian") == "read back from disk"
    entry.write_bytes(b"not a pickle")
    assert on_disk("relu", "hinge", "gaussian") == fresh
    assert pickle.loads(entry.read_bytes()) == fresh
    on_disk("relu", "hinge", "sphere")
    assert len(list((tmp_path / "derivations").glob("_derive-*.pickle"))) == 2


def test_a_derivation_prints_the_same_computed_or_read_from_the_cache(tmp_path, monkeypatch):
    """Unpickling rebuilds SymPy's expressions with evaluation (a factored (3 C^2 + 2 V_a V_z) / 4 comes back as
    3 C^2 / 4 + V_a V_z / 2), so the cache hands back the loaded copy also when it has just computed the result:
    the LaTeX export and the generated kernels do not depend on whether the cache was warm."""
    import sympy as sp

    from mftheory.derivations import finite_width

    monkeypatch.setenv("MFTHEORY_CACHE", str(tmp_path))
    on_disk = finite_width.derive_finite_width.__wrapped__   # below the in-process lru_cache
    computed = on_disk("relu", "gaussian")
    loaded = on_disk("relu", "gaussian")
    assert computed is not loaded and len(computed.steps) == len(loaded.steps) > 5
    assert [sp.latex(s.equation) for s in computed.steps] == [sp.latex(s.equation) for s in loaded.steps]


def test_a_process_whose_derivation_files_changed_since_import_bypasses_the_cache(tmp_path, monkeypatch):
    """The key hashes the files as they are now while the code in memory is the code imported: once they differ,
    a result could be stored under a key that does not describe it, so the cache is neither read nor written."""
    from mftheory.derivations import disk_cache, meanfield

    monkeypatch.setenv("MFTHEORY_CACHE", str(tmp_path))
    on_disk = meanfield._derive.__wrapped__
    stats = list(disk_cache._STATS_AT_IMPORT)
    name, mtime, size = stats[0]
    monkeypatch.setattr(disk_cache, "_STATS_AT_IMPORT", tuple([(name, mtime - 1, size)] + stats[1:]))
    on_disk("relu", "hinge", "gaussian")
    assert not list(tmp_path.glob("derivations/*.pickle"))
    monkeypatch.undo()
    monkeypatch.setenv("MFTHEORY_CACHE", str(tmp_path))
    on_disk("relu", "hinge", "gaussian")
    assert len(list(tmp_path.glob("derivations/*.pickle"))) == 1


def test_integration_time_limit_counts_cpu_time_not_the_wall_clock():
    """Whether an integral ends in closed form or as quadrature must not depend on the machine's load: the limit
    on SymPy's search counts this process's CPU time, so waiting does not trip it and computing does."""
    import time

    from mftheory.derivations.averages import _time_limit, _Timeout

    with _time_limit(1):
        time.sleep(1.5)   # wall clock past the limit, no CPU spent
    with pytest.raises(_Timeout):
        with _time_limit(1):
            start = time.process_time()
            while time.process_time() - start < 5.0:
                pass


def test_gaussian_moments_are_closed_forms_checked_against_mpmath():
    """A Gaussian-law average of x^k exp(-q x^2) terms (the node averages of the degree-2 Hermite coefficients)
    is done term by term as a Gaussian moment, without SymPy's search: the value against mpmath's quadrature at
    50 digits; any other form (an erf of a non-linear argument, of x + 1, a cube, an odd exponent) is left to
    SymPy's integrate."""
    import mpmath as mp

    from mftheory.derivations import symbols as S
    from mftheory.derivations.averages import _gaussian_moments
    from mftheory.derivations.catalog import DATA_LAWS

    density = DATA_LAWS["gaussian"].abs_par_density
    q = S.m_w2 / (2 * S.sigma_w**2 * (S.d - 1)) * (S.x_par**2 + S.y_par**2)
    phi = (3 * S.x**2 * S.m_aw**2 / S.m_w2 + S.m_a2 + S.x**5) * sp.exp(-q * S.x**2 + S.h)
    closed = _gaussian_moments(phi, density)
    values = {S.m_w2: sp.Rational(7, 10), S.sigma_w: sp.Rational(11, 10), S.d: 20, S.x_par: sp.Rational(3, 10),
              S.y_par: sp.Rational(6, 5), S.m_aw: sp.Rational(2, 5), S.m_a2: sp.Rational(9, 10), S.h: sp.Rational(1, 3)}
    with mp.workdps(50):
        quadrature = mp.quad(sp.lambdify(S.x, (phi * density).subs(values), "mpmath"), [0, mp.inf])
        assert abs(sp.N(closed.subs(values), 50) - sp.Float(str(quadrature), 50)) < sp.Float("1e-40")
    for other in (sp.erf(S.x) ** 3 * sp.exp(-S.x**2), sp.erf(S.x + 1) * sp.exp(-S.x**2),
                  sp.erf(S.x**2) * sp.exp(-S.x**2), sp.erf(S.x) * sp.erf(2 * S.x) * sp.erf(S.x),
                  sp.exp(-S.x**2 + S.x)):
        assert _gaussian_moments(other, density) is None, other
    # expanding spreads (d - 1) over a denominator of exponentials (the self kernel's average in
    # derivations/finite_sample.py): still Gaussian moments
    gauss = sp.exp(-S.m_w2 * S.x**2 * S.x_par**2 / (S.sigma_w**2 * (S.d - 1)))
    phi = (S.m_w2 * S.x**2 * S.x_par**4 * gauss / (4 * sp.pi * S.d * S.sigma_w**2 * (S.d - 1))
           + (S.d - 1) * gauss / (2 * sp.pi * S.d)) * (S.m_a2 + S.m_aw**2 * (S.x**2 - 1) / S.m_w2)
    closed = _gaussian_moments(phi, density)
    assert closed is not None
    with mp.workdps(50):
        quadrature = mp.quad(sp.lambdify(S.x, (phi * density).subs(values), "mpmath"), [0, mp.inf])
        assert abs(sp.N(closed.subs(values), 50) - sp.Float(str(quadrature), 50)) < sp.Float("1e-40")


@pytest.mark.parametrize("power", range(6))
def test_gaussian_moments_with_error_functions_against_mpmath(power):
    """Terms x^k erf(lambda x)^m exp(-q x^2), m = 1 or 2, erfc as 1 - erf, lambda of either sign (the common and
    linear parts' node averages in derivations/finite_width.py, where the erfc of a node's kink appears squared):
    closed forms checked against mpmath's quadrature at 50 digits."""
    import mpmath as mp

    from mftheory.derivations import symbols as S
    from mftheory.derivations.averages import _gaussian_moments
    from mftheory.derivations.catalog import DATA_LAWS

    density = DATA_LAWS["gaussian"].abs_par_density
    slope = S.x_par * sp.sqrt(S.m_w2) / (S.sigma_w * sp.sqrt(2 * (S.d - 1)))
    gauss = sp.exp(-S.m_w2 * S.x**2 * S.x_par**2 / (S.sigma_w**2 * (S.d - 1)))
    phi = S.x**power * (S.m_a2 * sp.erfc(slope * S.x) ** 2 + S.m_aw * (2 - sp.erfc(-slope * S.x)) ** 2
                        + S.m_aw * sp.erf(slope * S.x) * gauss + S.h * sp.erfc(3 * slope * S.x))
    closed = _gaussian_moments(phi, density)
    assert closed is not None and not closed.has(sp.Integral)
    for x_par in (sp.Rational(3, 10), -sp.Rational(12, 5)):
        values = {S.m_w2: sp.Rational(7, 10), S.sigma_w: sp.Rational(11, 10), S.d: 20, S.x_par: x_par,
                  S.m_aw: sp.Rational(2, 5), S.m_a2: sp.Rational(9, 10), S.h: sp.Rational(1, 3)}
        with mp.workdps(50):
            quadrature = mp.quad(sp.lambdify(S.x, (phi * density).subs(values), "mpmath"), [0, 1, mp.inf])
            value = sp.N(closed.subs(values), 50)
            assert abs(value - sp.Float(str(quadrature), 50)) < sp.Float("1e-40") * abs(value)


@pytest.mark.parametrize("power", range(5))
def test_gaussian_moments_with_two_error_functions_of_different_slopes_against_mpmath(power):
    """Terms x^k erf(a x) erf(b x) exp(-q x^2) with a != b of either sign (the bend's node averages between two
    points in derivations/finite_width.py): closed forms checked against mpmath's quadrature at 50 digits, and equal
    slopes still give the erf^2 forms."""
    import mpmath as mp

    from mftheory.derivations import symbols as S
    from mftheory.derivations.averages import _gaussian_moments
    from mftheory.derivations.catalog import DATA_LAWS

    density = DATA_LAWS["gaussian"].abs_par_density
    scale = sp.sqrt(S.m_w2) / (S.sigma_w * sp.sqrt(2 * (S.d - 1)))
    phi = S.x**power * (S.m_a2 * sp.erfc(scale * S.x_par * S.x) * sp.erfc(scale * S.y_par * S.x)
                        + S.m_aw * sp.erf(scale * S.x_par * S.x) * sp.erf(-3 * scale * S.y_par * S.x))
    closed = _gaussian_moments(phi, density)
    assert closed is not None and not closed.has(sp.Integral)
    for x_par, y_par in ((sp.Rational(3, 10), sp.Rational(6, 5)), (-sp.Rational(12, 5), sp.Rational(1, 7)),
                         (sp.Rational(4, 5), sp.Rational(4, 5))):
        values = {S.m_w2: sp.Rational(7, 10), S.sigma_w: sp.Rational(11, 10), S.d: 20, S.x_par: x_par,
                  S.y_par: y_par, S.m_aw: sp.Rational(2, 5), S.m_a2: sp.Rational(9, 10)}
        with mp.workdps(50):
            quadrature = mp.quad(sp.lambdify(S.x, (phi * density).subs(values), "mpmath"), [0, 1, mp.inf])
            value = sp.N(closed.subs(values), 50)
            assert abs(value - sp.Float(str(quadrature), 50)) < sp.Float("1e-40") * abs(value)


def test_integrals_without_an_elementary_antiderivative_go_straight_to_quadrature():
    """The integrands SymPy's integrator has no closed form for, which it would search for until its time limit:
    products of error functions of x, an error function of a non-linear argument, a logistic denominator; the
    others are still given to it. (A cold build with and without this rule generates the same kernels.)"""
    from mftheory.derivations import symbols as S
    from mftheory.derivations.averages import beyond_elementary

    x, k = S.x, S.kappa
    for skipped in (sp.erfc(k * x) ** 2 * x, sp.erf(2 * x) * sp.erfc(k * x), (2 - sp.erfc(k * x)) ** 2,
                    sp.erfc(x / sp.sqrt(x**2 + S.d)), x / (sp.exp(k * x) + 1), x / (1 + sp.exp(-k * x))):
        assert beyond_elementary(sp.expand(skipped)) is not None, skipped
    for kept in (x * sp.exp(-x**2), sp.erfc(k * x) * x, sp.log(1 + sp.exp(-k * x)),
                 sp.Piecewise((1, k * x < S.h), (0, True)), x / (2 * sp.exp(x) - S.d * sp.exp(x))):
        assert beyond_elementary(kept) is None, kept


@pytest.mark.parametrize("n", [16, 24, 64])
def test_gauss_legendre_rule_is_exact_to_its_degree_and_correctly_rounded(n):
    import mpmath
    from mftheory.derivations.gauss_rules import gauss_legendre

    nodes, weights = gauss_legendre(n)
    for degree in (0, 2, 2 * n - 2):   # int_{-1}^{1} x^k dx = 2 / (k + 1) for even k, exact up to degree 2n - 1
        assert math.fsum(w * x**degree for x, w in zip(nodes, weights)) == pytest.approx(2 / (degree + 1), rel=1e-13)
    with mpmath.workdps(40):   # each node within half an ulp of a root of P_n (Newton's correction from the float)
        for x in nodes:
            correction = mpmath.legendre(n, x) / mpmath.diff(lambda y: mpmath.legendre(n, y), x)
            assert abs(correction) <= 0.5 * np.spacing(abs(x)) + 1e-30


def test_half_normal_rule_integrates_the_half_normal_law():
    from mftheory.derivations.gauss_rules import half_normal_rule

    nodes, weights = half_normal_rule(64, 10.0, 4)
    assert math.fsum(weights) == pytest.approx(math.erf(10 / math.sqrt(2)), rel=1e-14)
    # E|g|^2 = 1 and E|g| = sqrt(2 / pi), the tail past 10 is below 1e-20
    assert math.fsum(w * g * g for g, w in zip(nodes, weights)) == pytest.approx(1.0, rel=1e-13)
    assert math.fsum(w * g for g, w in zip(nodes, weights)) == pytest.approx(math.sqrt(2 / math.pi), rel=1e-13)
