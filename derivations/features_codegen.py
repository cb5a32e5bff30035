"""Turn :class:`~mftheory.derivations.features.FeatureDerivation` into ``mftheory/kernels/generated/features_hinge.py``.

The drifts and the single-feature masses are printed by SymPy; the examples with both features below the margin
(a one-dimensional integral) by Gauss-Legendre quadrature; the mean-field loop (a 3 x 3 covariance of the node law
carried step by step) is the fixed template ``_TEMPLATE``.
"""
from __future__ import annotations

import hashlib
import pathlib

import numpy as np
import sympy as sp

from mftheory.derivations.code_text import file_code_text
from mftheory.derivations import features as F
from mftheory.derivations.quadratic_codegen import _kernel, _tuple_kernel

GENERATOR_VERSION = "1"
QUADRATURE_NODES = 64
SOURCES = ("features.py", "features_codegen.py", "quadratic_codegen.py", "codegen.py")
_NAMES = {F.a: "a", F.b: "b", F.h: "h", F.p_1: "p_1", F.p_2: "p_2", F.mu_1: "mu_1", F.mu_2: "mu_2", F.g: "g",
          F.both_mass: "f_11"}


FEATURE_LOSSES = ("hinge", "quadratic_hinge", "logistic")
# the half-normal integrals of the losses without a closed form: [0, HALF_NORMAL_CUTOFF] (the density there is
# below 1e-21 of its peak) in HALF_NORMAL_PANELS Gauss-Legendre panels
HALF_NORMAL_CUTOFF = 10.0
HALF_NORMAL_PANELS = 4


def features_module_key(loss: str = "hinge") -> str:
    digest = hashlib.sha256()
    here = pathlib.Path(__file__).parent
    for name in SOURCES:
        digest.update(file_code_text(here / name).encode())
    digest.update(f"{GENERATOR_VERSION}|{QUADRATURE_NODES}|{HALF_NORMAL_CUTOFF}|{HALF_NORMAL_PANELS}|{loss}".encode())
    return digest.hexdigest()


def _renamed(expr):
    return sp.sympify(expr).xreplace({sym: sp.Symbol(n) for sym, n in _NAMES.items()})


_CLOSED_DRIFT = '''
@jit
def drift_at(kappa_1, kappa_2, mu_1, mu_2, p_1, p_2, h):
    """(G_1, G_2) = E[u y x_k] at F = kappa_1 x_1 + kappa_2 x_2 (closed form)."""
    return drift(max(kappa_1 * mu_1, _FLOOR), max(kappa_2 * mu_2, _FLOOR), mu_1, mu_2, p_1, p_2, h)
'''

_CLOSED_DRIFT_WITH_MASS = '''
@jit
def drift_at(kappa_1, kappa_2, mu_1, mu_2, p_1, p_2, h):
    """(G_1, G_2) = E[u y x_k] at F = kappa_1 x_1 + kappa_2 x_2 (closed form but for the mass of the examples
    with both features below the margin, by quadrature)."""
    a = max(kappa_1 * mu_1, _FLOOR)
    b = max(kappa_2 * mu_2, _FLOOR)
    return drift(a, b, mu_1, mu_2, p_1, p_2, h, both_unsat(a, b, h))
'''

_QUADRATURE_DRIFT = '''
@jit
def drift_at(kappa_1, kappa_2, mu_1, mu_2, p_1, p_2, h):
    """(G_1, G_2) = E[u y x_k] at F = kappa_1 x_1 + kappa_2 x_2, by tensor Gauss-Legendre quadrature over the
    half-normal |g_1|, |g_2| (nodes _HN_NODES with the half-normal density in _HN_WEIGHTS)."""
    a = kappa_1 * mu_1
    b = kappa_2 * mu_2
    one_1 = 0.0
    one_2 = 0.0
    both_1 = 0.0
    both_2 = 0.0
    n = _HN_NODES.size
    for i in range(n):
        gi = _HN_NODES[i]
        wi = _HN_WEIGHTS[i]
        one_1 += wi * weight(a * gi, h) * gi
        one_2 += wi * weight(b * gi, h) * gi
        for j in range(n):
            u = wi * _HN_WEIGHTS[j] * weight(a * gi + b * _HN_NODES[j], h)
            both_1 += u * gi
            both_2 += u * _HN_NODES[j]
    z = 1.0 - (1.0 - p_1) * (1.0 - p_2)
    G1 = (p_1 * (1.0 - p_2) * mu_1 * one_1 + p_1 * p_2 * mu_1 * both_1) / z
    G2 = ((1.0 - p_1) * p_2 * mu_2 * one_2 + p_1 * p_2 * mu_2 * both_2) / z
    return G1, G2
'''

