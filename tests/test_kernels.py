"""Generated kernels against independent numerics: mpmath at 50 digits, quadrature of the definitions."""
import ast
import math
import pathlib

import mpmath as mp
import numpy as np
import pytest
import sympy as sp

from mftheory.derivations import symbols as S
from mftheory.derivations.build import GENERATED_DIR, builtin_modules, expected_key, stored_key
from mftheory.derivations.code_text import code_text
from mftheory.derivations.codegen import kernel_module_source
from mftheory.derivations import meanfield as meanfield_module
from mftheory.derivations.meanfield import derive
from mftheory import kernels

@pytest.fixture(autouse=True)
def _mpmath_digits():
    """This module's mpmath precision, set around each test: a module-level ``mp.dps`` is overwritten by whichever
    test module is imported last (a 50-digit check then ran at 30)."""
    with mp.workdps(50):
        yield

VARIANTS = [(data, loss) for data in ("gaussian", "sphere") for loss in ("hinge", "quadratic_hinge", "logistic")]
RNG = np.random.default_rng(12345)


def _params(data, n=12):
    for _ in range(n):
        d = float(RNG.integers(3, 400))
        yield {S.kappa: float(10 ** RNG.uniform(-1.5, 1.5)), S.d: d, S.h: float(10 ** RNG.uniform(-2, 0.5)),
               S.eps: float(RNG.uniform(0, 0.45))}


def _abs_par_density(data, d):
    """|x_par| density written from the definition of the law (not from derivations/)."""
    if data == "gaussian":
        return lambda x: 2 * mp.npdf(x)
    d = mp.mpf(d)
    norm = mp.gamma(d / 2) / (mp.sqrt(mp.pi * d) * mp.gamma((d - 1) / 2))
    return lambda x: 2 * norm * (1 - x**2 / d) ** ((d - 3) / 2) if x < mp.sqrt(d) else mp.mpf(0)


def _weight(loss, z, h):
    """u(z) = -l'(z), written from the definition of each loss."""
    if loss == "hinge":
        return mp.mpf(1) if z < h else mp.mpf(0)
    if loss == "quadratic_hinge":
        return max(h - z, mp.mpf(0))
    return 1 / (1 + mp.exp(z))


def _independent_average(data, loss, sign, kappa, d, h):
    rho = _abs_par_density(data, d)
    f = lambda x: _weight(loss, sign * kappa * x, h) * x * rho(x)
    top = mp.sqrt(d) if data == "sphere" else mp.inf
    breaks = [mp.mpf(0)]
    if loss != "logistic" and sign > 0 and h / kappa < top:
        breaks.append(mp.mpf(h) / kappa)
    return mp.quad(f, breaks + [top])


@pytest.mark.parametrize("module", builtin_modules())
def test_generated_modules_are_up_to_date(module):
    assert stored_key(GENERATED_DIR / f"{module}.py") == expected_key(module), "run `mftheory derive`"


def test_key_does_not_depend_on_the_sympy_version(monkeypatch):
    """The committed kernels stay valid under another SymPy release (the version is provenance only)."""
    before = {m: expected_key(m) for m in builtin_modules()}
    monkeypatch.setattr(sp, "__version__", "0.0.0-other")
    assert {m: expected_key(m) for m in builtin_modules()} == before


def test_key_ignores_comments_and_docstrings_but_not_code():
    """Rewording a comment or a docstring of a derivation source keeps every kernel valid; editing code re-keys."""
    text = pathlib.Path(meanfield_module.__file__).read_text(encoding="utf-8")
    tree = ast.parse(text)
    docstring = ast.get_docstring(tree, clean=False)
    lines = text.replace(docstring, docstring.upper() + "\n\nA new paragraph, \u00e9.", 1).splitlines()
    functions = [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]
    offset = len(lines) - len(text.splitlines())
    for node in sorted(functions, key=lambda n: -n.lineno):   # a comment line above each def, bottom up
        first = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1 + offset
        lines.insert(first, " " * node.col_offset + "# why this function exists, \u00e9")
    edited = "\n".join(lines) + "\n\n# trailing remark\n"
    assert len(functions) > 3 and edited != text
    assert code_text(edited) == code_text(text)
    assert code_text(text.replace("def derive(", "def derive_renamed(", 1)) != code_text(text)


def _without_provenance(text):
    return "\n".join(line for line in text.splitlines() if not line.startswith("# sympy: "))


