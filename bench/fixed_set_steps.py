"""Shared by the benches that follow GD one step at a time on one fixed training set at Fig. 1
(``margin_oscillation.py``, ``chatter_amplitude.py``, ``push_parts.py``, ...); not a benchmark itself."""
from __future__ import annotations

import warnings

import mftheory
from mftheory import finite_size
from mftheory.validate.simulator import draw_problem


def map_on_the_set_clock(setup, N: int, t0: int, steps: int):
    """The prediction's solution on one fixed set's clock to step t0 + steps, the memorization map's state along
    it, and s, the margin an unsatisfied example gains per step on its own at t0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        solution = finite_size.prediction._on_training_clock(mftheory.meanfield(setup, t0 + steps), N, "fixed")
        state = finite_size.prediction._fixed_sample_state(solution, N, finite_size.teacher_tilt._tilt(solution, N,
                                                                                                       "fixed"))[1]
    return solution, state, float(state.own_rate[t0])


def gd_at(setup, N: int, seed: int, t: int):
    """The training set (X, y) and GD's parameters (a, W) after t steps on it (``simulate``, no derived formula)."""
    X, y, a0, W0, _, _ = draw_problem(setup, N, seed=seed, n_test=0)
    run = mftheory.simulate(setup, X=X, y=y, a0=a0, W0=W0, steps=t, n_test=0, record_steps=[0, t])
    return X, y, run.a_final, run.W_final


def gd_step_by_step(setup, N: int, seed: int, t0: int, steps: int):
    """The training set (X, y) and GD's parameters (a, W) at t0, t0 + 1, ..., t0 + steps (``simulate``, no
    derived formula): a list of steps + 1 pairs."""
    X, y, a, W = gd_at(setup, N, seed, t0)
    states = [(a, W)]
    for _ in range(steps):
        run = mftheory.simulate(setup, steps=1, X=X, y=y, a0=a, W0=W, n_test=0, record_steps=[0, 1])
        a, W = run.a_final, run.W_final
        states.append((a, W))
    return X, y, states
