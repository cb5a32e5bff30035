"""The tilt's propagator (derivations/fluctuations.py -> gaussian_hinge kernels -> mftheory.tilt): each derived
piece against an independent number, the propagator's bookkeeping against a Monte Carlo of the same linear
system, and the prediction against simulation."""
import math

import mpmath as mp
import numpy as np
import pytest

import mftheory
from mftheory import kernels
from mftheory.finite_size.tilt_system import _propagate_tilt
from mftheory.validate.simulator import simulate


@pytest.fixture(autouse=True)
def _mpmath_digits():
    """This module's mpmath precision, set around each test (a module-level or in-test ``mp.dps`` would leak to
    the other modules' tests)."""
    with mp.workdps(30):
        yield


@pytest.mark.parametrize("kappa,h", [(0.5, 1.0), (2.0, 1.0), (10.0, 0.5)])
def test_response_is_the_derivative_of_the_unsatisfied_mean_of_y_x_perp(kappa, h):
    """r(tau) = E[u(y (kappa x_par + tau xi)) y xi] by mpmath quadrature over xi (x_par integrated exactly),
    differentiated at tau = 0: the unsatisfied set's response, computed without the derivation's integration by
    parts."""

    def between_zero_and(c):
        return mp.ncdf(c) - mp.mpf(1) / 2 if c > 0 else mp.mpf(0)

    def r(tau):
        f = lambda xi: xi * mp.npdf(xi) * (between_zero_and((h - tau * xi) / kappa)
                                           - between_zero_and((h + tau * xi) / kappa))
        return mp.quad(f, [-mp.inf, 0, mp.inf])

    step = mp.mpf("1e-8")
    slope = (r(step) - r(-step)) / (2 * step)
    k = kernels.load("gaussian", "hinge")
    assert k.tilt_response(kappa, 100.0, h) == pytest.approx(float(slope), rel=1e-8)


@pytest.mark.parametrize("activation,leak", [("relu", 0.0), ("leaky_relu", 0.3)])
def test_the_two_sides_average_sigma_prime_to_the_odd_slope(activation, leak):
    """E[sigma'(mu + s xi)] + E[sigma'(-mu + s xi)] = 2 c_sigma for any mu, s (mpmath), the identity the node
    drive rests on."""
    c = mftheory.variant_of(mftheory.fig1_setup(activation=activation, leak=leak)).odd_slope(leak)
    dsigma = lambda z: 1.0 if z > 0 else (leak if activation == "leaky_relu" else 0.0)
    for mu, s in ((0.3, 1.0), (-1.7, 0.4), (2.5, 3.0)):
        total = sum(mp.quad(lambda xi: dsigma(m + s * xi) * mp.npdf(xi), [-mp.inf, -m / s, mp.inf]) for m in (mu, -mu))
        assert float(total) == pytest.approx(2 * c, rel=1e-12)


@pytest.mark.parametrize("fixed", [True, False])
def test_propagator_matches_a_monte_carlo_of_the_same_linear_system(fixed):
    """X' = A_t X + b_t r_t with r_t the mean of y xi over the examples still unsatisfied (|x_par| < x*_t) of one
    fixed sample of N (fixed) or of a new one at every step: 40000 runs of it against the propagator's variance."""
    rng = np.random.default_rng(1)
    T, N, runs = 25, 40, 40_000
    x_star = np.concatenate([[np.inf], 2.5 / np.arange(1, T)])
    unsat = np.array([1.0] + [math.erf(x / math.sqrt(2)) for x in x_star[1:]])
    beta_g = 0.05 + 0.02 * rng.random(T)
    drive = 0.3 + 0.2 * rng.random((T, 2))
    feedback = -0.5 * rng.random(T)
    growth = 0.02 * rng.random(T)   # a's own-shift growth of one fixed set's node map
    init = np.array([0.2, 0.1])
    var_init, var_sample = np.empty(T), np.empty(T)
    _propagate_tilt(beta_g, drive, feedback, growth, init, unsat, 1.0 / N, fixed, var_init, var_sample)

    X = np.zeros((runs, 2))
    X0 = rng.standard_normal((runs, 2)) * np.sqrt(init)
    x_par, xi = rng.standard_normal((2, runs, N))
    mc_sample, mc_init = np.empty(T), np.empty(T)
    for t in range(T):
        mc_sample[t], mc_init[t] = X[:, 0].var(), X0[:, 0].var()
        if t + 1 == T:
            break
        if not fixed:
            x_par, xi = rng.standard_normal((2, runs, N))
        r = np.mean(np.where(np.abs(x_par) < x_star[t], np.sign(x_par) * xi, 0.0), axis=1)
        A = np.array([[1 + growth[t] + feedback[t] * drive[t, 0], beta_g[t]],
                      [beta_g[t] + feedback[t] * drive[t, 1], 1.0]])
        X = X @ A.T + np.outer(r, drive[t])
        X0 = X0 @ A.T
    # sampling error of a variance over 40000 runs: relative sd sqrt(2 / 40000) = 0.7%
    assert var_sample[1:] == pytest.approx(mc_sample[1:], rel=0.04)
    assert var_init == pytest.approx(mc_init, rel=0.04)


