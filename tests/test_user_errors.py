"""Bad input from a new user: a clear ValueError/TypeError naming the parameter (checked before any work), or a
stated warning, never a raw traceback from deep inside numpy/numba nor a silent bad value (found by probing every
public function and command line as a new user would). One fast test per fix."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import mftheory
from mftheory import finite_size
from mftheory.model import Setup
from mftheory.quadratic import QuadraticSetup
from mftheory.quadratic.long_time import long_time

S = Setup(d=20, alpha=1.0, h=1.0, eta=500.0, M=50)
FEAT = S.replace(M=200, data="features", feature_freq=(0.8, 0.2), feature_strength=(1.0, 1.0))
Q = QuadraticSetup(kappa=0.7, kappa_star=0.5, lam=0.1, d=20)


@pytest.fixture(scope="module")
def sol():
    return mftheory.meanfield(S, 50)


def test_scales_whose_square_overflows_are_rejected_by_setup():
    for name in ("sigma_a", "sigma_w", "alpha", "h", "eta"):
        with pytest.raises(ValueError, match=rf"{name} must lie in \(0, 1e\+150\]"):
            S.replace(**{name: 1e200})
    with pytest.raises(ValueError, match="feature_strength"):
        FEAT.replace(feature_strength=(1e300, 1.0))
    mftheory.meanfield(S.replace(sigma_a=1e150), 2)   # the largest allowed still runs


def test_features_have_no_variant_nor_label_noise_theory():
    for call in (lambda: mftheory.label_noise_fixed_point(FEAT), lambda: mftheory.label_noise_expansion(FEAT, 10),
                 lambda: mftheory.variant_of(FEAT)):
        with pytest.raises(ValueError, match="data='features' has no variant.*meanfield"):
            call()


def test_feature_node_and_learning_time_check_their_inputs():
    fs = mftheory.meanfield(FEAT, 5)
    for w0 in (1.0, np.ones(5), np.ones((3, 1))):
        with pytest.raises(ValueError, match="w0 must be an array whose last axis has length K = 2"):
            fs.node(1.0, w0)
    assert fs.node(np.ones(3), np.ones((3, 2))).shape == (6, 3, 3)
    for level in ("a", 2.0, -1.0, float("nan"), 0.0, 1.0):
        with pytest.raises(ValueError, match="level must"):
            fs.learning_time(level)


def test_long_time_checks_alpha_and_the_spectrum_index():
    prediction = long_time(Q, [0.5])
    for index in (3, -1, 0.5):
        with pytest.raises(ValueError, match="index must"):
            prediction.spectrum(index, [1.0])
    for alpha in ([[0.2, 0.5]], "abc"):
        with pytest.raises(ValueError, match="alpha must be a number or a 1-D array"):
            long_time(Q, alpha)


def test_diverging_gradient_descent_is_an_error_not_huge_numbers():
    for online in (False, True):
        with pytest.raises(ValueError, match="gradient descent diverged.*eta = 1e\\+09"):
            mftheory.simulate(S.replace(eta=1e9), N=200, steps=20, n_test=10, online=online)
    from mftheory.validate.quadratic.simulator import simulate_quadratic

    for eta, time in ((5.0, 10.0), (0.5, 10.0)):   # finite but 1e29 large; inf/NaN
        with pytest.raises(ValueError, match=f"gradient descent diverged.*eta = {eta:g}"):
            simulate_quadratic(Q, alpha=0.5, time=time, eta=eta)
    run = simulate_quadratic(Q, alpha=0.5, time=1.0, eta=0.1, record_steps=[2, 5])   # stable: only what was asked
    assert list(run.steps) == [2, 5] and run.mse.shape == (2,)


def test_finite_sample_fractions_stay_within_zero_and_one(sol):
    prediction = mftheory.finite_sample(sol, 2000)
    for fraction in (prediction.train_unsat, prediction.test_unsat):
        assert fraction.min() >= 0.0 and fraction.max() <= 1.0


@pytest.mark.parametrize("call", [lambda sol: mftheory.tilt(sol, 1), lambda sol: mftheory.within_run_band(sol, 1),
                                  lambda sol: finite_size.predict(sol, 1, "fresh")])
def test_every_prediction_for_n_below_d_warns(sol, call):
    # the warning comes before any work: turned into an error it stops the call at once
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with pytest.raises(UserWarning, match="N = 1 < d = 20: .* outside the range of the expansion in 1/N"):
            call(sol)


def test_table_every_must_be_a_positive_integer(sol):
    for every in (-1, 0, 1.5):
        with pytest.raises(ValueError, match="every must be an integer >= 1"):
            sol.table(every)


def test_feature_freq_and_strength_must_be_sequences():
    for name, bad in (("feature_freq", {0.8, 0.2}), ("feature_freq", {0.8: 1, 0.2: 2}),
                      ("feature_strength", {1.0, 2.0})):
        with pytest.raises(ValueError, match=f"{name} must be a sequence"):
            FEAT.replace(**{name: bad})
    assert FEAT.replace(feature_freq=[0.8, 0.2], feature_strength=np.array([1.0, 2.0])).feature_freq == (0.8, 0.2)


def test_degree2_propagator_source_must_be_a_number(sol):
    with pytest.raises(ValueError, match="source"):
        mftheory.degree2_propagator(sol, 10, source="a")


def test_command_lines_reject_bad_paths_and_seeds(tmp_path, capsys):
    from mftheory.validate.suite import main

    a_file = tmp_path / "a_file"
    a_file.write_text("")
    spec = tmp_path / "spec.toml"
    spec.write_text("[sweep]\nsteps=5\nseeds=1\nN=200\n[base]\nd=20\nalpha=1.0\nh=1.0\neta=500.0\nM=50\n"
                    "[grid]\nd=[20]\n")
    assert main(["sweep", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--out", str(a_file), "--workers", "1", "--no-progress"]) == 2
    assert "out must be a directory" in capsys.readouterr().err
    with pytest.raises(ValueError, match="out must be a directory"):
        mftheory.sweep(S, {"d": [20]}, seeds=1, steps=5, N=200, out=a_file / "sub")
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--seed", "-1", "--out", str(tmp_path / "v")])
    assert exit_.value.code == 2 and "--seed" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_derive_names_a_bad_activation_loss_or_data():
    for args, name in (((None, "hinge", "gaussian"), "activation"), ((123, "hinge", "gaussian"), "activation"),
                       ((["relu"], "hinge", "gaussian"), "activation"), (("relu", 5, "gaussian"), "loss"),
                       (("relu", "hinge", ["gaussian"]), "data")):
        with pytest.raises(TypeError, match=f"{name} must be one of"):
            mftheory.derive(*args)


def test_sizes_beyond_the_machine_memory_fail_at_once_naming_the_argument():
    with pytest.raises(ValueError, match="meanfield over steps = 10+.*GiB.*lower steps"):
        mftheory.meanfield(S, 10**15)
    with pytest.raises(ValueError, match="meanfield over steps = 10+.*GiB.*lower steps"):
        mftheory.meanfield(FEAT, 10**15)
    with pytest.raises(ValueError, match="simulate with N = 10+.*GiB.*lower N"):
        mftheory.simulate(S, N=10**12, steps=1)


def test_record_steps_are_checked_alike_by_both_simulators():
    from mftheory.validate.quadratic.simulator import simulate_quadratic

    for bad, message in (([0, 2**70], r"record_steps must lie within \[0, steps\] = \[0, 10\], got \[0, 1180"),
                         ([5, 2], "strictly increasing"), ([2.5], "must contain integers"), ([2, 2], "strictly")):
        with pytest.raises(ValueError, match=message):
            mftheory.simulate(S, N=100, steps=10, n_test=0, record_steps=bad)
        with pytest.raises(ValueError, match=message):
            simulate_quadratic(Q, alpha=0.5, time=1.0, eta=0.1, record_steps=bad)
    run = simulate_quadratic(Q, alpha=0.5, time=1.0, eta=0.1, record_steps=[2.0, 5.0])   # whole floats are integers
    assert list(run.steps) == [2, 5]


def test_long_time_names_the_supported_range_and_spectrum_its_points():
    with pytest.raises(ValueError, match=r"alpha = 1e-06 with lam = 0.1 .* above 10000.*use a larger alpha"):
        long_time(Q, 1e-6)
    with pytest.raises(ValueError, match=r"alpha = 1e\+06 with lam = 1e-06 .* below 1e-08.*larger lam"):
        long_time(Q.replace(lam=1e-6), 1e6)
    with pytest.raises(ValueError, match="points must be real numbers"):
        long_time(Q, [0.5]).spectrum(0, "x")


def test_features_mean_field_stops_where_a_step_overshoots_and_names_eta():
    with pytest.raises(ValueError, match=r"beta c \|G\| / sqrt\(d\) = .* >= 1 at step 0.*eta must be smaller"):
        mftheory.meanfield(FEAT.replace(eta=1e6), 5)
    with pytest.raises(ValueError, match=r"feature_strength = \(1e\+100"):
        mftheory.meanfield(FEAT.replace(feature_strength=(1e100, 1.0)), 5)
    mftheory.meanfield(FEAT, 5)


def test_an_output_folder_that_cannot_be_created_is_an_error(capsys):
    from mftheory.cli import main

    assert main(["run", "--out", "/proc/mftheory-cannot-create"]) == 2   # even root cannot create it
    assert "--out /proc/mftheory-cannot-create: cannot create the folder" in capsys.readouterr().err


def test_derive_names_a_bad_worker_count(tmp_path, capsys):
    from mftheory.cli import main

    assert main(["derive", "--out", str(tmp_path), "--workers", "0"]) == 2
    assert "workers must be a whole number >= 1" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())   # nothing derived, nothing written
