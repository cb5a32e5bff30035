"""mftheory.finite_size.predict: its derived pieces against independent numbers, its average over x_par against
a Monte Carlo of the same composition, its limits, and its input checks."""
import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

import mftheory
from mftheory import finite_size, kernels
from mftheory.finite_size.memorization_steps import _fade_and_memorize, _scan_the_margin
from mftheory.kernels.binding import bind
from mftheory.validate.simulator import network_output, simulate

SETUP = mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=200)


@pytest.fixture(scope="module")
def solution():
    return mftheory.meanfield(SETUP, 120)


@pytest.mark.parametrize("m,threshold,var", [(0.3, 0.0, 0.04), (-0.2, 0.0, 1.0), (1.4, 1.0, 0.01), (0.0, 1.0, 9.0)])
def test_margin_below_is_the_normal_cdf(m, threshold, var):
    """The derived P(m + delta < theta_h) against scipy's normal cdf."""
    k = kernels.load("gaussian", "hinge")
    assert k.margin_below(m, threshold, var) == pytest.approx(norm.cdf((threshold - m) / math.sqrt(var)),
                                                              rel=1e-12, abs=1e-300)


def test_tilt_output_variance_matches_a_monte_carlo_of_the_tilt():
    """Var over x_perp of tau . x_perp, tau_k = alpha c v_k / sqrt(d) with v_k ~ N(0, V_v): a Monte Carlo over v
    and x_perp (2e5 draws, relative se about 0.3%)."""
    k = kernels.load("gaussian", "hinge")
    d, alpha, c, var_v = 20, 1.5, 0.5, 0.3
    rng = np.random.default_rng(0)
    v = rng.normal(0.0, math.sqrt(var_v), (200_000, d - 1))
    x = rng.standard_normal((200_000, d - 1))
    sample = np.var(np.sum(alpha * c * v / math.sqrt(d) * x, axis=1))
    assert k.tilt_output_variance(var_v, alpha, c, float(d)) == pytest.approx(sample, rel=0.015)


def test_rates_are_the_average_of_the_composition_over_x(solution):
    """test_error and test_unsat against a Monte Carlo over x_par ~ N(0, 1) of the normal cdf with the rest's
    variance from the finite-width kernels on a fine grid (less the degree-2 part the feedback removed, plus the
    linear part's bend with its feedback and the sample's degree-2 part) plus the tilt's: checks the quadrature and the coarse interpolation of the rest (the Monte Carlo's relative se is below
    1%)."""
    pred = finite_size.predict(solution, 40_000, "fresh")
    fw = solution.variant.finite_width_kernels()
    moments = np.empty((len(solution.t), 5))
    solution.kernels.fill_moments(solution.gamma_plus, solution.gamma_minus, 1.0, 1.0, moments)
    x = np.abs(np.random.default_rng(1).standard_normal(400_000))
    feedback = finite_size.rest_feedback(solution, 40_000, "fresh")
    for t in (20, 60, 120):
        args = tuple(moments[t, :3]) + (SETUP.alpha, float(SETUP.M), float(SETUP.d), SETUP.sigma_w, SETUP.slope)
        grid = np.linspace(0.0, 6.0, 301)
        rest = finite_size.prediction._rest_variance(fw.output_variance, fw.common_second, fw.common_mean,
                                                     fw.linear_second, grid, float(SETUP.d), args)
        kept = np.interp(grid, feedback.x_par, feedback.damping[t])
        removed = np.array([fw.degree2_variance(x_par, *args) for x_par in grid]) * (1.0 - kept ** 2)
        rest = np.maximum(rest - removed, 0.0)
        bend = finite_size.feedback._bend_feedback(solution, 40_000, "fresh")
        rest = rest + SETUP.alpha**2 / SETUP.M * np.array([fw.linear_odd_second(x_par, *args) for x_par in grid]) \
            * np.interp(grid, bend.x_par, bend.damping[t]) ** 2 + np.interp(grid, bend.x_par, bend.sample_variance[t])
        rest = rest + np.interp(grid, feedback.x_par, feedback.sample_variance[t])
        sd = np.sqrt(np.interp(x, grid, rest) + pred.tilt_sd[t] ** 2)
        kappa = solution.kappa[t]
        error = norm.cdf(-kappa * x / sd)
        unsat = norm.cdf((SETUP.h - kappa * x) / sd)
        for sample, predicted in ((error, pred.test_error[t]), (unsat, pred.test_unsat[t])):
            se = sample.std() / math.sqrt(len(x))
            assert abs(sample.mean() - predicted) < 4 * se + 1e-4 * predicted, (t, sample.mean(), predicted)


def test_without_finite_size_effects_it_is_the_mean_field(solution):
    """M -> infinity and N = None: no error and the mean-field f_unsat; train equals test (nothing memorized)."""
    # the same mean field (beta = eta alpha / M fixed) at a width where the 1/sqrt(M) parts vanish
    wide = mftheory.meanfield(SETUP.replace(M=10**12, eta=SETUP.eta * 10**12 / SETUP.M), 120)
    pred = finite_size.predict(wide)
    t = np.arange(5, 121)
    assert np.all(pred.test_error[t] < 1e-6)
    assert pred.test_unsat[t] == pytest.approx(wide.f_unsat[t], abs=1e-4)
    assert np.array_equal(pred.train_error, pred.test_error) and np.array_equal(pred.train_unsat, pred.test_unsat)
    assert pred.test_error[0] == 0.5 and pred.test_unsat[0] == 1.0



@pytest.mark.parametrize("N,sample", [(None, "fixed"), (40_000, "fresh"), (40_000, "fixed")])
def test_every_share_is_a_probability(solution, N, sample):
    """The error rates and unsatisfied fractions lie in [0, 1] at every step: early, with every example below
    the margin, the quadrature over x_par used to round f_unsat to 1 + 9e-14."""
    pred = finite_size.predict(solution, N, sample)
    for name in ("test_error", "train_error", "test_unsat", "train_unsat"):
        share = getattr(pred, name)
        assert np.all((share >= 0.0) & (share <= 1.0)), name
    assert pred.test_unsat[1] == pytest.approx(1.0, abs=1e-9)   # t = 1: F is tiny, every example below h