@pytest.mark.slow
@pytest.mark.parametrize("data,loss", [("gaussian", "hinge"), ("sphere", "quadratic_hinge")])
def test_generation_is_deterministic_golden_text(data, loss):
    generated = kernel_module_source(derive("relu", loss, data))
    assert _without_provenance(generated) == _without_provenance((GENERATED_DIR / f"{data}_{loss}.py").read_text())


@pytest.mark.parametrize("data,loss", VARIANTS)
def test_data_averages_match_independent_quadrature(data, loss):
    k = kernels.load(data, loss)
    for p in _params(data, n=4):
        kappa, d, h = p[S.kappa], p[S.d], p[S.h]
        for sign, kernel in ((1, k.clean_average), (-1, k.flipped_average)):
            ref = _independent_average(data, loss, sign, mp.mpf(kappa), mp.mpf(d), mp.mpf(h))
            assert kernel(kappa, d, h) == pytest.approx(float(ref), rel=1e-10, abs=1e-300), (sign, p)
        rho = _abs_par_density(data, d)
        top = math.sqrt(d) if data == "sphere" else mp.inf
        ref = mp.quad(rho, [0, min(h / kappa, top)]) if h / kappa < top else 1
        assert k.unsat_probability(kappa, d, h) == pytest.approx(float(ref), rel=1e-10)


@pytest.mark.parametrize("data,loss", VARIANTS)
def test_kernels_match_sympy_at_50_digits(data, loss):
    """Each kernel against its own SymPy expression evaluated with mpmath (integrals by mpmath.quad)."""
    D = derive("relu", loss, data)
    k = kernels.load(data, loss)
    for p in _params(data):
        args = (p[S.kappa], p[S.d], p[S.h], p[S.eps])
        for expr, kernel in ((D.drift, k.drift), (D.f_unsat, k.unsat_fraction)):
            value = expr.subs(p)
            value = value.replace(lambda e: isinstance(e, sp.Integral), _quad)
            exact = sp.N(value, 30)
            assert kernel(*args) == pytest.approx(float(exact), rel=1e-12, abs=1e-15), (expr, p)


def _mp(limit):
    return mp.inf if limit == sp.oo else mp.mpf(str(sp.N(limit, 50)))


def _quad(integral):
    """A one-dimensional SymPy Integral with numeric limits, by mpmath at 50 digits."""
    (var, lo, hi), = integral.limits
    f = sp.lambdify(var, integral.function, "mpmath")
    # (1 - x^2/d)^p at the sphere's edge can come back with a 1e-2000 imaginary part
    return sp.Float(mp.quad(lambda t: mp.re(f(t)), [_mp(lo), _mp(hi)]), 50)


def test_node_and_kappa_kernels_match_sympy_at_50_digits():
    D = derive("relu", "hinge", "gaussian")
    k = kernels.load("gaussian", "hinge")
    for _ in range(20):
        vals = {S.gamma_plus: RNG.uniform(0, 8), S.gamma_minus: RNG.uniform(0, 8), S.gamma: RNG.uniform(0, 8),
                S.a0: RNG.normal(), S.w0: RNG.normal(), S.alpha: RNG.uniform(0.1, 3), S.d: float(RNG.integers(1, 500)),
                S.sigma_a: RNG.uniform(0.2, 2), S.sigma_w: RNG.uniform(0.2, 2), S.odd_slope: RNG.uniform(0.5, 1)}
        f = lambda e: float(sp.N(e.subs(vals), 30))
        v = {str(s): float(x) for s, x in vals.items()}
        assert k.kappa_discrete(v["gamma_+"], v["gamma_-"], v["alpha"], v["d"], v["sigma_a"], v["sigma_w"],
                                v["c_sigma"]) == pytest.approx(f(D.kappa_discrete), rel=1e-12)
        assert k.kappa_flow(v["gamma"], v["alpha"], v["d"], v["sigma_a"], v["sigma_w"], v["c_sigma"]) == \
            pytest.approx(f(D.kappa_flow), rel=1e-12)
        assert k.node_discrete_a(v["a_0"], v["w_0"], v["gamma_+"], v["gamma_-"]) == \
            pytest.approx(f(D.node_discrete[0]), rel=1e-12, abs=1e-12)
        assert k.moment_w2(v["gamma_+"], v["gamma_-"], v["sigma_a"], v["sigma_w"]) == \
            pytest.approx(f(D.moments_discrete["w2"]), rel=1e-12)
        # the increments form the discrete map iterates: E_+ = exp(gamma_+) - 1, E_- = exp(-gamma_-) - 1
        e_plus, e_minus = float(mp.expm1(v["gamma_+"])), float(mp.expm1(-v["gamma_-"]))
        assert k.kappa_increments(e_plus, e_minus, v["alpha"], v["d"], v["sigma_a"], v["sigma_w"],
                                  v["c_sigma"]) == pytest.approx(f(D.kappa_discrete), rel=1e-12)
        assert k.gamma_from_increment_plus(e_plus) == pytest.approx(v["gamma_+"], rel=1e-12)
        assert k.gamma_from_increment_minus(e_minus) == pytest.approx(v["gamma_-"], rel=1e-12, abs=1e-12)


