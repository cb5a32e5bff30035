"""Sweep specs (TOML): the built-in specs (validate/sweeps/*.toml), loading, checking and running a spec."""
from __future__ import annotations

import pathlib
import tomllib
from importlib import resources

from mftheory.validate.sweeping.driver import sweep
from mftheory.validate.sweeping.figures import FIGURES

_SWEEP_KEYS = {"steps", "seeds", "N", "record_steps", "figure", "name", "description"}


def builtin_specs() -> dict:
    """Built-in sweep name -> path of its TOML spec (validate/sweeps/*.toml)."""
    folder = resources.files("mftheory.validate") / "sweeps"
    return {p.name[:-5]: pathlib.Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml")}


def load_spec(path) -> dict:
    """Read and check a TOML spec; returns a dict with keys base, grid, seeds, steps, N, record_steps, figure."""
    path = pathlib.Path(path)
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ValueError(f"spec file {path} does not exist") from None
    except IsADirectoryError:
        raise ValueError(f"spec file {path} is a directory; give the path of a TOML file") from None
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"spec file {path} is not valid TOML: {err}") from None
    return parse_spec(raw, str(path))


def parse_spec(raw: dict, where: str = "spec") -> dict:
    unknown = set(raw) - {"sweep", "base", "grid"}
    if unknown:
        raise ValueError(f"{where}: unknown section(s) {sorted(unknown)}; expected [sweep], [base], [grid]")
    head = raw.get("sweep", {})
    if not isinstance(head, dict):
        raise ValueError(f"{where}: [sweep] must be a table")
    bad = set(head) - _SWEEP_KEYS
    if bad:
        raise ValueError(f"{where}: unknown key(s) {sorted(bad)} in [sweep]; allowed: {sorted(_SWEEP_KEYS)}")
    if "steps" not in head:
        raise ValueError(f"{where}: [sweep] steps is required")
    if "seeds" not in head:
        raise ValueError(f"{where}: [sweep] seeds is required (a list of integers or a count)")
    if "grid" not in raw:
        raise ValueError(f"{where}: [grid] (or [[grid]] points) is required")
    figure = head.get("figure")
    if figure is not None and figure not in FIGURES:
        raise ValueError(f"{where}: [sweep] figure must be one of {sorted(FIGURES)}, got {figure!r}")
    base = raw.get("base", {})
    if not isinstance(base, dict):
        raise ValueError(f"{where}: [base] must be a table")
    return {"base": base, "grid": raw["grid"], "seeds": head["seeds"], "steps": head["steps"], "N": head.get("N"),
            "record_steps": head.get("record_steps"), "figure": figure, "name": head.get("name"),
            "description": head.get("description")}


def run_spec(spec: dict, out, scheduler=None, workers=None, figure=True, progress=True):
    """Run a parsed spec; draw its figure (if any) into ``out``. Returns (DataFrame, figure result or None)."""
    out = pathlib.Path(out)
    df = sweep(spec["base"], spec["grid"], spec["seeds"], spec["steps"], out, scheduler=scheduler,
               record_steps=spec["record_steps"], N=spec["N"], workers=workers, spec=spec, progress=progress)
    result = None
    if figure and spec.get("figure"):
        result = FIGURES[spec["figure"]](df, out)
    return df, result