def test_tilt_checks_its_inputs():
    sol = mftheory.meanfield(mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=200), 20)
    with pytest.raises(ValueError, match="sample must be one of"):
        mftheory.tilt(sol, 100, sample="online")
    with pytest.raises(ValueError, match=r"N \(None for an infinite training set\) must be an integer >= 1"):
        mftheory.tilt(sol, 0)
    with pytest.raises(ValueError, match="hinge loss on Gaussian data"):
        mftheory.tilt(mftheory.meanfield(sol.setup.replace(loss="logistic"), 20))
    with pytest.raises(ValueError, match="solution must be"):
        mftheory.tilt(sol.setup)


def test_feedback_predicts_the_simulated_tilt_and_the_frozen_init_does_not():
    """Fresh data at every step, d = 20, M = 200: the rms angle over 3 seeds at t = 30 and 60 against the
    prediction, tolerance as in the validation case `tilt` (chi^2 sampling of the d - 1 components, 3 sd, plus
    the next order 1/sqrt(M)); the frozen-init prediction is more than 3x off there."""
    setup = mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=200)
    N, steps, seeds = 20_000, 60, 3
    runs = [simulate(setup, N=N, steps=steps, seed=s, online=True, n_test=0, record_steps=[0, 30, 60])
            for s in range(seeds)]
    rms = np.sqrt(np.mean([r.teacher_angle ** 2 for r in runs], axis=0))
    pred = mftheory.tilt(mftheory.meanfield(setup, steps), N, "fresh")
    tol = 3 / math.sqrt(2 * (setup.d - 1) * seeds) + 1 / math.sqrt(setup.M)
    for j, t in ((1, 30), (2, 60)):
        assert abs(rms[j] / pred.angle[t] - 1) < tol, (t, rms[j], pred.angle[t])
        assert pred.angle_frozen[t] > 3 * rms[j]


