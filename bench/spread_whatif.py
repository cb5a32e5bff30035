"""What if the memorization map's spread grew faster? ``bench/paper_finite_size.py`` with every step's increment of
the spread's variance (the others' memorizing terms, ``spread_step`` in derivations/finite_sample.py) multiplied by
a factor. A sensitivity test, not a prediction: the factor is the caller's.

Usage (from the repository root; as long as ``paper_finite_size.py`` with the same arguments)::

    python bench/spread_whatif.py --scale 2.7 --sizes 25000 100000 --seeds 2

``bench/velocity_width.py`` measures why such a factor is a question: at Fig. 1 the nodes' finite number adds a
random-features part to the pullers' degree >= 2 push, which the derivation now has (``pull_amplitude``).
The spread's increments (alpha beta / N)^2 U q (q + 2 C) become (1 + (scale - 1)) times that, every step;
everything else in ``finite_size.predict`` is unchanged. The scaled kernel is written to a temporary module whose
source carries the factor (the compiled loops are cached by their source), and
``Variant.finite_sample_kernels`` is patched for this process only.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
import tempfile
import types

import mftheory.variant

import paper_finite_size

_SOURCE = '''import numba
from mftheory.kernels.generated.{module} import spread_step as _spread_step

SCALE = {scale!r}


@numba.njit(cache=False)
def spread_step(spread, amplitude, cumulative, unsat_count, alpha, beta, N):
    base = _spread_step(spread, amplitude, cumulative, 0.0, alpha, beta, N)
    return base + SCALE * (_spread_step(spread, amplitude, cumulative, unsat_count, alpha, beta, N) - base)
'''


def _scaled_kernels(scale: float):
    """Patch ``Variant.finite_sample_kernels`` so that its ``spread_step`` scales the spread's increment."""
    folder = tempfile.mkdtemp(prefix="spread_whatif_")
    sys.path.insert(0, folder)
    original = mftheory.variant.Variant.finite_sample_kernels
    made = {}

    def patched(self):
        kernels = original(self)
        module = kernels.__name__.rsplit(".", 1)[1]
        if module not in made:
            source = _SOURCE.format(module=module, scale=float(scale))
            name = f"spread_whatif_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
            with open(f"{folder}/{name}.py", "w") as handle:
                handle.write(source)
            made[module] = importlib.import_module(name).spread_step
        proxy = types.SimpleNamespace(**{k: getattr(kernels, k) for k in dir(kernels) if not k.startswith("__")})
        proxy.spread_step = made[module]
        return proxy

    mftheory.variant.Variant.finite_sample_kernels = patched


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--scale", type=float, required=True,
                        help="factor on the spread's increment per step (1: the prediction as it is)")
    args, rest = parser.parse_known_args(argv)
    if not args.scale > 0:
        parser.error(f"--scale must be > 0, got {args.scale}")
    _scaled_kernels(args.scale)
    paper_finite_size.main(rest)


if __name__ == "__main__":
    main()
