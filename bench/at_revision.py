"""Load one module of this repository as it was at a git revision, for the benches' ``--compare REV``: the old
code runs beside the checkout's in the same process."""
from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent


def module_at(rev: str, path: str):
    """The module at ``path`` (relative to the repository root, e.g. "validate/perturbation.py") as it was at git
    revision ``rev``, imported under a name of its own."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    name = pathlib.Path(path).stem + "_at_rev"
    file = pathlib.Path(tempfile.mkdtemp()) / f"{name}.py"
    file.write_text(source)
    spec = importlib.util.spec_from_file_location(name, file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
