"""The mean-field loop of the features law (the node law's 3 x 3 covariance carried step by step) and the unsatisfied
fractions.

Hand-written part of every features kernel module (``derivations/features_codegen.py``, one per loss): the
generator copies the text below the marker line verbatim after the printed kernels. Above it, the imports make this
a module that linters and tests can load; they are not copied.
"""
import math

import numpy as np

from mftheory.kernels._jit import jit

# the generated kernels and constants these loops use: the generated module defines them
from mftheory.kernels.generated.features_hinge import (
    _GL_NODES,
    _GL_WEIGHTS,
    both_mass_integrand,
    drift_at,
    output_moments,
    single_unsat,
)

# ---- generated module body: everything below this line is copied into the module ----
# the margin's slopes are floored here: at kappa_k = 0 (the init) the closed forms take their limits
_FLOOR = 1e-150


@jit
def both_unsat(a, b, h):
    """P(a|g_1| + b|g_2| < h) by Gauss-Legendre quadrature over g_1 in [0, min(h/a, 40)]."""
    top = min(h / a, 40.0)
    total = 0.0
    for j in range(_GL_NODES.size):
        g = 0.5 * top * (_GL_NODES[j] + 1.0)
        total += _GL_WEIGHTS[j] * both_mass_integrand(g, a, b, h)
    return 0.5 * top * total


@jit
def unsat_fractions(kappa_1, kappa_2, mu_1, mu_2, p_1, p_2, h):
    """(f_10, f_01, f_11, f_U): unsatisfied fraction of the examples with feature 1 alone, 2 alone, both, all."""
    a = max(kappa_1 * mu_1, _FLOOR)
    b = max(kappa_2 * mu_2, _FLOOR)
    f10 = single_unsat(a, h)
    f01 = single_unsat(b, h)
    f11 = both_unsat(a, b, h)
    z = 1.0 - (1.0 - p_1) * (1.0 - p_2)
    total = (p_1 * (1.0 - p_2) * f10 + (1.0 - p_1) * p_2 * f01 + p_1 * p_2 * f11) / z
    return f10, f01, f11, total


@jit
def meanfield_loop(steps, beta, alpha, d, c, sigma_a, sigma_w, mu_1, mu_2, p_1, p_2, h, penalty, kappa, drifts, unsat,
                   maps):
    """Iterate the node law's covariance of (a, w_1, w_2) through ``steps`` GD steps; fill kappa (steps+1, 2),
    drifts (steps+1, 2), unsat (steps+1, 4) and the one-step maps (steps, 3, 3) of a node. ``penalty``: lambda of
    spectral decoupling (0: none)."""
    m11, m12, m22 = output_moments(mu_1, mu_2, p_1, p_2)
    C = np.zeros((3, 3))
    C[0, 0] = sigma_a * sigma_a
    C[1, 1] = sigma_w * sigma_w
    C[2, 2] = sigma_w * sigma_w
    root_d = math.sqrt(d)
    for t in range(steps + 1):
        k1 = alpha * c * C[0, 1] / root_d
        k2 = alpha * c * C[0, 2] / root_d
        kappa[t, 0] = k1
        kappa[t, 1] = k2
        G1, G2 = drift_at(k1, k2, mu_1, mu_2, p_1, p_2, h)
        G1 -= penalty * (m11 * k1 + m12 * k2)
        G2 -= penalty * (m12 * k1 + m22 * k2)
        drifts[t, 0] = G1
        drifts[t, 1] = G2
        f10, f01, f11, total = unsat_fractions(k1, k2, mu_1, mu_2, p_1, p_2, h)
        unsat[t, 0] = f10
        unsat[t, 1] = f01
        unsat[t, 2] = f11
        unsat[t, 3] = total
        if t == steps:
            break
        A = np.eye(3)
        A[0, 1] = A[1, 0] = beta * c * G1 / root_d
        A[0, 2] = A[2, 0] = beta * c * G2 / root_d
        maps[t] = A
        C = A @ C @ A.T
