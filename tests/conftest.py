import pathlib
import sys

# the repository root first on sys.path: the tests check this checkout, not an installed copy
ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The longest modules first: with pytest-xdist (``-n``, set in pyproject.toml) a worker then never starts one of
# them last while the others sit idle. Each module's own order is kept (the sort is stable).
_LONGEST_FIRST = ("test_suite_features.py", "test_suite.py", "test_finite_width.py", "test_variant.py", "test_notebook.py",
                  "test_cuda_backend.py", "test_sweep.py", "test_docs.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(_LONGEST_FIRST)))
