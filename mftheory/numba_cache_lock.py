"""A file lock around numba's on-disk cache, so that processes compiling at the same time cannot corrupt it.

numba (up to 0.68 at least, numba/numba#4807) saves a compiled function in two steps without a lock: it reads the
function's index, picks the first free data-file number, rewrites the index, then writes the data file. Two
processes that compile different signatures of one function at once (pytest-xdist workers, the workers of a Dask
sweep) can both pick the same number: the index then names one signature's machine code for the other, and the
next process that loads it crashes. A reader between the two writes can likewise load a stale data file.

:func:`install` wraps ``IndexDataCacheFile.save`` in an exclusive ``flock`` and ``load`` in a shared one, taken on a
lock file next to the function's index; both are no-ops where ``fcntl`` is missing (Windows), where the file system
has no flock (some network mounts) or where the cache folder cannot be written (a read-only install: nothing is
saved there either). mftheory installs it on import.
"""
from __future__ import annotations

import contextlib
import functools
import os

try:
    import fcntl
except ImportError:   # not POSIX: numba's own behaviour is kept
    fcntl = None

_INSTALLED_FLAG = "_mftheory_locked"


@contextlib.contextmanager
def _locked(index_path: str, exclusive: bool):
    try:
        handle = os.open(index_path + ".lock", os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:   # no cache folder yet, or a read-only one
        yield
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        except OSError:   # a file system without flock (some network mounts): numba's own behaviour
            pass
        yield
    finally:
        os.close(handle)   # closing the descriptor releases the lock


def install() -> bool:
    """Lock numba's cache index and data files for every later save and load in this process; idempotent. Returns
    whether the lock is in place (False without ``fcntl``)."""
    if fcntl is None:
        return False
    from numba.core.caching import IndexDataCacheFile

    if getattr(IndexDataCacheFile, _INSTALLED_FLAG, False):
        return True
    save, load = IndexDataCacheFile.save, IndexDataCacheFile.load

    @functools.wraps(save)
    def locked_save(self, key, data):
        with _locked(self._index_path, exclusive=True):
            return save(self, key, data)

    @functools.wraps(load)
    def locked_load(self, key):
        with _locked(self._index_path, exclusive=False):
            return load(self, key)

    IndexDataCacheFile.save, IndexDataCacheFile.load = locked_save, locked_load
    setattr(IndexDataCacheFile, _INSTALLED_FLAG, True)
    return True
