import os
import pathlib
import sys
import tempfile

# the repository root first on sys.path: the tests check this checkout, not an installed copy
ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# numba's disk cache is not safe for two processes that compile different signatures of one function at the same
# time (numba 0.68, IndexDataCacheFile.save: both take the first free data-file number, and the index one writes
# can then point at the other's machine code, which crashes the next process that loads it). Each xdist worker,
# with the processes its tests start, keeps its own cache.
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if _WORKER and "NUMBA_CACHE_DIR" not in os.environ:
    os.environ["NUMBA_CACHE_DIR"] = str(pathlib.Path(tempfile.gettempdir()) / f"mftheory-numba-{os.getuid()}" / _WORKER)
    if "numba" in sys.modules:
        sys.modules["numba"].core.config.reload_config()

# The longest modules first: with pytest-xdist (``-n``, set in pyproject.toml) a worker then never starts one of
# them last while the others sit idle. Each module's own order is kept (the sort is stable).
_LONGEST_FIRST = ("test_suite_features.py", "test_suite.py", "test_finite_width.py", "test_variant.py", "test_notebook.py",
                  "test_cuda_backend.py", "test_sweep.py", "test_docs.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(_LONGEST_FIRST)))
