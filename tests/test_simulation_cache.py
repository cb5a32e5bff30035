"""validate.simulation_cache: a reused simulation is the computed one bit for bit, is keyed by every argument
(explicit arrays by content) and by the simulator's code, is off outside ``reuse_simulations``, and a bad argument
still gets the simulator's own error."""
import dataclasses

import numpy as np
import pytest
import sympy as sp

from mftheory import Setup
from mftheory.derivations import symbols as S
from mftheory.derivations.catalog import Activation
from mftheory.quadratic import QuadraticSetup
from mftheory.validate import _kernels, simulation_cache
from mftheory.validate.quadratic import simulator as quadratic_simulator
from mftheory.validate.simulation_cache import counts, key, reuse_simulations
from mftheory.validate.simulator import simulate

SETUP = Setup(d=10, alpha=1.0, h=1.0, eta=200.0, M=40)


def _refuse(*args, **kwargs):
    raise AssertionError("the simulator ran")


def _assert_same(first, second):
    for field in dataclasses.fields(first):
        a, b = getattr(first, field.name), getattr(second, field.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True), field.name
        elif field.name not in ("setup", "problem"):
            assert type(a) is type(b) and a == b, field.name


def test_a_reused_run_is_the_computed_one_bit_for_bit_without_running_the_simulator(tmp_path, monkeypatch):
    computed = simulate(SETUP, N=500, steps=30, seed=4, n_test=200)
    with reuse_simulations(tmp_path):
        before = counts()
        first = simulate(SETUP, N=500, steps=30, seed=4, n_test=200)
        monkeypatch.setattr(_kernels, "gd_kernel", _refuse)
        again = simulate(SETUP, N=500, steps=30, seed=4, n_test=200)
        after = counts()
    _assert_same(computed, first)
    _assert_same(computed, again)
    assert again.setup is SETUP
    assert (after["computed"] - before["computed"], after["reused"] - before["reused"]) == (1, 1)
    assert len(list((tmp_path / "hinge").glob("*.npz"))) == 1


def test_off_outside_the_block_and_explicit_arrays_compared_by_content(tmp_path, monkeypatch):
    X = np.random.default_rng(0).standard_normal((200, SETUP.d))
    a0 = np.random.default_rng(1).standard_normal(SETUP.M)
    with reuse_simulations(tmp_path):
        simulate(SETUP, N=200, steps=5, seed=0, n_test=0)
        first = simulate(SETUP, steps=5, seed=0, n_test=0, X=X, a0=a0)
        moved = a0.copy()
        moved[3] += 1e-12
        monkeypatch.setattr(_kernels, "gd_kernel", _refuse)
        _assert_same(first, simulate(SETUP, steps=5, seed=0, n_test=0, X=X.copy(), a0=a0.copy()))
        with pytest.raises(AssertionError, match="the simulator ran"):
            simulate(SETUP, steps=5, seed=0, n_test=0, X=X, a0=moved)
        with reuse_simulations(enabled=False), pytest.raises(AssertionError, match="the simulator ran"):
            simulate(SETUP, N=200, steps=5, seed=0, n_test=0)
        with reuse_simulations(tmp_path, refresh=True), pytest.raises(AssertionError, match="the simulator ran"):
            simulate(SETUP, N=200, steps=5, seed=0, n_test=0)
        simulate(SETUP, N=200, steps=5, seed=0, n_test=0)   # on again after the inner block
    with pytest.raises(AssertionError, match="the simulator ran"):
        simulate(SETUP, N=200, steps=5, seed=0, n_test=0)


