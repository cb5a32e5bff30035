import pathlib
import sys

# the repository root first on sys.path: the tests check this checkout, not an installed copy
ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
