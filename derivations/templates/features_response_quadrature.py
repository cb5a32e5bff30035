"""The tilt's feedback coefficient -E[u'(y F)] by tensor Gauss-Legendre quadrature over the half-normal strengths.

Hand-written part of the features kernel module of a loss without a closed form (logistic): the generator copies
the text below the marker line verbatim after the printed kernels. Above it, the imports make this a module that
linters and tests can load; they are not copied.
"""
from mftheory.kernels._jit import jit

# the loss weight's slope u'(z) and the half-normal nodes: the generated module defines them
from mftheory.kernels.generated.features_logistic import _HN_NODES, _HN_WEIGHTS, weight_slope


# ---- generated module body: everything below this line is copied into the module ----
@jit
def margin_response(kappa_1, kappa_2, mu_1, mu_2, p_1, p_2, h):
    """-E[u'(y F)] over the law at F = kappa_1 x_1 + kappa_2 x_2, what a tilt's pull-back takes per unit tilt, by
    tensor Gauss-Legendre quadrature over the half-normal |g_1|, |g_2| (as drift_at)."""
    a = kappa_1 * mu_1
    b = kappa_2 * mu_2
    one_1 = 0.0
    one_2 = 0.0
    both = 0.0
    n = _HN_NODES.size
    for i in range(n):
        gi = _HN_NODES[i]
        wi = _HN_WEIGHTS[i]
        one_1 += wi * weight_slope(a * gi, h)
        one_2 += wi * weight_slope(b * gi, h)
        for j in range(n):
            both += wi * _HN_WEIGHTS[j] * weight_slope(a * gi + b * _HN_NODES[j], h)
    z = 1.0 - (1.0 - p_1) * (1.0 - p_2)
    return -(p_1 * (1.0 - p_2) * one_1 + (1.0 - p_1) * p_2 * one_2 + p_1 * p_2 * both) / z
