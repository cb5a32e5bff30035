"""``python -m mftheory.validate run --suite SUITE [--out DIR] [--cases ...]``: run the validation cases and write report.md,
report.json and one PNG per case. Exit status 1 when a check fails (the failing ones are printed).

Suites: quick/paper (the hinge network's core cases), finite/finite-paper (its finite-size cases),
quadratic/quadratic-paper (the extensive-width quadratic network)."""
from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time

from tqdm import tqdm

from mftheory.atomic import write_atomically
from mftheory.validate.simulation_cache import counts as simulation_counts
from mftheory.validate.simulation_cache import reuse_simulations
from mftheory.validate.cases import CASES, CORE_CASES, FINITE_SIZE_CASES, PAPER, QUADRATIC_CASE_NAMES, QUICK, run_case
from mftheory.validate.quadratic.cases import PAPER_QUADRATIC, QUICK_QUADRATIC

SUITES = {"quick": (QUICK, CORE_CASES), "paper": (PAPER, CORE_CASES), "finite": (QUICK, FINITE_SIZE_CASES),
          "finite-paper": (PAPER, FINITE_SIZE_CASES), "quadratic": (QUICK_QUADRATIC, QUADRATIC_CASE_NAMES),
          "quadratic-paper": (PAPER_QUADRATIC, QUADRATIC_CASE_NAMES)}


def run(suite: str, out: pathlib.Path, cases=None, seed: int = 0, reuse: bool = True) -> dict:
    """Run the ``suite``'s cases (or ``cases``), writing the report to ``out`` after every case. ``reuse``: take
    a simulation that an earlier run of the same code on this machine stored (``validate.simulation_cache``)
    instead of computing it again; ``reuse=False`` computes every one (and stores it for the next run). The
    report counts both."""
    with reuse_simulations(refresh=not reuse):
        return _run(suite, pathlib.Path(out), cases, seed)


def _run(suite, out, cases, seed):
    scale, default_cases = SUITES[suite]
    names = list(cases or default_cases)
    unknown = set(names) - set(CASES)
    if unknown:
        raise ValueError(f"cases must be among {sorted(CASES)}; got {sorted(unknown)}")
    out.mkdir(parents=True, exist_ok=True)
    rows, figures, timings = [], {}, {}
    before = simulation_counts()
    for done, name in enumerate(bar := tqdm(names, desc=f"validate {suite}", unit="case"), start=1):
        bar.set_postfix_str(name)
        start = time.perf_counter()
        checks, figure = run_case(name, scale, out, seed)
        timings[name] = time.perf_counter() - start
        rows += [c.as_dict() for c in checks]
        figures[name] = figure.name
        # the report is rewritten after every case, so a long suite shows its results as it goes (and an
        # interrupted one keeps those of the cases it finished); ``complete`` says whether every case ran
        now = simulation_counts()
        report = {"suite": suite, "scale": scale.__dict__, "seed": seed, "checks": rows, "figures": figures,
                  "seconds": timings, "passed": all(r["pass"] for r in rows), "complete": done == len(names),
                  "cases": names, "simulations": {k: now[k] - before[k] for k in now}}
        write_atomically(out / "report.json", json.dumps(report, indent=1))
        write_atomically(out / "report.md", _markdown(report))
    return report


def _markdown(report) -> str:
    pending = [name for name in report.get("cases", []) if name not in report["figures"]]
    status = (f"**Partial: {len(report['figures'])} of {len(report['cases'])} cases so far** (still to run: "
              f"{', '.join(pending)}).\n\n") if pending else ""
    simulations = report.get("simulations", {})
    reused = (f" Simulations: {simulations['computed']} computed, {simulations['reused']} reused from an earlier run "
              f"of the same code on this machine (bit-identical; `--fresh-simulations` computes all)."
              if simulations else "")
    lines = [f"# Validation report ({report['suite']} suite)", "",
             f"{status}Scale: {report['scale']}; seed {report['seed']}.{reused}", "",
             "Rows marked *theory vs theory* compare two theoretical values (the second in the simulation column); "
             "*info* rows are reported, not judged; *one-sided* rows judge a bound: they fail only when the simulation is beyond "
             "the theory column, on the side the quantity names, by more than the tolerance. *Resolution*: the smallest "
             "relative error of the theory that the row detects (the theory off by this much, either way, fails it).", "",
             "| case | quantity | theory | simulation | error | tolerance | resolution | result |",
             "|---|---|---|---|---|---|---|---|"]
    for r in report["checks"]:
        result = "info" if r["informational"] else ("pass" if r["pass"] else "**FAIL**")
        kind = (" (rel.)" if r["relative"] else "") + (" (one-sided)" if r.get("upper_bound") or r.get("lower_bound") else "")
        number = lambda v, fmt: format(v, fmt) if math.isfinite(v) else "—"
        other = number(r["simulation"], ".5g")
        if r.get("theory_only"):
            result, other = f"{result} (theory vs theory)", f"theory {other}"
        tolerance = "—" if r["informational"] else number(r["tolerance"], ".3g") + kind
        resolution = r.get("resolution", math.nan)
        resolution = "—" if r["informational"] or not r["pass"] or not math.isfinite(resolution) else f"{resolution:.0%}"
        quantity = r["quantity"].replace("|", "\\|")   # a quantity's |x| would split the table's cell
        lines.append(f"| {r['case']} | {quantity} | {number(r['theory'], '.5g')} | {other} | "
                     f"{number(r['error'], '.3g')} | {tolerance} | {resolution} | {result} |")
    lines += ["", "## Figures", ""]
    lines += [f"### {name} ({report['seconds'][name]:.1f} s)\n\n![{name}]({fig})\n" for name, fig in report["figures"].items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mftheory.validate", description="Validate mftheory against simulation.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a validation suite and write the report",
                       description="Run the named validation cases; write report.md, report.json and figures.")
    p.add_argument("--suite", choices=tuple(SUITES), default="quick",
                   help="quick/paper: the core cases at small/paper scale; finite/finite-paper: the finite-size cases; "
                   "quadratic/quadratic-paper: the quadratic network")
    p.add_argument("--out", default="validation")
    p.add_argument("--cases", nargs="*", choices=sorted(CASES), help="a subset of the cases (default: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fresh-simulations", action="store_true",
                   help="compute every simulation, even one an earlier run of the same code stored (and store "
                        "them for the next run)")
    from mftheory.validate.sweeping import add_parser, cli  # issue 7: `python -m mftheory.validate sweep ...`
    add_parser(sub)
    args = parser.parse_args(argv)
    if args.command == "sweep":
        return cli(args)
    if args.seed < 0:
        p.error(f"argument --seed: must be an integer >= 0, got {args.seed}")
    from mftheory.cli import writable_folder

    try:
        out = writable_folder(args.out)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = run(args.suite, out, args.cases, args.seed, reuse=not args.fresh_simulations)
    print(f"\nwrote {args.out}/report.md and report.json")
    failed = [r for r in report["checks"] if not r["pass"]]
    for r in report["checks"]:
        status = "info" if r["informational"] else ("ok  " if r["pass"] else "FAIL")
        other = "ref" if r["theory_only"] else "sim"
        tolerance = "" if r["informational"] else f" tol {r['tolerance']:.3g}"
        print(f"  [{status}] {r['case']:<12} {r['quantity']:<34} theory {r['theory']:<11.5g} {other} "
              f"{r['simulation']:<11.5g} err {r['error']:.3g}{tolerance}")
    if failed:
        print(f"\n{len(failed)} check(s) failed", file=sys.stderr)
        return 1
    return 0
