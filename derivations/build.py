"""Write the generated kernel modules to disk, regenerating only those whose key changed."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import multiprocessing
import os
import pathlib
import re
import time

from mftheory.derivations.catalog import ACTIVATIONS, DATA_LAWS, LOSSES
from mftheory.derivations.codegen import (activation_module_key, activation_module_source, activation_modules_key,
                                 finite_sample_module_source, finite_width_module_source, kernel_module_key,
                                 kernel_module_source)
from mftheory.derivations.finite_sample import derive_finite_sample
from mftheory.derivations.finite_width import derive_finite_width
from mftheory.derivations.meanfield import derive
from mftheory.derivations.features import derive_features
from mftheory.derivations.features_codegen import FEATURE_LOSSES, features_module_key, features_module_source
from mftheory.derivations.many_features import derive_many_features
from mftheory.derivations.many_features_codegen import (MANY_FEATURE_LOSSES, many_features_module_key,
                                                         many_features_module_source)
from mftheory.derivations.quadratic import derive_quadratic
from mftheory.derivations.quadratic_codegen import quadratic_module_key, quadratic_module_source
from mftheory.atomic import write_atomically
from mftheory.kernels import generated as generated_package

GENERATED_DIR = pathlib.Path(generated_package.__file__).resolve().parent
_KEY_LINE = re.compile(r"^# key: ([0-9a-f]{64})$", re.M)


@dataclasses.dataclass(frozen=True)
class BuildRecord:
    module: str
    path: pathlib.Path
    status: str  # "cached" or "generated"
    seconds: float


def stored_key(path: pathlib.Path) -> str | None:
    if not path.exists():
        return None
    match = _KEY_LINE.search(path.read_text()[:2000])
    return match.group(1) if match else None


def module_name(data: str, loss: str) -> str:
    return f"{data}_{loss}"


def expected_key(module: str) -> str:
    """The key a built-in kernel module (``gaussian_hinge``, ``finite_width_relu``, ``activations``, ...) must
    carry to be up to date, computed without deriving anything."""
    if module == "activations":
        return activation_modules_key([ACTIVATIONS[a] for a in ACTIVATIONS])
    if module == "quadratic":
        return quadratic_module_key()
    if module.startswith("features_"):
        return features_module_key(module[len("features_"):])
    if module.startswith("manyfeatures_"):
        return many_features_module_key(module[len("manyfeatures_"):])
    for family in ("finite_width", "finite_sample"):
        if module.startswith(family + "_"):
            return activation_module_key(family, ACTIVATIONS[module[len(family) + 1:]])
    data, loss = next((d, l) for d in DATA_LAWS for l in LOSSES if module == module_name(d, l))
    return kernel_module_key(ACTIVATIONS["relu"], LOSSES[loss], DATA_LAWS[data])


def builtin_modules() -> list[str]:
    """Names of every built-in generated module."""
    return ([module_name(d, l) for d in DATA_LAWS for l in LOSSES]
            + [f"{family}_{a}" for family in ("finite_width", "finite_sample") for a in ACTIVATIONS] + ["activations", "quadratic"]
            + [f"features_{loss}" for loss in FEATURE_LOSSES]
            + [f"manyfeatures_{loss}" for loss in MANY_FEATURE_LOSSES])


def stale_modules(target: pathlib.Path = GENERATED_DIR) -> list[str]:
    """The built-in modules whose stored key differs from the one their derivation sources give now."""
    return [m for m in builtin_modules() if stored_key(target / f"{m}.py") != expected_key(m)]


def builtin_derivations():
    return [derive("relu", loss, data) for data in DATA_LAWS for loss in LOSSES]


# the slowest derivations first, so that the pool's workers finish together (seconds in one cold build on 2 cores:
# sphere_hinge 17, sphere_quadratic_hinge 10, gaussian_hinge 10, finite_sample_leaky_relu 10, finite_width_leaky_relu 8,
# features_quadratic_hinge 8, the others 0.5-6); activations last, since it reuses gaussian_hinge's derivation
_SLOWEST_FIRST = ("sphere_hinge", "sphere_quadratic_hinge", "gaussian_hinge", "finite_sample_leaky_relu",
                  "finite_width_leaky_relu", "features_quadratic_hinge")


def _start_order(name: str) -> tuple:
    if name == "activations":
        return (2, 0)
    return (0, _SLOWEST_FIRST.index(name)) if name in _SLOWEST_FIRST else (1, 0)


def module_source(module: str) -> str:
    """The source of the built-in kernel module ``module``, derived now (or read from the derivation cache)."""
    if module == "activations":
        return activation_module_source([derive(act, "hinge", "gaussian") for act in ACTIVATIONS])
    if module == "quadratic":
        return quadratic_module_source(derive_quadratic())
    if module.startswith("features_"):
        return features_module_source(derive_features(module[len("features_"):]))
    if module.startswith("manyfeatures_"):
        return many_features_module_source(derive_many_features(module[len("manyfeatures_"):]))
    for family, derive_family, source in (("finite_width", derive_finite_width, finite_width_module_source),
                                          ("finite_sample", derive_finite_sample, finite_sample_module_source)):
        if module.startswith(family + "_"):
            return source(derive_family(module[len(family) + 1:]))
    data, loss = next((d, l) for d in DATA_LAWS for l in LOSSES if module == module_name(d, l))
    return kernel_module_source(derive("relu", loss, data))


def _timed_source(module: str) -> tuple[str, float]:
    start = time.perf_counter()
    source = module_source(module)
    return source, time.perf_counter() - start


def check_workers(workers) -> None:
    """Raise ValueError unless ``workers`` is None or a whole number >= 1."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers must be a whole number >= 1 (or None: the machine's cores, at most {MAX_WORKERS}), "
                         f"got {workers!r}")


