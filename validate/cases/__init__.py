"""Named validation cases: each runs simulations and compares them with mftheory's predictions; its figure is
drawn apart.

Every case ``CASES[name](scale, seed)`` returns a :class:`CaseResult` (its checks and the data its figure shows);
``draw_case(name, result)`` draws the figure (a matplotlib Figure, nothing written), ``run_case`` does both and
saves the PNG. Tolerances are 3 standard deviations of the leading finite-size
errors, built from :mod:`mftheory.validate.checks` (each case's docstring says which); a quantity that the mean-field
theory does not predict yet is reported as informational.

One module per concern: :mod:`.common` (scales, shared measurements), :mod:`.meanfield`, :mod:`.label_noise`
(with overfitting), :mod:`.finite_size`; the features' and the quadratic network's cases live with their models
(:mod:`mftheory.validate.features`, :mod:`mftheory.validate.quadratic.cases`).
"""
import pathlib

from mftheory.validate.cases import degree2_spread as _degree2_spread
from mftheory.validate.cases import finite_size as _finite_size
from mftheory.validate.cases import label_noise as _label_noise
from mftheory.validate.cases import meanfield as _meanfield
from mftheory.validate.cases.degree2_spread import degree2_spread
from mftheory.validate.cases.common import PAPER, QUICK, CaseResult, Scale, measured_gamma_plus
from mftheory.validate.cases.finite_size import (finite_sample, finite_sample_scaling, finite_size, finite_width,
                                                 finite_width_scaling, finite_width_user_activation, mislabel_onset,
                                                 propagator, tilt)
from mftheory.validate.cases.label_noise import (LABEL_NOISE_RESOLUTION, LABEL_NOISE_SMALL_RESOLUTION,
                                                 OVERFITTING_RESOLUTION, label_noise, label_noise_small, overfitting)
from mftheory.validate.cases.meanfield import (GAMMA_RESOLUTION, UNSAT_RESOLUTION, data_laws, fig1, losses,
                                               meanfield_checks, rich_lazy, user_variant, user_variant_setup)
from mftheory.validate.features import (draw_features_error_curves, draw_features_spectral_decoupling,
                                        draw_features_starvation, features_error_curves,
                                        features_spectral_decoupling, features_starvation)
from mftheory.validate.figures import save_figure
from mftheory.validate.many_features import draw_features_many, features_many
from mftheory.validate.quadratic.cases import QUADRATIC_CASES, QUADRATIC_DRAWERS

__all__ = ["CASES", "DRAWERS", "run_case", "draw_case", "CaseResult", "CORE_CASES", "FINITE_SIZE_CASES", "QUADRATIC_CASE_NAMES", "Scale", "QUICK", "PAPER",
           "measured_gamma_plus", "meanfield_checks", "user_variant_setup", "GAMMA_RESOLUTION", "UNSAT_RESOLUTION",
           "LABEL_NOISE_RESOLUTION", "OVERFITTING_RESOLUTION", "LABEL_NOISE_SMALL_RESOLUTION",
           "fig1", "rich_lazy", "overfitting", "data_laws", "label_noise", "label_noise_small", "losses",
           "user_variant", "finite_width", "finite_width_scaling", "finite_width_user_activation", "finite_sample", "finite_sample_scaling",
           "mislabel_onset", "tilt", "propagator", "finite_size", "degree2_spread", "features_starvation", "features_spectral_decoupling",
           "features_error_curves", "features_many"]

CASES = {"fig1": fig1, "rich_lazy": rich_lazy, "overfitting": overfitting, "data_laws": data_laws,
         "label_noise": label_noise, "label_noise_small": label_noise_small, "losses": losses,
         "user_variant": user_variant, "finite_width": finite_width, "finite_width_scaling": finite_width_scaling,
         "finite_width_user_activation": finite_width_user_activation,
         "finite_sample": finite_sample,
         "finite_sample_scaling": finite_sample_scaling, "mislabel_onset": mislabel_onset, "tilt": tilt,
         "propagator": propagator, "finite_size": finite_size, "degree2_spread": degree2_spread}
CASES.update(QUADRATIC_CASES)
CASES["features_starvation"] = features_starvation
CASES["features_spectral_decoupling"] = features_spectral_decoupling
CASES["features_error_curves"] = features_error_curves
CASES["features_many"] = features_many
# each case's figure, from the data it returned
DRAWERS = {name: getattr(module, f"draw_{name}") for module in (_meanfield, _label_noise, _finite_size, _degree2_spread)
           for name in CASES if hasattr(module, f"draw_{name}")}
DRAWERS.update(QUADRATIC_DRAWERS)
DRAWERS["features_starvation"] = draw_features_starvation
DRAWERS["features_spectral_decoupling"] = draw_features_spectral_decoupling
DRAWERS["features_error_curves"] = draw_features_error_curves
DRAWERS["features_many"] = draw_features_many
# the finite-size cases test approximations known to be incomplete (issue 4); they run in their own suite
CORE_CASES = ("fig1", "rich_lazy", "overfitting", "data_laws", "label_noise", "label_noise_small", "losses",
              "user_variant", "features_starvation", "features_spectral_decoupling", "features_error_curves",
              "features_many")
FINITE_SIZE_CASES = ("finite_width", "finite_width_scaling", "finite_width_user_activation", "finite_sample", "finite_sample_scaling", "mislabel_onset", "tilt",
                     "propagator", "finite_size", "degree2_spread")
# the second model family, the extensive-width quadratic network (mftheory.validate.quadratic)
QUADRATIC_CASE_NAMES = tuple(QUADRATIC_CASES)


def draw_case(name: str, result: CaseResult):
    """The figure of case ``name`` from its result (a matplotlib Figure; nothing is written)."""
    return DRAWERS[name](result.data)


def run_case(name: str, scale, out: pathlib.Path, seed: int = 0):
    """Run case ``name`` at ``scale``, draw its figure and save it as ``out/<name>.png``; returns (checks, path)."""
    if name not in CASES:
        raise ValueError(f"case must be one of {sorted(CASES)}, got {name!r}")
    result = CASES[name](scale, seed)
    return result.checks, save_figure(draw_case(name, result), pathlib.Path(out) / f"{name}.png")
