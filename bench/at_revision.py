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


def warn_blas_environment():
    """The NumPy-baseline caveat of these machines: OpenBLAS told to use another core type or L2 size."""
    import os
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            print(f"warning: {var}={os.environ[var]} is set; rerun with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`")


def run_in_new_process(code: str, args, package: pathlib.Path | None) -> dict:
    """Run ``code`` (a script whose last printed line is a JSON object with the imported package's file under
    "package") in a new Python process with ``args``, with the package at ``package`` first on its path (None:
    this checkout's, as installed); returns that object, after checking which package the run imported."""
    import json
    import sys
    if package is not None:
        code = f"import sys; sys.path.insert(0, {str(package)!r})\n" + code
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = ROOT if package is None else package
    if not pathlib.Path(result["package"]).resolve().is_relative_to(expected.resolve()):
        raise RuntimeError(f"the run imported {result['package']}, not the package under {expected}")
    return result


def alternate(rev: str, rounds: int, run_one, tmp: pathlib.Path) -> dict:
    """``rounds`` rounds of ``run_one(package, out)`` (package None: this checkout), this checkout first, then the
    package at ``rev``, each round printed; ``out`` is round r's file, tmp / f"{r}-{is this checkout}.npz".
    Returns the seconds of each, {"this checkout": [...], rev: [...]}."""
    times = {"this checkout": [], rev: []}
    old = package_at(rev, tmp / "package")
    for round_ in range(rounds):
        for name, package in (("this checkout", None), (rev, old)):
            result = run_one(package, tmp / f"{round_}-{name == 'this checkout'}.npz")
            times[name].append(result["seconds"])
            extra = f" ({result['jobs']} runs)" if "jobs" in result else ""
            print(f"  round {round_ + 1}: {name:<14} {result['seconds']:6.1f} s{extra}", flush=True)
    return times
