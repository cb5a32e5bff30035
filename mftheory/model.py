"""The model and its conventions, stated once.

Data
    x in R^d, spherically symmetric: ``"gaussian"`` N(0, I_d) or ``"sphere"`` uniform on the sphere of
    radius sqrt(d).  Teacher w* = e_1, label y = sign(x_par) with x_par = w*.x; with ``label_noise`` eps each
    training label is flipped independently with probability eps.
Network
    f(x) = (alpha/M) sum_i a_i sigma(w_i.x / sqrt d), sigma = ReLU or leaky ReLU max(z, leak*z).
Init
    a_i ~ N(0, sigma_a^2), w_i ~ N(0, sigma_w^2 I_d), all independent.
Loss
    L = (1/N) sum_mu l(y_mu f(x_mu)); ``"hinge"`` l(z) = max(0, h - z), ``"quadratic_hinge"``
    l(z) = max(0, h - z)^2 / 2, ``"logistic"`` l(z) = log(1 + exp(-z)).  An example is *satisfied* when
    y f >= h (so the hinge's subgradient at y f = h is taken as 0: Heaviside(0) = 0).
Training
    full-batch gradient descent theta <- theta - eta grad L; time t counts GD steps; the per-node rate is
    beta = eta * alpha / M.
"""
from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np

DATA_LAWS = ("gaussian", "sphere")
LOSSES = ("hinge", "quadratic_hinge", "logistic")
# data="features": how many features the mean field is derived for (a pattern of m features is an m-dimensional
# integral, nested quadrature beyond two)
MIN_FEATURES, MAX_FEATURES = 2, 4
ACTIVATIONS = ("relu", "leaky_relu")
# the largest scale parameter (alpha, h, eta, sigma_a, sigma_w, feature_strength): its square must stay finite in
# float64 (the mean field squares them)
MAX_SCALE = 1e150


