"""mftheory: mean-field theory of shallow-network training with margin losses, derived with SymPy.

What a user calls, in pipeline order:

* the model: :class:`Setup`, :func:`fig1_setup` (conventions in :mod:`mftheory.model`);
* the derivation: :func:`derive` (SymPy, step by step) and :func:`compile_derivation` (its generated kernels,
  as a :class:`Variant`); :func:`variant_of` gives the variant a setup names;
* the predictions: :func:`meanfield`, :func:`label_noise_fixed_point`, :func:`label_noise_expansion`,
  :func:`finite_width`, :func:`finite_sample`;
* the independent numerics: :func:`simulate` (finite-M/N gradient descent) and :func:`sweep` (parameter sweeps
  on Dask), loaded on first use.
"""
from mftheory import numba_cache_lock as _numba_cache_lock
from mftheory import numba_cache_parfors as _numba_cache_parfors

# before anything compiles or loads: see the modules for numba's cache race and its cached parallel loops
_numba_cache_lock.install()
_numba_cache_parfors.install()

from mftheory.dynamics import (LabelNoiseExpansion, LabelNoiseFixedPoint, MeanFieldSolution, label_noise_expansion,
                               label_noise_fixed_point, meanfield)
from mftheory import finite_size
from mftheory.finite_size import (BandPrediction, Degree2Propagator, FiniteSamplePrediction, FiniteSizePrediction,
                                  FiniteWidthPrediction, RestFeedback, TiltPrediction, degree2_propagator,
                                  finite_sample, finite_width, rest_feedback, tilt, within_run_band)
from mftheory.model import ACTIVATIONS, DATA_LAWS, LOSSES, Setup, fig1_setup
from mftheory.feedback_spectrum import FeedbackSpectrum, feedback_spectrum
from mftheory.node_law import NodeLaw, node_law
from mftheory.variant import Variant, compile_derivation, variant_of

__all__ = ["Setup", "fig1_setup", "DATA_LAWS", "LOSSES", "ACTIVATIONS",
           "derive", "compile_derivation", "variant_of", "Variant",
           "meanfield", "MeanFieldSolution", "label_noise_fixed_point", "LabelNoiseFixedPoint",
           "label_noise_expansion", "LabelNoiseExpansion",
           "finite_size", "FiniteSizePrediction",
           "finite_width", "FiniteWidthPrediction", "finite_sample", "FiniteSamplePrediction", "tilt", "TiltPrediction",
           "rest_feedback", "RestFeedback", "degree2_propagator", "Degree2Propagator", "within_run_band",
           "BandPrediction", "node_law", "NodeLaw", "feedback_spectrum", "FeedbackSpectrum",
           "simulate", "sweep"]

# SymPy and the simulator (numba, matplotlib, Dask) load only when first used
_LAZY = {"derive": ("mftheory.derivations.meanfield", "derive"), "simulate": ("mftheory.validate.simulator", "simulate"),
         "sweep": ("mftheory.validate.sweeping", "sweep")}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mftheory' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
