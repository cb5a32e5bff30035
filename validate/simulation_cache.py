"""Reuse of finished simulations across validation runs: a simulation is a pure function of its arguments, the
simulator's code and the machine, so a second ``mftheory run`` with nothing of those changed need not redo it.

Off unless a caller turns it on (``with reuse_simulations(folder): ...``; the validation suites do, see
``python -m mftheory.validate run --fresh-simulations``). While on, :func:`simulate` and ``simulate_quadratic``
look a run up by a key before computing it and store what they computed. The key (sha256) covers

- the code: every ``.py`` file of the ``validate`` package (the simulators, their kernels and the data draws),
  the setups' modules (``mftheory/model.py``, ``mftheory/quadratic/setup.py``) and the catalog and symbols of
  activations and losses (a user's variant is simulated from its SymPy expressions), byte for byte;
- the numpy, numba and SymPy versions and the machine (runs are bit-identical on one machine, not across
  machines);
- every argument of the call, a user's activation or loss by its SymPy expression (``srepr``), an explicit array
  (inputs, labels, initial weights, a test set, a drawn problem) by the sha256 of its bytes.

A stored run is one ``.npz`` written atomically, so an interrupted run leaves either the whole file or none.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import io
import json
import os
import pathlib
import platform
from typing import Callable, TypeVar

import numba
import numpy as np

from mftheory.atomic import write_atomically

ENV = "MFTHEORY_SIMULATION_CACHE"
REFRESH_ENV = "MFTHEORY_SIMULATION_CACHE_REFRESH"

T = TypeVar("T")

_counts = {"reused": 0, "computed": 0}


def default_folder() -> pathlib.Path:
    """``$MFTHEORY_CACHE/simulations`` (default ``~/.cache/mftheory/simulations``)."""
    from mftheory.kernels import CACHE_DIR

    return CACHE_DIR / "simulations"


@contextlib.contextmanager
def reuse_simulations(folder=None, enabled: bool = True, refresh: bool = False):
    """Within the block, simulations are looked up in / stored to ``folder`` (default :func:`default_folder`).
    Through the environment, so worker threads and processes started inside see it too. ``refresh=True``: every
    run is computed and stored (replacing what was there); ``enabled=False``: computed and not stored. The
    setting outside is restored after the block."""
    previous = {name: os.environ.get(name) for name in (ENV, REFRESH_ENV)}
    for name in previous:
        os.environ.pop(name, None)
    if enabled:
        os.environ[ENV] = str(pathlib.Path(folder or default_folder()))
        if refresh:
            os.environ[REFRESH_ENV] = "1"
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def counts() -> dict:
    """How many simulations this process reused and computed under :func:`reuse_simulations` (a copy)."""
    return dict(_counts)


@functools.lru_cache(maxsize=1)
def code_digest() -> str:
    """sha256 of the simulator's code (module docstring), the numpy and numba versions and the machine."""
    validate_dir = pathlib.Path(__file__).resolve().parent
    import sympy

    import mftheory.derivations.catalog as catalog
    import mftheory.derivations.symbols as symbols
    import mftheory.model as model
    import mftheory.quadratic.setup as quadratic_setup

    files = sorted(validate_dir.rglob("*.py")) + [pathlib.Path(m.__file__).resolve()
                                                  for m in (model, quadratic_setup, catalog, symbols)]
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(path.parents[1])).encode())
        digest.update(path.read_bytes())
    digest.update(f"numpy {np.__version__} numba {numba.__version__} sympy {sympy.__version__} {platform.machine()} "
                  f"{platform.processor()} {platform.system()}".encode())
    return digest.hexdigest()


def canonical(value):
    """A JSON-able, unambiguous description of an argument: dataclasses field by field, SymPy objects by srepr,
    arrays by dtype, shape and the sha256 of their bytes, floats exactly (``float.hex``)."""
    import sympy

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__class__": type(value).__qualname__,
                **{f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, sympy.Basic):
        return {"srepr": sympy.srepr(value)}
    if isinstance(value, np.ndarray):   # by content: a training set of 1e5 x 100 hashes in about 0.1 s
        return {"dtype": str(value.dtype), "shape": list(value.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return {"float": float(value).hex()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items())}
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, type) or isinstance(value, np.dtype):
        return {"type": np.dtype(value).str}
    if hasattr(value, "__dict__"):   # an Activation or Loss object: its fields
        return {"__class__": type(value).__qualname__,
                **{k: canonical(v) for k, v in sorted(vars(value).items()) if not k.startswith("_")}}
    raise TypeError(f"cannot describe {type(value).__name__} for the simulation cache")


def key(kind: str, arguments: dict) -> str:
    """The cache key of a run of ``kind`` with ``arguments``."""
    text = json.dumps({"kind": kind, "code": code_digest(), "arguments": canonical(arguments)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def cached_run(kind: str, arguments: dict, run: Callable[[], T], to_arrays: Callable[[T], dict],
               from_arrays: Callable[[dict], T]) -> T:
    """``run()``, or its stored result when reuse is on (:func:`reuse_simulations`) and one is stored under the
    key of (``kind``, ``arguments``); ``to_arrays`` / ``from_arrays`` convert a result to and from named arrays."""
    folder = os.environ.get(ENV)
    if not folder:
        return run()
    try:
        name = key(kind, arguments)
    except (TypeError, ValueError):   # an argument the run itself will reject with its own message
        return run()
    path = pathlib.Path(folder) / kind / f"{name}.npz"
    if path.is_file() and not os.environ.get(REFRESH_ENV):
        try:
            with np.load(path) as stored:
                result = from_arrays({name: stored[name] for name in stored.files})
            _counts["reused"] += 1
            return result
        except (OSError, ValueError, KeyError):   # unreadable (another version's layout): computed again below
            pass
    result = run()
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **to_arrays(result))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, buffer.getvalue())
    except OSError:   # a read-only or full cache: the run is still returned
        pass
    _counts["computed"] += 1
    return result
