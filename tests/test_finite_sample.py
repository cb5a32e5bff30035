"""Finite-sample (finite N) kernels: the self kernel K(x, x) and its low-degree part against Monte Carlo over
nodes, Gauss-Hermite quadrature, a hand-derived value and mpmath; the prediction's scaling with N."""
from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

import mftheory
from mftheory.derivations import symbols as S
from mftheory.derivations.finite_sample import derive_finite_sample
from mftheory.finite_size import finite_sample
from mftheory.kernels.generated import finite_sample_relu
from mftheory.dynamics import meanfield

SETUP = mftheory.Setup(d=30, alpha=1.0, h=1.0, eta=100.0, M=50)


@pytest.fixture(scope="module")
def solution():
    return meanfield(SETUP, 40)


def _moments(sol):
    out = np.empty((len(sol.t), 5))
    sol.kernels.fill_moments(sol.gamma_plus, sol.gamma_minus, SETUP.sigma_a, SETUP.sigma_w, out)
    return out[-1, :3]


def _sampled_nodes(sol, nodes, seed):
    rng = np.random.default_rng(seed)
    a, w = (v[-1] for v in sol.node(rng.standard_normal(nodes), rng.standard_normal(nodes)))
    return a, w, rng.standard_normal((nodes, SETUP.d - 1))


def test_self_kernel_matches_monte_carlo_over_nodes(solution):
    """K(x, x) = E_node[sigma(z)^2 + a^2 sigma'(z)^2 |x|^2/d] for one x with |x_perp|^2 = d - 1, by sampling
    nodes of the mean-field law (their own |w_perp|). 200k nodes: the relative sd of the mean is < 0.5%."""
    d = SETUP.d
    a, w, w_perp = _sampled_nodes(solution, 200_000, 3)
    rng = np.random.default_rng(4)
    x_perp = rng.standard_normal(d - 1)
    x_perp *= math.sqrt(d - 1) / np.linalg.norm(x_perp)
    m = _moments(solution)
    for x_par in (0.0, 0.3, 1.2):
        z = (w * x_par + w_perp @ x_perp) / math.sqrt(d)
        norm2 = (x_par**2 + d - 1) / d
        mc = np.mean(np.maximum(z, 0) ** 2 + a**2 * (z > 0) * norm2)
        kernel = finite_sample_relu.self_kernel(x_par, *m, float(d), SETUP.sigma_w, 0.0)
        assert kernel == pytest.approx(mc, rel=0.02)


def test_low_degree_kernel_matches_gauss_hermite(solution):
    """The degree <= 1 part: Hermite coefficients c_0, c_1 of sigma and sigma' along x_perp for sampled nodes (by
    Gauss-Hermite over xi, with each node's own |w_perp|, which the kernel replaces by its mean: < 1% here)."""
    d = SETUP.d
    a, w, w_perp = _sampled_nodes(solution, 40_000, 5)
    s_hat = np.linalg.norm(w_perp, axis=1) / math.sqrt(d)
    xi, weight = np.polynomial.hermite_e.hermegauss(160)
    weight = weight / math.sqrt(2 * math.pi)
    m = _moments(solution)
    for x_par in (0.0, 0.5):
        z = w[:, None] * x_par / math.sqrt(d) + s_hat[:, None] * xi[None, :]
        act, der = np.maximum(z, 0), (z > 0).astype(float)
        c0, c1 = act @ weight, (act * xi) @ weight
        d0, d1 = der @ weight, (der * xi) @ weight
        low = np.mean(c0**2 + c1**2 + a**2 * (d0**2 * (x_par**2 + d - 1) / d + d1**2 * x_par**2 / d))
        kernel = finite_sample_relu.low_degree_kernel(x_par, *m, float(d), SETUP.sigma_w, 0.0)
        assert kernel == pytest.approx(low, rel=0.03)


def test_quadratic_kernel_matches_gauss_hermite(solution):
    """A_2, the rho^2 coefficient of K(x, x') at the same x_par: c_2 = E[f He_2(xi)]/sqrt(2) of sigma and sigma'
    for sampled nodes by Gauss-Hermite, and A_2 = E[c_2(sigma)^2 + a^2 (c_2(sigma')^2 x_par^2 + c_1(sigma')^2
    (d-1)) / d]."""
    d = SETUP.d
    a, w, w_perp = _sampled_nodes(solution, 40_000, 6)
    s_hat = np.linalg.norm(w_perp, axis=1) / math.sqrt(d)
    xi, weight = np.polynomial.hermite_e.hermegauss(160)
    weight = weight / math.sqrt(2 * math.pi)
    he2 = (xi**2 - 1) / math.sqrt(2)
    m = _moments(solution)
    for x_par in (0.0, 0.5):
        z = w[:, None] * x_par / math.sqrt(d) + s_hat[:, None] * xi[None, :]
        act, der = np.maximum(z, 0), (z > 0).astype(float)
        c2, d1, d2 = (act * he2) @ weight, (der * xi) @ weight, (der * he2) @ weight
        expected = np.mean(c2**2 + a**2 * (d2**2 * x_par**2 + d1**2 * (d - 1)) / d)
        kernel = finite_sample_relu.quadratic_kernel(x_par, *m, float(d), SETUP.sigma_w, 0.0)
        assert kernel == pytest.approx(expected, rel=0.03)


