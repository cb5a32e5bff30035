"""The ``mftheory`` command: derive, latex, predict, run."""
from __future__ import annotations

import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from mftheory.model import ACTIVATIONS, DATA_LAWS, LOSSES


# LaTeX commands of the derivations' $...$ text, read aloud (the others lose their backslash: \alpha -> alpha)
_PLAIN_WORDS = {"parallel": "par", "to": "->", "infty": "infinity", "leftarrow": "<-", "pm": "+-", "le": "<=",
                "leq": "<=", "ge": ">=", "geq": ">=", "neq": "!=", "sim": "~", "cdot": ".", "epsilon": "eps",
                "ell": "l", "iint": "int int", "quad": " "}


def _plain_math(m: str) -> str:
    m = m.replace(r"\,", " ").replace(r"\|", "||")
    m = re.sub(r"\\(?:left|right|big)(?![A-Za-z])", "", m)

    def grouped(s: str) -> str:  # a numerator or denominator that is more than one token keeps parentheses
        return s if re.fullmatch(r"[\w\\^{}*]+|\([^()]*\)", s) else f"({s})"

    previous = None
    while previous != m:  # innermost first: the arguments below hold no braces
        previous = m
        m = re.sub(r"([_^])\{(\w+|\*)\}", r"\1\2", m)
        m = re.sub(r"\\hat\{(\w)\}", r"\1hat", m)
        m = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", m)
        m = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", lambda f: f"({f[1]}/{f[2]})" if grouped(f[1]) == f[1]
                   and grouped(f[2]) == f[2] else f"{grouped(f[1])}/{grouped(f[2])}", m)
        m = re.sub(r"\\(?:mathbb|mathbf|mathcal|mathrm|operatorname|text)\{([^{}]*)\}", r"\1", m)
        m = re.sub(r"\{(\([^{}]*\))\}", r"\1", m)

    def word(match):
        out = _PLAIN_WORDS.get(match[1], match[1])
        before, after = m[match.start() - 1:match.start()], m[match.end():match.end() + 1]
        if out and before.isdigit():
            out = " " + out
        return out + " " if out and (after.isalnum() or after == "\\") else out

    m = re.sub(r"(\d)sqrt\(", r"\1 sqrt(", re.sub(r"\\([A-Za-z]+)", word, m))
    return re.sub(r" {2,}", " ", m)


def plain_text(text: str) -> str:
    r"""A step's title or assumptions for a terminal: the $...$ mathematics (LaTeX) as ASCII, e.g.
    ``$\beta = \eta\alpha/M$`` -> ``beta = eta alpha/M``, ``$x_\parallel$`` -> ``x_par``."""
    parts = text.split("$")
    if len(parts) % 2 == 0:  # an unpaired $ is text (as in the LaTeX export)
        return text
    return "".join(_plain_math(part) if i % 2 else part for i, part in enumerate(parts))


def _cmd_derive(args):
    from mftheory.derivations.build import GENERATED_DIR, build, check_workers
    from mftheory.derivations.meanfield import derive

    if args.out is None:
        # the committed kernels are regenerated in a source checkout only, never inside an installed package
        root = GENERATED_DIR.parent.parent.parent
        if not ((root / ".git").exists() and (root / "pyproject.toml").exists()):
            print(f"error: {GENERATED_DIR} is not in a source checkout; pass --out DIR to generate the kernel "
                  f"modules elsewhere", file=sys.stderr)
            return 2
        target = GENERATED_DIR
    else:
        try:
            target = writable_folder(args.out)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    try:
        check_workers(args.workers)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    print(f"{'kernel module':<26} {'status':<10} {'seconds':>8}")
    build(target=target, force=args.force, workers=args.workers,
          progress=lambda r: print(f"{r.module:<26} {r.status:<10} {r.seconds:>8.2f}", flush=True))
    print(f"kernels up to date in {time.perf_counter() - start:.1f} s")
    if args.show:
        D = derive(args.activation, args.loss, args.data)
        print(f"\nderivation: activation={args.activation} loss={args.loss} data={args.data}")
        for cnd in D.conditions:
            print(f"  [{'ok' if cnd.holds else 'FAILS'}] {cnd.name}: {cnd.detail}")
        for step in D.steps:
            print(f"\n({step.key}) {plain_text(step.title)}\n    {step.equation}")
            if step.assumptions:
                print(f"    assuming: {plain_text(step.assumptions)}")
    return 0


