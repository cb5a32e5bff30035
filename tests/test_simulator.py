"""The jitted GD simulator against the plain NumPy reference, and its input handling."""
import itertools
import math

import numpy as np
import pytest

from mftheory.model import ACTIVATIONS, DATA_LAWS, LOSSES, Setup
from mftheory.validate.reference import simulate_reference
from mftheory.validate.simulator import SimulationResult, default_record_steps, draw_problem, simulate

N, M, D, STEPS = 300, 7, 5, 20


def small_setup(**changes):
    base = dict(d=D, alpha=1.0, h=1.0, eta=5.0, M=M)
    base.update(changes)
    return Setup(**base)


def rel_err(x, ref):
    return np.max(np.abs(np.asarray(x) - ref)) / np.max(np.abs(ref))


CASES = [
    pytest.param(dict(loss=loss, activation=act, data=data, label_noise=noise), id=f"{loss}-{act}-{data}-noise{noise}")
    for loss, act, data, noise in itertools.product(LOSSES, ACTIVATIONS, DATA_LAWS, (0.0, 0.2))
]


@pytest.mark.parametrize("changes", CASES)
def test_matches_numpy_reference(changes):
    setup = small_setup(**changes)
    seed = 3
    X, y, a0, W0, _, _ = draw_problem(setup, N, seed, n_test=0)
    res = simulate(setup, N=N, steps=STEPS, seed=seed, n_test=50, record_steps=np.arange(STEPS + 1))
    a, W, f_unsat, margins = simulate_reference(setup, X, y, a0, W0, STEPS, return_margins=True)
    # the run must actually move and the hinge-type losses must see examples change status
    assert rel_err(a0, a) > 1e-3
    assert rel_err(res.a_final, a) < 1e-12
    assert rel_err(res.W_final, W) < 1e-12
    np.testing.assert_array_equal(res.f_unsat, f_unsat)
    np.testing.assert_array_equal(res.train_error, np.mean(margins <= 0, axis=1))
    sat = margins >= setup.h
    expected_t_sat = np.where(sat.any(axis=0), np.argmax(sat, axis=0), -1)
    np.testing.assert_array_equal(res.t_sat, expected_t_sat)
    np.testing.assert_array_equal(res.y, y)
    np.testing.assert_array_equal(res.x_par, X[:, 0])
    np.testing.assert_array_equal(res.a[0], a0)


def test_data_law_and_labels():
    setup = small_setup(data="sphere", label_noise=0.2, d=4)
    X, y, a0, W0, X_test, y_test = draw_problem(setup, 20000, seed=1, n_test=5000)
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 2.0, rtol=1e-12)
    clean = np.where(X[:, 0] >= 0, 1.0, -1.0)
    assert abs(np.mean(y != clean) - 0.2) < 0.015
    np.testing.assert_array_equal(y_test, np.where(X_test[:, 0] >= 0, 1.0, -1.0))  # test labels are clean
    g = small_setup(sigma_a=2.0, sigma_w=0.5, M=4000, d=3)
    _, _, a0, W0, _, _ = draw_problem(g, 10, seed=2, n_test=0)
    assert abs(np.std(a0) - 2.0) < 0.1 and abs(np.std(W0) - 0.5) < 0.02
    Xg, _, _, _, _, _ = draw_problem(small_setup(d=3), 20000, seed=2, n_test=0)
    assert abs(np.mean(Xg ** 2) - 1.0) < 0.02


def test_same_seed_bit_identical_and_different_seeds_differ():
    setup = small_setup(label_noise=0.1)
    r1 = simulate(setup, N=N, steps=STEPS, seed=11, n_test=100)
    r2 = simulate(setup, N=N, steps=STEPS, seed=11, n_test=100)
    r3 = simulate(setup, N=N, steps=STEPS, seed=12, n_test=100)
    for field in ("a", "w_par", "w_perp_norm", "train_error", "f_unsat", "test_error", "teacher_angle", "t_sat",
                  "x_par", "y", "a_final", "W_final"):
        np.testing.assert_array_equal(getattr(r1, field), getattr(r2, field), err_msg=field)
    assert not np.array_equal(r1.W_final, r3.W_final)
    assert not np.array_equal(r1.x_par, r3.x_par)


