import pathlib
import sys

# the repository root first on sys.path: `import validate` must find this project's package, not configobj's
ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
