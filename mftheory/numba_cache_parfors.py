"""Start numba's threading layer before cached machine code that runs a parallel loop is loaded.

numba (up to 0.68 at least, numba/numba#8578) records, with each compiled function, the hooks to run when it is
loaded back from the on-disk cache; for a ``parallel=True`` function the hook starts the threading layer, which
registers the symbols (``numba_parallel_for``, ``do_scheduling_*``) that its parallel loops jump to. A function
without ``parallel=True`` that calls one with it inherits that hook only when the callee was compiled in the same
process: if the callee came from the cache (another process compiled it, as pytest-xdist workers or Dask workers
do), the caller is cached without the hook, and the next fresh process that loads the caller before anything else
started the threading layer jumps to an unregistered symbol and dies of a segmentation fault.

:func:`install` wraps the rebuild of every cached function: when its machine code refers to the threading layer's
entry point, the threading layer is started first (``numba.get_num_threads()`` does it, once per process). Only
code that runs parallel loops starts it, as it would when run, so a process that forks before using such code keeps
numba's behaviour. mftheory installs it on import.
"""
from __future__ import annotations

import functools

import numba

_INSTALLED_FLAG = "_mftheory_parfor_threads"
_PARALLEL_ENTRY_POINT = b"numba_parallel_for"


def _object_code_mentions(node, symbol: bytes) -> bool:
    if isinstance(node, (bytes, bytearray)):
        return symbol in node
    if isinstance(node, (tuple, list)):
        return any(_object_code_mentions(part, symbol) for part in node)
    return False


def runs_parallel_loops(payload) -> bool:
    """Whether a cached compile result (numba's ``CompileResult._reduce()`` tuple, its serialized library first)
    contains machine code that calls the threading layer."""
    try:
        library = payload[0]
    except (TypeError, IndexError):
        return False
    return _object_code_mentions(library, _PARALLEL_ENTRY_POINT)


def install() -> bool:
    """Start the threading layer before every later rebuild of cached code that needs it; idempotent. Returns
    whether the hook is in place."""
    from numba.core.caching import CompileResultCacheImpl

    if getattr(CompileResultCacheImpl, _INSTALLED_FLAG, False):
        return True
    rebuild = CompileResultCacheImpl.rebuild

    @functools.wraps(rebuild)
    def rebuild_with_threads(self, target_context, payload):
        if runs_parallel_loops(payload):
            numba.get_num_threads()   # starts the threading layer (a no-op once started)
        return rebuild(self, target_context, payload)

    CompileResultCacheImpl.rebuild = rebuild_with_threads
    setattr(CompileResultCacheImpl, _INSTALLED_FLAG, True)
    return True
