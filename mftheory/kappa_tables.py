"""Piecewise Chebyshev tables in kappa of the mean-field rate g and of the unsatisfied fraction, for the variants
where they are quadratures.

The mean field evaluates g(kappa) four times per RK4 stage and once per step of the discrete map, and the
unsatisfied fraction once per step. Where they have no closed form (the logistic loss, the sphere's laws, a user's
variant) each evaluation is a quadrature of a few hundred points. With everything but kappa fixed for a run, each
is a smooth function of one variable: it is tabulated once, on panels of s = kappa / (1 + kappa) in [0, S_MAX]
(kappa from 0 to 999; past it the quadratures' own boundary layers, of width 1/kappa, get narrower than their
finest panel, so their values are not smooth to 1e-13 and the kernel is kept), each a Chebyshev expansion of
``NODES`` terms of (1 + kappa)^2 q (of one size for the margin losses' rate, which falls like 1/kappa^2) fitted to
the kernel at its Chebyshev points. A panel is split until the expansion agrees with the kernel, at the points
halfway between the fitting points and at the ends, to ``TOLERANCE`` of the largest (1 + kappa)^2 |q| on the
panel; a panel that cannot reach it at ``MIN_WIDTH`` (a kink, or the kernel's own limit) keeps the kernel itself
(NaN coefficients), as does any kappa outside the table.
"""
from __future__ import annotations

import collections

import numpy as np

NODES = 16
TOLERANCE = 1e-13
S_MAX = 1.0 - 1e-3
MIN_WIDTH = 1e-5
_INITIAL_PANELS = 8
_CACHE_SIZE = 64
# the quantities a table can stand for: the template's ``which`` and the module flag saying it is a quadrature
QUANTITIES = {"rate": (0, "RATE_BY_QUADRATURE"), "unsat": (1, "UNSAT_BY_QUADRATURE")}

_EMPTY = (np.zeros(0), np.zeros((0, NODES)))
_cache: collections.OrderedDict = collections.OrderedDict()


def no_table():
    """The empty table: the loops evaluate the kernel itself."""
    return _EMPTY


def kappa_table(kernels, quantity: str, d: float, h: float, eps: float, odd_slope: float):
    """(edges, coeffs) of the table of ``quantity`` ("rate": ``kernels.g_rate(kappa, d, h, eps, odd_slope)``,
    "unsat": ``kernels.unsat_fraction(kappa, d, h, eps)``) for the loops of ``kernels`` (``discrete_map``,
    ``flow``, ``fill_unsat_fraction``); the empty table when it is a closed form, as fast as a table. The tables
    of the last ``_CACHE_SIZE`` settings are kept."""
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {sorted(QUANTITIES)}, got {quantity!r}")
    which, flag = QUANTITIES[quantity]
    if not getattr(kernels, flag, False):
        return _EMPTY
    key = (kernels.__name__, getattr(kernels, "KEY", None), quantity, float(d), float(h), float(eps),
           float(odd_slope))
    if key in _cache:
        _cache.move_to_end(key)
        return _cache[key]
    pending = [(S_MAX * i / _INITIAL_PANELS, S_MAX * (i + 1) / _INITIAL_PANELS) for i in range(_INITIAL_PANELS)]
    done = []
    while pending:
        lo, hi = pending.pop()
        coeffs = np.empty(NODES)
        error = kernels.table_panel(which, lo, hi, float(d), float(h), float(eps), float(odd_slope), coeffs)
        if error <= TOLERANCE:
            done.append((lo, hi, coeffs))
        elif hi - lo > MIN_WIDTH:
            mid = 0.5 * (lo + hi)
            pending += [(lo, mid), (mid, hi)]
        else:
            done.append((lo, hi, np.full(NODES, np.nan)))
    done.sort(key=lambda panel: panel[0])
    table = (np.array([panel[0] for panel in done] + [done[-1][1]]), np.array([panel[2] for panel in done]))
    _cache[key] = table
    if len(_cache) > _CACHE_SIZE:
        _cache.popitem(last=False)
    return table