def _check_real(name, value, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        lo = "-inf" if low is None else repr(low)
        hi = "inf" if high is None else repr(high)
        raise ValueError(f"{name} must lie in {left}{lo}, {hi}{right}, got {value!r}")
    return float(value)


def check_int(name, value, low):
    """``value`` as an int if it is an integer (Python or NumPy, not bool) >= ``low``; else a ValueError naming
    ``name`` and the allowed range. The one integer check of the package."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_record_steps(record_steps, steps):
    """``record_steps`` as a strictly increasing int64 array within [0, ``steps``]; else a ValueError naming
    ``record_steps`` and what it must be. The one check of recorded steps, for every simulator."""
    try:
        arr = np.asarray(record_steps)
    except (TypeError, ValueError) as err:
        raise ValueError(f"record_steps must be a 1-d sequence of integers, got {record_steps!r}") from err
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"record_steps must be a non-empty 1-d sequence of integers, got shape {arr.shape}")
    if arr.dtype == object and all(isinstance(v, Integral) and not isinstance(v, bool) for v in arr):
        pass  # Python integers too large for int64: reported by the range check below
    elif not np.issubdtype(arr.dtype, np.integer):
        if not (np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr))):
            raise ValueError(f"record_steps must contain integers, got {arr.dtype} values")
    if min(arr) < 0 or max(arr) > steps:
        raise ValueError(f"record_steps must lie within [0, steps] = [0, {steps}], got [{min(arr)}, {max(arr)}]")
    arr = arr.astype(np.int64)
    if np.any(np.diff(arr) <= 0):
        raise ValueError("record_steps must be strictly increasing")
    return arr


def check_memory(nbytes: float, what: str, remedy: str) -> None:
    """Raise a ValueError before allocating ``nbytes`` when they exceed this machine's physical memory, so that a
    huge argument fails at once with its name (``remedy``) instead of as a MemoryError or a swapping machine."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX: leave it to the allocator
        return
    if nbytes > total:
        raise ValueError(f"{what} needs about {nbytes / 2**30:.3g} GiB, more than this machine's {total / 2**30:.3g} "
                         f"GiB of memory: {remedy}")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def _check_model_part(name, value, choices):
    """A built-in name, or a user's mftheory.derivations.catalog object (kept as the name when it equals a built-in)."""
    if isinstance(value, str):
        return _check_choice(name, value, choices)
    from mftheory.derivations.catalog import builtin_name

    return builtin_name(name, value) or value


def _label(value) -> str:
    return value if isinstance(value, str) else value.name


@dataclasses.dataclass(frozen=True)
class Setup:
    """One training problem: architecture, data law, loss and optimiser (see the module docstring).

    Parameters
    ----------
    d : int >= 1 (>= 2 for ``data="sphere"``)
        Input dimension.
    alpha : float > 0
        Output scale of the network.
    h : float > 0
        Margin of the hinge losses; examples with y f >= h count as satisfied for every loss.
    eta : float > 0
        Learning rate of full-batch GD (the paper's beta*).
    M : int >= 1
        Number of hidden nodes.
    sigma_a, sigma_w : float > 0
        Standard deviations of the initial readout weights and of each input weight.  These, alpha, h, eta and
        feature_strength must be at most ``MAX_SCALE`` = 1e150 (their squares must be finite in float64).
    data : {"gaussian", "sphere"} or mftheory.derivations.catalog.DataLaw
    loss : {"hinge", "quadratic_hinge", "logistic"} or mftheory.derivations.catalog.Loss
    activation : {"relu", "leaky_relu"} or mftheory.derivations.catalog.Activation
        A user's own ``Activation`` / ``Loss`` / ``DataLaw`` object is derived and compiled on first use by
        every prediction (:func:`mftheory.variant_of`) and simulated as defined (``simulate`` draws only the
        built-in data laws: give ``X`` and ``X_test`` for another).
    label_noise : float in [0, 0.5)
        Probability that a training label is flipped.
    leak : float in [0, 1)
        Slope of leaky ReLU on the negative side (ignored for ``"relu"``); for a user's activation, the value
        of its parameter ``mftheory.derivations.symbols.leak`` (if it has one).
    feature_freq, feature_strength : tuples of K floats (2 <= K <= 4), only with ``data="features"``
        The law of features of unequal frequency and strength (:mod:`mftheory.features`): feature k is present
        with probability ``feature_freq[k]`` in (0, 1] and has strength ``feature_strength[k]`` > 0; d > K.
    spectral_decoupling : float >= 0
        lambda of spectral decoupling (Pezeshki et al., NeurIPS 2021): the loss of an example becomes
        l(y f(x)) + (lambda / 2) f(x)^2, an L2 penalty on the network's output added to any margin loss. The mean
        field is derived for it on ``data="features"`` (:func:`mftheory.features.meanfield_features`); ``simulate``
        runs it for the built-in models on the CPU.
    """

    d: int
    alpha: float
    h: float
    eta: float
    M: int
    sigma_a: float = 1.0
    sigma_w: float = 1.0
    data: str = "gaussian"
    loss: str = "hinge"
    activation: str = "relu"
    label_noise: float = 0.0
    leak: float = 0.1
    feature_freq: tuple | None = None
    feature_strength: tuple | None = None
    spectral_decoupling: float = 0.0

    def __post_init__(self):
        data = "features" if self.data == "features" else _check_model_part("data", self.data, DATA_LAWS)
        self._check_features(data)
        values = {
            "data": data,
            "d": check_int("d", self.d, {"sphere": 2, "features": len(self.feature_freq or ()) + 1}.get(data, 1)
                           if isinstance(data, str) else 1),
            "alpha": _check_real("alpha", self.alpha, 0, MAX_SCALE, low_open=True),
            "h": _check_real("h", self.h, 0, MAX_SCALE, low_open=True),
            "eta": _check_real("eta", self.eta, 0, MAX_SCALE, low_open=True),
            "M": check_int("M", self.M, 1),
            "sigma_a": _check_real("sigma_a", self.sigma_a, 0, MAX_SCALE, low_open=True),
            "sigma_w": _check_real("sigma_w", self.sigma_w, 0, MAX_SCALE, low_open=True),
            "loss": _check_model_part("loss", self.loss, LOSSES),
            "activation": _check_model_part("activation", self.activation, ACTIVATIONS),
            "label_noise": _check_real("label_noise", self.label_noise, 0, 0.5, high_open=True),
            "leak": _check_real("leak", self.leak, 0, 1, high_open=True),
            "spectral_decoupling": _check_real("spectral_decoupling", self.spectral_decoupling, 0),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _check_features(self, data):
        given = (self.feature_freq is not None, self.feature_strength is not None)
        if data != "features":
            if any(given):
                raise ValueError("feature_freq and feature_strength are parameters of data='features' only")
            return
        if not all(given):
            raise ValueError("data='features' needs feature_freq=(p_1, ..., p_K) and feature_strength=(mu_1, ..., mu_K)")
        for name, low, high in (("feature_freq", 0.0, 1.0), ("feature_strength", 0.0, MAX_SCALE)):
            value = getattr(self, name)
            if (isinstance(value, (str, bytes)) or not (isinstance(value, Sequence) or hasattr(value, "__array__"))
                    or not MIN_FEATURES <= len(value) <= MAX_FEATURES):
                raise ValueError(f"{name} must be a sequence (tuple, list or array) of K numbers, one per feature, "
                                 f"with {MIN_FEATURES} <= K <= {MAX_FEATURES}, got {value!r}")
            checked = tuple(_check_real(f"{name}[{k}]", v, low, high, low_open=True) for k, v in enumerate(value))
            object.__setattr__(self, name, checked)
        if len(self.feature_freq) != len(self.feature_strength):
            raise ValueError(f"feature_freq and feature_strength must have the same length K (one entry per feature), "
                             f"got {len(self.feature_freq)} and {len(self.feature_strength)}")

    @property
    def beta(self) -> float:
        """Per-node rate eta * alpha / M: one GD step moves a_i by beta * <u y sigma(z_i)>."""
        return self.eta * self.alpha / self.M

    @property
    def slope(self) -> float:
        """The value of the activation's parameter s: the negative-side slope of leaky ReLU, 0 for ReLU, ``leak``
        for a user's activation."""
        return 0.0 if self.activation == "relu" else self.leak

    @property
    def is_builtin(self) -> bool:
        """True when activation, loss and data law are all built-in names (committed kernels, fast simulator)."""
        return all(isinstance(v, str) for v in (self.activation, self.loss, self.data))

    @property
    def laziness(self) -> float:
        """alpha sigma_a sigma_w / (h sqrt d): large means lazy, small means rich."""
        return self.alpha * self.sigma_a * self.sigma_w / (self.h * math.sqrt(self.d))

    def replace(self, **changes) -> "Setup":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict:
        """The fields as plain values (a user's activation, loss or data law by its name)."""
        return {f.name: (_label(getattr(self, f.name)) if f.name in ("activation", "loss", "data")
                         else getattr(self, f.name)) for f in dataclasses.fields(self)}


def fig1_setup(**changes) -> Setup:
    """The setting of the paper's Fig. 1: M=400, d=100, alpha=1, h=1, eta=1e3 (use N=1e5 to simulate)."""
    return Setup(d=100, alpha=1.0, h=1.0, eta=1e3, M=400).replace(**changes)
