"""mftheory: mean-field theory of shallow-network training with margin losses, derived with SymPy."""
from mftheory.model import ACTIVATIONS, DATA_LAWS, LOSSES, Setup, fig1_setup

__all__ = ["Setup", "fig1_setup", "DATA_LAWS", "LOSSES", "ACTIVATIONS"]