def test_explicit_arrays_are_honoured():
    setup = small_setup()
    rng = np.random.default_rng(5)
    X = rng.standard_normal((N, D))
    y = np.where(rng.random(N) < 0.5, 1.0, -1.0)  # arbitrary labels, used as given
    a0 = rng.standard_normal(M)
    W0 = rng.standard_normal((M, D))
    X_test = rng.standard_normal((40, D))
    y_test = -np.where(X_test[:, 0] >= 0, 1.0, -1.0)
    res = simulate(setup, steps=STEPS, seed=0, X=X, y=y, a0=a0, W0=W0, X_test=X_test, y_test=y_test)
    assert isinstance(res, SimulationResult) and res.N == N
    np.testing.assert_array_equal(res.y, y)
    np.testing.assert_array_equal(res.x_par, X[:, 0])
    np.testing.assert_array_equal(res.a[0], a0)
    np.testing.assert_array_equal(res.w_par[0], W0[:, 0])
    np.testing.assert_allclose(res.w_perp_norm[0], np.linalg.norm(W0[:, 1:], axis=1), rtol=1e-14)
    a, W, _ = simulate_reference(setup, X, y, a0, W0, STEPS)
    assert rel_err(res.W_final, W) < 1e-12
    # test error and angle at the last recorded step, recomputed from the final parameters
    assert res.record_steps[-1] == STEPS
    f_test = setup.alpha / M * (np.maximum(X_test @ W.T / math.sqrt(D), 0.0) @ a)
    assert res.test_error[-1] == np.mean(y_test * f_test <= 0)
    v = (a[:, None] * W).mean(axis=0)
    assert math.isclose(res.teacher_angle[-1], math.acos(v[0] / np.linalg.norm(v)), rel_tol=1e-9, abs_tol=1e-12)
    # replacing one drawn item leaves the other draws unchanged
    r_seed = simulate(setup, N=N, steps=0, seed=4, n_test=0)
    r_a0 = simulate(setup, N=N, steps=0, seed=4, n_test=0, a0=a0)
    np.testing.assert_array_equal(r_seed.W_final, r_a0.W_final)
    np.testing.assert_array_equal(r_seed.x_par, r_a0.x_par)
    np.testing.assert_array_equal(r_a0.a_final, a0)


def test_record_steps_and_t_sat_consistency():
    setup = small_setup(h=0.5)
    res = simulate(setup, N=N, steps=60, seed=2, n_test=0)
    rec = res.record_steps
    assert rec[0] == 0 and rec[1] == 1 and rec[-1] == 60 and np.all(np.diff(rec) > 0)
    assert np.all(np.isnan(res.test_error))
    n_sat = np.round((1 - res.f_unsat) * N).astype(int)
    ever = np.array([np.sum((res.t_sat >= 0) & (res.t_sat <= t)) for t in rec])
    assert np.all(ever >= n_sat)  # satisfied now => satisfied at some step <= now
    assert ever[0] == n_sat[0]
    assert np.all(res.t_sat <= 60) and np.all(res.t_sat >= -1)
    assert n_sat[-1] > 0
    assert np.array_equal(default_record_steps(0), [0])
    r0 = simulate(setup, N=10, steps=0, seed=0, n_test=5)
    assert r0.a.shape == (1, M) and r0.t_sat.shape == (10,)
    d = default_record_steps(2000)
    assert 40 <= len(d) <= 70 and d[0] == 0 and d[1] == 1 and d[-1] == 2000


def test_teacher_vector_is_the_mean_of_a_w_and_gives_the_angle():
    """``teacher_vector`` is (1/M) sum_i a_i w_i at each recorded step (checked at the last one against the final
    parameters, and at t = 0 against the recorded a and w_par along e_1); ``teacher_angle`` is its angle to e_1;
    online runs record it too."""
    setup = small_setup(h=0.5)
    for res in (simulate(setup, N=N, steps=40, seed=3, n_test=0),
                simulate(setup, N=N, steps=5, seed=3, n_test=0, online=True)):
        v = res.teacher_vector
        assert v.shape == (len(res.record_steps), setup.d)
        assert np.allclose(v[-1], (res.a_final[:, None] * res.W_final).mean(axis=0), rtol=1e-13, atol=1e-15)
        assert np.allclose(v[:, 0], (res.a * res.w_par).mean(axis=1), rtol=1e-12, atol=1e-15)
        assert np.allclose(res.teacher_angle, np.arctan2(np.linalg.norm(v[:, 1:], axis=1), v[:, 0]))


