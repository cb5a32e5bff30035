"""Command line: ``python -m mftheory.validate sweep`` (the parser is attached by mftheory.validate.suite.main)."""
from __future__ import annotations

import argparse
import json
import sys

from mftheory.validate.sweeping.grid import SweepError
from mftheory.validate.sweeping.quadratic import BUILTIN_QUADRATIC_SWEEPS, run_builtin
from mftheory.validate.sweeping.spec import builtin_specs, load_spec, run_spec
from mftheory.validate.sweeping.store import _jsonable


def add_parser(subparsers):
    p = subparsers.add_parser(
        "sweep", help="run a parameter sweep (TOML spec or a built-in) on Dask",
        description="Run a sweep of theory against simulation on Dask: one task per point x seed, finished points "
                    "written atomically to OUT/points/KEY.parquet and skipped on rerun, the table in "
                    "OUT/table.parquet. Without --scheduler a local cluster of --workers single-threaded "
                    "processes is started.",
        epilog=f"built-in sweeps: {', '.join(sorted(builtin_specs()) + sorted(BUILTIN_QUADRATIC_SWEEPS))}. See the mftheory.validate.sweeping docstring for the "
               "spec format and for running on SLURM/PBS (dask-jobqueue) or Kubernetes.")
    p.add_argument("spec", nargs="?", help="the sweep spec (TOML)")
    p.add_argument("--builtin", choices=sorted(builtin_specs()) + sorted(BUILTIN_QUADRATIC_SWEEPS),
                   help="run a built-in sweep instead of SPEC")
    p.add_argument("--out", help="output directory (required unless --list)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://10.0.0.1:8786")
    p.add_argument("--workers", type=int, help="local cluster size (default: CPU count); with --scheduler, wait "
                                               "for this many workers")
    p.add_argument("--no-figure", action="store_true", help="do not draw the spec's figure")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list the built-in sweeps and exit")
    return p


def cli(args) -> int:
    builtins = builtin_specs()
    if args.list:
        for name, path in sorted(builtins.items()):
            spec = load_spec(path)
            print(f"{name:<12} {spec.get('description') or ''}")
        for name, (description, _, _) in sorted(BUILTIN_QUADRATIC_SWEEPS.items()):
            print(f"{name:<12} {description}")
        return 0
    try:
        if (args.spec is None) == (args.builtin is None):
            raise ValueError("give exactly one of SPEC.toml or --builtin NAME")
        if not args.out:
            raise ValueError("--out DIR is required")
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        if args.builtin in BUILTIN_QUADRATIC_SWEEPS:
            df, fig = run_builtin(args.builtin, args.out, scheduler=args.scheduler, workers=args.workers,
                                  figure=not args.no_figure, progress=not args.no_progress)
            return _report(args, df, fig)
        spec = load_spec(builtins[args.builtin] if args.builtin else args.spec)
        df, fig = run_spec(spec, args.out, scheduler=args.scheduler, workers=args.workers,
                           figure=not args.no_figure, progress=not args.no_progress)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return _report(args, df, fig)


def _report(args, df, fig) -> int:
    print(f"wrote {args.out}/table.parquet ({len(df)} rows, {df.shape[1]} columns)")
    if fig is not None:
        print(f"wrote {fig['figure']}")
        print(json.dumps(_jsonable(fig["numbers"]), indent=1)[:4000])
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mftheory.validate sweep")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    return cli(parser.parse_args(argv))
