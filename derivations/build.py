"""Write the generated kernel modules to disk, regenerating only those whose key changed."""
from __future__ import annotations

import dataclasses
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


def build(target: pathlib.Path = GENERATED_DIR, force: bool = False, progress=None) -> list[BuildRecord]:
    """Generate every built-in kernel module under ``target``; a module whose key is unchanged is kept."""
    records = []
    for data in DATA_LAWS:
        for loss in LOSSES:
            name = module_name(data, loss)
            path = target / f"{name}.py"
            start = time.perf_counter()
            if not force and stored_key(path) == expected_key(name):
                records.append(BuildRecord(name, path, "cached", time.perf_counter() - start))
            else:
                write_atomically(path, kernel_module_source(derive("relu", loss, data)))
                records.append(BuildRecord(name, path, "generated", time.perf_counter() - start))
            if progress:
                progress(records[-1])
    for family, derive_family, source in (("finite_width", derive_finite_width, finite_width_module_source),
                                          ("finite_sample", derive_finite_sample, finite_sample_module_source)):
        for act in ACTIVATIONS:
            path = target / f"{family}_{act}.py"
            start = time.perf_counter()
            if not force and stored_key(path) == expected_key(path.stem):
                records.append(BuildRecord(path.stem, path, "cached", time.perf_counter() - start))
            else:
                write_atomically(path, source(derive_family(act)))
                records.append(BuildRecord(path.stem, path, "generated", time.perf_counter() - start))
            if progress:
                progress(records[-1])
    path = target / "activations.py"
    start = time.perf_counter()
    status = "cached" if not force and stored_key(path) == expected_key("activations") else "generated"
    if status == "generated":
        write_atomically(path, activation_module_source([derive(act, "hinge", "gaussian") for act in ACTIVATIONS]))
    records.append(BuildRecord("activations", path, status, time.perf_counter() - start))
    if progress:
        progress(records[-1])
    later = [("quadratic", lambda: quadratic_module_source(derive_quadratic()))]
    later += [(f"features_{loss}", lambda loss=loss: features_module_source(derive_features(loss)))
              for loss in FEATURE_LOSSES]
    later += [(f"manyfeatures_{loss}", lambda loss=loss: many_features_module_source(derive_many_features(loss)))
              for loss in MANY_FEATURE_LOSSES]
    for name, make_source in later:
        path = target / f"{name}.py"
        start = time.perf_counter()
        status = "cached" if not force and stored_key(path) == expected_key(name) else "generated"
        if status == "generated":
            write_atomically(path, make_source())
        records.append(BuildRecord(name, path, status, time.perf_counter() - start))
        if progress:
            progress(records[-1])
    init = target / "__init__.py"
    if not init.exists():
        write_atomically(init, '"""Kernel modules generated from derivations/ (committed, reviewable, cacheable)."""\n')
    return records
