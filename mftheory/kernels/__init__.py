"""Access to the generated kernel modules.

Built-in variants are committed modules under ``mftheory/kernels/generated`` (made by ``mftheory derive``
from ``derivations/``); a user variant is generated on first use into a cache directory keyed by its content
(``MFTHEORY_CACHE``, default ``~/.cache/mftheory``) and imported from there.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import pathlib
import sys
from types import ModuleType

from mftheory.atomic import write_atomically

from mftheory.kernels.generated import activations as _activations

CACHE_DIR = pathlib.Path(os.environ.get("MFTHEORY_CACHE", pathlib.Path.home() / ".cache" / "mftheory"))


def load(data: str, loss: str) -> ModuleType:
    """The kernel module of a built-in (data law, loss)."""
    try:
        return importlib.import_module(f"mftheory.kernels.generated.{data}_{loss}")
    except ModuleNotFoundError as err:
        raise ValueError(f"no generated kernels for data={data!r}, loss={loss!r}; run `mftheory derive`") from err


def odd_slope(activation: str, leak: float) -> float:
    """(sigma'(z) + sigma'(-z)) / 2 of a built-in activation."""
    try:
        kernel = getattr(_activations, f"odd_slope_{activation}")
    except AttributeError as err:
        raise ValueError(f"no generated kernel for activation {activation!r}") from err
    return float(kernel(float(leak)))


def compile_derivation(derivation, cache_dir: pathlib.Path | None = None) -> ModuleType:
    """Generate (once, keyed by content) and import the kernel module of a user's derivation."""
    from derivations.codegen import kernel_module_source, source_key, variant_description

    cache_dir = pathlib.Path(cache_dir or CACHE_DIR) / "kernels"
    key = source_key(variant_description(derivation))
    name = f"mftheory_variant_{key[:24]}"
    if name in sys.modules:
        return sys.modules[name]
    path = cache_dir / f"{name}.py"
    if not path.exists():
        write_atomically(path, kernel_module_source(derivation))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
