"""Finite-size corrections to the mean-field predictions, and :func:`predict`, which puts them together.

Each module takes one part (its formulas are derived in ``derivations/`` and generated into the kernels):

    frozen_width        finite width M with the init law frozen: :func:`finite_width` (derivations/finite_width.py)
    tilt_system         the tilt's linear system with the loss's feedback (derivations/fluctuations.py)
    teacher_tilt        the tilt of the effective teacher: :func:`tilt`
    feedback            the loss's feedback on F's degree-2 part and the bend: :func:`rest_feedback`
    propagator          a degree-2 fluctuation's propagator: :func:`degree2_propagator`
    memorization        finite sample N, the memorization map: :func:`finite_sample` (derivations/finite_sample.py)
    memorization_steps  the map's steps, compiled as one recursion
    band                the within-run band of Fig. 1d: :func:`within_run_band`
    prediction          test and train error, f_unsat, band and tilt over GD steps: :func:`predict`
    _common             the classes of training examples, the node law along a solution, the input checks
"""
from mftheory.finite_size.band import BandPrediction, within_run_band
from mftheory.finite_size.feedback import RestFeedback, rest_feedback
from mftheory.finite_size.frozen_width import FiniteWidthPrediction, finite_width
from mftheory.finite_size.memorization import FiniteSamplePrediction, finite_sample
from mftheory.finite_size.prediction import HELD_MARGINS, NODE_LAWS, OTHERS_PULLS, FiniteSizePrediction, predict
from mftheory.finite_size.propagator import Degree2Propagator, degree2_propagator
from mftheory.finite_size.teacher_tilt import TiltPrediction, tilt
from mftheory.finite_size._common import MARGIN_DENSITIES, SAMPLES

__all__ = ["predict", "FiniteSizePrediction", "finite_width", "FiniteWidthPrediction", "finite_sample",
           "FiniteSamplePrediction", "tilt", "TiltPrediction", "rest_feedback", "RestFeedback", "within_run_band",
           "BandPrediction", "degree2_propagator", "Degree2Propagator", "SAMPLES", "MARGIN_DENSITIES", "NODE_LAWS",
           "HELD_MARGINS", "OTHERS_PULLS"]
