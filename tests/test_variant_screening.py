"""Exact screening of a user's own activation and loss: where it applies, the bound it skips with, and the same
trajectory as computing every margin at every step."""
import itertools
import math

import numpy as np
import pytest
import sympy as sp

from mftheory.derivations import symbols as S
from mftheory.derivations.catalog import Activation, Loss
from mftheory.model import Setup
from mftheory.validate import _kernels
from mftheory.validate._variant_kernels import screening_lipschitz
from mftheory.validate.simulator import draw_problem, network_output, simulate

RELU_PLUS_LINEAR = Activation("relu_plus_linear", sp.Max(S.z, 0) + S.z / 2)
TANH = Activation("tanh_activation", sp.tanh(S.z))
SOFTPLUS = Activation("softplus_activation", sp.log(1 + sp.exp(S.z)))
SOFTSIGN = Activation("softsign_activation", S.z / (1 + sp.Abs(S.z)))   # sigma' = 1 / (1 + |z|)^2, piece by piece
GELU = Activation("gelu_activation", S.z * (1 + sp.erf(S.z / sp.sqrt(2))) / 2)
CUBIC_HINGE = Loss("cubic_hinge", sp.Max(0, S.h - S.z) ** 3 / 3)
SMOOTH_LOSS = Loss("softplus_loss", sp.log(1 + sp.exp(S.h - S.z)))


def _setup(activation, loss, **changes):
    base = dict(d=10, alpha=1.0, h=0.5, eta=20.0, M=40, activation=activation, loss=loss)
    base.update(changes)
    return Setup(**base)


@pytest.mark.parametrize("activation,loss,expected", [
    (RELU_PLUS_LINEAR, CUBIC_HINGE, 1.5),   # slopes 1/2 and 3/2
    (TANH, CUBIC_HINGE, 1.0),               # sup |1 - tanh^2| at z = 0
    (SOFTSIGN, CUBIC_HINGE, 1.0),           # each piece's extrema on its own half-line
    (GELU, CUBIC_HINGE, 0.0),               # SymPy finds no critical points of sigma': every margin computed
    (RELU_PLUS_LINEAR, "hinge", 1.5),
    (SOFTPLUS, CUBIC_HINGE, 0.0),           # sigma(0) = log 2: |sigma(z)| <= L |z| fails
    (RELU_PLUS_LINEAR, SMOOTH_LOSS, 0.0),   # u > 0 at every margin: nothing can be skipped
])
def test_screening_applies_where_the_model_allows_it(activation, loss, expected):
    from mftheory.validate.simulator import _catalog_object

    L = screening_lipschitz(_catalog_object("activation", activation), _catalog_object("loss", loss), 0.01, 0.5)
    assert L == pytest.approx(expected, rel=1e-9)
    assert L == 0.0 or L >= expected   # rounded up, never down


@pytest.mark.parametrize("activation", [RELU_PLUS_LINEAR, TANH, SOFTSIGN])
def test_the_bound_times_lipschitz_holds_between_any_two_parameter_sets(activation):
    """|f'(x) - f(x)| <= L (A |x_1| + B |x_perp|) with (A, B) the built-in kernel's bound, along a GD run of the
    user's model, every pair of its recorded steps, and tight enough somewhere to skip work."""
    from mftheory.validate.simulator import _catalog_object

    setup = _setup(activation, CUBIC_HINGE, d=12, M=30)
    L = screening_lipschitz(_catalog_object("activation", activation), _catalog_object("loss", CUBIC_HINGE),
                            setup.slope, setup.h)
    runs = [simulate(setup, N=500, steps=int(t), seed=3, n_test=0, screen=False) for t in range(0, 61, 6)]
    X = draw_problem(setup, 2000, seed=4, n_test=0)[0]
    ax1, axp = np.abs(X[:, 0]), np.linalg.norm(X[:, 1:], axis=1)
    scale = setup.alpha / (setup.M * math.sqrt(setup.d))
    tightest = 0.0
    for old, new in itertools.combinations(runs, 2):
        A, B = _kernels._step_bound(old.a_final, old.W_final, new.a_final, new.W_final, scale,
                                    _kernels._perp_norm_bound(new.W_final))
        change = np.abs(network_output(setup, new.a_final, new.W_final, X)
                        - network_output(setup, old.a_final, old.W_final, X))
        bound = L * (A * ax1 + B * axp)
        assert np.all(change <= bound * (1 + 1e-12)), (old.steps, new.steps)
        tightest = max(tightest, np.max(change / bound))
    assert tightest > 0.01