def test_tilt_flip_onset_is_where_the_tilts_change_starts_reversing_for_a_tenth_of_the_steps():
    """GD's sliding onset (validate.cases.finite_size): a tilt that drifts one way up to step 50 and then flips
    back and forth around where it is has its onset at 50, the first step out of which the change reverses the
    one into it;
    flips that stop before a tenth of the elapsed steps do not count; none without flips."""
    from mftheory.validate.cases.finite_size import tilt_flip_onset
    steps = np.arange(121)
    drift = np.where(steps <= 50, steps, 50.0) * 1e-2
    flip = np.where(steps > 50, 1e-3 * (-1.0) ** steps, 0.0)
    v = np.zeros((steps.size, 3))
    v[:, 0] = 1.0
    v[:, 1] = drift + flip
    v[:, 2] = 0.5 * drift
    assert tilt_flip_onset(v) == 50
    brief = v.copy()
    brief[53:, 1] = brief[52, 1] + 1e-2 * (steps[53:] - 52)   # the flips stop after three steps (window: 5)
    assert tilt_flip_onset(brief) is None
    v[:, 1] = drift
    assert tilt_flip_onset(v) is None


def test_float32_close_to_float64():
    setup = small_setup(loss="quadratic_hinge")
    r64 = simulate(setup, N=N, steps=STEPS, seed=1, n_test=0)
    r32 = simulate(setup, N=N, steps=STEPS, seed=1, n_test=0, dtype=np.float32)
    assert rel_err(r32.W_final, r64.W_final) < 1e-4


def _bad_inputs():
    ok = np.zeros((N, D))
    return [
        (dict(N=0), "N"),
        (dict(N=2.5), "N"),
        (dict(N=None), "N"),
        (dict(steps=-1), "steps"),
        (dict(seed=-3), "seed"),
        (dict(n_test=-1), "n_test"),
        (dict(N=None, X=np.zeros((N, D + 1))), "X"),
        (dict(N=None, X=np.full((N, D), np.nan)), "X"),
        (dict(N=N + 1, X=ok), "N"),
        (dict(N=None, X=ok, y=np.zeros(N)), "y"),
        (dict(N=None, X=ok, y=np.ones(N - 1)), "y"),
        (dict(y=np.ones(N)), "y"),
        (dict(a0=np.zeros(M + 1)), "a0"),
        (dict(a0=[np.inf] * M), "a0"),
        (dict(W0=np.zeros((D, M))), "W0"),
        (dict(X_test=np.zeros((5, D + 2))), "X_test"),
        (dict(X_test=np.zeros((5, D)), y_test=np.array([1, 1, 1, 1, 2])), "y_test"),
        (dict(y_test=np.ones(5)), "y_test"),
        (dict(record_steps=[0, 5, 3]), "record_steps"),
        (dict(record_steps=[0, STEPS + 1]), "record_steps"),
        (dict(record_steps=[-1, 2]), "record_steps"),
        (dict(record_steps=[]), "record_steps"),
        (dict(record_steps=[0.5]), "record_steps"),
        (dict(dtype=np.int32), "dtype"),
        (dict(screen="yes"), "screen"),
    ]