def test_safe_forms_are_needed_and_work_at_small_h_and_large_gamma():
    """The expm1 form keeps full precision where the naive 1 - exp(-x*^2/2) loses all digits."""
    k = kernels.load("gaussian", "hinge")
    kappa, d, h = 1.0, 100.0, 1e-9
    exact = float(mp.sqrt(2 / mp.pi) * -mp.expm1(-(mp.mpf(h) / kappa) ** 2 / 2))
    naive = math.sqrt(2 / math.pi) * (1 - math.exp(-((h / kappa) ** 2) / 2))
    assert abs(naive - exact) / exact > 1e-3  # the naive form is visibly wrong here
    assert k.clean_average(kappa, d, h) == pytest.approx(exact, rel=1e-13)
    big = k.kappa_discrete(300.0, 300.0, 1.0, 100.0, 1.0, 1.0, 0.5)
    assert math.isfinite(big) and big == pytest.approx(float(mp.mpf(2) * 0.5 * (mp.e ** 600 - mp.e ** -600) / 40), rel=1e-12)
    assert k.kappa_discrete(1e-12, 0.0, 1.0, 100.0, 1.0, 1.0, 0.5) == pytest.approx(2 * 0.5 * 2e-12 / 40, rel=1e-9)
    # one step of beta g = 1e-12 from the init: the increments keep every digit that log1p / expm1 would
    e_plus, e_minus = k.update_increment_plus(0.0, 1.0, 1e-12), k.update_increment_minus(0.0, 1.0, 1e-12)
    assert k.kappa_increments(e_plus, e_minus, 1.0, 100.0, 1.0, 1.0, 0.5) == pytest.approx(2 * 0.5 * 2e-12 / 40,
                                                                                            rel=1e-12)
    assert k.gamma_from_increment_plus(e_plus) == pytest.approx(1e-12, rel=1e-12)


def test_label_noise_fixed_point_kernels_near_one_half():
    for data in ("gaussian", "sphere"):
        k = kernels.load(data, "hinge")
        x = k.fixed_point_threshold(100.0, 0.3)
        assert k.drift(1.0 / x, 100.0, 1.0, 0.3) == pytest.approx(0.0, abs=1e-13)
    x = kernels.load("gaussian", "hinge").fixed_point_threshold(100.0, 0.5 - 1e-12)
    assert math.isfinite(x) and x > 7


# each template and the generated modules that carry its body
_TEMPLATE_USERS = {"meanfield_loops": [f"{data}_{loss}" for data, loss in VARIANTS],
                   "features_loops": ["features_hinge", "features_quadratic_hinge", "features_logistic"],
                   "features_drift_closed": ["features_hinge"],
                   "features_drift_closed_with_mass": ["features_quadratic_hinge"],
                   "features_drift_quadrature": ["features_logistic"], "quadratic_spectrum": ["quadratic"],
                   "features_response_density": ["features_hinge"],
                   "features_response_unsat": ["features_quadratic_hinge"],
                   "features_response_quadrature": ["features_logistic"],
                   "many_features_loops": ["manyfeatures_hinge", "manyfeatures_quadratic_hinge"]}


@pytest.mark.parametrize("name", sorted(_TEMPLATE_USERS))
def test_templates_are_modules_whose_body_is_in_the_generated_code(name):
    """The hand-written loops are real files: each imports (its names resolve against a generated module) and its
    body is the generated modules' text verbatim; every template file has a user."""
    import importlib

    from mftheory.derivations.templates import FOLDER, template_body

    assert {p.stem for p in FOLDER.glob("*.py")} - {"__init__"} == set(_TEMPLATE_USERS)
    importlib.import_module(f"mftheory.derivations.templates.{name}")
    body = template_body(name)
    assert body.count("@jit") >= 1
    for module in _TEMPLATE_USERS[name]:
        assert body in (GENERATED_DIR / f"{module}.py").read_text(encoding="utf-8"), module