@pytest.mark.parametrize("activation", [RELU_PLUS_LINEAR, TANH])
def test_screened_run_is_the_unscreened_one_and_skips_work(activation):
    """A large step (eta = 200), where the satisfied share grows fast: every record and the final parameters
    agree, and late the screened run computes at most half of the margins (about 0.3 of them, with 0.2 of the
    set unsatisfied)."""
    setup = _setup(activation, CUBIC_HINGE, eta=200.0)
    n, steps = 2000, 150
    rec = np.arange(steps + 1)
    on = simulate(setup, N=n, steps=steps, seed=6, n_test=500, record_steps=rec, screen=True)
    off = simulate(setup, N=n, steps=steps, seed=6, n_test=500, record_steps=rec, screen=False)
    assert on.screened and not off.screened
    np.testing.assert_array_equal(on.f_unsat, off.f_unsat)
    np.testing.assert_array_equal(on.train_error, off.train_error)
    np.testing.assert_array_equal(on.test_error, off.test_error)
    np.testing.assert_array_equal(on.t_sat, off.t_sat)
    for x, ref in ((on.W_final, off.W_final), (on.a_final, off.a_final)):
        assert np.max(np.abs(x - ref)) <= 1e-12 * np.max(np.abs(ref))
    assert np.all(off.evaluated == n)
    assert np.all(on.evaluated >= np.round(on.f_unsat * n))   # every unsatisfied example is evaluated
    late = slice(steps // 2, None)
    assert 0 < off.f_unsat[late].min()
    assert on.evaluated[late].mean() < 0.5 * n


def test_a_model_that_cannot_be_screened_computes_every_margin():
    on = simulate(_setup(SOFTPLUS, CUBIC_HINGE), N=300, steps=20, seed=1, n_test=0, screen=True)
    assert not on.screened and np.all(on.evaluated == 300)


def test_online_mode_runs_a_users_model_as_the_builtin_one():
    """Fresh data at every step with a user's own ReLU and hinge (the dense kernel, batch after batch) gives the
    built-in model's online run: the same batches, the same unsatisfied counts, parameters to rounding."""
    mine = _setup(Activation("my_relu", sp.Max(S.z, 0)), Loss("my_hinge", sp.Max(0, S.h - S.z)), eta=20.0)
    builtin = _setup("relu", "hinge", eta=20.0)
    rec = np.arange(0, 41, 5)
    runs = [simulate(s, N=400, steps=40, seed=2, n_test=300, record_steps=rec, online=True) for s in (mine, builtin)]
    np.testing.assert_array_equal(runs[0].f_unsat, runs[1].f_unsat)
    np.testing.assert_array_equal(runs[0].test_error, runs[1].test_error)
    np.testing.assert_array_equal(runs[0].x_par, runs[1].x_par)
    assert 0.05 < runs[0].f_unsat[-1] < 0.95   # the run moved, some examples still pull
    for x, ref in ((runs[0].W_final, runs[1].W_final), (runs[0].a_final, runs[1].a_final)):
        assert np.max(np.abs(x - ref)) <= 1e-12 * np.max(np.abs(ref))
    assert np.all(runs[0].evaluated == 400)


def test_a_users_model_is_bit_identical_across_thread_counts():
    """Its slabs are fixed, so one numba thread and two give the same run to the bit, screened and online."""
    from thread_counts import digests_at_one_and_two_threads

    one, two = digests_at_one_and_two_threads("""
import numpy as np, sympy as sp
from mftheory.derivations import symbols as S
from mftheory.derivations.catalog import Activation, Loss
from mftheory.model import Setup
from mftheory.validate.simulator import simulate
def compute():
    setup = Setup(d=10, alpha=1.0, h=0.5, eta=200.0, M=40, activation=Activation("relu_plus_linear",
                  sp.Max(S.z, 0) + S.z / 2), loss=Loss("cubic_hinge", sp.Max(0, S.h - S.z) ** 3 / 3))
    fixed = simulate(setup, N=1000, steps=60, seed=4, n_test=200)
    online = simulate(setup, N=300, steps=10, seed=4, n_test=200, online=True)
    return fixed.W_final, fixed.a_final, fixed.f_unsat, online.W_final, online.test_error
""")
    assert one == two


@pytest.mark.parametrize("activation,loss", [(GELU, SMOOTH_LOSS), (SOFTSIGN, CUBIC_HINGE), (RELU_PLUS_LINEAR, "hinge")])
def test_the_models_functions_are_lambdifys_in_a_module_of_the_kernel_cache(activation, loss):
    """sigma, sigma' and u come from a module written to the kernel cache (named by its content, so its GD loop is
    cached on disk too) and equal SymPy's lambdify of the definition at every point."""
    from mftheory.derivations.catalog import resolve
    from mftheory.validate._variant_kernels import model_functions

    loss = resolve("loss", loss)
    sigma, dsigma, u = model_functions(activation, loss, 0.1, 0.5)
    module = __import__(sigma.py_func.__module__)
    assert module.__name__.startswith("mftheory_model_") and module.dsigma is dsigma and module.u is u
    expr = activation.expr.rewrite(sp.Piecewise)
    weight = (-sp.diff(loss.expr.rewrite(sp.Piecewise), S.z)).subs(S.h, 0.5)
    for compiled, reference in ((sigma, expr), (dsigma, sp.diff(expr, S.z)), (u, weight)):
        plain = sp.lambdify(S.z, reference, modules="math")
        for z in np.linspace(-3.0, 3.0, 61):
            assert compiled(z) == plain(z)


_USER_RUN = r"""
import json
import sympy as sp
import mftheory
from mftheory.derivations import symbols as S
from mftheory.derivations.catalog import Activation
from mftheory.validate import _variant_kernels
from mftheory.kernels.binding import bind
from mftheory.derivations.catalog import resolve

setup = mftheory.Setup(d=10, alpha=1.0, h=0.5, eta=20.0, M=40, loss="hinge",
                       activation=Activation("relu_plus_linear", sp.Max(S.z, 0) + S.z / 2))
sim = mftheory.simulate(setup, N=500, steps=5, n_test=0, seed=3)
loop = bind(_variant_kernels._gd_variant_loop, *_variant_kernels.model_functions(
    setup.activation, resolve("loss", "hinge"), setup.slope, setup.h))
print("RESULT" + json.dumps(dict(hits=sum(loop.stats.cache_hits.values()), a=sim.a_final.tolist())))
"""


def test_a_users_gd_loop_is_compiled_once_and_loaded_by_later_processes(tmp_path):
    """A user's model is not compiled anew in every process: the second loads the GD loop's machine code that the
    first cached, from the folder MFTHEORY_CACHE names, and runs the same trajectory."""
    from fresh_processes import results_in_new_processes

    results = results_in_new_processes(_USER_RUN, tmp_path)
    assert results[0]["hits"] == 0 and results[1]["hits"] == 1
    assert results[0]["a"] == results[1]["a"]
    assert list((tmp_path / "kernels").glob("mftheory_model_*.py"))
    assert list((tmp_path / "kernels").glob("mftheory_bound_gd_variant_loop_*.py"))