def write_latex(path: pathlib.Path, variants, compile_pdf: bool = False) -> pathlib.Path | None:
    """Write the LaTeX document of ``variants`` ((activation, loss, data) triples); optionally run pdflatex."""
    from mftheory.derivations.finite_sample import derive_finite_sample
    from mftheory.derivations.finite_width import derive_finite_width
    from mftheory.derivations.fluctuations import tilt_or_none
    from mftheory.derivations.label_noise import small_label_noise
    from mftheory.derivations.latex import Family, Variant, document
    from mftheory.derivations.meanfield import derive
    from mftheory.atomic import write_atomically

    from tqdm import tqdm

    from mftheory.derivations.features import derive_features
    from mftheory.derivations.many_features import derive_many_features
    from mftheory.derivations.quadratic import derive_quadratic

    activations = list(dict.fromkeys(v[0] for v in variants))   # in the order asked, as the other sections
    # a cold derivation takes minutes (a warm one, from the disk cache, seconds): show where it is
    bar = tqdm(total=3 * len(variants) + 2 * len(activations) + 3, desc="derivations", unit="step")

    def step(result):
        bar.update()
        return result

    with bar:
        derived = [step(derive(*v)) for v in variants]
        # one section for each family: the variants' common steps once, the others tagged by variant
        small_noise = Family("Small label noise, {variants}", "label_noise", tuple(
            Variant((("activation", D.activation.name), ("loss", D.loss.name), ("data", D.data.name)),
                    f"label_noise:{D.activation.name}:{D.loss.name}:{D.data.name}", tuple(L.steps))
            for D, L in ((D, step(small_label_noise(D))) for D in derived) if L is not None))
        tilts = Family("Tilt of the effective teacher with the loss's feedback, {variants}", "tilt", tuple(
            Variant((("activation", D.activation.name), ("loss", D.loss.name), ("data", D.data.name)),
                    f"tilt:{D.activation.name}:{D.loss.name}:{D.data.name}", tuple(T.steps))
            for D, T in ((D, step(tilt_or_none(D))) for D in derived) if T is not None))
        # the quadratic hinge's derivation carries the hinge's steps and its own after them
        quadratic = [("Features of unequal frequency and strength: the mean field with the hinge and the quadratic "
                      "hinge", "features", step(derive_features("quadratic_hinge")).steps),
                     ("More than two features: the sum over presence patterns (hinge)", "many_features",
                      step(derive_many_features("hinge")).steps),
                     ("Extensive-width quadratic network: the long-time estimator of gradient descent", "quadratic",
                      step(derive_quadratic()).steps)]
        widths = [step(derive_finite_width(a)) for a in activations]
        samples = [step(derive_finite_sample(a)) for a in activations]
    write_atomically(path, document(derived, widths, samples,
                                        [f for f in (small_noise, tilts) if f.variants] + quadratic))
    if not compile_pdf:
        return None
    if shutil.which("pdflatex") is None:
        print("pdflatex not found: wrote the .tex only", file=sys.stderr)
        return None
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-output-directory", tmp,
                                 str(path)], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"pdflatex failed on {path}:\n{result.stdout[-3000:]}")
        pdf = path.with_suffix(".pdf")
        shutil.move(pathlib.Path(tmp) / (path.stem + ".pdf"), pdf)
    return pdf


def _variants(args):
    losses = LOSSES if args.loss == "all" else (args.loss,)
    datas = DATA_LAWS if args.data == "all" else (args.data,)
    acts = ACTIVATIONS if args.activation == "all" else (args.activation,)
    return [(a, l, d) for d in datas for l in losses for a in acts]


def _cmd_latex(args):
    out = pathlib.Path(args.output)
    try:
        writable_folder(out.parent)
    except ValueError as err:
        print(f"error: -o {args.output}: {err}".replace("--out ", ""), file=sys.stderr)
        return 2
    if out.is_dir():
        print(f"error: -o {args.output} names a folder; give the .tex file to write", file=sys.stderr)
        return 2
    pdf = write_latex(out, _variants(args), compile_pdf=args.pdf)
    print(f"wrote {out}" + (f" and {pdf}" if pdf else ""))
    return 0


