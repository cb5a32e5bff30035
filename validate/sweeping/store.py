"""Files of a sweep: atomic Parquet writing, the completeness check of a point file, the concatenated table with
its metadata (spec, seeds, package versions) and reading that metadata back."""
from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile

import numpy as np

from mftheory.model import Setup
from mftheory.validate.sweeping.grid import METADATA_KEY, SCHEMA_VERSION


def _write_parquet_atomically(table, path: pathlib.Path):
    import pyarrow.parquet as pq

    path = pathlib.Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _is_complete(path: pathlib.Path) -> bool:
    import pyarrow.parquet as pq

    if not path.is_file():
        return False
    try:
        pq.read_metadata(path)
        return True
    except Exception:
        return False


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": sys.version.split()[0]}
    for name in ("mftheory", "numpy", "scipy", "numba", "pandas", "pyarrow", "dask", "distributed"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = None
    return out


def _concatenate(jobs, pdir, spec, seeds):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = []
    for i, s, key, p in jobs:
        tab = pq.read_table(pdir / f"{key}.parquet")
        tab = tab.replace_schema_metadata(None)
        parts.append(tab.add_column(0, "point", pa.array(np.full(tab.num_rows, i, np.int64))))
    table = pa.concat_tables(parts)
    meta = {"spec": _jsonable(spec), "seeds": seeds, "versions": _versions(), "schema": SCHEMA_VERSION}
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(meta, sort_keys=True).encode()})


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, range, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, Setup):
        return obj.as_dict()
    return obj


def read_metadata(path) -> dict:
    """The ``mftheory.sweep`` metadata (spec, seeds, versions) of a table written by :func:`sweep`."""
    import pyarrow.parquet as pq

    return json.loads(pq.read_schema(path).metadata[METADATA_KEY])
