"""The extensive-width quadratic network: Z = W W^T learned from n = alpha d^2 matrix measurements.

Pipeline, as for the hinge network: ``derivations/quadratic.py`` (SymPy) -> the generated kernels
``mftheory/kernels/generated/quadratic.py`` -> these predictions -> ``mftheory.validate.quadratic`` (the simulator and the
validation cases).

Conventions (the authors' code of Martin, Biroli & Bach):

====================  =====================================================================================================
teacher               ``Z* = W* W*^T, W* in R^{d x m*}, entries N(0, 1/m*); kappa* = m*/d``
student               ``Z = W W^T, W in R^{d x m}, init entries N(0, gamma/m); kappa = m/d``
data ``"goe"``        ``X_k = H + H^T, H entries N(0, 1/(2d)) (off-diagonal variance 1/d, diagonal 2/d)``
data ``"gaussian"``   ``X_k = (x x^T - I)/sqrt(d), x ~ N(0, I_d) (a quadratic-activation network on Gaussian inputs)``
labels                ``y_k = Tr(X_k Z*) + sqrt(Delta) xi_k, xi_k ~ N(0, 1); n = int(alpha d^2) examples``
loss                  ``L = (1/(4n)) sum_k (Tr(X_k Z) - y_k)^2 + (lambda/d) ||W||_F^2``
training              ``full-batch gradient descent on d L with step eta; time t = eta * steps``
test error            ``MSE = ||Z - Z*||_F^2 / d (1 + 1/kappa* at Z = 0)``
in-sample error       ``(1/(2n)) sum_k (Tr(X_k Z) - y_k)^2 (its population value is MSE + Delta/2)``
====================  =====================================================================================================
"""
from mftheory.quadratic.dynamics import GradientFlowPrediction, gradient_flow
from mftheory.quadratic.long_time import LongTimePrediction, long_time
from mftheory.quadratic.setup import QUADRATIC_DATA_LAWS, QuadraticSetup
from mftheory.quadratic.thresholds import Thresholds, thresholds

__all__ = ["QuadraticSetup", "QUADRATIC_DATA_LAWS", "long_time", "LongTimePrediction", "thresholds", "Thresholds",
           "gradient_flow", "GradientFlowPrediction"]
