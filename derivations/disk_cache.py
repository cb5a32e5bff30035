"""Derivations cached on disk, keyed like the kernels: SymPy spends most of a cold derivation giving up on
integrals that end as quadrature, so a result is pickled under ``$MFTHEORY_CACHE/derivations`` (default
``~/.cache/mftheory``) and reused by every later process (``mftheory latex``, ``mftheory run``, the docs).

The key hashes the code of every source file of this package (comments and docstrings left out), the SymPy version (a pickle is only read back by the release
that wrote it), the function and its arguments (SymPy objects by ``srepr``), so editing a derivation, upgrading
SymPy or asking for another variant never reads a stale result. A process whose source files were edited after it
imported them neither reads nor writes the cache (its code in memory may not be the code the key hashes). A cache
that cannot be read or written is skipped: the derivation then simply runs.
"""
from __future__ import annotations

import copyreg
import functools
import hashlib
import io
import os
import pathlib
import pickle

import sympy as sp
from sympy.core.function import UndefinedFunction

from mftheory.atomic import write_atomically
from mftheory.derivations.code_text import file_code_text

_SOURCES = pathlib.Path(__file__).resolve().parent


def _file_stats() -> tuple:
    return tuple((path.name, path.stat().st_mtime_ns, path.stat().st_size) for path in sorted(_SOURCES.glob("*.py")))


# the source files as this process imported them (this module is imported by the package's __init__, before any
# derivation): a file edited since then may run as old code in memory while the key reads the new text, so the
# cache is bypassed from then on
_STATS_AT_IMPORT = _file_stats()


def cache_dir() -> pathlib.Path:
    """Where derivations are cached (read from ``MFTHEORY_CACHE`` at each call, so a test can redirect it)."""
    return pathlib.Path(os.environ.get("MFTHEORY_CACHE", pathlib.Path.home() / ".cache" / "mftheory")) / "derivations"


@functools.lru_cache(maxsize=1)
def _sources_digest() -> str:
    digest = hashlib.sha256(sp.__version__.encode())
    for path in sorted(_SOURCES.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(file_code_text(path).encode())
    return digest.hexdigest()


def _describe(value) -> str:
    if isinstance(value, sp.Basic):
        return sp.srepr(value)
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None:   # Activation, Loss, DataLaw: their SymPy expressions by srepr
        return type(value).__name__ + "(" + ",".join(f"{f}={_describe(getattr(value, f))}" for f in fields) + ")"
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_describe(v) for v in value) + ")"
    return repr(value)


def derivation_key(function, args, kwargs) -> str:
    text = "|".join([_sources_digest(), function.__module__, function.__qualname__,
                     *(_describe(a) for a in args), *(f"{k}={_describe(v)}" for k, v in sorted(kwargs.items()))])
    return hashlib.sha256(text.encode()).hexdigest()


def _undefined_function(function_class):
    """Rebuild an undefined function (``sp.Function("f")``) by its name and assumptions: SymPy before 1.14
    looks such a class up as a module attribute when pickling, and fails."""
    return functools.partial(sp.Function, **getattr(function_class, "_kwargs", {})), (function_class.__name__,)


def _dumps(value) -> bytes:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = copyreg.dispatch_table.copy()
    pickler.dispatch_table[UndefinedFunction] = _undefined_function
    pickler.dump(value)
    return buffer.getvalue()


def cached_on_disk(function):
    """Decorator: return ``function(*args, **kwargs)`` from the disk cache when its key is there."""

    @functools.wraps(function)
    def cached(*args, **kwargs):
        if _file_stats() != _STATS_AT_IMPORT:
            return function(*args, **kwargs)
        path = cache_dir() / f"{function.__name__}-{derivation_key(function, args, kwargs)}.pickle"
        try:
            return pickle.loads(path.read_bytes())
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError, ValueError):
            pass
        result = function(*args, **kwargs)
        try:
            data = _dumps(result)
        except (pickle.PicklingError, AttributeError, TypeError):
            return result
        try:
            write_atomically(path, data)
        except OSError:
            pass
        # what a later process loads: unpickling rebuilds SymPy's expressions with evaluation (a number times a
        # sum is distributed), so returning the loaded copy makes a derivation print and generate the same text
        # whether it was computed now or read from the cache
        return pickle.loads(data)

    cached.uncached = function
    return cached