@pytest.mark.parametrize("kwargs,name", _bad_inputs(), ids=[f"{n}-{i}" for i, (_, n) in enumerate(_bad_inputs())])
def test_bad_inputs_raise_value_error(kwargs, name):
    args = dict(N=N, steps=STEPS, seed=0, n_test=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        simulate(small_setup(), **args)


def test_setup_must_be_a_setup():
    with pytest.raises(ValueError, match="setup"):
        simulate({"d": 3}, N=10, steps=1)


@pytest.mark.parametrize("loss", ["hinge", "quadratic_hinge"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_screening_is_exact_and_skips_work(loss, activation):
    setup = small_setup(loss=loss, activation=activation, h=0.5, eta=20.0, label_noise=0.1)
    steps = 150
    rec = np.arange(steps + 1)
    on = simulate(setup, N=2000, steps=steps, seed=6, n_test=0, record_steps=rec, screen=True)
    off = simulate(setup, N=2000, steps=steps, seed=6, n_test=0, record_steps=rec, screen=False)
    assert on.screened and not off.screened
    np.testing.assert_array_equal(on.f_unsat, off.f_unsat)
    np.testing.assert_array_equal(on.train_error, off.train_error)
    np.testing.assert_array_equal(on.t_sat, off.t_sat)
    assert rel_err(on.W_final, off.W_final) < 1e-12
    assert rel_err(on.a_final, off.a_final) < 1e-12
    assert np.all(off.evaluated == 2000)
    assert np.all(on.evaluated >= np.round(on.f_unsat * 2000))  # every unsatisfied example is evaluated
    assert on.evaluated[-1] < 0.9 * 2000 and on.evaluated.sum() < 0.9 * off.evaluated.sum()  # and it skips some


@pytest.mark.parametrize("slope", [0.0, 0.3])
def test_screening_bound_holds_between_any_two_parameter_sets(slope):
    """The bound the screening skips with, |f'(x) - f(x)| <= A |x_1| + B |x_perp|, between parameter sets many
    steps apart (the anchored bound uses it so), down to near-equal ones, where it must stay tight enough to skip:
    the GD trajectory of a run, every pair of its recorded steps."""
    from mftheory.validate.simulator import network_output
    from mftheory.validate import _kernels

    setup = small_setup(d=12, M=30, eta=20.0, h=0.5, activation="leaky_relu" if slope else "relu", leak=slope or 0.01)
    rec = np.arange(0, 61, 4)
    steps = [simulate(setup, N=500, steps=int(t), seed=3, n_test=0) for t in rec]
    X = draw_problem(setup, 2000, seed=4, n_test=0)[0]
    ax1, axp = np.abs(X[:, 0]), np.linalg.norm(X[:, 1:], axis=1)
    scale = setup.alpha / (setup.M * math.sqrt(setup.d))
    tightest = np.inf
    for old, new in itertools.combinations(steps, 2):
        A, B = _kernels._step_bound(old.a_final, old.W_final, new.a_final, new.W_final, scale,
                                    _kernels._perp_norm_bound(new.W_final))
        change = np.abs(network_output(setup, new.a_final, new.W_final, X) - network_output(setup, old.a_final,
                                                                                           old.W_final, X))
        bound = A * ax1 + B * axp
        assert np.all(change <= bound * (1 + 1e-12)), (old.steps, new.steps)
        tightest = min(tightest, np.max(change / bound))
    assert tightest > 0.01   # a bound so loose that it never skips anything would also pass the line above


# the screening's bounds (validate/_kernels.py): the running sums alone, one anchor chain, the chains and records
# per parity of the steps (the default)
ANCHOR_SCHEMES = {"path-sums": (0, False), "single-anchor": (20, False), "parity-anchors": (20, True)}


@pytest.mark.parametrize("scheme", ANCHOR_SCHEMES)
@pytest.mark.parametrize("loss,activation", [("hinge", "relu"), ("quadratic_hinge", "leaky_relu")])
def test_every_screening_bound_is_exact_where_gd_oscillates(monkeypatch, scheme, loss, activation):
    """A large step (eta = 200) on a small network.  With the hinge loss GD goes back and forth late in the run
    (there, consecutive updates of a have cosine -0.3 on average and updates two steps apart 0.85), where the
    anchored bounds differ most from the running sums; with the quadratic hinge it drifts steadily.  Each scheme
    gives the unscreened trajectory (same unsatisfied count and t_sat at every step, final parameters to
    rounding) and skips work."""
    from mftheory.validate import _kernels

    monkeypatch.setattr(_kernels, "ANCHOR_PERIOD", ANCHOR_SCHEMES[scheme][0])
    monkeypatch.setattr(_kernels, "ANCHOR_PARITY", ANCHOR_SCHEMES[scheme][1])
    setup = small_setup(d=10, M=40, eta=200.0, loss=loss, activation=activation)
    n, steps = 3000, 300
    rec = np.arange(steps + 1)
    on = simulate(setup, N=n, steps=steps, seed=1, n_test=0, record_steps=rec, screen=True)
    off = simulate(setup, N=n, steps=steps, seed=1, n_test=0, record_steps=rec, screen=False)
    assert on.screened
    np.testing.assert_array_equal(on.f_unsat, off.f_unsat)
    np.testing.assert_array_equal(on.train_error, off.train_error)
    np.testing.assert_array_equal(on.t_sat, off.t_sat)
    assert rel_err(on.W_final, off.W_final) < 1e-12
    assert rel_err(on.a_final, off.a_final) < 1e-12
    late = slice(steps // 2, None)
    assert 0 < off.f_unsat[late].min()   # some examples are still unsatisfied late
    assert np.all(on.evaluated >= np.round(on.f_unsat * n))
    assert on.evaluated[late].mean() < 0.5 * n


def test_parity_anchors_need_an_even_period(monkeypatch):
    from mftheory.validate import _kernels

    monkeypatch.setattr(_kernels, "ANCHOR_PERIOD", 7)
    monkeypatch.setattr(_kernels, "ANCHOR_PARITY", True)
    with pytest.raises(ValueError, match="anchor_period"):
        simulate(small_setup(), N=N, steps=2, seed=0, n_test=0)


def test_spectral_norm_bound_is_an_upper_bound():
    """The screening's spectral-norm bound (a Lanczos estimate certified by a Cholesky factorization) against
    LAPACK's singular values: above them, by at most 0.1%, on random, nearly rank-one, graded and tiny matrices;
    inf / NaN entries raise LinAlgError (the simulator reports divergence from it)."""
    from mftheory.validate import _kernels

    rng = np.random.default_rng(5)
    for trial in range(120):
        n, k = rng.integers(1, 60), rng.integers(1, 40)
        B = rng.standard_normal((n, k))
        if trial % 4 == 1:
            B = np.outer(rng.standard_normal(n), rng.standard_normal(k)) + 1e-8 * B
        elif trial % 4 == 2:
            B = B * np.logspace(-8, 0, k)
        elif trial % 4 == 3:
            B = B * 1e-150
        bound, norm = _kernels._spectral_norm_bound(B), np.linalg.norm(B, 2)
        assert norm <= bound <= norm * 1.001 + 1e-300, (trial, bound, norm)
    assert _kernels._spectral_norm_bound(np.zeros((4, 3))) == 0.0
    for bad in (np.inf, np.nan):
        B = rng.standard_normal((8, 5))
        B[2, 3] = bad
        with pytest.raises(np.linalg.LinAlgError):
            _kernels._spectral_norm_bound(B)


def test_logistic_is_never_screened():
    res = simulate(small_setup(loss="logistic"), N=N, steps=5, seed=0, n_test=0, screen=True)
    assert not res.screened and np.all(res.evaluated == N)


def test_bit_identical_across_thread_counts():
    from thread_counts import digests_at_one_and_two_threads

    one, two = digests_at_one_and_two_threads(f"""
from mftheory.model import Setup
from mftheory.validate.simulator import simulate
def compute():
    setup = Setup(d={D}, alpha=1.0, h=1.0, eta=5.0, M={M}, label_noise=0.1)
    r = simulate(setup, N=3000, steps={STEPS}, seed=9, n_test=100)
    return r.W_final, r.test_error
""")
    assert one == two


def test_online_mode_draws_a_fresh_batch_at_every_step():
    """online=True is GD with a new batch per step: two online steps equal two one-step runs on the first and the
    second batch of the training-input stream, chained; and the run is reproducible from its seed."""
    from mftheory.validate.simulator import draw_inputs, teacher_labels

    setup = Setup(d=8, alpha=1.0, h=1.0, eta=50.0, M=16)
    online = simulate(setup, N=300, steps=2, seed=5, online=True, n_test=100, record_steps=[0, 1, 2])
    again = simulate(setup, N=300, steps=2, seed=5, online=True, n_test=100, record_steps=[0, 1, 2])
    assert np.array_equal(online.W_final, again.W_final) and np.array_equal(online.test_error, again.test_error)
    s_X = np.random.SeedSequence(5).spawn(5)[0]
    rng = np.random.Generator(np.random.PCG64(s_X))
    first, second = draw_inputs(rng, 300, 8, "gaussian"), draw_inputs(rng, 300, 8, "gaussian")
    one = simulate(setup, steps=1, seed=5, X=first, screen=False, n_test=100)
    two = simulate(setup, steps=1, seed=5, X=second, a0=one.a_final, W0=one.W_final, screen=False, n_test=100)
    assert np.array_equal(online.W_final, two.W_final) and np.array_equal(online.a_final, two.a_final)
    assert online.f_unsat[1] == two.f_unsat[0] and online.f_unsat[0] == one.f_unsat[0]
    third = draw_inputs(rng, 300, 8, "gaussian")  # the batch on which the state after step 2 is measured
    assert np.array_equal(online.y, teacher_labels(third)) and np.array_equal(online.x_par, third[:, 0])
    with pytest.raises(ValueError, match="X and y cannot be given"):
        simulate(setup, steps=1, X=first, online=True)


@pytest.mark.parametrize("n, M, d", [(0, 3, 2), (1, 4, 3), (64, 3, 2), (130, 7, 5)])
def test_network_output_is_the_definitions_sum_row_by_row(n, M, d):
    """The blocked output pass (rows of a block summed side by side) against the definition summed one row at a
    time in the same order: identical, for row counts below, at and across the block size."""
    from mftheory.validate.simulator import network_output

    rng = np.random.default_rng(n)
    setup = Setup(d=d, alpha=1.5, h=1.0, eta=1.0, M=M, activation="leaky_relu", leak=0.1)
    X, W, a = rng.standard_normal((n, d)), rng.standard_normal((M, d)), rng.standard_normal(M)
    expected = np.empty(n)
    for r in range(n):
        total = 0.0
        for i in range(M):
            z = 0.0
            for k in range(d):
                z += X[r, k] * W[i, k]
            z *= 1.0 / math.sqrt(d)
            total += a[i] * (z if z > 0.0 else 0.1 * z)
        expected[r] = total * (1.5 / M)
    assert np.array_equal(network_output(setup, a, W, X), expected)
