"""Predictions: the discrete map and flow, their limits, bad input, user variants."""
import math
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import mftheory
from mftheory.derivations import symbols as S
from mftheory.derivations.catalog import Activation, Loss
from mftheory.derivations.meanfield import derive
from mftheory import kernels
from mftheory.variant import compile_derivation, variant_of
from mftheory.dynamics import label_noise_fixed_point, meanfield


@pytest.fixture(scope="module")
def fig1():
    return meanfield(mftheory.fig1_setup(), 2000)


def test_fig1_gamma_is_linear_early_and_log_over_four_late(fig1):
    setup = fig1.setup
    g0 = 0.5 * math.sqrt(2 / math.pi) / math.sqrt(setup.d)  # every example unsatisfied at t = 0
    assert fig1.gamma[1:6] / np.arange(1, 6) == pytest.approx(setup.beta * g0, rel=1e-6)
    slope = np.diff(fig1.gamma[[500, 1000, 2000]]) / np.log(2)
    assert slope == pytest.approx(0.25, abs=0.01)
    assert np.all(np.diff(slope) < 0)  # approaching 1/4 from above


def test_discrete_map_is_the_product_formula(fig1):
    g = fig1.g
    beta = fig1.setup.beta
    assert fig1.gamma_plus[1:] == pytest.approx(np.cumsum(np.log1p(beta * g[:-1])), rel=1e-12)
    assert fig1.gamma_minus[1:] == pytest.approx(-np.cumsum(np.log1p(-beta * g[:-1])), rel=1e-12)


def test_node_prediction_follows_the_reduced_gd_step(fig1):
    a0, w0 = np.array([0.3, -1.2]), np.array([0.7, 0.1])
    a, w = fig1.node(a0, w0)
    bg = fig1.setup.beta * fig1.g[:-1, None]
    assert a[1:] == pytest.approx(a[:-1] + bg * w[:-1], rel=1e-10)
    assert w[1:] == pytest.approx(w[:-1] + bg * a[:-1], rel=1e-10)
    af, wf = fig1.node_flow(a0, w0)
    assert af[10] == pytest.approx(a0 * np.cosh(fig1.gamma[10]) + w0 * np.sinh(fig1.gamma[10]))


def test_x_star_and_f_unsat(fig1):
    assert math.isinf(fig1.x_star[0]) and fig1.f_unsat[0] == 1.0
    assert fig1.x_star[1:] == pytest.approx(fig1.setup.h / fig1.kappa[1:])
    assert fig1.f_unsat[-1] == pytest.approx(math.erf(fig1.x_star[-1] / math.sqrt(2)), rel=1e-12)


def test_rich_and_lazy_indicators():
    rich = meanfield(mftheory.Setup(d=100, alpha=0.1, h=1.0, eta=100.0, M=100), 3000)
    lazy = meanfield(mftheory.Setup(d=100, alpha=1000.0, h=1.0, eta=1.0, M=100), 3000)
    assert rich.alignment[-1] > 0.8 and rich.relative_change[-1] > 1
    assert lazy.alignment[-1] < 0.02 and lazy.relative_change[-1] < 0.1  # alignment at init: 1/d = 0.01


def test_numerically_safe_limits():
    tiny_h = meanfield(mftheory.Setup(d=100, alpha=1, h=1e-12, eta=1e3, M=400), 200)
    assert np.all(np.isfinite(tiny_h.gamma_plus)) and np.all(np.isfinite(tiny_h.f_unsat))
    near_half = mftheory.fig1_setup(label_noise=0.5 - 1e-9)
    fp = label_noise_fixed_point(near_half)
    assert math.isfinite(fp.x_star) and fp.kappa > 0
    sol = meanfield(near_half, 500)
    assert np.all(np.isfinite(sol.gamma)) and sol.kappa[-1] <= fp.kappa * (1 + 1e-9)


def test_label_noise_stalls_at_the_fixed_point():
    setup = mftheory.fig1_setup(label_noise=0.1)
    fp = label_noise_fixed_point(setup)
    assert fp.x_star ** 2 == pytest.approx(2 * math.log(0.9 / 0.8), rel=1e-12)
    sol = meanfield(setup, 20000)
    assert sol.kappa[-1] == pytest.approx(fp.kappa, rel=1e-3)
    sphere = mftheory.fig1_setup(label_noise=0.1, data="sphere")
    closed = label_noise_fixed_point(sphere)
    k = kernels.load("sphere", "hinge")
    assert k.drift(closed.kappa, 100.0, 1.0, 0.1) == pytest.approx(0, abs=1e-13)


@pytest.mark.parametrize("loss", ["quadratic_hinge", "logistic"])
@pytest.mark.parametrize("data", ["gaussian", "sphere"])
def test_other_losses_and_laws_run(loss, data):
    sol = meanfield(mftheory.fig1_setup(loss=loss, data=data), 300)
    assert np.all(np.diff(sol.gamma) > 0) and np.all(np.isfinite(sol.kappa))