def test_within_run_band_adds_its_parts_in_quadrature():
    """band_sd^2 = rest^2 + tan(angle)^2 + bend^2 + sample^2, each part from its own prediction: the rest is the
    frozen one less the degree-2 variance the feedback removed at x*, the bend the frozen bend at x* times its
    damping there plus the training sample's part of it, the sample's part is the degree-2 variance the training sample put in at x* (all over kappa);
    N=None leaves the sample out and centres the band on x*. With one fixed set every part runs on that set's
    clock (kappa and x* included)."""
    sol = mftheory.meanfield(mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=200), 100)
    band = mftheory.within_run_band(sol, 20_000)
    clock = mftheory.finite_size.prediction._on_training_clock(sol, 20_000, "fixed", "training")   # the default density
    frozen = mftheory.finite_width(clock).band_rest_sd
    tilt_sd = np.tan(mftheory.tilt(sol, 20_000).angle)
    feedback = mftheory.rest_feedback(sol, 20_000)
    t = np.arange(1, 101)
    sample = np.sqrt([np.interp(clock.x_star[i], feedback.x_par, feedback.sample_variance[i]) for i in t]) \
        / clock.kappa[t]
    assert np.array_equal(band.rest_sd_frozen, frozen)
    assert np.all(band.rest_sd[t] <= frozen[t] * (1 + 1e-12)) and band.rest_sd[100] < 0.8 * frozen[100]
    assert band.sample_sd[t] == pytest.approx(sample, rel=1e-12)
    fw = clock.variant.finite_width_kernels()
    moments = np.empty((len(clock.t), 5))
    clock.kernels.fill_moments(clock.gamma_plus, clock.gamma_minus, clock.setup.sigma_a, clock.setup.sigma_w, moments)
    memo = mftheory.finite_size.feedback._quiet_finite_sample(clock, 20_000, "auto")[0]
    bend_feedback = mftheory.finite_size.feedback._bend_feedback(clock, 20_000, "fixed", memo)
    setup = clock.setup
    bend = np.array([np.sqrt(setup.alpha**2 / setup.M * fw.linear_odd_second(
        clock.x_star[i], *moments[i, :3], setup.alpha, float(setup.M), float(setup.d), setup.sigma_w, setup.slope)
        * np.interp(clock.x_star[i], bend_feedback.x_par, bend_feedback.damping[i]) ** 2
        + np.interp(clock.x_star[i], bend_feedback.x_par, bend_feedback.sample_variance[i])) / clock.kappa[i]
        for i in t])
    assert band.bend_sd[t] == pytest.approx(bend, rel=1e-12)
    assert np.all(band.bend_sd[t] > 0) and band.bend_sd[100] < band.tilt_sd[100]
    assert band.band_sd[t] == pytest.approx(np.sqrt(band.rest_sd[t]**2 + tilt_sd[t]**2 + bend**2 + sample**2),
                                            rel=1e-12)
    assert band.crossing[t] == pytest.approx(mftheory.finite_sample(clock, 20_000).crossing[t])
    infinite = mftheory.within_run_band(sol)
    assert np.all(infinite.sample_sd == 0) and infinite.crossing[t] == pytest.approx(sol.x_star[t])
    assert np.all(infinite.band_sd[t] <= band.band_sd[t])


def test_degree2_propagator_starts_at_one_and_checks_its_inputs():
    """A deposit is all there at t = 0; the hinge's pull takes some out while the nodes' growth is small late, so
    less than all of it is left at x_par = 0 after 80 steps (the comparison with simulation is the validation
    case ``propagator``); a start outside the solution or a source outside the grid is refused by name."""
    from mftheory import finite_size

    setup = mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=200)
    sol = mftheory.meanfield(setup, 120)
    prop = finite_size.degree2_propagator(sol, 40, source=0.03)
    assert prop.retention.shape == (120 - 40 + 1, finite_size._common._REST_GRID.size)
    assert np.all(prop.retention[0] == 1.0)
    assert 0 < prop.retention[-1, 0] < 1
    # without the pull, the growth alone: the frozen-init amplitude's own growth from the start on, uniform in
    # the source (the deposit's profile is carried unchanged) and above what the pull leaves
    moments = np.empty((len(sol.t), 5))
    sol.kernels.fill_moments(sol.gamma_plus, sol.gamma_minus, setup.sigma_a, setup.sigma_w, moments)
    fw = sol.variant.finite_width_kernels()
    frozen = lambda i: fw.degree2_second(0.0, *moments[i, :3], setup.alpha, float(setup.M), float(setup.d),
                                         setup.sigma_w, setup.slope) ** 0.5
    assert prop.growth_only[-1, 0] == pytest.approx(frozen(120) / frozen(40), rel=1e-12)
    assert np.all(prop.growth_only[0] == 1.0) and np.all(prop.growth_only[2:, 0] > prop.retention[2:, 0])
    for bad in (0, 120, 10**6):
        with pytest.raises(ValueError, match="start"):
            finite_size.degree2_propagator(sol, bad)
    with pytest.raises(ValueError, match="source"):
        finite_size.degree2_propagator(sol, 40, source=-1.0)


