"""Access to the generated kernel modules.

Built-in variants are committed modules under ``mftheory/kernels/generated`` (made by ``mftheory derive``
from ``derivations/``); a user's variant is generated on first use into a cache directory keyed by its content
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


def builtin_odd_slope_kernel(activation: str):
    """The generated kernel s -> (sigma'(z) + sigma'(-z)) / 2 of a built-in activation."""
    try:
        return getattr(_activations, f"odd_slope_{activation}")
    except AttributeError as err:
        raise ValueError(f"no generated kernel for activation {activation!r}") from err


def import_generated(name: str, make_source, cache_dir: pathlib.Path | str | None = None) -> ModuleType:
    """Import the generated module ``name`` from the cache, writing ``make_source()`` there first if it is missing.

    ``name`` must carry the content key of the source, so that an existing file is always the right one. The file
    is written to ``cache_dir`` even when this process has imported the module already from another folder: a model
    that names ``cache_dir`` finds its kernels there in every later process.
    """
    directory = pathlib.Path(cache_dir or CACHE_DIR) / "kernels"
    path = directory / f"{name}.py"
    if not path.exists():
        try:
            write_atomically(path, make_source())
        except OSError as err:
            raise OSError(f"cannot write generated kernels to {directory} ({err.strerror}); set MFTHEORY_CACHE "
                          f"to a writable folder") from err
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
