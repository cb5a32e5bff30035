"""The drift (G_1, G_2) from the SymPy-printed closed form, with the mass of the examples with both features below the
margin by quadrature.

Hand-written part of the features kernel module of a loss whose drift is closed but for one mass (quadratic hinge):
the generator copies the text below the marker line verbatim after the printed kernels. Above it, the imports make
this a module that linters and tests can load; they are not copied.
"""
from mftheory.kernels._jit import jit

# the closed-form drift, the quadrature mass and the floor: the generated module defines them
from mftheory.kernels.generated.features_quadratic_hinge import (
    _FLOOR,
    both_unsat,
    drift,
)


# ---- generated module body: everything below this line is copied into the module ----
@jit
def drift_at(kappa_1, kappa_2, mu_1, mu_2, p_1, p_2, h):
    """(G_1, G_2) = E[u y x_k] at F = kappa_1 x_1 + kappa_2 x_2 (closed form but for the mass of the examples
    with both features below the margin, by quadrature)."""
    a = max(kappa_1 * mu_1, _FLOOR)
    b = max(kappa_2 * mu_2, _FLOOR)
    return drift(a, b, mu_1, mu_2, p_1, p_2, h, both_unsat(a, b, h))
