"""Mean-field predictions for features of unequal frequency and strength (``Setup(data="features", ...)``).

Pipeline: ``derivations/features.py`` (SymPy) -> ``mftheory/kernels/generated/features_hinge.py`` -> this module
-> ``mftheory.validate.features`` (the data law drawn for the simulator, and the validation cases).

The data law (K features, 2 <= K <= 4; conventions in :mod:`mftheory.model`): y = +-1 with probability 1/2; feature
k is present with probability ``feature_freq[k]``, independently (an example with none is redrawn); along e_k the
input is s_k y mu_k |g_k| with mu_k = ``feature_strength[k]`` and g_k ~ N(0, 1); the other d - K coordinates are
N(0, 1). The mean-field output is F_t(x) = sum_k kappa_k x_k: one slope per feature, coupled through the examples
that carry several (any of them can satisfy those). Hinge and quadratic hinge losses (closed forms; the
quadratic hinge's needs the mass of the examples with both features below the margin, by quadrature) and the
logistic loss (generated quadrature), activations with sigma'(z) + sigma'(-z) constant (ReLU, leaky ReLU).
``Setup(spectral_decoupling=lambda)`` adds the penalty (lambda/2) F(x)^2 to every example's loss (its drift is
derived in the same module). :meth:`FeatureSolution.error_curve` describes each feature's learning curve.

More than two features (``derivations/many_features.py`` -> ``manyfeatures_<loss>.py``): the drift is a sum over
the 2^K - 1 presence patterns, each an integral over its features' half-normal variables, the last one closed and
the others by nested quadrature (hinge and quadratic hinge; a pattern of m features costs 32^(m - 1) evaluations,
so 2000 steps take about 0.09 s at K = 3 and 4.3 s at K = 4: ``bench/bench_many_features.py``).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.special import erfinv

import importlib
import pkgutil

from mftheory.kernels import generated
from mftheory.model import Setup, _check_real, check_int, check_memory

__all__ = ["FeatureSolution", "ErrorCurve", "meanfield_features", "first_crossing", "FEATURE_LOSSES",
           "MANY_FEATURE_LOSSES"]

# the losses whose kernels ``mftheory derive`` generated for this law (derivations/features_codegen.py)
FEATURE_LOSSES = tuple(sorted(m.name[len("features_"):] for m in pkgutil.iter_modules(generated.__path__)
                              if m.name.startswith("features_")))
# the losses derived for more than two features (derivations/many_features_codegen.py)
MANY_FEATURE_LOSSES = tuple(sorted(m.name[len("manyfeatures_"):] for m in pkgutil.iter_modules(generated.__path__)
                                   if m.name.startswith("manyfeatures_")))


@dataclasses.dataclass(frozen=True)
class FeatureSolution:
    """The mean field on ``data="features"`` over ``steps`` GD steps (arrays indexed by step 0..steps).

    ``kappa_features`` (steps+1, K): the slope of F_t along each feature's direction; ``drift`` (steps+1, K):
    G_k = E[u y x_k], what drives feature k; ``f_unsat`` the unsatisfied fraction of all training examples and
    ``f_unsat_patterns`` (steps+1, 2^K - 1) of those with each presence pattern, in the order of
    :attr:`patterns` (K = 2: feature 1 alone, feature 2 alone, both); ``node_maps`` (steps, K+1, K+1) the one-step
    linear map of a node (a, w_1, ..., w_K)."""

    setup: Setup
    kappa_features: np.ndarray
    drift: np.ndarray
    f_unsat: np.ndarray
    f_unsat_patterns: np.ndarray
    node_maps: np.ndarray

    @property
    def t(self) -> np.ndarray:
        return np.arange(self.kappa_features.shape[0])

    @property
    def features(self) -> int:
        """K, the number of features."""
        return self.kappa_features.shape[1]

    @property
    def patterns(self) -> tuple:
        """The presence patterns (s_1, ..., s_K) in the order of ``f_unsat_patterns``'s columns: column mask - 1
        holds the pattern with s_k = bit k of mask."""
        K = self.features
        return tuple(tuple((mask >> k) & 1 for k in range(K)) for mask in range(1, 2**K))

    def alone(self, k: int) -> np.ndarray:
        """(steps+1,): the unsatisfied fraction of the examples that carry feature ``k`` alone."""
        k = self._feature_index(k)
        return self.f_unsat_patterns[:, (1 << k) - 1]

    def _feature_index(self, k):
        k = check_int("k", k, 0)
        if k >= self.features:
            raise ValueError(f"k must be a feature index in [0, {self.features - 1}], got {k}")
        return k

    def node(self, a0, w0):
        """Trajectories (steps+1, K+1, ...) of nodes from initial (a, w_1, ..., w_K) = (a0, w0[..., 0], ...,
        w0[..., K-1])."""
        w0 = np.asarray(w0, float)
        if w0.ndim == 0 or w0.shape[-1] != self.features:
            raise ValueError(f"w0 must be an array whose last axis has length K = {self.features} (one weight per "
                             f"feature), got shape {w0.shape}")
        state = np.stack([np.asarray(a0, float)] + [w0[..., k] for k in range(self.features)])
        out = [state]
        for A in self.node_maps:
            state = np.tensordot(A, state, axes=1)
            out.append(state)
        return np.stack(out)

    def node_moments(self) -> np.ndarray:
        """(steps+1, K+1, K+1): the covariance of a node's (a, w_1, ..., w_K) at every step: the Gaussian init's
        diag(sigma_a^2, sigma_w^2, ..., sigma_w^2) carried by the node maps (the noise coordinates of w keep their
        init law)."""
        setup = self.setup
        covariance = np.diag([setup.sigma_a**2] + [setup.sigma_w**2] * self.features)
        out = [covariance]
        for A in self.node_maps:
            covariance = A @ covariance @ A.T
            out.append(covariance)
        return np.array(out)

    def finite_width_test_error(self, feedback: bool = True, N: int | None = None, sample: str = "fixed") -> np.ndarray:
        """(steps+1, K): the test error at finite width M on fresh examples that carry feature k alone, where the
        mean field's is 0 once kappa_k > 0 (:mod:`mftheory.features_finite_size`; derivations/features.py, steps 5
        and 6).

        ``feedback=True`` (K = 2): the tilt of F along the noise coordinates with the loss's feedback
        (:meth:`tilt_variance`), the common part left out, the nonlinear rest at its frozen-init law.
        ``feedback=False``: the frozen-init law, F_M - F_t the sum of M independent nodes drawn from the
        mean-field node law (the finite-width test-error kernel of the Gaussian law with the moments along u_k
        rescaled by mu_k and d - K noise coordinates); it leaves the tilt growing with the nodes and is 3-4 times
        too high (the validation case features_starvation measures both).

        ``N=None``: an infinite training set. With N given (hinge, ``feedback=True``) the tilt also carries the
        training sample's part (:meth:`tilt_variance`: ``sample="fixed"`` one set used at every step, ``"fresh"``
        new examples at every step); the test error is that of the network trained on those N examples."""
        from mftheory.features_finite_size import one_feature_test_error

        N, sample = self._check_sample(N, sample)
        if N is not None and not feedback:
            raise ValueError("N is used by the tilt's sample part, which needs feedback=True")
        if feedback:
            self._check_tilt_feedback(N)
        return one_feature_test_error(self, feedback=feedback, N=N, sample=sample)

    def tilt_variance(self, feedback: bool = True, N: int | None = None, sample: str = "fixed") -> np.ndarray:
        """(steps+1,): the variance of one noise coordinate of v = (1/M) sum_i a_i w_i (the tilt of F along the
        noise is alpha c v / sqrt(d)), with the loss's feedback (K = 2) or along the frozen-init law
        (``feedback=False``; with N None it is sigma_w^2 E[a^2] / M). (d - K) times it is E|v_noise|^2.

        ``N=None``: an infinite training set (the init's sampling of M nodes is the only source). Otherwise the
        training sample is a second source: ``sample="fixed"`` one set of N examples used at every step,
        ``sample="fresh"`` N new examples at every step (``simulate(..., online=True)``)."""
        from mftheory.features_finite_size import tilt_variance

        N, sample = self._check_sample(N, sample)
        if feedback:
            self._check_tilt_feedback(N)
        return tilt_variance(self, feedback=feedback, N=N, sample=sample)

    @staticmethod
    def _check_sample(N, sample):
        if N is not None:
            N = check_int("N (None for an infinite training set)", N, 1)
        if sample not in ("fixed", "fresh"):
            raise ValueError(f"sample must be one of 'fixed', 'fresh', got {sample!r}")
        return N, sample

    def _check_tilt_feedback(self, N=None):
        if self.features != 2 or self.setup.spectral_decoupling:
            raise ValueError("the tilt's feedback is derived for K = 2 features without spectral decoupling (got "
                             f"K = {self.features}, spectral_decoupling = {self.setup.spectral_decoupling}); pass "
                             "feedback=False for the frozen-init law")
        if N is not None and self.setup.loss != "hinge":
            raise ValueError("the training sample's part of the tilt is derived for the hinge loss (u^2 = u: the "
                             f"unsatisfied examples pull with weight 1), got loss {self.setup.loss!r}; use N=None")

    def error_curve(self, k: int) -> "ErrorCurve":
        """The sigmoidal learning curve of feature ``k`` (0 to K - 1): the unsatisfied fraction of the examples that
        carry that feature alone, erf(h / (sqrt 2 kappa_k mu_k)) in the mean field, a fixed decreasing shape in
        s = log kappa_k. While kappa_k grows exponentially (rate r = d log kappa_k / dt) it is a sigmoid in the
        GD step t: its midpoint is where kappa_k mu_k = h / (sqrt 2 erfinv(1/2)) and it falls from 0.9 to 0.1
        while kappa_k grows by erfinv(0.9) / erfinv(0.1) = 13.08, in ln(13.08) / r steps."""
        k = self._feature_index(k)
        curve = self.alone(k)
        times = [first_crossing(curve, level) for level in (0.9, 0.5, 0.1)]
        log_kappa = np.log(np.maximum(self.kappa_features[:, k], np.finfo(float).tiny))
        rate = math.nan
        if math.isfinite(times[1]):
            i = min(int(times[1]), len(log_kappa) - 2)
            rate = float(log_kappa[i + 1] - log_kappa[i])
        return ErrorCurve(feature=k, start=times[0], midpoint=times[1], end=times[2],
                          width=times[2] - times[0], rate=rate,
                          sigmoid_width=_DECADE_OF_THE_CURVE / rate if rate > 0 else math.nan)

    def learning_time(self, level: float = 0.5) -> np.ndarray:
        """For each feature, the first step at which its patterns' unsatisfied fraction (that feature alone) falls
        below ``level`` (NaN if never): the feature's learning speed."""
        level = _check_real("level", level, 0.0, 1.0, low_open=True, high_open=True)
        out = np.full(self.features, np.nan)
        for k in range(self.features):
            below = np.nonzero(self.alone(k) < level)[0]
            if below.size:
                out[k] = below[0]
        return out


# ln(erfinv(0.9) / erfinv(0.1)): a one-feature pattern is 90% and 10% unsatisfied at kappa_k mu_k / h =
# 1 / (sqrt 2 erfinv(0.9)) and 1 / (sqrt 2 erfinv(0.1)), a factor 13.08 apart
_DECADE_OF_THE_CURVE = math.log(float(erfinv(0.9)) / float(erfinv(0.1)))


@dataclasses.dataclass(frozen=True)
class ErrorCurve:
    """Shape of one feature's learning curve (:meth:`FeatureSolution.error_curve`), in GD steps (interpolated; NaN
    when the curve does not reach the level within the solution): ``start``, ``midpoint`` and ``end`` where the
    unsatisfied fraction of the examples with that feature alone falls through 0.9, 0.5 and 0.1; ``width`` =
    end - start; ``rate`` = d log kappa_k / dt at the midpoint; ``sigmoid_width`` = ln(13.08) / rate, the width
    an exponential growth of kappa_k at that rate would give (the sigmoid's time variable is log kappa_k)."""

    feature: int
    start: float
    midpoint: float
    end: float
    width: float
    rate: float
    sigmoid_width: float


def first_crossing(curve, level: float) -> float:
    """First (linearly interpolated) step at which a decreasing ``curve`` reaches ``level``; NaN if never."""
    below = np.nonzero(curve <= level)[0]
    if not below.size:
        return math.nan
    j = int(below[0])
    if j == 0:
        return 0.0
    return j - 1 + float((curve[j - 1] - level) / (curve[j - 1] - curve[j]))


def _check_map_defined(setup, kappa, maps):
    """The node map 1 + b (b couples a with w_k, b_k = beta c G_k / sqrt d) has eigenvalues 1 and 1 +- |b|: from
    |b| >= 1 on, a step overshoots (the contracting direction flips sign), the regime where the Gaussian-data map
    stops too. Raise there naming eta, and name the scales when kappa leaves float64 without that."""
    overshoot = np.flatnonzero(~(np.sqrt(np.sum(maps[:, 0, 1:] ** 2, axis=1)) < 1.0))
    not_finite = np.flatnonzero(~np.all(np.isfinite(kappa), axis=1))
    first_bad = not_finite[0] if not_finite.size else kappa.shape[0]
    if overshoot.size and overshoot[0] < first_bad:
        t = int(overshoot[0])
        b = float(np.sqrt(np.sum(maps[t, 0, 1:] ** 2)))
        raise ValueError(f"beta c |G| / sqrt(d) = {b:.3g} >= 1 at step {t}: a GD step overshoots (the mean-field map "
                         f"is taken as undefined there, as for Gaussian data); eta must be smaller for these feature "
                         f"strengths (beta = eta alpha / M = {setup.beta:.3g}, feature_strength = "
                         f"{setup.feature_strength})")
    if not_finite.size:
        raise ValueError(f"kappa_features is not finite from step {first_bad} on: feature_strength = "
                         f"{setup.feature_strength}, sigma_a = {setup.sigma_a:g}, sigma_w = {setup.sigma_w:g}, alpha = "
                         f"{setup.alpha:g} lie outside the range where the solution can be represented in float64")


def meanfield_features(setup: Setup, steps: int) -> FeatureSolution:
    """The mean-field dynamics of ``setup`` (``data="features"``, hinge loss) over ``steps`` GD steps."""
    if not isinstance(setup, Setup) or setup.data != "features":
        raise ValueError("meanfield_features needs a Setup with data='features' (and feature_freq, feature_strength)")
    if setup.loss not in FEATURE_LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, FEATURE_LOSSES))} for data='features' (the ones "
                         f"derived so far), got {setup.loss!r}")
    K = len(setup.feature_freq)
    if K > 2 and setup.loss not in MANY_FEATURE_LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, MANY_FEATURE_LOSSES))} for more than two features "
                         f"(the ones derived so far), got {setup.loss!r}")
    if setup.activation not in ("relu", "leaky_relu"):
        raise ValueError(f"activation must be 'relu' or 'leaky_relu' for data='features', got {setup.activation!r}")
    if setup.label_noise:
        raise ValueError("label_noise must be 0 for data='features' (not derived)")
    steps = check_int("steps", steps, 0)
    check_memory(8.0 * (steps + 1) * (2 * K + 2**K + (K + 1) ** 2), f"meanfield over steps = {steps}", "lower steps")
    c = (1.0 + setup.slope) / 2.0  # (sigma'(z) + sigma'(-z)) / 2 of (leaky) ReLU
    kappa = np.empty((steps + 1, K))
    drifts = np.empty((steps + 1, K))
    unsat = np.empty((steps + 1, 2**K))
    maps = np.empty((steps, K + 1, K + 1))
    if K == 2:   # closed forms
        kernels = importlib.import_module(f"mftheory.kernels.generated.features_{setup.loss}")
        (p_1, p_2), (mu_1, mu_2) = setup.feature_freq, setup.feature_strength
        kernels.meanfield_loop(steps, setup.beta, setup.alpha, float(setup.d), c, setup.sigma_a, setup.sigma_w, mu_1,
                               mu_2, p_1, p_2, setup.h, setup.spectral_decoupling, kappa, drifts, unsat, maps)
    else:        # the sum over presence patterns, nested quadrature
        kernels = importlib.import_module(f"mftheory.kernels.generated.manyfeatures_{setup.loss}")
        kernels.meanfield_loop(steps, setup.beta, setup.alpha, float(setup.d), c, setup.sigma_a, setup.sigma_w,
                               np.array(setup.feature_strength, dtype=float), np.array(setup.feature_freq, dtype=float),
                               setup.h, setup.spectral_decoupling, kappa, drifts, unsat, maps)
    _check_map_defined(setup, kappa, maps)
    return FeatureSolution(setup=setup, kappa_features=kappa, drift=drifts, f_unsat=unsat[:, -1],
                           f_unsat_patterns=unsat[:, :-1], node_maps=maps)
