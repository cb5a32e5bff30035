"""The SymPy derivations of mftheory. The disk cache is imported first, so that it sees the source files as this
process imports them."""
from mftheory.derivations import disk_cache as _disk_cache  # noqa: F401