def test_the_prediction_is_bit_identical_across_thread_counts():
    """The steps of the rates' quadrature, of the rest's kernels and the solves of the feedback's spectral laws run
    on numba's threads: each step's result is its own, so one and two threads give the same bits (finite width
    alone and fresh data)."""
    from thread_counts import digests_at_one_and_two_threads

    source = ("import mftheory\nfrom mftheory.finite_size import predict\n"
              "def compute():\n"
              "    solution = mftheory.meanfield(mftheory.fig1_setup(d=20, M=200), 200)\n"
              "    return [(p.test_error, p.test_unsat, p.band_sd) for p in (predict(solution),\n"
              "            predict(solution, 40_000, 'fresh'))]\n")
    one, two = digests_at_one_and_two_threads(source)
    assert one == two

def test_a_fixed_training_set_is_memorized_and_a_smaller_one_more(solution):
    """With one fixed set the training points carry their memorized margin: the training f_unsat sits below the
    test one, more so for N/4; the fresh-point slope falls behind kappa and the tilt grows as N shrinks."""
    big, small = finite_size.predict(solution, 40_000), finite_size.predict(solution, 10_000)
    t = np.arange(30, 121)
    for pred in (big, small):
        assert np.all(pred.train_unsat[t] < pred.test_unsat[t]) and np.all(pred.memorized[t] > 0)
    assert np.all(small.train_unsat[t] < big.train_unsat[t]) and np.all(small.tilt[t] > big.tilt[t])
    assert np.all(small.kappa[t] < big.kappa[t]) and np.all(big.kappa[t] <= solution.kappa[t])


def test_training_rates_become_the_test_rates_when_nothing_is_memorized(solution):
    """N = 1e12 fixed: nothing is memorized and the spread vanishes, so the training rates (the memorization map's
    examples, each with a persistent Gaussian offset of the rest's variance, summed on its grid and Gauss-Hermite
    nodes; the training error continuous in the offset) must equal the test rates (Gauss-Legendre panels over
    x_par of the normal cdf). They differ by the map's slope, which the offsets smear at second order, and by the
    quadratures and the rest variance's interpolation: measured 0.08% (error) and 0.01% (f_unsat); the tolerance,
    0.4%, is twice the 0.2% the slope differs by (checked first). Counted at the Gauss-Hermite nodes,
    the training error sat 1% above its exact value; with the rest variance on 13 evenly spaced points, 1.4% below
    the test error."""
    pred = finite_size.predict(solution, 10**12)
    t = np.arange(10, 121)
    assert pred.kappa[t] == pytest.approx(solution.kappa[t], rel=5e-3)
    assert pred.train_error[t] == pytest.approx(pred.test_error[t], rel=4e-3)
    assert pred.train_unsat[t] == pytest.approx(pred.test_unsat[t], rel=4e-3)


def test_a_fixed_set_runs_on_its_own_clock(solution):
    """One fixed set drives the nodes by its own unsatisfied examples. N = 300 at d = 20 is all satisfied (less than
    one example expected below the margin) from about step 65: from there the clock's kappa and the frozen-init
    rest (a function of the node law alone) stand still, where the mean field's go on (kappa 4.9 -> 7.1). With
    N = 1e12 the clock is the mean field's, up to the map's quadrature (0.5%)."""
    N, late = 300, np.arange(70, 121)
    clock = finite_size.prediction._on_training_clock(solution, N, "fixed")
    assert np.all(clock.f_unsat[late] * N < 1)
    assert np.ptp(clock.kappa[late]) < 1e-2 * clock.kappa[70]
    assert solution.kappa[120] > 1.4 * solution.kappa[60]
    frozen = finite_size.predict(solution, N).rest_sd_frozen[late]
    assert np.ptp(frozen) < 1e-2 * frozen[0]
    infinite = finite_size.predict(solution, None).rest_sd_frozen[late]
    assert np.ptp(infinite) > 0.1 * infinite[0]
    huge = finite_size.prediction._on_training_clock(solution, 10**12, "fixed")
    assert huge.kappa[10:] == pytest.approx(solution.kappa[10:], rel=5e-3)
    assert finite_size.prediction._on_training_clock(solution, N, "fresh") is solution


def test_the_training_sets_margin_density_stops_the_feedback_with_gd_and_is_the_infinite_sets_without_memory(
        solution):
    """``margin_density="training"``: the feedback counts the training set's density of examples at the margin
    (continuity: its flux through the margin over their speed). N = 300 is all satisfied from about step 65: no
    example crosses, the density and with it the feedback's pull are 0 (below 2% of the infinite set's from step
    71, where half an example still crosses within the flux window and the map keeps 0.5 of one unsatisfied;
    below 0.5% from step 95, where hundredths of an example cross and once a fifth of one, a memorized margin that
    fades back under it), and the tilt stands still (to 2%). With the infinite set's density the set's
    examples stalled at the margin hold it too, from the sliding onset on (``test_the_sliding_onset...``; without
    that, this density pulled it below a tenth). With N = 1e12 nothing is memorized and the density is the
    infinite set's, up to the map's grid of |x_par| and the finite flux window (2%)."""
    N, late = 300, np.arange(70, 121)
    state = finite_size.prediction._along(solution, N, "fixed").state
    ratio = finite_size.memorization._threshold_density_ratio(solution, state)
    assert np.all(ratio[71:121] < 2e-2) and np.all(ratio[95:121] < 5e-3)   # fractions of an example
    own = finite_size.tilt(solution, N, margin_density="training").angle[late]
    infinite = finite_size.tilt(solution, N, margin_density="infinite")
    assert np.ptp(own) < 2e-2 * own[0]
    assert infinite.sliding_onset < late[0]
    assert np.ptp(infinite.angle[late]) < 2e-2 * infinite.angle[late][0]
    huge = finite_size.prediction._along(solution, 10**12, "fixed").state
    assert finite_size.memorization._threshold_density_ratio(solution, huge)[15:110] == pytest.approx(1.0, abs=0.02)
    with pytest.raises(ValueError, match="margin_density must be None or one of 'infinite', 'training'"):
        finite_size.predict(solution, N, margin_density="train")
    for call in (lambda: finite_size.predict(solution, None, margin_density="training"),
                 lambda: finite_size.tilt(solution, N, "fresh", margin_density="training")):
        with pytest.raises(ValueError, match="needs one fixed training set"):
            call()


