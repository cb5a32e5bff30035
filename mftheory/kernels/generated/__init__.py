"""Kernel modules generated from derivations/ (committed, reviewable, cacheable)."""
