"""The drift (G_1, G_2) by tensor Gauss-Legendre quadrature over the two half-normal feature strengths.

Hand-written part of the features kernel module of a loss without a closed-form drift (logistic): the generator
copies the text below the marker line verbatim after the printed kernels. Above it, the imports make this a module
that linters and tests can load; they are not copied.
"""
from mftheory.kernels._jit import jit

# the loss weight and the half-normal nodes: the generated module defines them
from mftheory.kernels.generated.features_logistic import _HN_NODES, _HN_WEIGHTS, weight


# ---- generated module body: everything below this line is copied into the module ----
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