def _worker_count(workers: int | None, jobs: int) -> int:
    check_workers(workers)
    if workers is None:
        workers = min(os.cpu_count() or 1, MAX_WORKERS)
    return max(1, min(workers, jobs))


MAX_WORKERS = 4   # SymPy's derivations are independent, but each worker holds its own SymPy caches in memory


def build(target: pathlib.Path = GENERATED_DIR, force: bool = False, progress=None,
          workers: int | None = None) -> list[BuildRecord]:
    """Generate every built-in kernel module under ``target``; a module whose key is unchanged is kept.

    The modules to generate are derived in ``workers`` processes (None: the machine's cores, at most
    ``MAX_WORKERS``; 1: in this process), the slowest first; ``progress`` gets each module's record as it is
    written. Returns the records in the order of :func:`builtin_modules`. The generated text does not depend on
    ``workers``."""
    check_workers(workers)
    records, todo = {}, []
    for name in builtin_modules():
        path = target / f"{name}.py"
        start = time.perf_counter()
        if not force and stored_key(path) == expected_key(name):
            records[name] = BuildRecord(name, path, "cached", time.perf_counter() - start)
            if progress:
                progress(records[name])
        else:
            todo.append(name)
    workers = _worker_count(workers, len(todo))

    def written(name, source, seconds):
        path = target / f"{name}.py"
        write_atomically(path, source)
        records[name] = BuildRecord(name, path, "generated", seconds)
        if progress:
            progress(records[name])

    if workers == 1:
        for name in todo:
            written(name, *_timed_source(name))
    elif todo:
        # spawn, not fork: the parent may already run numba's or BLAS's threads
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_timed_source, name): name for name in sorted(todo, key=_start_order)}
            for future in concurrent.futures.as_completed(futures):
                written(futures[future], *future.result())
    init = target / "__init__.py"
    if not init.exists():
        write_atomically(init, '"""Kernel modules generated from derivations/ (committed, reviewable, cacheable)."""\n')
    return [records[name] for name in builtin_modules()]
