"""The tilt's feedback coefficient -E[u'(y F)] for the hinge: the density of the margins at the threshold.

Hand-written part of the features kernel module of the hinge: the generator copies the text below the marker line
verbatim after the printed kernels. Above it, the imports make this a module that linters and tests can load; they
are not copied.
"""
from mftheory.kernels._jit import jit

# the closed-form density and the floor of the margin's slopes: the generated module defines them
from mftheory.kernels.generated.features_hinge import _FLOOR, margin_density


# ---- generated module body: everything below this line is copied into the module ----
@jit
def margin_response(kappa_1, kappa_2, mu_1, mu_2, p_1, p_2, h):
    """-E[u'(y F)] over the law at F = kappa_1 x_1 + kappa_2 x_2, what a tilt's pull-back takes per unit tilt:
    for the hinge (u' = -delta(z - h)) the density of the margins at h."""
    return margin_density(max(kappa_1 * mu_1, _FLOOR), max(kappa_2 * mu_2, _FLOOR), h, p_1, p_2)