def test_pull_amplitude_counts_the_overlaps_variance_between_examples():
    """Without the width's part (W_2 = 0) the pull amplitude is the sd of rho^2 between examples, rho the overlap of
    two independent uniform unit vectors in n = d - 1 dimensions: Var(rho^2) = E[rho^4] - E[rho^2]^2, not E[rho^4]
    (rho^2's mean 1/n shifts every example of a label alike)."""
    rng = np.random.default_rng(8)
    d = 12
    u, v = rng.standard_normal((2, 400_000, d - 1))
    rho = np.sum(u * v, axis=1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    amplitude = finite_sample_relu.pull_amplitude(1.0, 0.0, 50.0, float(d))
    assert amplitude**2 == pytest.approx(np.var(rho**2), rel=0.02)  # MC relative sd ~ 0.6%
    assert finite_sample_relu.pull_amplitude(0.0, 3.0, 50.0, float(d)) ** 2 == pytest.approx(3.0 / 50.0, rel=1e-12)
    assert finite_sample_relu.spread_step(0.0, amplitude, 0.0, 1.0, 1.0, 1.0, 1.0) == pytest.approx(amplitude**2)


def test_memorizing_kernel_at_the_boundary_has_the_hand_derived_value(solution):
    """At x_par = 0 for ReLU: c_0 = s/sqrt(2 pi), c_1 = s/2, E sigma^2 = s^2/2; c'_0 = 1/2, c'_1 = 1/sqrt(2 pi),
    E sigma'^2 = 1/2 (s^2 = sigma_w^2 (d-1)/d), so K_self - K_low = s^2 (1/4 - 1/(2 pi)) + E[a^2] (d-1)/(4d)."""
    d = float(SETUP.d)
    m = _moments(solution)
    s2 = SETUP.sigma_w**2 * (d - 1) / d
    expected = s2 * (0.25 - 1 / (2 * math.pi)) + m[0] * (d - 1) / (4 * d)
    args = (0.0, *m, d, SETUP.sigma_w, 0.0)
    got = finite_sample_relu.self_kernel(*args) - finite_sample_relu.low_degree_kernel(*args)
    assert got == pytest.approx(expected, rel=1e-9)


def test_self_kernel_quadrature_matches_mpmath():
    D = derive_finite_sample("relu")
    vals = {S.x_par: 0.2, S.m_a2: 7.0, S.m_w2: 5.0, S.m_aw: 4.0, S.d: 30.0, S.sigma_w: 1.0}
    reference = 0
    for piece in D.self_kernel.pieces:
        f = sp.lambdify(S.x, (piece.integrand * D.self_kernel.law.abs_par_density).subs(vals), "mpmath")
        lo = piece.lower.subs(vals)
        hi = piece.upper.subs(vals)
        reference += mp.quad(f, [mp.mpf(float(lo)), mp.inf if hi == sp.oo else mp.mpf(float(hi))])
    got = finite_sample_relu.self_kernel(0.2, 7.0, 5.0, 4.0, 30.0, 1.0, 0.0)
    assert got == pytest.approx(float(reference), rel=1e-10)


def test_shift_and_onset_ratio_are_first_order_in_one_over_n(solution):
    small, large = finite_sample(solution, 1000), finite_sample(solution, 8000)
    ok = np.isfinite(small.shift) & (small.shift != 0)
    assert np.allclose(small.shift[ok], 8 * large.shift[ok], rtol=1e-12)
    ok = np.isfinite(small.onset_ratio)
    assert np.allclose(small.onset_ratio[ok], 8 * large.onset_ratio[ok], rtol=1e-12)
    # the memorizing part is part of the whole self kernel: its shift is smaller
    assert np.all(np.abs(small.shift[ok]) <= np.abs(small.shift_full[ok]) + 1e-15)
    assert small.onset is None or large.onset is None or small.onset <= large.onset


def test_bad_input_is_rejected(solution):
    with pytest.raises(ValueError, match="N must be an integer >= 1"):
        finite_sample(solution, 0)
    with pytest.raises(ValueError, match="data and loss"):
        finite_sample(meanfield(mftheory.fig1_setup(data="sphere"), 3), 100)


def test_label_noise_small_case_runs_and_judges_at_a_small_scale(tmp_path):
    """The small-label-noise validation case end to end on a small problem: judged checks with finite numbers and
    positive tolerances, a figure on disk (the finite-size cases: tests/test_finite_suite_can_fail.py)."""
    from mftheory.validate.cases import Scale, run_case

    tiny = Scale("tiny", d=10, M=100, N=8000, eta=250.0, steps=80)
    checks, figure = run_case("label_noise_small", tiny, tmp_path)
    judged = [c for c in checks if not c.informational]
    assert judged and all(math.isfinite(c.theory) and math.isfinite(c.simulation) and c.tolerance > 0
                          for c in judged)
    assert figure.exists() and figure.stat().st_size > 10_000


def test_each_example_memorizes_only_while_unsatisfied_against_monte_carlo():
    """The memorization map's count of unsatisfied training examples, with a memorized margin that differs from
    example to example and a persistent offset whose sd grows with |x_par|, against sampling the examples from the
    data law's definition (|x_par| half-normal)."""
    from mftheory.finite_size._common import _MEMO_GRID, _ZETA, _ZETA_WEIGHTS
    from mftheory.finite_size.memorization_steps import _fade_and_memorize, _unsatisfied_examples
    from mftheory.kernels.generated import gaussian_hinge as k

    kappa, d, h, slope = 4.0, 30.0, 1.0, 0.5
    sigma = 0.3 + 0.05 * _MEMO_GRID   # linear: the map's linear interpolation between grid points is exact for it
    memorized = np.zeros((_ZETA.size, _MEMO_GRID.size))
    no_tilt = np.zeros_like(memorized)   # no margin from the examples' own tilt here
    rates = 0.05 * (1.0 + np.sin(np.arange(12.0)))
    # an example's own term depends on its |x_par| (the memorizing kernel falls with it)
    profile = 1.5 - 0.5 * _MEMO_GRID / _MEMO_GRID[-1]
    for step, rate in enumerate(rates):   # a few steps of kappa growing: the examples satisfied early stop
        _fade_and_memorize(memorized, np.ones(_MEMO_GRID.size), no_tilt, kappa * (0.5 + step / 20), h, sigma, _ZETA,
                           _ZETA_WEIGHTS, _MEMO_GRID, rate * profile, np.ones(_MEMO_GRID.size))
    # at x_par = 0 the examples pushed down by the others (zeta <= 0) stay below h and gain every rate; far out
    # none is ever unsatisfied; between, some stop on the way
    pushed_down = memorized[_ZETA <= 0, 0]
    assert pushed_down == pytest.approx(np.full(pushed_down.size, 1.5 * rates.sum())) and not memorized[:, -1].any()
    assert np.any((memorized > 0) & (memorized < rates.sum() * profile - 1e-12))
    unsat, rate, _ = _unsatisfied_examples(k.unsat_fraction, k.g_rate, kappa, d, h, 0.0, slope, sigma, _ZETA,
                                           _ZETA_WEIGHTS, _MEMO_GRID, memorized)
    x = np.abs(np.random.default_rng(7).standard_normal(2_000_000))
    below = np.array([kappa * x + np.interp(x, _MEMO_GRID, row) + (0.3 + 0.05 * x) * z < h
                      for z, row in zip(_ZETA, memorized)])
    per_unit = k.g_rate(kappa, d, np.inf, 0.0, slope) / math.sqrt(2 / math.pi)   # g per unit of E[|x_par| ...]
    for got, sampled in ((unsat, below), (rate / per_unit, below * x)):   # x: E[|x_par| 1{unsatisfied}]
        standard_error = math.sqrt(_ZETA_WEIGHTS**2 @ sampled.var(axis=1) / x.size)
        assert got == pytest.approx(_ZETA_WEIGHTS @ sampled.mean(axis=1), abs=4 * standard_error)


@pytest.mark.parametrize("lift", [0.0, 0.6, 1.0])
def test_the_training_error_is_continuous_in_the_offset_against_quadrature(lift):
    """The share of training examples with a margin kappa x + S(x) + sigma(x) zeta below 0 (``_count_misclassified``,
    the map's training error), with a memorized part S that depends on |x_par| only (as for the examples that were
    unsatisfied at every step), against an adaptive quadrature over the data law's definition (|x_par| half-normal,
    zeta ~ N(0, 1)), from 2.4% of the examples down to 1e-5 of them (``lift`` raises S). Counted at the 40
    Gauss-Hermite nodes instead, these shares come out 1%, 7% and 11% off. Tolerance 1e-3 relative: the trapezoid
    over the grid's cells in |x_par| errs by the share's curvature times a cell's width squared (2e-4 to 5e-4
    here)."""
    from scipy import integrate, stats

    from mftheory.finite_size._common import _MEMO_GRID, _ZETA
    from mftheory.finite_size.memorization_steps import _count_misclassified, _cumulative_laws
    from mftheory.kernels.generated import gaussian_hinge as k

    kappa, d, slope, G = 4.0, 30.0, 0.5, _MEMO_GRID.size
    sigma = 0.3 + 0.05 * _MEMO_GRID
    memorized = np.tile(lift * np.exp(-_MEMO_GRID), (_ZETA.size, 1))
    cum_unsat, cum_rate = np.empty(G), np.empty(G)
    base_unsat, _ = _cumulative_laws(k.unsat_fraction, k.g_rate, kappa, d, 0.0, slope, _MEMO_GRID, G - 1, cum_unsat,
                                     cum_rate)
    counted = _count_misclassified(k.unsat_fraction, kappa, d, 0.0, sigma, _ZETA, _MEMO_GRID, memorized, base_unsat,
                                   cum_unsat, G - 1)

    def density(x):
        return 2 * stats.norm.pdf(x) * stats.norm.cdf(-(kappa * x + lift * np.exp(-x)) / (0.3 + 0.05 * x))

    exact = (integrate.quad(density, 0, 1, points=[0.01, 0.1, 0.3], epsabs=0, epsrel=1e-12, limit=500)[0]
             + integrate.quad(density, 1, np.inf, epsabs=0, epsrel=1e-12)[0])
    assert counted == pytest.approx(exact, rel=1e-3)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_the_cumulative_laws_do_not_depend_on_kappa(eps):
    """The memorization map fills the cumulative laws once for all its steps (``_cumulative_laws`` at kappa = 1):
    under the hinge the examples unsatisfied at threshold kappa x are those with |x_par| < x, whatever kappa.
    Checked on the derived kernels from kappa = 1e-3 to 40 against the half-normal law's own integrals
    (P(|x_par| < x) and E[|x_par| 1(|x_par| < x)], scipy), each example's share in f_unsat and in the drift."""
    from scipy import integrate, stats

    from mftheory.finite_size._common import _MEMO_GRID
    from mftheory.finite_size.memorization_steps import _cumulative_laws
    from mftheory.kernels.generated import gaussian_hinge as k

    d, slope, G = 100.0, 0.5, _MEMO_GRID.size
    reference = [np.empty(G), np.empty(G)]
    base = _cumulative_laws(k.unsat_fraction, k.g_rate, 1.0, d, eps, slope, _MEMO_GRID, G - 1, *reference)
    for kappa in (1e-3, 0.3, 2.7, 40.0):
        laws = [np.empty(G), np.empty(G)]
        assert _cumulative_laws(k.unsat_fraction, k.g_rate, kappa, d, eps, slope, _MEMO_GRID, G - 1,
                                *laws) == pytest.approx(base, rel=1e-13, abs=1e-300)
        for law, ref in zip(laws, reference):
            np.testing.assert_allclose(law, ref, rtol=1e-12, atol=1e-15)
    for i in (10, 100, 400):
        x = _MEMO_GRID[i]
        assert reference[0][i] == pytest.approx((1 - eps) * (2 * stats.norm.cdf(x) - 1), rel=1e-12)
        moment = integrate.quad(lambda z: 2 * z * stats.norm.pdf(z), 0, x, epsabs=0, epsrel=1e-13)[0]
        assert reference[1][i] == pytest.approx((1 - eps) * slope * moment / math.sqrt(d), rel=1e-10)


@pytest.mark.parametrize("module", ["finite_sample_relu", "finite_sample_leaky_relu"])
def test_kernels_stay_finite_far_out(module):
    """Early in training x*(t) = h / kappa is far out (kappa ~ 1e-4 after a step): every kernel must stay finite
    there, not overflow into NaN in the memorization map."""
    import importlib

    kernels = importlib.import_module(f"mftheory.kernels.generated.{module}")
    for x_par in (0.1, 10.0, 100.0, 1e4):
        args = (x_par, 0.5, 0.8, 0.3, 20.0, 1.0, 0.3)
        values = [kernels.self_kernel(*args), kernels.low_degree_kernel(*args), kernels.quadratic_kernel(*args)]
        assert all(math.isfinite(v) for v in values), (x_par, values)


def test_mean_memorized_margin_is_first_order_in_one_over_n_early(solution):
    """Averaged over all training examples, the memorized margin starts at 0, only grows, and is first order in 1/N
    while few examples are satisfied."""
    small, large = finite_sample(solution, 1000), finite_sample(solution, 8000)
    assert small.memorized_mean[0] == 0.0 and np.all(np.diff(small.memorized_mean) >= 0)
    assert small.memorized_mean[5] == pytest.approx(8 * large.memorized_mean[5], rel=1e-2)


def test_a_snapshot_of_the_map_leaves_it_alone_and_holds_its_classes(solution):
    """``snapshot_at`` (what ``bench/push_selection.py`` takes apart) changes none of the map's outputs, and its
    classes are the map's: those below h are those whose margin kappa x + S + L + sigma zeta is below h, and from one
    step to the next a class's memorized margin changes by its own term where it was below h and by the fading
    otherwise."""
    from mftheory.finite_size._common import _MEMO_GRID, _ZETA
    from mftheory.finite_size.memorization import _memorization_map, _memory_fading

    fs = solution.variant.finite_sample_kernels()
    plain = _memorization_map(solution, 2000, fs)
    taken = _memorization_map(solution, 2000, fs, snapshot_at=20)
    for field in ("kappa", "memorized", "spread", "train_unsat", "memorized_mean", "unsatisfied"):
        np.testing.assert_array_equal(getattr(plain, field), getattr(taken, field))
    assert plain.snapshot is None
    snap = taken.snapshot
    for q in range(2):
        margin = (snap["kappa"][q] * _MEMO_GRID + snap["memorized"][q] + snap["linear"][q]
                  + snap["sigma"][q] * _ZETA[:, None])
        np.testing.assert_array_equal(snap["below"][q], margin < SETUP.h)
    assert snap["kappa"][0] == taken.kappa[20] and snap["kappa"][1] == taken.kappa[21]
    # a step fades every class, then adds the own term to those below h with their faded margin
    faded = snap["memorized"][0] * _memory_fading(solution)[20]
    pulled = (snap["kappa"][0] * _MEMO_GRID + faded + snap["linear"][0] + snap["sigma"][0] * _ZETA[:, None]) < SETUP.h
    assert pulled.any() and (~pulled).any()
    np.testing.assert_allclose(snap["memorized"][1], faded + np.where(pulled, snap["own"], 0.0), rtol=1e-14, atol=0)


def test_memorized_margins_fade_with_the_hinges_feedback(solution):
    """The feedback that shrinks F's degree-2 part along x_perp shrinks a memorized margin alike (measured: a
    set's memorized margin vanishes once training goes on with another set): per-step factors in [0, 1], below 1
    once examples sit at the threshold; none where that feedback is not derived (mislabelled examples)."""
    from mftheory.finite_size.memorization import _memory_fading

    fading = _memory_fading(solution)
    assert fading.shape == (len(solution.t), 401) and np.all((fading >= 0) & (fading <= 1))
    assert fading[10:-1].min() < 0.999
    noisy = meanfield(SETUP.replace(label_noise=0.05), 40)
    assert np.all(_memory_fading(noisy) == 1.0)


@pytest.mark.parametrize("growth, own, fading", [(0.02, 0.0, 1.0), (0.005, 0.002, 1.0), (0.0, 0.002, 1.0),
                                                  (0.005, 0.002, 0.997), (0.002, 0.002, 0.995)])
def test_training_density_at_the_margin_by_continuity_against_monte_carlo(growth, own, fading):
    """The generated ``threshold_density_ratio`` (the flux through the margin over the speed of the crossing,
    against the infinite set's density) equals the density of unsatisfied training examples just below the
    margin, counted in a Monte Carlo of examples whose margin kappa |x_par| + S grows with kappa and, while
    unsatisfied, by ``own`` per step, while every memorized margin S shrinks by the factor ``fading`` per step (as
    the loss's feedback fades it in the memorization map): from 1 without memorization to 2.8 when only the
    examples' own terms move them (they cross where the Gaussian density is higher), and higher still when the
    fading slows them down at the margin. With fading, kappa grows fast enough at the crossing that a satisfied
    example keeps rising: none falls back to stall at the margin (that crowd is ``crowd_hold``'s). Tolerance: 0.02 for the counting window's and the flux window's
    second-order error (measured up to 0.02 with a million examples) plus 3 sd of the count (Poisson)."""
    from scipy.stats import norm

    x = np.abs(np.random.default_rng(0).standard_normal(1_000_000))
    h, memorized = 1.0, np.zeros(x.size)
    kappa = 0.5 + growth * np.arange(171)
    unsat, margins = np.empty(171), None
    always = np.zeros(172)   # the memorized margin of an example unsatisfied since t = 0
    for t in range(171):
        margin = kappa[t] * x + memorized
        unsat[t] = np.mean(margin < h)
        if t == 150:
            margins = margin.copy()
        memorized *= fading
        memorized[margin < h] += own
        always[t + 1] = fading * always[t] + own
    now, a, b, width = 150, 140, 160, 0.01
    density = 2 * norm.pdf(h / kappa[now]) / kappa[now]        # the infinite set's, per unit margin
    in_window = np.count_nonzero((margins >= h - width) & (margins < h))
    counted = in_window / x.size / width / density
    crossing = (h - always[now]) / kappa[now]                   # where the examples unsatisfied since t = 0 cross
    faded = (1 - fading) * always[a:b].sum()
    predicted = finite_sample_relu.threshold_density_ratio(unsat[a] - unsat[b], density, crossing,
                                                           kappa[b] - kappa[a], own * (b - a), faded)
    assert predicted == pytest.approx(counted, abs=0.02 + 3 * counted / math.sqrt(in_window))
    if fading < 1:   # the fading matters: the speed without it misses the density
        unfaded = finite_sample_relu.threshold_density_ratio(unsat[a] - unsat[b], density, crossing,
                                                             kappa[b] - kappa[a], own * (b - a), 0.0)
        assert unfaded != pytest.approx(counted, abs=0.02 + 3 * counted / math.sqrt(in_window))


@pytest.mark.parametrize("n, crowd", [(60, 200), (60, 900), (40, 400), (40, 1100)])
def test_crowd_hold_against_a_monte_carlo_of_the_crowd_re_memorizing_a_deposit(n, crowd):
    """The generated ``crowd_hold`` (Marchenko-Pastur, degrees >= 3 as a ridge) against the crowd solved exactly:
    ``crowd`` examples uniform on the sphere of x_perp directions (dimension n) with the memorizing kernel
    A_2 rho^2 + A_3 rho^3 + A_5 rho^5 (its whole Gram matrix, off-diagonal high degrees and the constant part of
    rho^2 included) re-memorize a random degree-2 deposit x^T B x (B traceless, an O(n)-invariant law); what is
    left of its variance is |B'|^2 / |B|^2 with B' = B + A_2 sum_j e_j (x_j x_j^T - I/n) (the odd degrees put no
    degree-2 part in), and ``crowd_share`` is what they take along B itself, 1 - <B', B> / |B|^2. Crowds of 0.1 to 1.3 times the N_2 degree-2 harmonics. Tolerance: 4 standard errors of the
    mean over 20 deposits plus 2/n, the order of what the derivation drops (the constant part, finite-n corrections
    to the Marchenko-Pastur law); measured within 1%."""
    rng = np.random.default_rng(n + crowd)
    A2, A3, A5 = 0.6, 0.25, 0.15
    X = rng.standard_normal((crowd, n))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    rho = X @ X.T
    gram = A2 * rho**2 + A3 * rho**3 + A5 * rho**5
    kept, along = [], []
    for _ in range(20):
        B = rng.standard_normal((n, n))
        B = (B + B.T) / 2
        B -= np.trace(B) / n * np.eye(n)
        pulls = np.linalg.solve(gram, -np.einsum("ji,ik,jk->j", X, B, X))
        after = B + A2 * ((X.T * pulls) @ X - pulls.sum() / n * np.eye(n))
        kept.append(np.sum(after**2) / np.sum(B**2))
        along.append(np.sum(after * B) / np.sum(B**2))
    predicted = finite_sample_relu.crowd_hold(float(crowd), A2, A2 + A3 + A5, float(n + 1))
    assert 0.2 < predicted < 0.95
    assert np.mean(kept) == pytest.approx(predicted, abs=4 * np.std(kept) / math.sqrt(20) + 2 / n)
    taken = finite_sample_relu.crowd_share(float(crowd), A2, A2 + A3 + A5, float(n + 1))
    assert 0.03 < taken < 0.6
    assert 1 - np.mean(along) == pytest.approx(taken, abs=4 * np.std(along) / math.sqrt(20) + 2 / n)


@pytest.mark.parametrize("n, crowd", [(60, 200), (60, 900), (40, 1100)])
def test_crowd_kept_against_a_monte_carlo_of_the_crowd_re_memorizing_an_examples_own_deposit(n, crowd):
    """The generated ``crowd_kept`` against the crowd solved exactly: an example at x (a unit vector of x_perp
    directions, dimension n) puts its own kernel K(x, .) into F, worth K_mem = A_2 + A_3 + A_5 at x; the ``crowd``
    examples (as in the test above) keep their margins, so they pull by e with Gram e = -K(X, x), and what the
    example keeps of its own margin is (K_mem + e . K(X, x)) / K_mem. The example's kernel differs from the
    crowd's (its A'_2 and K'_mem at its own |x_par|). Tolerance: 4 standard errors over 40 examples plus 2/n,
    as above."""
    rng = np.random.default_rng(7 * n + crowd)
    A2, A3, A5 = 0.6, 0.25, 0.15
    B2, B3, B5 = 0.9, 0.2, 0.3   # the example's own kernel (at its own |x_par|), its deposit at the crowd's points
    X = rng.standard_normal((crowd, n))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    rho = X @ X.T
    gram = A2 * rho**2 + A3 * rho**3 + A5 * rho**5
    kept = []
    for _ in range(40):
        x = rng.standard_normal(n)
        x /= np.linalg.norm(x)
        r = X @ x
        # the deposit at the crowd's points and the crowd's pulls at x: each with the kernel between the two
        # points; the mixed kernel's degree-2 coefficient is the geometric mean (a product of per-node features)
        deposit = math.sqrt(A2 * B2) * r**2 + math.sqrt(A3 * B3) * r**3 + math.sqrt(A5 * B5) * r**5
        pulls = np.linalg.solve(gram, -deposit)
        own = B2 + B3 + B5
        kept.append((own + pulls @ deposit) / own)
    predicted = finite_sample_relu.crowd_kept(float(crowd), A2, A2 + A3 + A5, B2, B2 + B3 + B5, float(n + 1))
    assert 0.5 < predicted < 0.97
    assert np.mean(kept) == pytest.approx(predicted, abs=4 * np.std(kept) / math.sqrt(40) + 2 / n)


def test_crowd_hold_limits():
    """No crowd holds nothing back; a crowd with no ridge (K_mem = A_2) takes out its share n_c / N_2 of the
    degree-2 harmonics exactly, all of them once it outnumbers them."""
    d = 41.0
    harmonics = (d - 2) * (d + 1) / 2
    assert finite_sample_relu.crowd_hold(0.0, 0.6, 1.0, d) == 1.0
    for crowd in (0.2 * harmonics, 0.7 * harmonics):
        assert finite_sample_relu.crowd_hold(crowd, 0.6, 0.6 * (1 + 1e-7), d) == pytest.approx(
            1 - crowd / harmonics, abs=1e-5)
    assert finite_sample_relu.crowd_hold(2 * harmonics, 0.6, 0.6 * (1 + 1e-7), d) == pytest.approx(0.0, abs=1e-5)


def test_velocity_of_a_margin_against_a_monte_carlo_of_the_others_pulls():
    """velocity_sd with W_2 = 0: the sd over receiving examples mu of (alpha beta / N) sum_nu y_nu y_mu A_2
    rho_nu^2 over U pulling examples held fixed, rho_nu the overlap of x_perp directions in n = d - 1 dimensions and
    the labels' product a random sign, averaged over draws of the pulling examples."""
    rng = np.random.default_rng(21)
    d, U, reps, receivers = 12, 30, 400, 2000
    alpha, beta, N, quadratic = 1.3, 7.0, 500.0, 0.8
    variances = []
    for _ in range(reps):
        nu = rng.standard_normal((U, d - 1))
        nu /= np.linalg.norm(nu, axis=1, keepdims=True)
        mu = rng.standard_normal((receivers, d - 1))
        mu /= np.linalg.norm(mu, axis=1, keepdims=True)
        moves = alpha * beta / N * quadratic * (mu @ nu.T) ** 2 @ rng.choice([-1.0, 1.0], size=U)
        variances.append(np.var(moves))
    amplitude = finite_sample_relu.pull_amplitude(quadratic, 0.0, 50.0, float(d))
    expected = finite_sample_relu.velocity_sd(amplitude, float(U), alpha, beta, N)
    assert expected**2 == pytest.approx(np.mean(variances), rel=0.03)   # MC relative sd about 1%


def test_width_part_of_the_pulls_against_networks_of_the_mean_field_law(solution):
    """W_2 / M, the width's random features in the others' pulls: networks of M nodes drawn from the mean-field node
    law, U pulling points at one |x_par| with random labels (no drive), their first-order push on receiving points
    at the same |x_par|, its part of degree <= 1 in x_perp fitted out per label. Its variance over receivers,
    averaged over networks and pulling sets, against (alpha beta / N)^2 U q^2 with q^2 = Var(rho^2) A_2^2 + W_2 / M
    at M = 50 and 400 (d = 30: the width's part is 0.86 and 0.42 of the whole). Tolerance 4/d plus 3 Monte Carlo
    standard errors: what the derivation leaves out is of relative order 1/d each (the kernel's degrees >= 3, the
    pulling examples' x_par x'_par / d part, the random sum's part along each node's own direction, |w_perp| at its
    mean); here they add up to +7% (M = 400) and +11% (M = 50), while the kernel itself matches the per-node formula
    averaged over sampled nodes to 0.2%."""
    d, U, x_par, N = SETUP.d, 200, 0.3, 5000.0
    alpha, beta = SETUP.alpha, SETUP.beta
    m = _moments(solution)
    args = (x_par, *m, float(d), SETUP.sigma_w, 0.0)
    quadratic, width = finite_sample_relu.quadratic_kernel(*args), finite_sample_relu.width_kernel(*args)
    rng = np.random.default_rng(23)
    for M in (50, 400):
        variances = []
        for _ in range(60):
            a, w = (v[-1] for v in solution.node(SETUP.sigma_a * rng.standard_normal(M),
                                                 SETUP.sigma_w * rng.standard_normal(M)))
            W = np.hstack([w[:, None], SETUP.sigma_w * rng.standard_normal((M, d - 1))])
            labels = rng.choice([-1.0, 1.0], U)
            pullers = rng.standard_normal((U, d))
            pullers[:, 0] = rng.choice([-1.0, 1.0], U) * x_par
            z = pullers @ W.T / math.sqrt(d)
            da = beta / N * (labels @ np.maximum(z, 0.0))
            dW = beta / N * a[:, None] * (((z > 0) * labels[:, None]).T @ pullers) / math.sqrt(d)
            receiving = rng.standard_normal((4000, d))
            signs = rng.choice([-1.0, 1.0], 4000)
            receiving[:, 0] = signs * x_par
            zr = receiving @ W.T / math.sqrt(d)
            push = signs * alpha / M * (np.maximum(zr, 0.0) @ da
                                        + ((zr > 0) * a * (receiving @ dW.T)).sum(axis=1) / math.sqrt(d))
            for label in (1.0, -1.0):
                rows = signs == label
                basis = np.column_stack([np.ones(rows.sum()), receiving[rows, 1:]])
                coef, *_ = np.linalg.lstsq(basis, push[rows], rcond=None)
                variances.append(np.var(push[rows] - basis @ coef) * rows.sum() / (rows.sum() - d))
        amplitude = finite_sample_relu.pull_amplitude(quadratic, width, float(M), float(d))
        expected = finite_sample_relu.velocity_sd(amplitude, float(U), alpha, beta, N) ** 2
        standard_error = np.std(variances) / math.sqrt(len(variances))
        assert np.mean(variances) == pytest.approx(expected, rel=4 / d + 3 * standard_error / expected), M


@pytest.mark.parametrize("velocity", [0.2, 0.9])
def test_share_of_the_held_examples_that_pull_against_a_monte_carlo(velocity):
    """pile_unsat: an example held at the margin against a persistent velocity v < 0 pulls at min(|v|, s) / s of the
    steps (s its own step), one with v > 0 leaves: simulated for held examples over many steps, averaged over the
    velocity's Gaussian law."""
    rng = np.random.default_rng(22)
    own_step, steps = 1.0, 400
    v = rng.normal(0.0, velocity, size=4000)
    margin, pulls = np.zeros_like(v), np.zeros_like(v)
    for _ in range(steps):
        margin += v
        below = margin < 0.0
        pulls += below
        margin = np.where(below, margin + own_step, margin)
        margin = np.minimum(margin, own_step)   # one that moves up leaves the margin: no longer held
    measured = pulls.mean() / steps
    pile = 0.3
    assert finite_sample_relu.pile_unsat(pile, velocity, own_step) / pile == pytest.approx(measured, rel=0.05)
    # the drive: each pulling example at |x_par| = x adds c x / sqrt(d) to g
    assert finite_sample_relu.pile_drift(pile, velocity, own_step, 0.07, 0.5, 100.0) == pytest.approx(
        finite_sample_relu.pile_unsat(pile, velocity, own_step) * 0.5 * 0.07 / 10.0, rel=1e-12)
    # pushed down much faster than its own step, every example with v < 0 pulls at every step
    assert finite_sample_relu.pile_unsat(pile, 1e4, own_step) == pytest.approx(pile / 2, rel=1e-3)


def test_transfer_matrix_moments_against_a_monte_carlo_of_the_node_map():
    """One fixed set's node map with the own shifts: (a, w_par) <- [[1 + beta r, beta g], [beta g, 1]] (a, w_par)
    applied to 200 000 sampled nodes (a0 ~ N(0, sigma_a^2), w0 ~ N(0, sigma_w^2)) for 60 steps of made-up rates,
    against the generated transfer_step / transfer_* kernels (the moments' Monte Carlo error is about 0.5%);
    with r = 0 the transfer moments are the mean field's in gamma_+- to 1e-12."""
    k = mftheory.kernels.load("gaussian", "hinge")
    fs = finite_sample_relu
    rng = np.random.default_rng(4)
    beta, sa, sw, c, alpha, d = 2.5, 0.7, 1.3, 0.5, 1.3, 50.0
    g = 0.02 + 0.01 * rng.random(60)
    r = 0.004 * rng.random(60)
    a, w = rng.normal(0.0, sa, 200_000), rng.normal(0.0, sw, 200_000)
    a0, w0 = a.copy(), w.copy()
    law = {}
    for with_shift in (True, False):
        e = np.zeros(4)
        e_plus = e_minus = 0.0
        a, w = a0.copy(), w0.copy()
        for t in range(60):
            grow = r[t] if with_shift else 0.0
            a, w = (1 + beta * grow) * a + beta * g[t] * w, beta * g[t] * a + w
            e = np.array([step(*e, beta, g[t], grow) for step in (fs.transfer_step_aa, fs.transfer_step_aw,
                                                                    fs.transfer_step_wa, fs.transfer_step_ww)])
            e_plus, e_minus = k.update_increment_plus(e_plus, beta, g[t]), k.update_increment_minus(e_minus, beta, g[t])
        moments = [f(*e, sa, sw) for f in (fs.transfer_a2, fs.transfer_w2, fs.transfer_aw, fs.transfer_da2,
                                           fs.transfer_dw2)]
        sampled = [np.mean(a**2), np.mean(w**2), np.mean(a * w), np.mean((a - a0) ** 2), np.mean((w - w0) ** 2)]
        assert moments == pytest.approx(sampled, rel=0.02)
        kappa = fs.transfer_kappa(moments[2], alpha, c, d)
        law[with_shift] = moments[0] / moments[1]
        if not with_shift:
            gp, gm = k.gamma_from_increment_plus(e_plus), k.gamma_from_increment_minus(e_minus)
            mean_field = [k.moment_a2(gp, gm, sa, sw), k.moment_w2(gp, gm, sa, sw), k.moment_aw(gp, gm, sa, sw),
                          k.moment_da2(gp, gm, sa, sw), k.moment_dw2(gp, gm, sa, sw)]
            assert moments == pytest.approx(mean_field, rel=1e-12)
            assert kappa == pytest.approx(k.kappa_increments(e_plus, e_minus, alpha, d, sa, sw, c), rel=1e-12)
    assert law[True] > 1.05 * law[False]   # the own shifts grow a, not w_par


def test_own_shifts_grow_a_in_proportion_to_the_margin_they_gave():
    """The derivation's premise, on sampled networks of an aligned node law (w_par = 0.9 a + noise, M = 20000,
    d = 40): an example pulls 30 times with a held fixed (each pull moves w_i by (beta / (sqrt(d) N)) a_i y
    sigma'(z_i) x, as GD does); its next pull on a, y sigma(z_i) per node, then exceeds the one before by
    Delta_i, and sum_i w_par,i Delta_i = (m_aw / m_a2) sum_i a_i Delta_i (the growth is along a: r = excess /
    (alpha m_a2)), with sum_i a_i Delta_i = M / alpha times the margin the pulls gave the example. Averaged over
    200 examples at |x_par| < 0.3 (the unsatisfied ones late in a run), within 3%."""
    rng = np.random.default_rng(5)
    M, d, alpha, beta, N = 20_000, 40, 1.0, 2.5, 2000
    a = rng.normal(0.0, 3.0, M)
    W = rng.normal(0.0, 1.0, (M, d))
    W[:, 0] = 0.9 * a + rng.normal(0.0, 1.0, M)
    m_aw, m_a2 = np.mean(a * W[:, 0]), np.mean(a * a)
    along_w, along_a, margin_gain = 0.0, 0.0, 0.0
    for _ in range(200):
        x = rng.standard_normal(d)
        x[0] = rng.uniform(-0.3, 0.3)
        y = 1.0 if rng.random() < 0.5 else -1.0
        z0 = W @ x / np.sqrt(d)
        shift = np.zeros(M)
        for _ in range(30):
            z = z0 + shift
            shift += (beta / N) * a * y * (z > 0) * (x @ x) / d
        delta = y * (np.maximum(z0 + shift, 0.0) - np.maximum(z0, 0.0))
        along_w += np.sum(W[:, 0] * delta)
        along_a += np.sum(a * delta)
        margin_gain += alpha / M * np.sum(a * delta)
    assert along_w == pytest.approx(m_aw / m_a2 * along_a, rel=0.03)
    assert along_a == pytest.approx(M / alpha * margin_gain, rel=1e-12)
