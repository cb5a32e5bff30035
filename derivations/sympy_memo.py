"""SymPy's ``integrate`` and ``simplify``, each result kept for the rest of the process.

The derivations ask SymPy for the same integrals and simplifications again and again: the features law's margin
integrals once per loss, a node's Hermite coefficients once per family of kernels, the Gaussian moments' slope and
positivity checks once per term. Both functions are deterministic in their arguments, so a result computed once is
the result of every later call with equal arguments (SymPy's structural equality, under which 1 and 1.0 differ).
A call that raises (for example an integral stopped by its time limit) is not kept: the next one tries again.
"""
from __future__ import annotations

import functools

import sympy as sp


def _key(value):
    """A hashable key that tells apart values Python's == would merge (an int 1 and a float 1.0)."""
    if isinstance(value, (tuple, list)):
        return type(value), tuple(_key(v) for v in value)
    return type(value), value


def _memoized(function):
    results = {}

    @functools.wraps(function)
    def reused(*args, **kwargs):
        try:
            key = (_key(args), _key(tuple(sorted(kwargs.items()))))
            return results[key]
        except TypeError:   # an unhashable argument (a mutable Matrix): computed every time
            return function(*args, **kwargs)
        except KeyError:
            pass
        result = results[key] = function(*args, **kwargs)
        return result

    reused.cache_clear = results.clear
    return reused


integrate = _memoized(sp.integrate)
simplify = _memoized(sp.simplify)
