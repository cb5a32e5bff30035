"""The tilt's feedback coefficient -E[u'(y F)] for the quadratic hinge: the unsatisfied fraction.

Hand-written part of the features kernel module of the quadratic hinge: the generator copies the text below the
marker line verbatim after the printed kernels. Above it, the imports make this a module that linters and tests
can load; they are not copied.
"""
from mftheory.kernels._jit import jit

# the unsatisfied fractions per presence pattern: the generated module defines them
from mftheory.kernels.generated.features_quadratic_hinge import unsat_fractions


# ---- generated module body: everything below this line is copied into the module ----
@jit
def margin_response(kappa_1, kappa_2, mu_1, mu_2, p_1, p_2, h):
    """-E[u'(y F)] over the law at F = kappa_1 x_1 + kappa_2 x_2, what a tilt's pull-back takes per unit tilt:
    for the quadratic hinge (u = h - z below the margin, u' = -1 there) the unsatisfied fraction."""
    return unsat_fractions(kappa_1, kappa_2, mu_1, mu_2, p_1, p_2, h)[3]
