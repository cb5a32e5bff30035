"""A user's own model carried end to end: derive -> kernels -> prediction -> simulate -> the suite's checks."""
import dataclasses

import numpy as np
import pytest
import sympy as sp

import mftheory
from mftheory.derivations import symbols as S
from mftheory.derivations.catalog import Activation
from mftheory.derivations.meanfield import derive
from mftheory.finite_size import finite_width
from mftheory.dynamics import label_noise_expansion, meanfield
from mftheory.variant import compile_derivation, variant_of
from mftheory.validate.cases import Scale, meanfield_checks, user_variant_setup
from mftheory.validate.extrapolation import sample_size_runs
from mftheory.validate.simulator import simulate

# small enough for the test suite; the same case runs at quick scale in `python -m mftheory.validate run`
SMALL = Scale("test", d=20, M=200, N=10_000, eta=500.0, steps=120)


@pytest.fixture(scope="module")
def user_setup():
    return user_variant_setup(SMALL)


@pytest.fixture(scope="module")
def user_run(user_setup):
    return sample_size_runs(user_setup, SMALL.N, SMALL.steps, seed=3, n_test=0)


def test_user_setup_keeps_its_own_model(user_setup):
    assert not user_setup.is_builtin
    assert user_setup.activation.name == "relu_plus_linear" and user_setup.loss.name == "cubic_hinge"
    assert user_setup.as_dict()["activation"] == "relu_plus_linear"
    # a user's object equal to a built-in is the built-in
    relu = Activation("relu", sp.Max(0, S.z))
    assert mftheory.fig1_setup(activation=relu).activation == "relu"


def test_user_variant_uses_its_own_odd_slope_and_weight(user_setup):
    """The odd slope is 1 (ReLU: 1/2) and u(z) = max(0, h - z)^2: the prediction differs from every built-in."""
    variant = variant_of(user_setup)
    assert variant.odd_slope(user_setup.leak) == 1.0
    assert sp.simplify(derive(user_setup.activation, user_setup.loss, "gaussian").weight.subs(S.z, S.h - 2)) == 4
    sol = meanfield(user_setup, 50)
    for loss in ("hinge", "quadratic_hinge"):
        builtin = meanfield(SMALL.setup(loss=loss), 50)
        assert np.max(np.abs(sol.kappa[1:] / builtin.kappa[1:] - 1)) > 0.3


def test_user_variant_passes_the_suites_checks_and_the_builtin_prediction_fails_them(user_setup, user_run):
    """The checks of the fig1 case (tolerances from the finite-size errors, see mftheory.validate.cases.meanfield_checks)
    pass for the user's model; the predictions of plain ReLU with the hinge (what the user's variant silently
    got before) fail them, so the checks can tell."""
    checks = meanfield_checks("user_variant", user_run, meanfield(user_setup, SMALL.steps))
    assert len(checks) == 7 and all(c.passed for c in checks), [c for c in checks if not c.passed]
    wrong = meanfield_checks("user_variant", user_run, meanfield(SMALL.setup(), SMALL.steps))
    assert sum(not c.passed for c in wrong) >= 5


def test_compiled_derivation_travels_with_its_model(user_setup, tmp_path):
    D = derive(Activation("relu_plus_linear", sp.Max(S.z, 0) + S.z / 2), "hinge", "gaussian")
    variant = compile_derivation(D, cache_dir=tmp_path)
    assert any(tmp_path.glob("kernels/mftheory_variant_*.py"))
    with pytest.raises(ValueError, match="derived for activation 'relu_plus_linear' but setup.activation is 'relu'"):
        meanfield(mftheory.fig1_setup(), 10, variant=variant)
    setup = mftheory.fig1_setup(activation=D.activation)
    assert meanfield(setup, 30, variant=variant).kappa == pytest.approx(meanfield(setup, 30).kappa, rel=1e-14)
    with pytest.raises(ValueError, match="variant must be a mftheory.Variant"):
        meanfield(setup, 10, variant=variant.kernels)


def test_a_compiled_derivation_writes_its_kernels_to_every_folder_it_is_asked_for(tmp_path):
    """A model that names a cache folder finds its kernels there in later processes, also when this process
    imported them already from another folder (before, the second folder stayed empty, so whether a test saw the
    files depended on which tests its worker had run first)."""
    D = derive(Activation("relu_plus_linear", sp.Max(S.z, 0) + S.z / 2), "hinge", "gaussian")
    first, second = (compile_derivation(D, cache_dir=tmp_path / folder) for folder in ("first", "second"))
    assert first.kernels is second.kernels
    for folder in ("first", "second"):
        assert any((tmp_path / folder).glob("kernels/mftheory_variant_*.py"))
        assert any((tmp_path / folder).glob("kernels/mftheory_activation_*.py"))


def test_label_noise_expansion_uses_the_users_activation():
    act = Activation("relu_plus_linear", sp.Max(S.z, 0) + S.z / 2)
    user = label_noise_expansion(mftheory.fig1_setup(activation=act, label_noise=0.01), 100)
    relu = label_noise_expansion(mftheory.fig1_setup(label_noise=0.01), 100)
    assert user.kappa_clean[50] > 1.5 * relu.kappa_clean[50]


@pytest.mark.slow
def test_finite_width_of_a_user_activation_is_derived_for_it(tmp_path, monkeypatch):
    """The finite-width kernels of a user's activation are generated for it (here leaky ReLU written by the
    user, which must reproduce the built-in leaky ReLU's band to rounding)."""
    monkeypatch.setattr(mftheory.kernels, "CACHE_DIR", tmp_path)
    act = Activation("user_leaky", sp.Piecewise((S.z, S.z >= 0), (S.leak * S.z, True)))
    user = finite_width(meanfield(mftheory.fig1_setup(activation=act, leak=0.2), 200))
    builtin = finite_width(meanfield(mftheory.fig1_setup(activation="leaky_relu", leak=0.2), 200))
    assert user.band_sd[1:] == pytest.approx(builtin.band_sd[1:], rel=1e-10)
    assert any(tmp_path.glob("kernels/mftheory_finite_width_*.py"))


def test_user_data_law_needs_explicit_inputs(user_setup):
    from mftheory.derivations.catalog import GAUSSIAN

    law = dataclasses.replace(GAUSSIAN, name="my_gaussian")
    setup = user_setup.replace(data=law)
    with pytest.raises(ValueError, match="give X"):
        simulate(setup, N=100, steps=1)
    with pytest.raises(ValueError, match="a user's own activation or loss is simulated on the CPU in float64"):
        simulate(user_setup, N=100, steps=1, dtype=np.float32)


def test_builtin_name_with_another_definition_is_refused():
    with pytest.raises(ValueError, match="name of a built-in with another definition"):
        mftheory.fig1_setup(activation=Activation("relu", sp.Max(S.z, 0) + S.z / 2))
    with pytest.raises(ValueError, match="activation must be one of"):
        mftheory.fig1_setup(activation=3)
