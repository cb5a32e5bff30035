"""Sweep constants (schema version, parameter and quantity names, worker settings), SweepError, and the grid:
validation and expansion of a grid into points, and the point keys."""
from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
from numbers import Integral, Real

import numpy as np

from mftheory.model import Setup, check_int

SCHEMA_VERSION = 1
N_TEST = 10_000
N_FRESH = 4000  # fresh inputs for the simulated kappa
# the sweeps cover the data laws of one teacher direction; the two-feature law's parameters are not swept
SETUP_FIELDS = tuple(f.name for f in dataclasses.fields(Setup) if f.name not in ("feature_freq", "feature_strength"))
PARAMS = SETUP_FIELDS + ("N",)
QUANTITIES = ("gamma_plus", "f_unsat", "train_error", "test_error", "alignment", "relative_change", "kappa")
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
RETRIES = 3
METADATA_KEY = b"mftheory.sweep"


class SweepError(RuntimeError):
    """Some points failed (after the retries); the finished ones are kept, a rerun computes the rest."""

    def __init__(self, message, summary):
        super().__init__(message)
        self.summary = summary


def _check_name(name, where):
    if name not in PARAMS:
        raise ValueError(f"unknown parameter {name!r} in {where}; parameters are the mftheory.Setup fields "
                         f"{', '.join(SETUP_FIELDS)} and 'N'")


def expand_grid(base: Setup | dict, grid, N=None) -> list[dict]:
    """The list of points (dicts of every Setup field and N) of ``grid`` over ``base``, in a deterministic order.

    ``grid``: a dict from parameter name to a non-empty list of values (full product over the keys in their
    order; a key whose values are dicts is a group of fields varied together, its name only a label), or a
    non-empty list of dicts (explicit points).  Each point is validated by building its ``Setup``.
    """
    if isinstance(base, Setup):
        base_values = base.as_dict()
    elif isinstance(base, dict):
        for name in base:
            _check_name(name, "base")
        base_values = dict(base)
        if "N" in base_values:
            N = base_values.pop("N") if N is None else N
    else:
        raise ValueError(f"base must be a mftheory.Setup (or a dict of its fields), got {type(base).__name__}")
    if isinstance(grid, dict):
        if not grid:
            raise ValueError("grid must not be empty: give at least one parameter with a list of values")
        axes = []
        for name, values in grid.items():
            if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple)):
                raise ValueError(f"grid[{name!r}] must be a list of values, got {type(values).__name__}")
            if not values:
                raise ValueError(f"grid[{name!r}] is empty: give at least one value")
            if all(isinstance(v, dict) for v in values):
                for v in values:
                    for field in v:
                        _check_name(field, f"grid[{name!r}]")
                axes.append([dict(v) for v in values])
            elif any(isinstance(v, dict) for v in values):
                raise ValueError(f"grid[{name!r}] mixes tables and values")
            else:
                _check_name(name, "grid")
                axes.append([{name: v} for v in values])
        overrides = [{k: v for part in combo for k, v in part.items()} for combo in itertools.product(*axes)]
    elif isinstance(grid, (list, tuple)):
        if not grid:
            raise ValueError("grid must not be empty: give at least one point")
        for i, point in enumerate(grid):
            if not isinstance(point, dict):
                raise ValueError(f"grid point {i} must be a dict of parameters, got {type(point).__name__}")
            for name in point:
                _check_name(name, f"grid point {i}")
        overrides = [dict(p) for p in grid]
    else:
        raise ValueError(f"grid must be a dict of lists or a list of dicts, got {type(grid).__name__}")
    points = []
    for i, change in enumerate(overrides):
        values = {**base_values, **change}
        n = values.pop("N", N)
        if n is None:
            raise ValueError("N must be given (argument N, [sweep] N, or a grid key)")
        n = check_int("N", n, 1)
        missing = [f for f in ("d", "alpha", "h", "eta", "M") if f not in values]
        if missing:
            raise ValueError(f"grid point {i}: missing Setup field(s) {', '.join(missing)} (give them in base)")
        try:
            setup = Setup(**values)
        except ValueError as err:
            raise ValueError(f"grid point {i} ({_describe(change)}): {err}") from None
        except TypeError as err:
            raise ValueError(f"grid point {i} ({_describe(change)}): {err}") from None
        points.append({**setup.as_dict(), "N": n})
    return points


def _describe(change):
    return ", ".join(f"{k}={v!r}" for k, v in change.items()) or "base"


def _canonical(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        return float(value).hex()
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_canonical(v) for v in value]
    raise TypeError(f"cannot canonicalise {value!r}")


def point_key(params: dict, seed: int, steps: int, record_steps) -> str:
    """sha256 (hex) of the canonical JSON of the full parameters (floats as float.hex), seed, steps, record_steps
    and the fixed simulation options."""
    payload = {"params": {k: _canonical(params[k]) for k in PARAMS}, "seed": int(seed), "steps": int(steps),
               "record_steps": _canonical([int(r) for r in record_steps]), "n_test": N_TEST, "n_fresh": N_FRESH,
               "schema": SCHEMA_VERSION}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _check_seeds(seeds):
    if isinstance(seeds, Integral) and not isinstance(seeds, bool):
        seeds = list(range(check_int("seeds", seeds, 1)))
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (list, tuple, range, np.ndarray)) or len(seeds) == 0:
        raise ValueError(f"seeds must be a non-empty list of integers >= 0 (or an integer k: seeds 0..k-1), got {seeds!r}")
    seeds = [check_int("seeds", s, 0) for s in seeds]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds!r}")
    return seeds


def _resolve_record_steps(record_steps, steps):
    from mftheory.validate.simulator import _check_record_steps
    return [int(r) for r in _check_record_steps(record_steps, steps)]


def _precheck_theory(points, steps):
    """The discrete map must be defined at every point (cheap: milliseconds per point)."""
    from mftheory.dynamics import meanfield
    seen = set()
    for i, p in enumerate(points):
        setup = Setup(**{k: p[k] for k in SETUP_FIELDS})
        if setup in seen:
            continue
        seen.add(setup)
        try:
            meanfield(setup, steps)
        except ValueError as err:
            raise ValueError(f"grid point {i} (eta={setup.eta!r}, alpha={setup.alpha!r}, M={setup.M}): {err}") from None
