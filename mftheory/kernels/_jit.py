"""The one decorator policy of every compiled kernel.

cache=True: compiled code is kept on disk next to the (real, importable) module file.
No fastmath: results must match mpmath to 1e-12 and be reproducible.
error_model="numpy": h / kappa at kappa = 0 (the initial state) is inf, as the formulas expect, instead of
raising ZeroDivisionError.
"""
import numba

jit = numba.njit(cache=True, error_model="numpy")
