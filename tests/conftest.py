import os
import pathlib
import sys

# Under pytest-xdist every worker runs a test of its own most of the time: numba's parallel kernels in each (and in
# the subprocesses it starts) take cores // workers threads instead of one per core each, which would put two
# threads on every core. Set before numba is imported. The results do not depend on the thread count (the
# thread-count tests compare explicit counts in a subprocess of their own).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1 and "numba" not in sys.modules:
    os.environ.setdefault("NUMBA_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

# A test's subprocess (a notebook kernel, a suite run, the CUDA simulator) that dies of a signal leaves a traceback
# in the captured output instead of nothing (that is how numba/numba#8578 was found: see
# mftheory/numba_cache_parfors.py)
os.environ.setdefault("PYTHONFAULTHANDLER", "1")

# the repository root first on sys.path: the tests check this checkout, not an installed copy
ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The longest modules first: with pytest-xdist (``-n``, set in pyproject.toml) a worker then never starts one of
# them last while the others sit idle. Each module's own order is kept (the sort is stable).
# Measured on a clean clone (2 cores, ``--durations=0``, summed per module), longest first; the rest follow.
_LONGEST_FIRST = ("test_suite_features.py", "test_suite.py", "test_features.py", "test_sweep.py", "test_variant.py",
                  "test_quadratic_theory.py", "test_kernels.py", "test_latex.py", "test_derivations.py",
                  "test_quadratic_suite_can_fail.py", "test_meanfield.py", "test_finite_size_predict.py",
                  "test_simulator.py", "test_quadratic_flow.py", "test_many_features.py", "test_finite_sample.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(_LONGEST_FIRST)))