def test_learning_rate_too_large_is_a_clear_error():
    with pytest.raises(ValueError, match="eta must be smaller"):
        meanfield(mftheory.Setup(d=1, alpha=1, h=1, eta=1e4, M=1), 10)


@pytest.mark.parametrize("field,value,match", [
    ("d", 0, "d must be an integer >= 1"), ("alpha", -1.0, r"alpha must lie in \(0"),
    ("label_noise", 0.5, r"label_noise must lie in \[0, 0.5\)"), ("loss", "square", "loss must be one of"),
    ("M", 2.5, "M must be an integer"), ("h", float("nan"), "h must be a finite real number"),
])
def test_setup_validation_names_the_parameter(field, value, match):
    with pytest.raises(ValueError, match=match):
        mftheory.fig1_setup(**{field: value})


def test_user_variant_compiles_and_matches_the_builtin(tmp_path):
    """Leaky ReLU written by the user with slope 1/4 and the built-in hinge, through the whole pipeline."""
    act = Activation("quarter_leak", sp.Piecewise((S.z, S.z >= 0), (S.z / 4, True)))
    loss = Loss("my_hinge", sp.Max(0, S.h - S.z))
    D = derive(act, loss, "gaussian")
    variant = compile_derivation(D, cache_dir=tmp_path)
    builtin = meanfield(mftheory.fig1_setup(activation="leaky_relu", leak=0.25), 200)
    assert variant.odd_slope(0.0) == variant_of(builtin.setup).odd_slope(0.25) == float(D.odd_slope)
    custom = meanfield(mftheory.fig1_setup(activation=act, loss=loss), 200, variant=variant)
    assert custom.gamma_plus == pytest.approx(builtin.gamma_plus, rel=1e-13)
    assert (tmp_path / "kernels").exists()


def test_cli_help_and_predict():
    for verb in ("derive", "latex", "predict", "run"):
        out = subprocess.run([sys.executable, "-m", "mftheory", verb, "--help"], capture_output=True, text=True)
        assert out.returncode == 0 and "usage" in out.stdout
    out = subprocess.run([sys.executable, "-m", "mftheory", "predict", "--steps", "100", "--every", "50"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "gamma+" in out.stdout and "    100 " in out.stdout
    bad = subprocess.run([sys.executable, "-m", "mftheory", "predict", "--alpha", "-1"], capture_output=True, text=True)
    assert bad.returncode == 2 and "alpha must lie in" in bad.stderr


def test_a_slow_command_says_why_and_a_quick_one_says_nothing(capsys):
    """The command's long first calls (numba compiling) print a note to stderr once they pass a few seconds."""
    import time

    from mftheory.cli import _SlowNote

    with _SlowNote("still compiling", after=0.05):
        time.sleep(0.5)
    with _SlowNote("never shown", after=5.0):
        pass
    time.sleep(0.1)
    captured = capsys.readouterr()
    assert captured.err == "still compiling\n" and captured.out == ""


def test_a_foreign_top_level_validate_cannot_shadow_ours(tmp_path):
    """configobj installs a top-level ``validate``: ours is ``mftheory.validate``, so the two live side by side,
    and from a source checkout ``import validate`` / ``python -m validate`` still find this project's folder."""
    import os
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "validate.py").write_text("FOREIGN = True\n")
    env = {**os.environ, "PYTHONPATH": str(foreign)}
    code = ("import validate, mftheory.validate.suite, mftheory.derivations.meanfield, mftheory.cli; "
            "assert validate.FOREIGN; print(mftheory.validate.__file__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert pathlib.Path(out.stdout.strip()) == root / "validate" / "__init__.py"
    ours = subprocess.run([sys.executable, "-c", "import validate; print(validate.__file__)"], cwd=root, env=env,
                          capture_output=True, text=True)
    assert pathlib.Path(ours.stdout.strip()) == root / "validate" / "__init__.py"
    cli = subprocess.run([sys.executable, "-m", "validate", "--help"], cwd=root, env=env, capture_output=True, text=True)
    assert cli.returncode == 0 and "{run,sweep}" in cli.stdout


def test_derive_never_writes_into_an_installed_package(tmp_path, monkeypatch, capsys):
    """Outside a source checkout `mftheory derive` refuses to regenerate in place and asks for --out."""
    from mftheory.derivations import build
    from mftheory import cli

    installed = tmp_path / "site-packages" / "mftheory" / "kernels" / "generated"
    installed.mkdir(parents=True)
    monkeypatch.setattr(build, "GENERATED_DIR", installed)
    assert cli.main(["derive"]) == 2
    assert "not in a source checkout; pass --out DIR" in capsys.readouterr().err
    assert not any(installed.iterdir())
    (tmp_path / "file").write_text("")
    assert cli.main(["derive", "--out", str(tmp_path / "file")]) == 2