def test_template_loops_run_as_python_and_agree_with_the_generated_module():
    """The mean-field loops of the template file, run as plain Python over the generated kernels, fill the same
    arrays as the generated module's compiled copy."""
    from mftheory.derivations.templates import meanfield_loops as template
    from mftheory.kernels.generated import gaussian_hinge as generated
    from mftheory.kappa_tables import no_table

    steps, args = 40, (0.5, 1.0, 20.0, 1.0, 0.0, 1.0, 1.0, 0.5)
    filled = []
    for discrete_map in (template.discrete_map.py_func, generated.discrete_map):
        arrays = [np.zeros(steps + 1) for _ in range(4)]
        count = discrete_map(steps, *args, *arrays, *no_table())
        filled.append((count, arrays))
    assert filled[0][0] == filled[1][0] == steps + 1
    for ours, theirs in zip(filled[0][1], filled[1][1]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=0)
    assert filled[0][1][2][-1] > 0   # kappa grew: the comparison is not between two zero arrays


def test_build_in_worker_processes_regenerates_only_stale_modules_with_the_committed_text(tmp_path):
    """``build`` derives the modules whose key changed in worker processes (here two, for two stale modules) and
    writes the same text as the committed ones; the others are kept; the records come in the modules' order."""
    import shutil

    from mftheory.derivations.build import build

    for name in builtin_modules():
        shutil.copy(GENERATED_DIR / f"{name}.py", tmp_path / f"{name}.py")
    stale = ["gaussian_logistic", "manyfeatures_hinge"]
    for name in stale:
        (tmp_path / f"{name}.py").write_text("# key: " + "0" * 64 + "\n")
    seen = []
    records = build(target=tmp_path, workers=2, progress=lambda r: seen.append(r.module))
    assert [r.module for r in records] == builtin_modules() and sorted(seen) == sorted(builtin_modules())
    assert {r.module for r in records if r.status == "generated"} == set(stale)
    for name in builtin_modules():
        assert (tmp_path / f"{name}.py").read_text() == (GENERATED_DIR / f"{name}.py").read_text(), name


@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_build_refuses_a_bad_worker_count(tmp_path, workers):
    from mftheory.derivations.build import build

    with pytest.raises(ValueError, match="workers must be a whole number >= 1"):
        build(target=tmp_path, workers=workers)


_BOUND_RUN = r"""
import json, sys
import numpy as np
from mftheory.finite_size.prediction import _average_rates
from mftheory.kernels.binding import bind
from mftheory.kernels.generated import gaussian_hinge as k

n = 4
args = (np.polynomial.legendre.leggauss(8) + (np.linspace(0, 3, 5)[None, :].repeat(n, 0),
        np.full((n, 5), 0.01), np.linspace(0.5, 2.0, n), np.full(n, 0.1), np.zeros(n), 1.0, np.arange(n)))
bound, direct = np.zeros((2, n)), np.zeros((2, n))
function = bind(_average_rates, k.margin_below)
function(*args, bound[0], bound[1])
_average_rates(k.margin_below, *args, direct[0], direct[1])
hits = sum(function.stats.cache_hits.values())
print("RESULT" + json.dumps(dict(same=bool(np.array_equal(bound, direct)), positive=bool((bound > 0).all()), hits=hits)))
"""


def test_a_bound_kernel_loop_is_compiled_once_and_loaded_by_later_processes(tmp_path):
    """bind() gives the template's numbers bit for bit; the second process loads the machine code numba cached
    for the first (no compilation), from the folder MFTHEORY_CACHE names."""
    from fresh_processes import results_in_new_processes

    results = results_in_new_processes(_BOUND_RUN, tmp_path)
    assert all(r["same"] and r["positive"] for r in results)
    assert results[0]["hits"] == 0 and results[1]["hits"] == 1
    assert list((tmp_path / "kernels").glob("mftheory_bound_average_rates_*.py"))


def test_bind_names_a_wrong_number_of_kernels():
    from mftheory.finite_size.prediction import _average_rates
    from mftheory.kernels.binding import bind
    from mftheory.kernels.generated import gaussian_hinge as k

    with pytest.raises(TypeError, match="_average_rates takes 1 kernels, got 2"):
        bind(_average_rates, k.margin_below, k.margin_below)