_TEMPLATE = '''
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
def meanfield_loop(steps, beta, alpha, d, c, sigma_a, sigma_w, mu_1, mu_2, p_1, p_2, h, kappa, drifts, unsat, maps):
    """Iterate the node law's covariance of (a, w_1, w_2) through ``steps`` GD steps; fill kappa (steps+1, 2),
    drifts (steps+1, 2), unsat (steps+1, 4) and the one-step maps (steps, 3, 3) of a node."""
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
'''


def features_module_source(derivation) -> str:
    D = derivation
    key = features_module_key(D.loss)
    nodes, weights = np.polynomial.legendre.leggauss(QUADRATURE_NODES)
    single_mass = sp.integrate(2 * sp.exp(-F.g**2 / 2) / sp.sqrt(2 * sp.pi), (F.g, 0, F.h / F.a))
    parts = [
        f"# Generated by derivations.features_codegen (generator {GENERATOR_VERSION}) -- do not edit; regenerate "
        f"with `mftheory derive`.\n# sympy: {sp.__version__}\n# key: {key}\n# variant: features data, {D.loss} loss",
        '"""Kernels of the hinge network on features of unequal frequency and strength (derivations/features.py).\n\n'
        'a = kappa_1 mu_1 and b = kappa_2 mu_2 are the margin\'s slopes along the two features."""',
        "import math\n\nimport numpy as np\n\nfrom mftheory.kernels._jit import jit",
        f"KEY = {key!r}\n_GL_NODES = np.array({[float(v) for v in nodes]!r})\n"
        f"_GL_WEIGHTS = np.array({[float(v) for v in weights]!r})",
        _kernel("single_unsat", ("a", "h"), _renamed(single_mass), "P(a|g| < h)"),
        _kernel("both_mass_integrand", ("g", "a", "b", "h"), _renamed(D.both_mass_integrand),
                "integrand over g_1 of P(a|g_1| + b|g_2| < h)"),
    ]
    from mftheory.derivations import symbols as S

    if D.drift is not None:
        with_mass = any(e.has(F.both_mass) for e in D.drift)
        parts.append(_tuple_kernel("drift", ("a", "b", "mu_1", "mu_2", "p_1", "p_2", "h") + ("f_11",) * with_mass,
                                   [_renamed(e) for e in D.drift],
                                   f"(G_1, G_2) = E[u y x_k] ({D.loss}) from the margin's slopes a, b"
                                   + " and the mass f_11 of the examples with both features below the margin" * with_mass))
        drift_code = _CLOSED_DRIFT_WITH_MASS if with_mass else _CLOSED_DRIFT
    else:
        parts.append(_kernel("weight", ("z", "h"), D.weight.xreplace({S.z: sp.Symbol("z"), F.h: sp.Symbol("h")}),
                             f"u(z) = -l'(z) of the {D.loss} loss"))
        width = HALF_NORMAL_CUTOFF / HALF_NORMAL_PANELS
        hn_nodes = np.concatenate([width * (k + 0.5 * (nodes + 1)) for k in range(HALF_NORMAL_PANELS)])
        hn_weights = np.concatenate([0.5 * width * weights for _ in range(HALF_NORMAL_PANELS)])
        hn_weights = hn_weights * 2 * np.exp(-hn_nodes**2 / 2) / np.sqrt(2 * np.pi)
        parts.append(f"_HN_NODES = np.array({[float(v) for v in hn_nodes]!r})\n"
                     f"_HN_WEIGHTS = np.array({[float(v) for v in hn_weights]!r})")
        drift_code = _QUADRATURE_DRIFT
    return "\n\n".join(parts) + "\n" + _TEMPLATE + drift_code
