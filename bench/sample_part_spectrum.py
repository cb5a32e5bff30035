"""Would the feedback's spectrum at width M take the sample's degree-2 deposits off faster? An estimate, not a
prediction ``predict`` makes.

Usage (from the repository root; a few seconds)::

    python bench/sample_part_spectrum.py                          # Fig. 1 and d = 50, M = 200

An unsatisfied example's pull deposits K_2(., x) in F's degree-2 part: the feedback operator L (the nodes' rank-one
terms, ``mftheory.feedback_spectrum``) applied to the example's own degree-2 tensor, an isotropic one. Along the
eigendirection with eigenvalue x (in units of the trace average) the deposit's variance is x^2 times an isotropic
tensor's (size-biased), and the feedback pulls it back at the derived rate times x. ``predict`` takes every
direction at the average (x = 1). Printed: what is kept of deposits made at a rate f_unsat(s) at every step s
(independent between steps, as fresh data's), summed to t, with the free law's quantiles against x = 1, size-biased
and not. The mean-field solution's rate at the threshold (``derived_rates``) and f_unsat; the nodes' growth, which
multiplies both alike, is left out.
"""
from __future__ import annotations

import argparse

import numpy as np

import mftheory
from mftheory.feedback_spectrum import derived_rates, feedback_spectrum

SETTINGS = {"fig1": (mftheory.fig1_setup(), 2000),
            "d50_M200": (mftheory.Setup(d=50, alpha=1.0, h=1.0, eta=500.0, M=200), 1000)}


def kept_sums(rates, deposits, law):
    """(len(t), 3): the deposits kept at each step with every direction at the average, with the law's quantiles
    size-biased (x^2) and with them unweighted (an isotropic tensor's)."""
    out = np.zeros((len(rates), 3))
    average, biased, plain = 0.0, np.zeros(law.shape[1]), np.zeros(law.shape[1])
    for t in range(1, len(rates)):
        x = law[t]
        average = average * (1.0 - rates[t]) ** 2 + deposits[t]
        biased = biased * (1.0 - rates[t] * x) ** 2 + deposits[t] * x ** 2
        plain = plain * (1.0 - rates[t] * x) ** 2 + deposits[t]
        out[t] = average, biased.mean(), plain.mean()
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    args = parser.parse_args(argv)
    for name in args.settings:
        setup, steps = SETTINGS[name]
        solution = mftheory.meanfield(setup, steps)
        law = feedback_spectrum(solution).free
        kept = kept_sums(derived_rates(solution), np.asarray(solution.f_unsat, dtype=float), law)
        print(f"{name}: the free law's E[x^2] at t = {steps}: {np.mean(law[steps] ** 2):.3f}")
        for t in (100, 300, 500, 1000, 1500, 2000):
            if t <= steps:
                print(f"  t = {t:4d}: kept with the spectrum / at the average: size-biased {kept[t, 1] / kept[t, 0]:.3f},"
                      f" an isotropic tensor {kept[t, 2] / kept[t, 0]:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