def test_a_class_is_stalled_at_the_margin_only_when_it_stays_within_one_own_step_of_it():
    """The pile counts the classes within the band at this step and the last one: one the drift carries across
    (in the band at one step only) does not count, one that stays does, with its mass."""
    grid, zeta = np.array([0.0, 0.5, 1.0]), np.array([0.0])
    memorized, sigma, mass = np.zeros((1, 3)), np.zeros(3), np.array([[0.2, 0.3, 0.5]])
    near = np.zeros((1, 3), dtype=np.bool_)
    no_tilt, cells = np.zeros((2, 1, 3)), np.zeros(3, dtype=np.int64)
    linear, total, below, unsatisfied = np.zeros((1, 3)), np.zeros((1, 3)), np.zeros((1, 3), np.bool_), np.zeros((1, 1))

    def stalled(kappa, band=0.01):
        return _scan_the_margin(kappa, grid, memorized, no_tilt, 0.0, sigma, zeta, 1.0, cells, np.ones(3), band, mass,
                                linear, total, below, unsatisfied, near)[0]

    assert stalled(2.0) == 0.0                    # grid point 0.5 enters the band: not yet stalled
    assert stalled(2.0) == pytest.approx(0.3)     # and stays: its mass
    assert stalled(4.0) == 0.0                    # the drift has carried it away; 0.25 is not on the grid
    assert stalled(1.0) == 0.0 and stalled(1.0) == pytest.approx(0.5)
    assert stalled(1.0, band=0.0) == 0.0


def test_the_margin_scan_finds_the_classes_below_and_the_last_grid_point_with_one():
    """The one pass over the example classes: a class is below the margin where kappa x + its memorized margin +
    the margin its own tilt holds + sigma zeta < h, its share goes to its cell of the rest's grid, and the last
    grid point with a class below comes back (-1 when none is), with the mass-weighted excess of their margins over
    kappa x (what the own shifts grow a by)."""
    grid, zeta = np.array([0.0, 0.5, 1.0, 1.5]), np.array([-1.0, 1.0])
    memorized = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 0.3, 0.0, 0.0]])
    own = np.zeros((2, 2, 4))
    own[0, 0, 2] = 0.5                                   # holds own_gain * 0.5 = 0.25 of margin at x = 1, zeta = -1
    sigma, mass = np.full(4, 0.1), np.full((2, 4), 0.125)
    cells, share = np.array([0, 0, 1, 1]), np.array([0.5, 0.5, 0.25, 0.75])
    linear, total, below = np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((2, 4), np.bool_)
    unsatisfied, near = np.zeros((2, 2)), np.zeros((2, 4), np.bool_)
    scan = lambda kappa, h=1.0: _scan_the_margin(kappa, grid, memorized, own, 0.5, sigma, zeta, h, cells, share, 0.0,
                                                 mass, linear, total, below, unsatisfied, near)
    # kappa = 0.8: margins 0.8 x + memorized + linear -+ 0.1; zeta = -1: -0.1, 0.3, 0.95, 1.1; zeta = 1: 0.1, 0.8, 0.9, 1.3
    assert scan(0.8)[:3] == (0.0, 0.0, 2)
    # the classes below: their mass times what their margin exceeds kappa x by (memorized, own tilt, offset):
    # zeta = -1: -0.1, -0.1, 0.15; zeta = 1: 0.1, 0.4, 0.1
    assert scan(0.8)[3] == pytest.approx(0.125 * 0.55)
    assert below.tolist() == [[True, True, True, False], [True, True, True, False]]
    assert total[0, 2] == pytest.approx(0.25) and linear[0, 2] == pytest.approx(0.25)
    assert unsatisfied == pytest.approx(np.array([[1.0, 0.25], [1.0, 0.25]]))
    assert scan(3.0)[2] == 0 and scan(3.0, h=-1.0)[2] == -1    # x = 0, zeta = -1 (margin -0.1) stays below h = 1
    assert not below.any() and not unsatisfied.any()
    # the pile: classes within the band of h at this step and the last, their share and their share times |x_par|
    # (kappa = 0.8, band 0.2: 0.95 at x = 1 and 1.1 at x = 1.5 for zeta = -1, 0.9 at x = 1 for zeta = 1)
    near[:] = False
    held = lambda: _scan_the_margin(0.8, grid, memorized, own, 0.5, sigma, zeta, 1.0, cells, share, 0.2, mass, linear,
                                    total, below, unsatisfied, near)
    assert held()[:2] == (0.0, 0.0)                            # not yet at the last step
    assert held()[:2] == pytest.approx((3 * 0.125, 0.125 * (1.0 + 1.5 + 1.0)))


def test_the_scan_reaches_every_class_the_fading_puts_below_the_margin():
    """A class above the margin at the scan can fall below it once its memorized part fades, and it then gains
    this step's own term at its |x_par|: the scan returns the last grid point where that happens, as the fade
    itself decides it (the same arithmetic), so the own term is evaluated that far (the fade, handed an own term
    known only up to that point, NaN beyond, leaves every margin finite; known only up to the last class below at
    the scan, it would not)."""
    rng = np.random.default_rng(3)
    G, Z = 41, 5
    grid, zeta = np.linspace(0.0, 2.0, G), np.linspace(-2.0, 2.0, Z)
    sigma, mass = np.full(G, 0.1), np.full((Z, G), 1.0 / (Z * G))
    own = np.zeros((2, Z, G))
    cells, share = np.zeros(G, dtype=np.int64), np.ones(G)
    reached_further = 0
    for _ in range(20):
        memorized = rng.uniform(0.0, 1.5, (Z, G))
        fading = rng.uniform(0.2, 1.0, G)
        linear, total, below = np.zeros((Z, G)), np.zeros((Z, G)), np.zeros((Z, G), np.bool_)
        unsatisfied, near = np.zeros((Z, 1)), np.zeros((Z, G), np.bool_)
        *_, last_below, _, last_faded = finite_size.memorization_steps._scan_the_margin(
            0.7, grid, memorized, own, 0.0, sigma, zeta, 1.0, cells, share, 0.0, mass, linear, total, below,
            unsatisfied, near, fading)
        faded = 0.7 * grid + memorized * fading + sigma * zeta[:, None] < 1.0
        assert last_faded == (np.flatnonzero(faded.any(axis=0)).max() if faded.any() else -1)
        before = 0.7 * grid + memorized + sigma * zeta[:, None] < 1.0
        assert last_below == (np.flatnonzero(before.any(axis=0)).max() if before.any() else -1)
        for reach, reaches in ((last_faded, True), (last_below, last_faded == last_below)):
            rate = np.full(G, np.nan)
            rate[: reach + 1] = 0.01
            faded_memory = memorized.copy()
            _fade_and_memorize(faded_memory, fading, linear, 0.7, 1.0, sigma, zeta, np.full(Z, 1.0 / Z), grid, rate,
                               np.full(G, 1.0 / G))
            assert np.isfinite(faded_memory).all() == reaches
        reached_further += last_faded > last_below
    assert reached_further > 0     # the case the own term must reach occurred