def test_the_key_covers_every_argument_and_the_code(monkeypatch):
    base = dict(setup=SETUP, N=500, steps=30, seed=4, n_test=200, dtype=np.float64, record_steps=None, screen=True,
                backend="cpu", online=False)
    reference = key("hinge", base)
    assert key("hinge", dict(base)) == reference
    mine = Activation("mine", sp.Max(S.z, 0) + S.z / 2)
    other = Activation("mine", sp.Max(S.z, 0) + S.z / 3)   # same name, another function
    changes = [{"N": 501}, {"steps": 31}, {"seed": 5}, {"n_test": 0}, {"dtype": np.float32}, {"record_steps": [0, 30]},
               {"screen": False}, {"online": True}, {"setup": SETUP.replace(eta=200.0000001)},
               {"setup": SETUP.replace(activation=mine)}]
    keys = {key("hinge", base | change) for change in changes}
    assert reference not in keys and len(keys) == len(changes)
    assert key("hinge", base | {"setup": SETUP.replace(activation=mine)}) != key(
        "hinge", base | {"setup": SETUP.replace(activation=other)})
    assert key("quadratic", base) != reference
    monkeypatch.setattr(simulation_cache, "code_digest", lambda: "another simulator")
    assert key("hinge", base) != reference


def test_a_bad_argument_gets_the_simulators_own_error_and_a_broken_file_is_computed_again(tmp_path):
    with reuse_simulations(tmp_path):
        with pytest.raises(ValueError, match="N"):
            simulate(SETUP, N=-1, steps=5)
        with pytest.raises((TypeError, ValueError), match="dtype"):
            simulate(SETUP, N=100, steps=5, dtype="float33")
        run = simulate(SETUP, N=100, steps=5, seed=1, n_test=0)
        (stored,) = (tmp_path / "hinge").glob("*.npz")
        stored.write_bytes(b"not an npz")
        _assert_same(run, simulate(SETUP, N=100, steps=5, seed=1, n_test=0))
    with np.load(stored) as arrays:   # rewritten whole
        assert "teacher_vector" in arrays.files


def test_a_quadratic_run_is_reused_with_its_problem_drawn_again(tmp_path, monkeypatch):
    setup = QuadraticSetup(kappa=0.7, kappa_star=0.5, lam=0.1, d=12)
    computed = quadratic_simulator.simulate_quadratic(setup, alpha=0.5, time=4.0, eta=0.04, seed=2)
    problem = quadratic_simulator.draw_quadratic_problem(setup, 0.5, 7)
    with reuse_simulations(tmp_path):
        quadratic_simulator.simulate_quadratic(setup, alpha=0.5, time=4.0, eta=0.04, seed=2)
        given = quadratic_simulator.simulate_quadratic(setup, alpha=0.5, time=4.0, eta=0.04, problem=problem)
        monkeypatch.setattr(quadratic_simulator, "_descend", _refuse)
        again = quadratic_simulator.simulate_many([dict(setup=setup, alpha=0.5, time=4.0, eta=0.04, seed=2)])[0]
        given_again = quadratic_simulator.simulate_quadratic(setup, alpha=0.5, time=4.0, eta=0.04, problem=problem)
    _assert_same(computed, again)
    _assert_same(given, given_again)
    assert given_again.problem is problem
    for field in dataclasses.fields(computed.problem):
        a, b = getattr(computed.problem, field.name), getattr(again.problem, field.name)
        assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b


def test_a_refresh_computes_every_run_and_stores_it_for_the_next(tmp_path):
    """``--fresh-simulations`` (``reuse_simulations(refresh=True)``): computed even when stored, and stored, so
    the next run reuses it; ``enabled=False`` stores nothing."""
    with reuse_simulations(tmp_path, enabled=False):
        simulate(SETUP, N=100, steps=5, seed=2, n_test=0)
    assert not (tmp_path / "hinge").exists()
    with reuse_simulations(tmp_path, refresh=True):
        before = counts()
        run = simulate(SETUP, N=100, steps=5, seed=2, n_test=0)
        simulate(SETUP, N=100, steps=5, seed=2, n_test=0)
        after = counts()
    assert (after["computed"] - before["computed"], after["reused"] - before["reused"]) == (2, 0)
    with reuse_simulations(tmp_path):
        before = counts()
        _assert_same(run, simulate(SETUP, N=100, steps=5, seed=2, n_test=0))
        assert counts()["reused"] - before["reused"] == 1