def _setup_from_args(args):
    from mftheory.model import Setup
    return Setup(d=args.d, alpha=args.alpha, h=args.h, eta=args.eta, M=args.M, sigma_a=args.sigma_a,
                 sigma_w=args.sigma_w, data=args.data, loss=args.loss, activation=args.activation,
                 label_noise=args.label_noise, leak=args.leak)


def _cmd_predict(args):
    from mftheory.dynamics import label_noise_fixed_point, meanfield

    try:
        if args.every is not None and args.every < 1:
            raise ValueError(f"--every must be an integer >= 1, got {args.every}")
        setup = _setup_from_args(args)
        with _SlowNote("solving the mean field: the first solve of a model on a machine compiles its kernels "
                       "(several seconds, once; a model of your own is derived first)"):
            sol = meanfield(setup, args.steps)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{setup}\nbeta = eta alpha / M = {setup.beta:g}; alpha sigma_a sigma_w/(h sqrt d) = {setup.laziness:g}\n")
    print(sol.table(args.every))
    print(f"\nfinal alignment E[w_par^2]/E|w|^2 = {sol.alignment[-1]:.4f}, relative change = {sol.relative_change[-1]:.4f}")
    if setup.label_noise > 0:
        fp = label_noise_fixed_point(setup)
        print(f"label-noise fixed point: x* = {fp.x_star:.6g}, kappa = {fp.kappa:.6g} ({fp.method})")
    if args.N is not None:
        return _print_finite_size(sol, args)
    return 0


def _training_set_size(text):
    """--N: a number of training examples (an integer >= 1) or "inf" (an infinite training set)."""
    if text.strip().lower() in ("inf", "infinity", "none"):
        return "inf"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--N must be an integer >= 1 or 'inf', got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"--N must be an integer >= 1 or 'inf', got {text!r}")
    return value


class _SlowNote:
    """Prints ``message`` to stderr if the block it guards runs longer than ``after`` seconds: a long first call
    (numba compiling the kernels, once per machine) then says so instead of looking stuck."""

    def __init__(self, message: str, after: float = 3.0):
        self._timer = threading.Timer(after, lambda: print(message, file=sys.stderr, flush=True))
        self._timer.daemon = True

    def __enter__(self):
        self._timer.start()
        return self

    def __exit__(self, *exc):
        self._timer.cancel()
        return False


def _print_finite_size(sol, args):
    """The finite-size prediction at the setup's width M with N training examples (``--N``), as a table."""
    from mftheory.finite_size import predict

    N = None if args.N == "inf" else args.N
    sample = "fresh" if args.fresh else "fixed"
    try:
        with _SlowNote("computing the finite-size prediction: the first one on a machine compiles its kernels "
                       "(about a minute, once); later ones take about a second"):
            pred = predict(sol, N, sample)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    data = ("an infinite training set" if N is None else
            f"{N} new examples at every step" if args.fresh else f"one fixed training set of {N} examples")
    print(f"\nfinite size: width M = {sol.setup.M}, {data} (mftheory.finite_size.predict)")
    if pred.sliding_onset is not None:
        print(f"sliding onset (the set's examples stalled at the margin hold the tilt): t = {pred.sliding_onset}")
    print(pred.table(args.every))
    return 0


def writable_folder(path) -> pathlib.Path:
    """``path`` as a folder this process can write into (created if missing); ValueError naming it otherwise."""
    out = pathlib.Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {path} names a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"--out {path}: cannot create the folder ({err.strerror})") from err
    if not os.access(out, os.W_OK):
        raise ValueError(f"--out {path}: the folder is not writable")
    return out


