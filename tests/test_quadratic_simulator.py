"""The quadratic network's simulator: exact against a plain NumPy loop on full matrices, reproducible, checked."""
import math

import numpy as np
import pytest

from mftheory.quadratic import QuadraticSetup
from mftheory.validate.quadratic import draw_quadratic_problem, network_outputs, simulate_quadratic
from mftheory.validate.quadratic.simulator import _pack_indices


def _full_inputs(setup, problem):
    d = setup.d
    if setup.data == "goe":
        rows, cols = _pack_indices(d)
        X = np.zeros((problem.n, d, d))
        X[:, rows, cols] = problem.inputs
        X[:, cols, rows] = problem.inputs
        return X
    x = problem.inputs
    return (np.einsum("ki,kj->kij", x, x) - np.eye(d)) / math.sqrt(d)


def _numpy_descent(setup, problem, eta, steps):
    """The model's definition, step by step, on the n full d x d input matrices."""
    X = _full_inputs(setup, problem)
    W = problem.init.copy()
    d, n = setup.d, problem.n
    for _ in range(steps):
        r = np.einsum("kij,ij->k", X, W @ W.T) - problem.labels
        W = W - eta * ((d / n) * np.einsum("k,kij->ij", r, X) @ W + 2 * setup.lam * W)
    return W, X


@pytest.mark.parametrize("data", ["goe", "gaussian"])
def test_simulator_matches_numpy_loop(data):
    setup = QuadraticSetup(kappa=0.7, kappa_star=0.5, lam=0.1, Delta=0.5, d=9, data=data)
    problem = draw_quadratic_problem(setup, 1.2, seed=3)
    run = simulate_quadratic(setup, 1.2, time=0.6, eta=0.01, problem=problem)
    W, X = _numpy_descent(setup, problem, 0.01, 60)
    np.testing.assert_allclose(run.weights, W, rtol=0, atol=1e-12)
    # the labels are the teacher's outputs plus noise of variance Delta, and the recorded errors are as defined
    z_star = problem.teacher @ problem.teacher.T
    noise = problem.labels - np.einsum("kij,ij->k", X, z_star)
    assert noise.var() == pytest.approx(0.5, rel=0.25)
    r = np.einsum("kij,ij->k", X, W @ W.T) - problem.labels
    assert run.in_sample_error[-1] == pytest.approx(np.mean(r**2) / 2, rel=1e-12)
    assert run.mse[-1] == pytest.approx(np.sum((W @ W.T - z_star) ** 2) / setup.d, rel=1e-12)
    assert run.train_loss[-1] == pytest.approx(np.mean(r**2) / 4 + 0.1 * np.sum(W * W) / setup.d, rel=1e-12)
    np.testing.assert_allclose(network_outputs(setup, problem.inputs, W), np.einsum("kij,ij->k", X, W @ W.T),
                               atol=1e-12)


def test_goe_inputs_have_the_stated_law():
    setup = QuadraticSetup(kappa=1.0, kappa_star=0.5, lam=0.1, d=12)
    problem = draw_quadratic_problem(setup, 30.0, seed=0)
    diagonal, off = problem.inputs[:, :12], problem.inputs[:, 12:]
    assert diagonal.var() == pytest.approx(2 / 12, rel=0.03) and off.var() == pytest.approx(1 / 12, rel=0.03)
    assert problem.n == int(30.0 * 144) and problem.init.shape == (12, 12) and problem.teacher.shape == (12, 6)


def test_same_seed_same_run_bit_for_bit():
    setup = QuadraticSetup(kappa=0.5, kappa_star=0.3, lam=0.05, d=10, data="gaussian")
    a = simulate_quadratic(setup, 0.8, time=1.0, eta=0.01, seed=5)
    b = simulate_quadratic(setup, 0.8, time=1.0, eta=0.01, seed=5)
    c = simulate_quadratic(setup, 0.8, time=1.0, eta=0.01, seed=6)
    assert np.array_equal(a.weights, b.weights) and np.array_equal(a.mse, b.mse)
    assert not np.array_equal(a.weights, c.weights)


def test_simulator_rejects_bad_input():
    setup = QuadraticSetup(kappa=0.5, kappa_star=0.3, lam=0.05, d=10)
    with pytest.raises(ValueError, match="eta"):
        simulate_quadratic(setup, 0.5, time=1.0, eta=0.0)
    with pytest.raises(ValueError, match="alpha"):
        simulate_quadratic(setup, -0.5, time=1.0)
    with pytest.raises(ValueError, match="seed"):
        simulate_quadratic(setup, 0.5, time=1.0, seed=-1)
    with pytest.raises(ValueError, match="record_steps"):
        simulate_quadratic(setup, 0.5, time=1.0, eta=0.1, record_steps=[0, 11])
    with pytest.raises(TypeError, match="QuadraticSetup"):
        draw_quadratic_problem(object(), 0.5)
