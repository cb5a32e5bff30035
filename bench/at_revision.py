"""Load one module of this repository as it was at a git revision, for the benches' ``--compare REV``: the old
code runs beside the checkout's in the same process."""
from __future__ import annotations

import importlib.util
import io
import pathlib
import subprocess
import tarfile
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


def package_at(rev: str, into: pathlib.Path) -> pathlib.Path:
    """The whole package as it was at git revision ``rev``, laid out under ``into`` as pip installs it
    (``mftheory/``, with ``derivations/`` and ``validate/`` as ``mftheory.derivations`` and ``mftheory.validate``,
    pyproject.toml's package-dir); returns ``into``, to put first on ``sys.path`` of a new process."""
    archive = subprocess.run(["git", "archive", rev, "mftheory", "derivations", "validate"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    for folder in ("derivations", "validate"):
        (into / folder).rename(into / "mftheory" / folder)
    return into
