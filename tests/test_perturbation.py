"""Perturb-and-follow with switches: plain GD when nothing is switched off, and the switches do what they say."""
import numpy as np
import pytest

from mftheory.model import Setup
from mftheory.validate.perturbation import follow_perturbation
from mftheory.validate.simulator import simulate

SETUP = Setup(d=10, alpha=1.0, h=1.0, eta=200.0, M=30)


def _problem(seed=0, N=400):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N, SETUP.d))
    a0, W0 = rng.standard_normal(SETUP.M), rng.standard_normal((SETUP.M, SETUP.d))
    return X, a0, W0


def test_both_copies_follow_plain_gradient_descent():
    """With nothing switched off, each copy is GD as the simulator runs it (to rounding: summation orders differ)."""
    X, a0, W0 = _problem()
    a1, W1 = a0 + 0.01, W0 * 1.01
    out = follow_perturbation(SETUP, (a0, W0), (a1, W1), 25, [0, 10, 25], X=X)
    assert len(out) == 3 and np.array_equal(out[0][0], a0)
    for start, (a_index, w_index) in (((a0, W0), (0, 1)), ((a1, W1), (2, 3))):
        sim = simulate(SETUP, steps=25, X=X, y=np.where(X[:, 0] >= 0, 1.0, -1.0), a0=start[0], W0=start[1], n_test=0,
                       record_steps=[0, 25], screen=False)
        np.testing.assert_allclose(out[-1][a_index], sim.a_final, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(out[-1][w_index], sim.W_final, rtol=1e-10, atol=1e-12)
        assert not np.allclose(out[-1][a_index], start[0])   # it trained


def test_switches_change_only_the_perturbed_copy_and_only_when_it_differs():
    X, a0, W0 = _problem(1)
    same = follow_perturbation(SETUP, (a0, W0), (a0, W0), 15, [15], X=X, hinge="base", kinks="base")[0]
    np.testing.assert_array_equal(same[0], same[2])
    np.testing.assert_array_equal(same[1], same[3])
    a1, W1 = a0 + 0.05, W0 + 0.05
    plain = follow_perturbation(SETUP, (a0, W0), (a1, W1), 15, [15], X=X)[0]
    for switches in ({"hinge": "base"}, {"kinks": "base"}):
        switched = follow_perturbation(SETUP, (a0, W0), (a1, W1), 15, [15], X=X, **switches)[0]
        np.testing.assert_array_equal(switched[0], plain[0])    # the unperturbed copy is untouched
        assert not np.array_equal(switched[3], plain[3]), switches


def test_fresh_batches_are_shared_and_reproducible():
    _, a0, W0 = _problem(2)
    runs = [follow_perturbation(SETUP, (a0, W0), (a0, W0), 5, [5], N=300, batch_seed=3)[0] for _ in range(2)]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    np.testing.assert_array_equal(runs[0][1], runs[0][3])


@pytest.mark.parametrize("kwargs,name", [({"hinge": "mine"}, "hinge"), ({"kinks": None}, "kinks"),
                                         ({"steps": -1}, "steps"), ({"record_steps": [3, 1]}, "record_steps"),
                                         ({"X": np.zeros((5, 3))}, "X")])
def test_bad_inputs_name_the_parameter(kwargs, name):
    X, a0, W0 = _problem()
    args = {"steps": 5, "record_steps": [5], "X": X} | kwargs
    with pytest.raises(ValueError, match=name):
        follow_perturbation(SETUP, (a0, W0), (a0, W0), **args)


def test_signed_kink_density_counts_pairs_at_the_kink_by_the_sign_of_a_y():
    """One node along x_2 (z = x_2 / sqrt d): examples with |x_2| < window count +1 when a y > 0 and -1 when a y < 0,
    over 2 window N M; satisfied examples do not count."""
    from mftheory.validate.cases.finite_size import signed_kink_density

    setup = Setup(d=4, alpha=1.0, h=100.0, eta=1.0, M=1)   # h large: every example unsatisfied
    X = np.zeros((6, 4))
    X[:, 0] = [1.0, 1.0, 1.0, -1.0, -1.0, 1.0]           # labels + + + - - +
    X[:, 1] = [0.001, -0.001, 0.5, 0.001, -0.001, 3.0]    # z = x_2 / 2
    W = np.array([[0.0, 1.0, 0.0, 0.0]])
    window = 0.01
    expected = (2 - 2) / (2 * window * 6)
    assert signed_kink_density(setup, np.array([1.0]), W, X, window) == expected
    X[3:5, 0] = 1.0                                        # all four near the kink now have a y > 0
    assert signed_kink_density(setup, np.array([1.0]), W, X, window) == 4 / (2 * window * 6)
    assert signed_kink_density(setup, np.array([-1.0]), W, X, window) == -4 / (2 * window * 6)
    satisfied = Setup(d=4, alpha=1.0, h=1e-9, eta=1.0, M=1)   # a y sigma(z) > 0 for z > 0: satisfied
    assert signed_kink_density(satisfied, np.array([1.0]), W, X, window) == 2 / (2 * window * 6)


def test_the_followed_copies_do_not_depend_on_the_thread_count():
    from thread_counts import digests_at_one_and_two_threads

    one, two = digests_at_one_and_two_threads("""
import numpy as np
from mftheory.model import Setup
from mftheory.validate.perturbation import follow_perturbation
def compute():
    setup = Setup(d=10, alpha=1.0, h=1.0, eta=200.0, M=30)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((400, setup.d))
    a0, W0 = rng.standard_normal(setup.M), rng.standard_normal((setup.M, setup.d))
    return follow_perturbation(setup, (a0, W0), (a0 + 0.05, W0), 8, [8], X=X, hinge="base")
""")
    assert one == two
