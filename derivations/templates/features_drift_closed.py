"""The drift (G_1, G_2) at the slopes (kappa_1, kappa_2) from the SymPy-printed closed form.

Hand-written part of the features kernel module of a loss whose drift has a closed form (hinge): the generator
copies the text below the marker line verbatim after the printed kernels. Above it, the imports make this a module
that linters and tests can load; they are not copied.
"""
from mftheory.kernels._jit import jit

# the closed-form drift and the floor of the margin's slopes: the generated module defines them
from mftheory.kernels.generated.features_hinge import _FLOOR, drift


# ---- generated module body: everything below this line is copied into the module ----
@jit
def drift_at(kappa_1, kappa_2, mu_1, mu_2, p_1, p_2, h):
    """(G_1, G_2) = E[u y x_k] at F = kappa_1 x_1 + kappa_2 x_2 (closed form)."""
    return drift(max(kappa_1 * mu_1, _FLOOR), max(kappa_2 * mu_2, _FLOOR), mu_1, mu_2, p_1, p_2, h)