def test_the_sliding_onset_holds_the_tilt_and_needs_examples_stalled_at_the_margin(solution):
    """One fixed set of N = 2500 at d = 20: its examples stall at the margin (the memorization map's pile, in units
    of one own step) until the tilt's linear response with them overshoots (multiplier <= 0, recomputed here
    from the map's state and the derived kernels) over a tenth of the elapsed steps: the sliding onset. From there
    the tilt's perpendicular part is held, so tan(angle) E[a w] stays constant while E[a w] grows (before, the
    feedback and the sample moved it). With N = 1e12
    nothing is memorized, nothing stalls and there is no onset."""
    N = 2500
    clock = finite_size.prediction._on_training_clock(solution, N, "fixed")
    tilt = finite_size.tilt(solution, N, margin_density="infinite")   # the multiplier below counts its density
    onset = tilt.sliding_onset
    assert onset is not None and 20 < onset < 110
    setup, k = clock.setup, clock.kernels
    d, c = float(setup.d), clock.variant.odd_slope(setup.leak)
    moments = np.empty((len(clock.t), 5))
    k.fill_moments(clock.gamma_plus, clock.gamma_minus, setup.sigma_a, setup.sigma_w, moments)
    state = finite_size.memorization._finite_sample(clock, N)[1]
    multiplier = np.ones(len(clock.t))
    for i in range(1, len(clock.t)):
        own, kappa = state.own_rate[i - 1], state.kappa[i]
        if own <= 0 or kappa <= 0:
            continue
        pull = k.tilt_gain(setup.alpha, c, d) * k.tilt_drive_v(moments[i, 0], moments[i, 2], setup.beta, clock.g[i],
                                                               setup.sigma_w, c, d)
        multiplier[i] = 1 + pull * (k.tilt_response(kappa, d, setup.h) - state.pile[i] / (2 * own))
    assert np.all(multiplier[onset:onset + onset // 10 + 1] <= 0)
    assert not np.all(multiplier[onset - 1:onset - 1 + (onset - 1) // 10 + 1] <= 0)
    # at the onset the stalled examples outnumber the infinite set's at the margin
    assert state.pile[onset] / (2 * state.own_rate[onset - 1]) > -2 * k.tilt_response(state.kappa[onset], d, setup.h)
    held = np.tan(tilt.angle[onset:]) * moments[onset:, 2]
    assert np.ptp(held) < 1e-12 * held[0]
    assert moments[-1, 2] > 1.05 * moments[onset, 2]
    before = np.tan(tilt.angle[onset - 10:onset + 1]) * moments[onset - 10:onset + 1, 2]
    assert abs(before[-1] - before[0]) > 0.002 * before[0]   # it was still moving (by 0.28%; held: 1e-12)
    huge = finite_size.memorization._finite_sample(solution, 10**12)[1]
    assert np.all(huge.pile == 0.0)
    assert finite_size.tilt(solution, 10**12).sliding_onset is None
    assert finite_size.tilt(solution, None).sliding_onset is None


def test_fixed_sample_tilt_is_the_nested_set_recursion_when_nothing_is_memorized(solution):
    """One fixed set: the tilt's sample part follows each example class of the memorization map (its own response,
    added to while it is unsatisfied). With nothing memorized (N = 1e12, times N) the unsatisfied sets are the
    nested {|x_par| < x*(t)}, and it must equal the closed recursion over nested shells; they differ by the map's
    grid of |x_par| (401 points): 1%."""
    N = 10**12
    # both along the mean field (the public tilt runs on the fixed set's clock, the map's quadrature off by 0.2%)
    on_map = finite_size.teacher_tilt._tilt(solution, N, "fixed")
    nested = finite_size.teacher_tilt._tilt(solution, N, "fixed", nested=True)
    t = np.arange(5, 121)
    assert np.tan(on_map.angle_sample[t]) == pytest.approx(np.tan(nested.angle_sample[t]), rel=1e-2)
    assert on_map.angle_init[t] == pytest.approx(nested.angle_init[t], rel=1e-12)


def test_predict_checks_its_inputs(solution):
    with pytest.raises(ValueError, match="N"):
        finite_size.predict(solution, 0)
    with pytest.raises(ValueError, match="sample must be"):
        finite_size.predict(solution, 100, sample="online")
    with pytest.raises(ValueError, match="solution must be"):
        finite_size.predict(SETUP)


def test_sphere_average_of_two_quadratic_forms():
    """E[(w.A.w)(w.B.w)] = 2 tr(AB) / (D (D + 2)) for traceless symmetric A, B and w uniform on the unit sphere
    of R^D (the identity the rest's feedback rests on), by Monte Carlo in D = 19 (relative se about 1%)."""
    D = 19
    rng = np.random.default_rng(2)
    A, B = (rng.standard_normal((D, D)) for _ in range(2))
    A, B = A + A.T, B + B.T
    A -= np.trace(A) / D * np.eye(D)
    B -= np.trace(B) / D * np.eye(D)
    w = rng.standard_normal((400_000, D))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    product = np.einsum("ni,ij,nj->n", w, A, w) * np.einsum("ni,ij,nj->n", w, B, w)
    expected = 2 * np.trace(A @ B) / (D * (D + 2))
    assert abs(product.mean() - expected) < 4 * product.std() / math.sqrt(len(w))


@pytest.mark.parametrize("activation,leak", [("relu", 0.0), ("leaky_relu", 0.3)])
def test_degree2_node_averages_match_a_monte_carlo_of_the_node_law(activation, leak):
    """E[a^2 h_2(x)^2], E[h_2(x) h_2(y)], E[a^2 h_2(x) h_2(y)] from the generated kernels against a Monte Carlo
    over the node law (w_par ~ N(0, m_w2), a | w_par Gaussian), with h_2 = E[sigma(mu + s xi)(xi^2 - 1)] by
    numerical quadrature over xi (not the derived closed form)."""
    setup = SETUP.replace(activation=activation, leak=leak) if activation != "relu" else SETUP
    fw = mftheory.meanfield(setup, 1).variant.finite_width_kernels()
    a2, w2, aw, d, sw = 40.0, 30.0, 25.0, 20.0, 1.0
    args = (a2, w2, aw, 1.0, 200.0, d, sw, leak)
    shat = sw * math.sqrt((d - 1) / d)
    sigma = lambda z: np.maximum(z, leak * z)

    def h2(mu):
        # split at the kink, each side by adaptive quadrature
        f = lambda u: sigma(mu + shat * u) * (u * u - 1) * math.exp(-u * u / 2) / math.sqrt(2 * math.pi)
        return quad(f, -np.inf, -mu / shat)[0] + quad(f, -mu / shat, np.inf)[0]

    rng = np.random.default_rng(3)
    w = rng.normal(0.0, math.sqrt(w2), 4000)
    a = aw / w2 * w + rng.normal(0.0, math.sqrt(a2 - aw**2 / w2), len(w))
    x, y = 0.15, 0.4
    hx = np.array([h2(v * x / math.sqrt(d)) for v in w])
    hy = np.array([h2(v * y / math.sqrt(d)) for v in w])
    for value, sample in ((fw.degree2_second(x, *args), a**2 * hx**2), (fw.degree2_cross(x, y, *args), hx * hy),
                          (fw.degree2_cross_a2(x, y, *args), a**2 * hx * hy)):
        assert abs(sample.mean() - value) < 4 * sample.std() / math.sqrt(len(w)), (value, sample.mean())


def test_rest_feedback_predicts_the_cancellation_of_the_nonlinear_rest():
    """Fresh data at every step, d = 20, M = 200, t = 100: the variance over x_perp of F at x_par = 0 less its
    constant and linear parts, mean over 3 seeds, against the prediction with the degree-2 feedback.
    Tolerance (relative): the degree-2 part has about D(D + 1)/2 = 190 independent modes, so one run's variance
    has relative sd sqrt(2/190) ~ 0.10, 0.06 over 3 seeds, 3 sd = 0.18; plus the next order 1/sqrt(M) = 0.07 and
    the terms of relative order 1/D = 0.05 the derivation leaves out: 0.30. The frozen init law is more than 3x
    off there."""
    steps, N, seeds = 100, 20_000, 3
    sol = mftheory.meanfield(SETUP, steps)
    pred = finite_size.predict(sol, N, "fresh")
    probe = np.random.default_rng(4).standard_normal((6000, SETUP.d))
    probe[:, 0] = 0.0
    design = np.column_stack([np.ones(len(probe)), probe[:, 1:]])
    measured = []
    for seed in range(seeds):
        sim = simulate(SETUP, N=N, steps=steps, seed=seed, online=True, n_test=0, record_steps=[steps])
        f = network_output(SETUP, sim.a_final, sim.W_final, probe)
        measured.append(np.var(f - design @ np.linalg.lstsq(design, f, rcond=None)[0]))
    measured = float(np.mean(measured))
    assert abs(measured / pred.rest_sd[steps] ** 2 - 1) < 0.30, (measured, pred.rest_sd[steps] ** 2)
    assert pred.rest_sd_frozen[steps] ** 2 > 3 * measured


def test_frobenius_moment_of_the_sample_tensor():
    """E|x x^T - I|_F^2 = D^2 + D for x ~ N(0, I_D) (the sample source's variance rests on it), Monte Carlo."""
    D = 19
    x = np.random.default_rng(6).standard_normal((200_000, D))
    sq = np.sum(x**2, axis=1)
    frobenius = sq**2 - 2 * sq + D          # |x x^T - I|^2 = |x|^4 - 2 |x|^2 + D
    assert abs(frobenius.mean() - (D * D + D)) < 4 * frobenius.std() / math.sqrt(len(x))


def test_the_bends_sample_part_is_first_order_in_one_over_n_and_vanishes_at_x_par_zero(solution):
    """The training sample's part of the linear part's bend (derivations/fluctuations.py, step bend_sample_source):
    none without a finite set; like 1/N early, while the same examples pull; larger for one set used again and
    again than for new examples at every step; zero at x_par = 0, where the bend is (the nodes' odd parts vanish
    there); and the init's part is the same whatever the sample."""
    none = finite_size.feedback._bend_feedback(solution)
    small = finite_size.feedback._bend_feedback(solution, 10_000, "fixed")
    big = finite_size.feedback._bend_feedback(solution, 40_000, "fixed")
    fresh = finite_size.feedback._bend_feedback(solution, 40_000, "fresh")
    assert np.all(none.sample_variance == 0)
    g = int(np.searchsorted(big.x_par, 0.5))
    assert small.sample_variance[20, g] == pytest.approx(4 * big.sample_variance[20, g], rel=0.05)
    assert np.all(small.sample_variance[30:, g] > big.sample_variance[30:, g])
    assert np.all(fresh.sample_variance[30:, g] < big.sample_variance[30:, g])
    assert np.all(big.sample_variance[:, 0] == 0) and np.all(big.sample_variance[30:, g] > 0)
    np.testing.assert_array_equal(big.damping, none.damping)


def test_the_bends_sample_unit_is_a_monte_carlo_of_independent_pulls():
    """One cell of N f examples, each pulling with response R along its own x_perp,mu ~ N(0, I_D), puts
    (alpha beta / N) R sum_mu x_perp,mu into the bend; its variance over a test point's x_perp, averaged over the
    examples' draws, is the generated bend_sample_variance (alpha beta)^2 D f R^2 / N: a Monte Carlo over 400 draws
    of the cell, each over 2000 test points (relative se about 2%)."""
    from mftheory.kernels.generated import gaussian_hinge as k
    alpha, beta, d, N, f, R = 1.3, 0.7, 21, 500, 0.2, 0.9
    rng = np.random.default_rng(3)
    variances = []
    for _ in range(400):
        bend = alpha * beta * R / N * rng.standard_normal((int(N * f), d - 1)).sum(axis=0)
        variances.append(np.var(rng.standard_normal((2000, d - 1)) @ bend))
    expected = k.bend_sample_variance(R, f, alpha, beta, float(d), float(N))
    assert expected == pytest.approx(np.mean(variances), rel=0.06)


def test_the_sample_part_grows_as_the_training_set_shrinks(solution):
    """No sample part without a finite set; with one fixed set it shrinks as N grows (first order: like 1/N
    early, while the same examples are unsatisfied), and new examples at every step put in less than one set
    used again and again."""
    none = finite_size.rest_feedback(solution)
    small, big = finite_size.rest_feedback(solution, 10_000), finite_size.rest_feedback(solution, 40_000)
    fresh = finite_size.rest_feedback(solution, 40_000, "fresh")
    assert np.all(none.sample_variance == 0)
    t = 20
    assert small.sample_variance[t, 0] == pytest.approx(4 * big.sample_variance[t, 0], rel=0.05)
    assert np.all(small.sample_variance[30:, 0] > big.sample_variance[30:, 0])
    assert np.all(fresh.sample_variance[30:, 0] < big.sample_variance[30:, 0])


def test_with_the_training_sets_density_its_crowd_at_the_margin_holds_a_share_of_every_new_deposit(solution,
                                                                                                  monkeypatch):
    """``margin_density="training"``: the examples the memorization map stalls at the margin (its pile) re-memorize
    their share of each new degree-2 deposit of the sample (``crowd_hold``). Until the first is stalled the
    sample's part is the one without them to the bit; from there it is smaller, by no more than the hold's
    cumulative cut of each deposit. It is the default for one fixed set; the infinite set's density (fresh-data
    physics, no crowd) is left as it was."""
    N = 2000
    clock = finite_size.prediction._on_training_clock(solution, N, "fixed", "training")
    state = finite_size.feedback._quiet_finite_sample(clock, N, "auto")[1]   # the map behind rest_feedback's sample part
    hold = finite_size.feedback._crowd_hold(clock, N, state)
    stalled = np.flatnonzero(state.pile > 0)
    assert stalled.size and np.all(hold[: stalled[0]] == 1.0) and np.all(hold[stalled] <= 1.0)
    assert hold[-1] < 0.9 and hold.min() > 0.05
    first = np.flatnonzero(hold < 1.0)[0]
    with_crowd = finite_size.rest_feedback(solution, N, margin_density="training").sample_variance
    infinite = finite_size.rest_feedback(solution, N, margin_density="infinite").sample_variance
    assert np.array_equal(finite_size.rest_feedback(solution, N).sample_variance, with_crowd)   # the default
    monkeypatch.setattr(finite_size.feedback, "_crowd_hold", lambda solution, N, state: np.ones(len(solution.t)))
    without = finite_size.rest_feedback(solution, N, margin_density="training").sample_variance
    assert np.array_equal(finite_size.rest_feedback(solution, N, margin_density="infinite").sample_variance,
                          infinite)
    assert np.array_equal(with_crowd[: first + 1], without[: first + 1])
    late = slice(first + 5, None)
    assert np.all(with_crowd[late] <= without[late]) and np.any(with_crowd[late] < 0.99 * without[late])
    assert np.all(with_crowd[late] >= hold.min() * without[late])
    prediction = finite_size.predict(solution, N, margin_density="training")
    assert np.array_equal(prediction.crowd, N * finite_size.prediction._along(clock, N, "fixed").state.pile)
    assert prediction.crowd[-1] > 1 and np.all(finite_size.predict(solution, None).crowd == 0)


def test_moving_held_margins_add_the_pulls_of_the_examples_held_at_the_margin(solution):
    """held_margins="moving": the examples the memorization map holds at the margin pull at the share the others'
    velocity gives them (``pile_unsat``): nothing changes before the map holds examples there (less the window the
    set's density at the margin looks ahead), and late the training
    f_unsat and kappa are higher (N = 2500 at d = 20)."""
    N = 2500
    still = finite_size.predict(solution, N)
    moving = finite_size.predict(solution, N, held_margins="moving")
    state = finite_size.prediction._along(finite_size.prediction._on_training_clock(solution, N, "fixed", "training"),
                                          N, "fixed").state
    first = int(np.flatnonzero(state.pile > 0)[0])
    assert 5 < first < 100
    # the set's density at the margin takes its flux over +-10% of the elapsed steps, so it sees the held examples
    # that much ahead
    before = first - max(1, first // 10) - 1
    np.testing.assert_allclose(moving.train_unsat[:before], still.train_unsat[:before], rtol=1e-9)
    # more pulls also drive kappa up, which takes examples out from below the margin: net, more pull late
    late = np.arange(len(solution.t) - 40, len(solution.t))
    assert np.all(moving.train_unsat[late] > still.train_unsat[late])
    assert np.all(moving.kappa[late] > still.kappa[late])
    # what the held examples add at a step is at most half of them (all those pushed down, at every step)
    assert np.all(moving.train_unsat[late] - still.train_unsat[late] <= 0.5 * state.pile[late] + 1e-3)


def test_held_examples_average_over_the_number_of_pulling_examples():
    """The Poisson average of the held examples' pulls: no pulling example moves nothing, a fraction of one moves
    them with that probability, and a large count gives the value at the mean (0.3% above it at 40)."""
    from mftheory.kernels.generated import finite_sample_relu as fs
    pulls = bind(finite_size.memorization_steps._held_examples_pulling, fs.velocity_sd, fs.pile_unsat, fs.pile_drift)
    args = (0.8, 1.3, 7.0, 2500.0, 20.0, 0.2, 0.01, 0.05, 0.5)   # q, alpha, beta, N, d, pile, s, x, odd slope
    assert pulls(0.0, *args) == (0.0, 0.0)
    one = pulls(1e-3, *args)[0]
    assert one == pytest.approx(1e-3 * fs.pile_unsat(0.2, fs.velocity_sd(0.8, 1.0, 1.3, 7.0, 2500.0), 0.01),
                                rel=2e-3)
    at_mean = fs.pile_unsat(0.2, fs.velocity_sd(0.8, 39.9, 1.3, 7.0, 2500.0), 0.01)
    assert pulls(39.9, *args)[0] == pytest.approx(at_mean, rel=4e-3)   # E[sqrt K] = sqrt(U) (1 - 1/(8 U) ...)
    assert pulls(40.0, *args)[0] == fs.pile_unsat(0.2, fs.velocity_sd(0.8, 40.0, 1.3, 7.0, 2500.0), 0.01)


def test_others_pulls_with_the_width_part(solution):
    """others_pulls="kernel+width": the others' pulls with rho^2's mean out and the width's random features in. Its
    amplitude without width (M -> infinity) is the first-derived one times sqrt(Var(rho^2) / E[rho^4]); at this
    width (M = 200, d = 20) the width's part outweighs rho^2's mean, so the memorized margins spread more and more of
    the set is left below the margin late (on average over the last 40 steps). A crowd at the margin that leaves
    ``held`` of the kernel's degree-2 part (``crowd_hold``) scales that part by sqrt(held), not the width's. Only one
    fixed set has the pulls; anything else is refused."""
    from mftheory.kernels.generated import finite_sample_relu as fs
    amplitude = bind(finite_size.memorization_steps._pulls_amplitude, fs.quadratic_kernel, fs.width_kernel,
                     fs.pull_amplitude, fs.kernel_amplitude)
    d, n = 20.0, 19.0
    args = (0.05, 3.0, 2.0, 1.5, d, 1.0, 0.0)
    first = amplitude(False, *args, 200.0, 1.0)
    assert first == pytest.approx(fs.quadratic_kernel(*args) * math.sqrt(3 / (n * (n + 2))), rel=1e-12)
    assert amplitude(True, *args, 1e300, 1.0) == pytest.approx(first * math.sqrt((2 * n - 2) / (3 * n)), rel=1e-12)
    assert amplitude(True, *args, 200.0, 1.0) > first
    assert amplitude(False, *args, 200.0, 0.25) == pytest.approx(0.5 * first, rel=1e-12)
    assert amplitude(True, *args, 1e300, 0.25) == pytest.approx(0.5 * amplitude(True, *args, 1e300, 1.0), rel=1e-12)
    kernel_part = amplitude(True, *args, 1e300, 1.0) ** 2
    assert amplitude(True, *args, 200.0, 0.25) ** 2 == pytest.approx(
        amplitude(True, *args, 200.0, 1.0) ** 2 - 0.75 * kernel_part, rel=1e-12)   # the width's part is not held
    N = 2500
    default, width = finite_size.predict(solution, N), finite_size.predict(solution, N, others_pulls="kernel+width")
    assert np.array_equal(default.train_unsat, finite_size.predict(solution, N, others_pulls="kernel").train_unsat)
    late = slice(len(solution.t) - 40, None)
    assert np.mean(width.train_unsat[late]) > np.mean(default.train_unsat[late])   # step by step the map is chunky
    with pytest.raises(ValueError, match="others_pulls must be one of"):
        finite_size.predict(solution, N, others_pulls="width")
    with pytest.raises(ValueError, match="others_pulls='kernel\\+width' needs one fixed training set"):
        finite_size.predict(solution, None, others_pulls="kernel+width")


def test_held_margins_is_checked(solution):
    with pytest.raises(ValueError, match="held_margins must be one of"):
        finite_size.predict(solution, 2500, held_margins="sliding")
    with pytest.raises(ValueError, match="held_margins='moving' needs one fixed training set"):
        finite_size.predict(solution, None, held_margins="moving")
    with pytest.raises(ValueError, match="held_margins='moving' needs one fixed training set"):
        finite_size.predict(solution, 2500, sample="fresh", held_margins="moving")


def test_own_shifts_grow_a_and_kappa_by_the_unsatisfied_examples_excess_margins(solution):
    """``own_shifts=True`` (one fixed set of N = 2500 at d = 20): the node map's a grows by beta r per step, r =
    E[u (margin - kappa |x_par|)] / (alpha m_a2) from the memorization map's classes (recomputed here from its
    excess and node law), so E a^2 runs ahead of E w_par^2 (the mean field's map keeps them equal, sigma_a =
    sigma_w) and kappa ahead of the default's once the set memorizes; with N = 1e9 nothing is memorized and the
    two agree within 0.5% (what is left: the offsets of the examples below the margin)."""
    shifted = finite_size.predict(solution, 2500, own_shifts=True)
    plain = finite_size.predict(solution, 2500)
    clock = finite_size.prediction._on_training_clock(finite_size._common._with_options(solution, own_shifts=True),
                                                      2500, "fixed", "training")
    tilt_part = finite_size.teacher_tilt._tilt(clock, 2500, "fixed", frozen=False)
    state = finite_size.prediction._fixed_sample_state(clock, 2500, tilt_part)[1]
    moments = state.node_moments
    t = np.arange(60, 120)
    assert np.all(moments[t, 0] > 1.01 * moments[t, 1])
    assert np.all(shifted.kappa[t] > plain.kappa[t])
    fs = solution.variant.finite_sample_kernels()
    live = np.flatnonzero(state.kappa[:-1] > 0)
    assert state.a_growth[live] == pytest.approx(
        [SETUP.beta * fs.own_shift_rate(state.excess[i], SETUP.alpha, moments[i, 0]) for i in live], rel=1e-12)
    assert np.array_equal(state.kappa, shifted.kappa)
    huge = finite_size.predict(solution, 10**9, own_shifts=True)
    assert huge.kappa[1:] == pytest.approx(finite_size.predict(solution, 10**9).kappa[1:], rel=5e-3)


def test_own_shifts_is_checked(solution):
    with pytest.raises(TypeError, match="own_shifts must be True or False"):
        finite_size.predict(solution, 2500, own_shifts="yes")
    with pytest.raises(ValueError, match="own_shifts=True needs one fixed training set"):
        finite_size.predict(solution, None, own_shifts=True)
    with pytest.raises(ValueError, match="own_shifts=True needs one fixed training set"):
        finite_size.predict(solution, 2500, sample="fresh", own_shifts=True)


def test_the_feedback_node_law_scales_the_rest_and_is_checked(solution):
    """``node_law="feedback"`` (the default without a fixed set): the init's nonlinear rest times
    mftheory.node_law's factor at every step, the rest of the prediction (kappa, tilt) unchanged; only without a
    fixed set, where the default is the frozen law."""
    frozen = finite_size.predict(solution, None, node_law="frozen")
    pulled = finite_size.predict(solution, None)
    assert (pulled.node_law, frozen.node_law) == ("feedback", "frozen")
    assert finite_size.predict(solution, 4000, sample="fresh").node_law == "feedback"
    assert finite_size.predict(solution, 4000).node_law == "frozen"
    factor = mftheory.node_law(solution).variance_factor
    live = frozen.rest_sd > 0
    assert abs(factor[-1] - 1.0) > 0.005
    assert pulled.rest_sd[live] ** 2 == pytest.approx(frozen.rest_sd[live] ** 2 * factor[live], rel=1e-12)
    assert np.array_equal(pulled.tilt, frozen.tilt) and np.array_equal(pulled.kappa, frozen.kappa)
    assert np.all(np.sign(pulled.test_error[live] - frozen.test_error[live]) == np.sign(factor[live] - 1.0))
    with pytest.raises(ValueError, match="node_law must be one of"):
        finite_size.predict(solution, None, node_law="pulled")
    with pytest.raises(ValueError, match="node_law='feedback' is derived without a fixed training set"):
        finite_size.predict(solution, 2500, node_law="feedback")


def test_an_activation_that_is_not_one_homogeneous_keeps_the_frozen_node_law(solution, monkeypatch):
    """The node law's factor scales the rest only for sigma(c z) = c sigma(z): for any other activation the
    default falls back to the frozen law and asking for the feedback's is refused, naming the activation."""
    kernels = solution.variant.finite_width_kernels()
    monkeypatch.setattr(kernels, "ONE_HOMOGENEOUS", False)
    assert finite_size.prediction._check_node_law(solution, None, fixed=False) == "frozen"
    with pytest.raises(ValueError, match="1-homogeneous activation.*'relu' is not"):
        finite_size.prediction._check_node_law(solution, "feedback", fixed=False)


def test_the_prediction_prints_as_a_table_and_from_the_command_line():
    """``FiniteSizePrediction.table`` shows the rates it holds, and ``mftheory predict --N`` prints that table
    for one fixed set (with the crowd), for new examples at every step (``--fresh``) and for an infinite set
    (``--N inf``); a bad N or a model the prediction is not derived for is a clear error."""
    import subprocess
    import sys

    setup = mftheory.Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=200)
    sol = mftheory.meanfield(setup, 200)
    pred = finite_size.predict(sol, 20_000)
    table = pred.table(every=100).splitlines()
    assert table[0].split()[:3] == ["t", "kappa", "test"] and table[0].split()[-1] == "crowd"
    last = table[-1].split()
    assert int(last[0]) == 200 and float(last[2]) == pytest.approx(pred.test_error[200], abs=1e-5)
    assert float(last[4]) == pytest.approx(pred.train_unsat[200], abs=1e-5)
    base = [sys.executable, "-m", "mftheory", "predict", "--d", "20", "--M", "200", "--eta", "500", "--steps", "200",
            "--every", "100"]
    for extra, tail in ((["--N", "20000"], "crowd"), (["--N", "20000", "--fresh"], "band sd"),
                        (["--N", "inf"], "band sd")):
        out = subprocess.run(base + extra, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        header = next(line for line in out.stdout.splitlines() if "test error" in line)
        assert header.split()[-1] == tail.split()[-1]
    fixed = subprocess.run(base + ["--N", "20000"], capture_output=True, text=True).stdout.splitlines()
    assert fixed[-1].split()[2] == last[2]   # the command prints what the function predicts
    bad = subprocess.run(base + ["--N", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--N must be an integer >= 1 or 'inf'" in bad.stderr
    other = subprocess.run(base + ["--N", "1000", "--loss", "logistic"], capture_output=True, text=True)
    assert other.returncode == 2 and "derived for the hinge loss" in other.stderr


def test_the_node_moments_are_those_behind_kappa(solution):
    """``node_moments`` gives kappa = alpha c E[a w_par] / sqrt(d) at every step, for N = None, one fixed set and
    one fixed set with the own shifts (E a^2 > E w_par^2 only there)."""
    c = solution.variant.odd_slope(SETUP.leak)
    for kwargs in ({"N": None}, {"N": 2500}, {"N": 2500, "own_shifts": True}):
        pred = finite_size.predict(solution, **kwargs)
        assert pred.node_moments.shape == (len(solution.t), 3)
        assert SETUP.alpha * c * pred.node_moments[:, 2] / math.sqrt(SETUP.d) == pytest.approx(pred.kappa, rel=1e-9,
                                                                                              abs=1e-12)
        law = pred.node_moments[-1, 0] / pred.node_moments[-1, 1]
        assert (law > 1.01) if kwargs.get("own_shifts") else law == pytest.approx(1.0, rel=1e-9)


def test_the_range_warning_names_the_function_called_and_points_at_its_caller():
    """A lazy setting (d = 100, M = 400, alpha = 0.1), where the frozen-init band outgrows x* (3.5 x*): each
    public function's range warning names that function and is attributed to the line that called it."""
    wide = mftheory.meanfield(mftheory.Setup(d=100, M=400, alpha=0.1, eta=1000.0, h=1.0), 100)
    for function, name in ((finite_size.predict, "predict"), (finite_size.within_run_band, "within_run_band"),
                           (finite_size.finite_width, "finite_width")):
        with pytest.warns(UserWarning, match=rf"^{name}: the frozen-init band reaches") as caught:
            function(wide)
        assert [w.filename for w in caught if str(w.message).startswith(name)] == [__file__]
