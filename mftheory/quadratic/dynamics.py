"""Gradient flow of the quadratic network over time, in the population limit (alpha -> infinity).

With infinitely many examples d L is ||Z - Z*||_F^2 / 2 + lambda Tr Z up to a constant (both data laws), and the
flow of W, dW/dt = -2 (Z - Z* + lambda) W, is solved exactly: Z(t) = E W0 (I + W0^T K(t) W0)^{-1} W0^T E with
E = exp(2 (Z* - lambda) t) and K(t) = 4 int_0^t E(u)^2 du (derivations/quadratic.py, step 8). For d -> infinity
its traces follow from one scalar fixed point per time, averaged over the teacher's spectrum. The prediction holds
at every width kappa (also kappa < kappa*, where the network cannot represent the teacher) and every init scale
gamma; at finite alpha the flow is this one plus the finite sample's noise, which the long-time theory
(:func:`mftheory.quadratic.long_time`) carries at t -> infinity and this prediction does not.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from mftheory.kernels.generated import quadratic as K
from mftheory.quadratic.setup import QuadraticSetup


@dataclasses.dataclass(frozen=True)
class GradientFlowPrediction:
    """Arrays over the times ``t`` (t = eta * steps) of the population gradient flow (alpha, d -> infinity):
    ``mse`` ||Z - Z*||_F^2 / d, ``in_sample_error`` its training counterpart MSE + Delta/2, ``train_loss`` L
    (data term plus penalty) and ``trace`` Tr Z / d."""

    setup: QuadraticSetup
    t: np.ndarray
    mse: np.ndarray
    in_sample_error: np.ndarray
    train_loss: np.ndarray
    trace: np.ndarray


def gradient_flow(setup: QuadraticSetup, times) -> GradientFlowPrediction:
    """The test error, training loss and Tr Z / d of gradient flow at ``times`` (>= 0) from the init of ``setup``
    (entries N(0, gamma/m)), with infinitely many examples; about 20 microseconds per time once compiled."""
    if not isinstance(setup, QuadraticSetup):
        raise TypeError(f"setup must be a QuadraticSetup, got {type(setup).__name__}")
    try:
        t = np.atleast_1d(np.asarray(times, dtype=float))
    except (TypeError, ValueError) as err:
        raise ValueError(f"times must be real numbers >= 0 (t = eta * steps), got {times!r}") from err
    if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t < 0):
        raise ValueError(f"times must be a 1-d array of finite numbers >= 0 (t = eta * steps), got {times!r}")
    xs, ws = K.teacher_nodes(setup.kappa_star)
    out = np.array([K.flow_traces(float(ti), setup.lam, setup.gamma, setup.kappa, setup.kappa_star, xs, ws)[:2]
                    for ti in t]).reshape(t.size, 2)
    mse, trace = out[:, 0], out[:, 1]
    loss = np.array([K.flow_train_loss(m, setup.Delta, setup.lam, z) for m, z in zip(mse, trace)])
    return GradientFlowPrediction(setup=setup, t=t, mse=mse, in_sample_error=mse + setup.Delta / 2,
                                  train_loss=loss, trace=trace)