def _cmd_run(args):
    try:
        out = writable_folder(args.out)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from mftheory.derivations.build import stale_modules

    stale = stale_modules()
    if stale:
        # the run uses the committed kernels; regenerating is `mftheory derive`'s job, in a source checkout
        print(f"warning: the kernels {', '.join(stale)} were generated from other derivation sources than these; "
              f"run `mftheory derive` in the source checkout to regenerate them", file=sys.stderr)
    tex = out / "meanfield.tex"
    pdf = write_latex(tex, _variants(argparse.Namespace(loss="all", data="all", activation="relu")),
                      compile_pdf=True)
    print(f"wrote {tex}" + (f" and {pdf}" if pdf else ""))
    try:
        from mftheory.validate.suite import main as validate_main
    except ImportError:
        print("validate suite not available", file=sys.stderr)
        return 1
    fresh = ["--fresh-simulations"] if args.fresh_simulations else []
    hinge = validate_main(["run", "--suite", args.suite, "--out", str(out / "validation"), *fresh])
    # the second model family's suite at the same scale, in its own report
    quadratic_suite = "quadratic" if args.suite == "quick" else "quadratic-paper"
    quadratic = validate_main(["run", "--suite", quadratic_suite, "--out", str(out / "validation" / "quadratic"),
                               *fresh])
    return hinge or quadratic


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mftheory", description=__doc__.splitlines()[0] + " Mean-field theory of "
                                     "shallow networks trained with margin losses (Pellegrini & Biroli 2020).")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("derive", help="run the SymPy derivations and (re)generate the numba kernels",
                       description="Regenerate every kernel module whose derivation changed (keyed by content); "
                                   "--show prints the derivation of one variant step by step.")
    p.add_argument("--force", action="store_true", help="regenerate even when the stored key matches")
    p.add_argument("--out", default=None,
                   help="write the modules to this folder (default: the package's generated/ folder, in a source "
                        "checkout only)")
    p.add_argument("--show", action="store_true", help="print the derivation steps of one variant")
    p.add_argument("--workers", type=int, default=None,
                   help="processes deriving the modules to regenerate (default: the machine's cores, at most 4)")
    p.add_argument("--activation", default="relu", choices=ACTIVATIONS)
    p.add_argument("--loss", default="hinge", choices=LOSSES)
    p.add_argument("--data", default="gaussian", choices=DATA_LAWS)
    p.set_defaults(func=_cmd_derive)

    p = sub.add_parser("latex", help="export the derived equations as a standalone LaTeX document",
                       description="Write a standalone LaTeX document with every derived equation, numbered, "
                                   "with its assumptions.")
    p.add_argument("-o", "--output", required=True, help="the .tex file to write")
    p.add_argument("--activation", default="relu", choices=ACTIVATIONS + ("all",))
    p.add_argument("--loss", default="all", choices=LOSSES + ("all",))
    p.add_argument("--data", default="all", choices=DATA_LAWS + ("all",))
    p.add_argument("--pdf", action="store_true", help="also compile it with pdflatex")
    p.set_defaults(func=_cmd_latex)

    p = sub.add_parser("predict", help="mean-field predictions for one setup, as a table",
                       description="Solve the exact discrete mean-field map and the continuous flow. Defaults: "
                                   "the paper's Fig. 1 setting.")
    for name, default, kind in (("d", 100, int), ("alpha", 1.0, float), ("h", 1.0, float), ("eta", 1e3, float),
                                ("M", 400, int), ("sigma_a", 1.0, float), ("sigma_w", 1.0, float),
                                ("label_noise", 0.0, float), ("leak", 0.1, float)):
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=default,
                       help=f"(default {default})")
    p.add_argument("--data", default="gaussian", choices=DATA_LAWS)
    p.add_argument("--loss", default="hinge", choices=LOSSES)
    p.add_argument("--activation", default="relu", choices=ACTIVATIONS)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--every", type=int, default=None, help="print every k-th step")
    p.add_argument("--N", type=_training_set_size, default=None, metavar="N",
                   help="also the finite-size prediction at width M trained on N examples (one fixed set; 'inf': "
                        "an infinite training set, finite M only): test and train error, training f_unsat, tilt, "
                        "band (hinge loss, Gaussian data, clean labels)")
    p.add_argument("--fresh", action="store_true", help="with --N: N new examples at every step")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("run", help="the main job: derive, export LaTeX, run the validation suite, write the report",
                       description="Derive and generate kernels, write OUT/meanfield.tex (and .pdf when pdflatex "
                                   "exists), then run the validation suite into OUT/validation and the quadratic "
                                   "network's into OUT/validation/quadratic.")
    p.add_argument("--out", default="results")
    p.add_argument("--suite", default="quick", choices=("quick", "paper"))
    p.add_argument("--fresh-simulations", action="store_true",
                   help="compute every simulation and store it for the next run (by default one that an earlier "
                        "run of the same simulator code stored on this machine is reused, bit for bit)")
    p.set_defaults(func=_cmd_run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