def test_an_examples_own_tilt_lifts_its_margin_as_a_monte_carlo_of_its_pull():
    """``tilt_own_margin``: one example's pull adds r_k = y x_k / N to each component of the tilt; with a response
    R_v of v_k per unit r_k, F's linear part tau_k = alpha c v_k / sqrt(d) lifts that example's own margin by
    y tau . x_perp. Drawn here from its definition (x_perp ~ N(0, I_{d-1})), against the generated kernel (the
    derivation takes |x_perp|^2 at its mean d - 1): within 4 standard errors."""
    k = kernels.load("gaussian", "hinge")
    alpha, c, d, N, R = 1.3, 0.5, 40, 5000.0, 7.0
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200_000, d - 1))
    y = rng.choice([-1.0, 1.0], size=len(x))
    v = R * y[:, None] * x / N                      # the tilt each example's own pull leaves, per component
    lifted = y * (alpha * c / math.sqrt(d) * v * x).sum(axis=1)
    se = lifted.std() / math.sqrt(len(lifted))
    assert abs(lifted.mean() - k.tilt_own_margin(R, alpha, c, float(d), N)) < 4 * se


def test_the_bends_feedback_is_a_monte_carlo_of_the_node_drive():
    """derivations/fluctuations.py, step bend_feedback: with q = E[u'] B(x*) (here q a random vector, E[u'] = 1)
    one GD step moves each node by Delta w_perp = beta a rho_o(x*) q / sqrt(d) and Delta a = beta rho_o(x*)
    (w_perp . q) / sqrt(d), rho_o the odd half of E[sigma'(mu + s_hat xi)] over the two sides (for the ReLU
    (Phi(mu / s_hat) - Phi(-mu / s_hat)) / 2, each node with its own |w_perp|). The bend B(x) = (alpha / M)
    sum a rho_o(x) w_perp / sqrt(d) then changes by -bend_feedback q: the sum over 40 000 sampled nodes, projected
    on q, against the generated kernel (the node count and |w_perp|'s spread, relative order 1/d, set the 4%)."""
    from scipy.special import ndtr
    setup = mftheory.Setup(d=200, alpha=1.3, h=1.0, eta=100.0, M=50)
    sol = mftheory.meanfield(setup, 40)
    moments = np.empty((len(sol.t), 5))
    sol.kernels.fill_moments(sol.gamma_plus, sol.gamma_minus, setup.sigma_a, setup.sigma_w, moments)
    m = moments[-1]
    fw = sol.variant.finite_width_kernels()
    rng = np.random.default_rng(5)
    nodes, d = 40_000, setup.d
    a0, w0 = rng.standard_normal(nodes), rng.standard_normal(nodes)
    a, w = (v[-1] for v in sol.node(a0, w0))
    w_perp = rng.standard_normal((nodes, d - 1)) * setup.sigma_w
    s_hat = np.linalg.norm(w_perp, axis=1) / math.sqrt(d)

    def rho_odd(x_par):
        mu = w * x_par / math.sqrt(d)
        return (ndtr(mu / s_hat) - ndtr(-mu / s_hat)) / 2

    q = rng.standard_normal(d - 1)
    beta, x_star = 0.7, 0.4
    for x in (0.1, 0.4, 1.2):
        delta_w = beta * (a * rho_odd(x_star))[:, None] * q[None, :] / math.sqrt(d)
        delta_a = beta * rho_odd(x_star) * (w_perp @ q) / math.sqrt(d)
        change = setup.alpha / (nodes * math.sqrt(d)) * (
            (delta_a * rho_odd(x)) @ w_perp + (a * rho_odd(x)) @ delta_w)
        measured = change @ q / (q @ q)
        args = (*m[:3], setup.alpha, float(setup.M), float(d), setup.sigma_w, setup.slope)
        rate = sol.kernels.bend_feedback(1.0, beta, setup.alpha, fw.linear_odd_cross(x, x_star, *args),
                                         fw.linear_odd_cross_a2(x, x_star, *args), float(d), setup.sigma_w)
        assert -rate == pytest.approx(measured, rel=0.04), (x, -rate, measured)
