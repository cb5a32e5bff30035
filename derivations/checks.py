"""Checks that a derivation step holds: unlike ``assert`` they also run under ``python -O``."""


class DerivationCheckError(AssertionError):
    """A symbolic identity the derivation relies on does not hold (a bug in the derivation, or a SymPy result
    that changed)."""


def require(condition, detail="") -> None:
    """Raise :class:`DerivationCheckError` with ``detail`` unless ``condition`` holds."""
    if not condition:
        raise DerivationCheckError(f"derivation check failed{': ' if detail != '' else ''}{detail}")
