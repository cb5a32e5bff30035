"""Time of the features law's mean field over 2000 steps against the number of features K.

Usage (from the repository root; about 1 minute on one core)::

    python bench/bench_many_features.py

K = 2 runs both ways: the closed forms (``features_hinge``, what ``meanfield`` uses) and the nested quadrature of
K > 2 (``manyfeatures_hinge``) on the same law, whose kappa must agree to 1e-12; K = 3 and 4 the nested
quadrature. Each is compiled first, then timed (best of ``--repeat``). A pattern of m features costs
(2 x 16)^(m - 1) evaluations of the closed inner integrals (its mass and all its drifts in one pass), so the time
grows about 32-fold per added feature.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import mftheory
from mftheory.features import meanfield_features
from mftheory.kernels.generated import manyfeatures_hinge

STEPS = 2000


def _best(function, repeat):
    function()   # compile
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = function()
        times.append(time.perf_counter() - start)
    return min(times), out


def _nested(setup):
    K = len(setup.feature_freq)
    out = [np.empty((STEPS + 1, K)), np.empty((STEPS + 1, K)), np.empty((STEPS + 1, 2**K)),
           np.empty((STEPS, K + 1, K + 1))]
    manyfeatures_hinge.meanfield_loop(STEPS, setup.beta, setup.alpha, float(setup.d), 0.5, setup.sigma_a,
                                      setup.sigma_w, np.array(setup.feature_strength), np.array(setup.feature_freq),
                                      setup.h, 0.0, *out)
    return out[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    base = dict(d=20, alpha=1.0, h=1.0, eta=500.0, M=200, data="features")
    laws = {2: (0.8, 0.2), 3: (0.8, 0.4, 0.2), 4: (0.8, 0.5, 0.3, 0.2)}
    for K, freq in laws.items():
        setup = mftheory.Setup(**base, feature_freq=freq, feature_strength=(1.0,) * K)
        seconds, kappa = _best(lambda: meanfield_features(setup, STEPS).kappa_features, args.repeat)
        line = f"K = {K}: meanfield_features over {STEPS} steps {seconds * 1e3:9.1f} ms"
        if K == 2:
            nested, kappa_nested = _best(lambda: _nested(setup), args.repeat)
            error = float(np.max(np.abs(kappa_nested - kappa) / np.abs(kappa).clip(1e-300)))
            line += f" (closed forms); nested quadrature {nested * 1e3:.1f} ms, max relative difference {error:.1e}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
