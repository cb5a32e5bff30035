"""Run the BLAS that numba calls (SciPy's OpenBLAS) single-threaded for the duration of a block.

The simulator parallelises over slabs of examples with numba threads, each calling BLAS on small matrices;
a multi-threaded BLAS inside those threads would oversubscribe the cores.  numba's ``np.dot`` goes through
``scipy.linalg.cython_blas``, i.e. the OpenBLAS bundled with SciPy (``scipy.libs/libscipy_openblas*``), whose
thread count is set here through its C API and restored afterwards.  If that library is not found (another
SciPy build), nothing is changed.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading

_LOCK = threading.Lock()
_API = None


def _find_api():
    global _API
    if _API is None:
        _API = ()
        try:
            import scipy
            import scipy.linalg.cython_blas  # noqa: F401  (loads the library)
        except ImportError:
            return _API
        root = os.path.dirname(os.path.dirname(scipy.__file__))
        for path in sorted(glob.glob(os.path.join(root, "scipy.libs", "libscipy_openblas*.so*"))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for prefix in ("scipy_openblas_", "openblas_"):
                get = getattr(lib, prefix + "get_num_threads", None)
                put = getattr(lib, prefix + "set_num_threads", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    put.argtypes = [ctypes.c_int]
                    _API = (get, put)
                    return _API
    return _API


@contextlib.contextmanager
def single_threaded_blas():
    """Context manager: SciPy's OpenBLAS uses one thread inside the block (no-op if it cannot be found)."""
    api = _find_api()
    if not api:
        yield
        return
    get, put = api
    with _LOCK:
        before = get()
        put(1)
        try:
            yield
        finally:
            put(before)
