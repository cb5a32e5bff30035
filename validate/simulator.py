"""Finite-size full-batch gradient descent of the two-layer network, simulated exactly as defined.

This module is the *independent* side of the validation: it uses no formula of the mean-field theory, only
the model of :mod:`mftheory.model`:

* data x ~ N(0, I_d) (``"gaussian"``) or uniform on the sphere of radius sqrt(d) (``"sphere"``); teacher e_1,
  clean label y = sign(x_1) with sign(0) = +1; each *training* label is flipped with probability
  ``label_noise`` (test labels are always clean);
* f(x) = (alpha/M) sum_i a_i sigma(z_i), z_i = w_i.x / sqrt(d), sigma(z) = max(z, s z), s = ``setup.slope``,
  sigma'(z) = 1 if z > 0 else s; a user's own activation or loss (a ``mftheory.derivations.catalog`` object in the
  setup) is simulated from its definition by the kernel of :mod:`validate._variant_kernels`;
* full-batch GD on L = mean_mu l(y_mu f(x_mu)), every parameter updated from the gradient at the old
  parameters (beta = eta alpha / M, u = -l'(y f), <.> the mean over the N training examples)::

      a_i <- a_i + beta <u y sigma(z_i)>
      w_i <- w_i + beta a_i <u y sigma'(z_i) x> / sqrt(d)

  hinge: u = 1 if y f < h else 0 (an example with y f = h exactly is satisfied, u = 0);
  quadratic hinge (l = max(0, h - z)^2 / 2): u = max(0, h - y f);
  logistic (l = log(1 + e^-z)): u = 1 / (1 + e^{y f}), evaluated without overflow.

Time t counts the GD steps done; step 0 is the initial state.  An example is *satisfied* when y f >= h (for
every loss) and counts as a training/test *error* when y f <= 0 (f = 0 is an error).

Random numbers are drawn with NumPy's ``Generator(PCG64)`` outside the compiled code, from independent child
streams of ``SeedSequence(seed)`` (training inputs, label flips, a0, W0, test inputs), so the same seed gives
the same draws on every machine and replacing one of them by an explicit array leaves the others unchanged.
The compiled kernels (:mod:`validate._kernels`) contain no random numbers.  They split the examples into a
fixed number of slabs run by numba threads, each with its own float64 gradient sums added in slab order, and
run BLAS single-threaded inside (:mod:`validate._blas`): the same seed on the same machine gives bit-identical
results whatever the number of threads.

The whole loop over steps is one ``numba.njit(cache=True)`` call (no fastmath, no Python per step).  Each step
sweeps the examples in batches: one BLAS product gives the batch's pre-activations, one fused pass sigma and
f, and only the examples with u != 0 enter the backward product G^T X_u; no N x M array ever exists.  With the
hinge-type losses, satisfied examples are screened exactly (see ``screen`` in :func:`simulate`).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np

from mftheory.model import Setup, check_int, check_memory, check_record_steps
from mftheory.validate import _kernels, _variant_kernels
from mftheory.validate._blas import single_threaded_blas
from mftheory.validate.simulation_cache import cached_run

__all__ = ["simulate", "SimulationResult", "default_record_steps", "draw_problem", "draw_inputs", "teacher_labels",
           "network_output", "slope_along_teacher"]

_LOSS_CODES = {"hinge": 0, "quadratic_hinge": 1, "logistic": 2}
_BACKENDS = ("cpu", "cuda")
_SCREENABLE = ("hinge", "quadratic_hinge")  # losses with u = 0 on satisfied examples
_SCREEN_TOL = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-3}  # relative rounding allowance


# ----------------------------------------------------------------------------------------------------------
# result
# ----------------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class SimulationResult:
    """The recorded trajectory of one simulation.  R = len(record_steps).

    Attributes
    ----------
    record_steps : (R,) int64
        The steps t at which the state was recorded (sorted; t = 0 is the initial state).
    a : (R, M) float64
        Readout weights a_i at each recorded step.
    w_par : (R, M) float64
        Teacher component w_i . e_1 of each input weight.
    w_perp_norm : (R, M) float64
        Norm of the component of w_i orthogonal to e_1.
    train_error : (R,) float64
        Fraction of training examples with y f <= 0 (against the labels actually trained on, i.e. ``y``).
    f_unsat : (R,) float64
        Fraction of training examples with y f < h (unsatisfied).
    test_error : (R,) float64
        Fraction of test examples with y_test f <= 0 (test labels are clean, sign(x_1)); NaN without a test set.
    teacher_angle : (R,) float64
        Angle (radians, in [0, pi]) between the effective teacher v = mean_i a_i w_i and e_1.
    teacher_vector : (R, d) float64
        The effective teacher v = mean_i a_i w_i itself (its components along e_2, ..., e_d are the tilt).
    t_sat : (N,) int64
        First step t in [0, steps] at which training example mu is satisfied (y f >= h); -1 if never.
    x_par : (N,) float64
        Projections x_mu . e_1 of the training inputs.
    y : (N,) float64
        Training labels (+1.0 / -1.0) actually used, label noise included.
    a_final : (M,) float64
        Readout weights after ``steps`` steps.
    W_final : (M, d) float64
        Input weights after ``steps`` steps.
    seed, setup, N, steps
        The arguments of the run (N the number of training examples).
    evaluated : (R,) int64
        Diagnostic: number of training margins actually computed at each recorded step (N without screening).
    screened : bool
        Whether the exact screening was used (``screen=True`` and a hinge-type loss; for a user's own model, where
        its activation and loss allow it).
    """

    record_steps: np.ndarray
    a: np.ndarray
    w_par: np.ndarray
    w_perp_norm: np.ndarray
    train_error: np.ndarray
    f_unsat: np.ndarray
    test_error: np.ndarray
    teacher_angle: np.ndarray
    teacher_vector: np.ndarray
    t_sat: np.ndarray
    x_par: np.ndarray
    y: np.ndarray
    a_final: np.ndarray
    W_final: np.ndarray
    seed: int
    setup: Setup
    N: int
    steps: int
    evaluated: np.ndarray
    screened: bool


# ----------------------------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------------------------
def default_record_steps(steps: int, n_points: int = 60) -> np.ndarray:
    """About ``n_points`` log-spaced unique integers from 0 to ``steps``, always containing 0, 1 and steps."""
    steps = int(steps)
    if steps == 0:
        return np.zeros(1, dtype=np.int64)
    grid = np.unique(np.round(np.logspace(0.0, math.log10(steps), n_points)).astype(np.int64))
    return np.unique(np.concatenate([[0, 1, steps], grid]))


def teacher_labels(X: np.ndarray) -> np.ndarray:
    """Clean labels sign(x . e_1) as float64, with sign(0) = +1."""
    return np.where(np.asarray(X)[:, 0] >= 0, 1.0, -1.0)


def draw_inputs(rng: np.random.Generator, n: int, d: int, data: str) -> np.ndarray:
    """n inputs (n, d) float64: N(0, I_d) for ``"gaussian"``, uniform on the sphere of radius sqrt(d) for ``"sphere"``."""
    X = rng.standard_normal((n, d))
    if data == "sphere":
        X *= math.sqrt(d) / np.linalg.norm(X, axis=1, keepdims=True)
    return X


def draw_feature_examples(rng: np.random.Generator, n: int, d: int, feature_freq, feature_strength):
    """n examples (X, y) of ``data="features"``: y = +-1 with probability 1/2; feature k present with probability
    feature_freq[k] independently (an example with none is redrawn); X[:, k] = s_k y mu_k |g_k|; the other d - 2
    coordinates N(0, 1). Draws in a fixed order (labels, presence, |g|, noise) so a seed fixes the sample."""
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    freq = np.asarray(feature_freq, dtype=float)
    present = rng.random((n, freq.size)) < freq
    while True:  # redraw the examples with no feature, in order, from the same stream
        empty = ~present.any(axis=1)
        if not empty.any():
            break
        present[empty] = rng.random((int(empty.sum()), freq.size)) < freq
    X = rng.standard_normal((n, d))
    X[:, :freq.size] = present * y[:, None] * np.asarray(feature_strength, dtype=float) * np.abs(X[:, :freq.size])
    return X, y


def draw_examples(rng: np.random.Generator, n: int, setup: Setup):
    """n examples (X, clean y) of the setup's built-in data law."""
    if setup.data == "features":
        return draw_feature_examples(rng, n, setup.d, setup.feature_freq, setup.feature_strength)
    X = draw_inputs(rng, n, setup.d, setup.data)
    return X, teacher_labels(X)


def draw_problem(setup: Setup, N: int, seed: int = 0, n_test: int = 10000, X=None, y=None, a0=None, W0=None,
                 X_test=None, y_test=None):
    """The data and initial state that ``simulate(setup, N, seed=seed, ...)`` uses.

    Returns ``(X, y, a0, W0, X_test, y_test)`` as float64 arrays.  Each missing item is drawn from its own child
    stream of ``SeedSequence(seed)`` (in this order: X, label flips, a0, W0, X_test) with ``Generator(PCG64)``;
    given items are passed through (no checks here: :func:`simulate` validates them).  Given ``X`` without ``y``,
    the labels are sign(x_1) with label noise; ``y_test`` defaults to the clean sign(x_1) of ``X_test``.
    """
    d, M = setup.d, setup.M
    s_X, s_noise, s_a, s_W, s_test = np.random.SeedSequence(seed).spawn(5)
    if not isinstance(setup.data, str) and (X is None or (X_test is None and n_test > 0)):
        raise ValueError(f"data {setup.data.name!r} is a user's law, which the simulator cannot draw: give X, and "
                         f"X_test or n_test=0")
    drawn_y = None
    if X is None:
        X, drawn_y = draw_examples(np.random.Generator(np.random.PCG64(s_X)), N, setup)
    if y is None:
        if drawn_y is None and setup.data == "features":
            raise ValueError("data='features' carries its labels: give y with X")
        y = teacher_labels(X) if drawn_y is None else drawn_y.copy()
        if setup.label_noise > 0:
            flip = np.random.Generator(np.random.PCG64(s_noise)).random(X.shape[0]) < setup.label_noise
            y[flip] = -y[flip]
    if a0 is None:
        a0 = setup.sigma_a * np.random.Generator(np.random.PCG64(s_a)).standard_normal(M)
    if W0 is None:
        W0 = setup.sigma_w * np.random.Generator(np.random.PCG64(s_W)).standard_normal((M, d))
    drawn_test = None
    if X_test is None:
        X_test, drawn_test = draw_examples(np.random.Generator(np.random.PCG64(s_test)), n_test, setup)
    if y_test is None:
        if drawn_test is None and setup.data == "features":
            raise ValueError("data='features' carries its labels: give y_test with X_test")
        y_test = teacher_labels(X_test) if drawn_test is None else drawn_test
    return X, y, a0, W0, X_test, y_test


def _as_array(name, value, shape, what="a finite real array"):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be {what} of shape {shape}, got {type(value).__name__}") from err
    if arr.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values")
    return arr


def _as_labels(name, value, n):
    arr = _as_array(name, value, (n,))
    if not np.all((arr == 1.0) | (arr == -1.0)):
        raise ValueError(f"{name} must contain only the labels -1 and +1")
    return arr


# a parameter beyond this after a run means GD diverged (it can still be finite: |a| ~ 1e125 at eta = 1e9)
DIVERGED = 1e100


def _check_not_diverged(setup, a, W):
    """After a run: a ValueError if gradient descent diverged (a parameter inf/NaN or beyond ``DIVERGED``)."""
    if not (np.all(np.abs(a) <= DIVERGED) and np.all(np.abs(W) <= DIVERGED)):   # False for NaN too
        raise ValueError(f"gradient descent diverged (parameters became inf/NaN or beyond {DIVERGED:g}): eta = "
                         f"{setup.eta:g} is too large for this setup (beta = eta alpha / M = {setup.beta:g}, "
                         f"alpha = {setup.alpha:g})")


def _check_record_steps(record_steps, steps):
    return default_record_steps(steps) if record_steps is None else check_record_steps(record_steps, steps)


def network_output(setup: Setup, a, W, X) -> np.ndarray:
    """f(x) = (alpha/M) sum_i a_i sigma(w_i.x / sqrt d) for each row of X, from the model's definition (a user's
    activation through its compiled sigma). No BLAS, so the value does not depend on the thread count."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    W = np.ascontiguousarray(W, dtype=np.float64)
    if isinstance(setup.activation, str):
        # the built-in (leaky) ReLU: one compiled pass, without the (rows, M) matrix of pre-activations
        return _kernels.network_output_rows(X, W, np.ascontiguousarray(a, dtype=np.float64),
                                            1.0 / math.sqrt(setup.d), float(setup.slope), setup.alpha / setup.M)
    z = np.einsum("nd,md->nm", X, W) / math.sqrt(setup.d)
    sigma = _variant_kernels.model_functions(_catalog_object("activation", setup.activation),
                                             _catalog_object("loss", setup.loss), setup.slope, setup.h)[0]
    hidden = np.vectorize(sigma, otypes=[np.float64])(z)
    return setup.alpha / setup.M * np.einsum("nm,m->n", hidden, np.asarray(a, dtype=np.float64))


def slope_along_teacher(sim: "SimulationResult", X) -> float:
    """kappa of the trained network: the least-squares slope of f along x_par = x . e_1 over the inputs X (fresh
    points; no theory used)."""
    f = network_output(sim.setup, sim.a_final, sim.W_final, X)
    x_par = np.asarray(X)[:, 0]
    return float(np.einsum("n,n->", f, x_par) / np.einsum("n,n->", x_par, x_par))


def _catalog_object(field, value):
    from mftheory.derivations.catalog import resolve

    return resolve(field, value)


# ----------------------------------------------------------------------------------------------------------
# public wrapper
# ----------------------------------------------------------------------------------------------------------
def simulate(setup: Setup, N: int | None = None, steps: int = 1000, seed: int = 0, X=None, y=None, a0=None,
             W0=None, X_test=None, y_test=None, n_test: int = 10000, record_steps=None,
             dtype=np.float64, screen: bool = True, backend: str = "cpu", online: bool = False) -> SimulationResult:
    """Train the network of ``setup`` by full-batch GD for ``steps`` steps and record its trajectory.

    Parameters
    ----------
    setup : mftheory.Setup
        Model, data law, loss and optimiser (d, M, alpha, h, eta, sigma_a, sigma_w, ...).
    N : int >= 1, optional
        Number of training examples; required unless ``X`` is given (then it must equal len(X) if given).
    steps : int >= 0
        Number of GD steps.
    seed : int >= 0
        Seed of the ``SeedSequence`` whose child streams draw X, the label flips, a0, W0 and X_test.
    X : (N, d) array, optional
        Training inputs (otherwise drawn from ``setup.data``).
    y : (N,) array of +-1, optional
        Training labels used as given (no label noise added).  Requires ``X``.  Without it the labels are
        sign(x_1) (sign(0) = +1), each flipped with probability ``setup.label_noise``.
    a0 : (M,) array, W0 : (M, d) array, optional
        Initial parameters (otherwise a ~ N(0, sigma_a^2), W ~ N(0, sigma_w^2)).
    X_test : (n, d) array, y_test : (n,) array of +-1, optional
        Test set (y_test requires X_test; default labels sign(x_1)).  Otherwise ``n_test`` inputs are drawn.
    n_test : int >= 0
        Size of the drawn test set (0: no test set, test_error is NaN).  Ignored when X_test is given.
    record_steps : sequence of int, optional
        Strictly increasing steps within [0, steps] at which to record; default :func:`default_record_steps`.
    dtype : numpy.float64 or numpy.float32
        Precision of the data and of the matrix products.  The parameters and the gradient sums are always
        accumulated in float64.  Use float64 for comparisons with theory.
    screen : bool
        Use the exact screening (hinge and quadratic hinge only; ignored for the logistic loss; a user's own
        activation or loss where sigma(0) = 0, its Lipschitz constant can be read off its expression and u = 0
        at every margin >= h: ``validate._variant_kernels.screening_lipschitz``): the margin of
        a satisfied example is recomputed only when a rigorous bound on its change since it was last computed
        can reach its slack (see :mod:`validate._kernels`).  The trajectory is the same as without screening
        up to rounding, with the same unsatisfied set at every step; only the cost changes.
    online : bool
        Fresh data: N new training examples (with new label flips) at every step, i.e. GD on an infinite
        training set seen N at a time.  Nothing can be memorized, so what differs from the mean field is finite M
        (and each step's sampling noise, which no longer accumulates on fixed examples).  ``X`` and ``y`` cannot
        be given; ``train_error`` and ``f_unsat`` are measured on the batch of the recorded step, ``x_par`` and
        ``y`` are those of the last batch and ``t_sat`` is -1.  CPU backend only (a user's own activation or
        loss too, in float64 and without spectral decoupling); no screening (every batch is new).
    backend : "cpu" or "cuda"
        ``"cpu"`` (default): the numba CPU kernels of :mod:`validate._kernels`.  ``"cuda"``: the numba CUDA
        kernels of :mod:`validate._cuda_kernels` on the default GPU (same conventions, dtype and recorded
        quantities; the trajectory agrees with the CPU one to rounding, so the unsatisfied set can differ only
        where a margin is within rounding of h).  The GPU computes every margin at every step: ``screen`` is
        ignored there (``evaluated`` is N and ``screened`` False).  Raises
        :class:`validate._cuda_kernels.CudaUnavailableError` (a RuntimeError) when numba finds no usable GPU.

    Returns
    -------
    SimulationResult

    Inside ``validate.simulation_cache.reuse_simulations`` (the validation suites run there), a call returns the
    stored result of the same call (explicit arrays compared by content), same code and same machine if there is
    one: the same arrays, bit for bit.
    """
    arguments = dict(setup=setup, N=N, steps=steps, seed=seed, X=X, y=y, a0=a0, W0=W0, X_test=X_test, y_test=y_test,
                     n_test=n_test, dtype=dtype, record_steps=record_steps, screen=screen, backend=backend,
                     online=online)
    return cached_run("hinge", arguments,
                      lambda: _simulate(setup, N, steps, seed, X, y, a0, W0, X_test, y_test, n_test, record_steps,
                                        dtype, screen, backend, online),
                      _result_arrays, lambda arrays: _result_from_arrays(arrays, setup))


_SCALARS = ("seed", "N", "steps", "screened")


def _result_arrays(result: SimulationResult) -> dict:
    return {f.name: np.asarray(getattr(result, f.name)) for f in dataclasses.fields(result) if f.name != "setup"}


def _result_from_arrays(arrays: dict, setup: Setup) -> SimulationResult:
    fields = {name: (value.item() if name in _SCALARS else value) for name, value in arrays.items()}
    return SimulationResult(setup=setup, **fields)


def _simulate(setup, N, steps, seed, X, y, a0, W0, X_test, y_test, n_test, record_steps, dtype, screen, backend,
              online) -> SimulationResult:
    """:func:`simulate`, computed."""
    if not isinstance(screen, (bool, np.bool_)):
        raise ValueError(f"screen must be True or False, got {screen!r}")
    if not isinstance(backend, str) or backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, _BACKENDS))}, got {backend!r}")
    if backend == "cuda":
        from mftheory.validate import _cuda_kernels

        _cuda_kernels.require_cuda()
    if not isinstance(setup, Setup):
        raise ValueError(f"setup must be an mftheory.Setup, got {type(setup).__name__}")
    d, M = setup.d, setup.M
    steps = check_int("steps", steps, 0)
    seed = check_int("seed", seed, 0)
    n_test = check_int("n_test", n_test, 0)
    try:
        dt = np.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}") from err
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype must be numpy.float64 or numpy.float32, got {dtype!r}")
    if X is None:
        if N is None:
            raise ValueError("N must be given (an integer >= 1) when X is not given")
        N = check_int("N", N, 1)
        if y is not None:
            raise ValueError("y can only be given together with X")
    else:
        arr = np.asarray(X)
        if arr.ndim != 2 or arr.shape[1] != d or arr.shape[0] < 1:
            raise ValueError(f"X must have shape (N, d) = (N >= 1, {d}), got {arr.shape}")
        if N is not None and check_int("N", N, 1) != arr.shape[0]:
            raise ValueError(f"N = {N} does not match X, which has {arr.shape[0]} rows")
        N = arr.shape[0]
        X = _as_array("X", X, (N, d))
        if y is not None:
            y = _as_labels("y", y, N)
    if a0 is not None:
        a0 = _as_array("a0", a0, (M,))
    if W0 is not None:
        W0 = _as_array("W0", W0, (M, d))
    if X_test is not None:
        arr = np.asarray(X_test)
        if arr.ndim != 2 or arr.shape[1] != d:
            raise ValueError(f"X_test must have shape (n, d) = (n, {d}), got {arr.shape}")
        X_test = _as_array("X_test", X_test, arr.shape)
        if y_test is not None:
            y_test = _as_labels("y_test", y_test, X_test.shape[0])
    elif y_test is not None:
        raise ValueError("y_test can only be given together with X_test")
    rec = _check_record_steps(record_steps, steps)
    # the inputs are drawn in float64 and then copied contiguous in dtype: about twice their size at once
    check_memory(2.0 * 8 * d * (N + (n_test if X_test is None else 0)), f"simulate with N = {N} and d = {d}",
                 "lower N (or n_test)")

    if not isinstance(online, (bool, np.bool_)):
        raise ValueError(f"online must be True or False, got {online!r}")
    if online:
        if X is not None or y is not None:
            raise ValueError("online=True draws fresh training examples at every step: X and y cannot be given")
        if backend != "cpu":
            raise ValueError("online=True runs on backend='cpu' only")
        if not setup.is_builtin and setup.spectral_decoupling:
            raise ValueError("online=True with a user's own activation or loss runs without spectral_decoupling")
        if not setup.is_builtin and dt != np.dtype(np.float64):
            raise ValueError("a user's own activation or loss is simulated on the CPU in float64 only: use "
                             "dtype=numpy.float64")
        return _simulate_online(setup, N, steps, seed, a0, W0, X_test, y_test, n_test, rec, dt)
    X, y, a0, W0, X_test, y_test = draw_problem(setup, N, seed, n_test, X, y, a0, W0, X_test, y_test)
    a = np.array(a0, dtype=np.float64, order="C")
    W = np.array(W0, dtype=np.float64, order="C")
    Xk = np.ascontiguousarray(X, dtype=dt)
    Xt = np.ascontiguousarray(X_test, dtype=dt)
    R = rec.shape[0]
    rec_a = np.empty((R, M))
    rec_wpar = np.empty((R, M))
    rec_wperp2 = np.empty((R, M))
    rec_v = np.empty((R, d))
    rec_train = np.zeros(R, dtype=np.int64)
    rec_unsat = np.zeros(R, dtype=np.int64)
    rec_test = np.zeros(R, dtype=np.int64)
    t_sat = np.full(N, -1, dtype=np.int64)
    rec_evaluated = np.zeros(R, dtype=np.int64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    # spectral decoupling's penalty pulls on every example: no example can be screened
    use_screen = bool(screen) and setup.loss in _SCREENABLE and backend == "cpu" and not setup.spectral_decoupling
    if setup.spectral_decoupling and (backend != "cpu" or not (isinstance(setup.activation, str)
                                                                and isinstance(setup.loss, str))):
        raise ValueError("spectral_decoupling > 0 is simulated on backend='cpu' with the built-in activations and "
                         f"losses only; got backend={backend!r}, activation={setup.as_dict()['activation']!r}, "
                         f"loss={setup.as_dict()['loss']!r}")
    if not (isinstance(setup.activation, str) and isinstance(setup.loss, str)):
        if backend != "cpu" or dt != np.dtype(np.float64):
            raise ValueError("a user's own activation or loss is simulated on the CPU in float64 only: use "
                             "backend='cpu' and dtype=numpy.float64")
        model = (_catalog_object("activation", setup.activation), _catalog_object("loss", setup.loss), setup.slope,
                 setup.h)
        sigma, dsigma, u = _variant_kernels.model_functions(*model)
        lipschitz = _variant_kernels.screening_lipschitz(*model) if screen else 0.0
        use_screen = lipschitz > 0.0
        with single_threaded_blas():
            _variant_kernels.gd_variant(Xk, y, a, W, steps, rec, setup.h, setup.alpha, setup.beta, sigma, dsigma, u,
                                        lipschitz, _SCREEN_TOL[dt], Xt, np.ascontiguousarray(y_test, dtype=np.float64),
                                        rec_a, rec_wpar, rec_wperp2, rec_v, rec_train, rec_unsat, rec_test,
                                        rec_evaluated, t_sat, np.empty((N, M)), np.empty((N, d)))
    elif backend == "cuda":
        _cuda_kernels.gd_cuda(Xk, y, a, W, steps, rec, setup.h, setup.alpha, setup.beta, setup.slope,
                              _LOSS_CODES[setup.loss], Xt, np.ascontiguousarray(y_test, dtype=np.float64), rec_a,
                              rec_wpar, rec_wperp2, rec_v, rec_train, rec_unsat, rec_test, rec_evaluated, t_sat)
    else:
        try:
            with single_threaded_blas():
                _kernels.gd_kernel(Xk, y, a, W, steps, rec, setup.h, setup.alpha, setup.beta, setup.slope,
                                   _LOSS_CODES[setup.loss], setup.spectral_decoupling, use_screen,
                                   _SCREEN_TOL[dt], _kernels.ANCHOR_PERIOD, Xt,
                                   np.ascontiguousarray(y_test, dtype=np.float64), rec_a, rec_wpar, rec_wperp2,
                                   rec_v, rec_train, rec_unsat, rec_test, rec_evaluated, t_sat)
        except np.linalg.LinAlgError:  # the screening bound's spectral norm met inf/NaN parameters
            a[:] = np.nan
    _check_not_diverged(setup, a, W)

    n_t = Xt.shape[0]
    test_error = rec_test / n_t if n_t > 0 else np.full(R, np.nan)
    angle = np.arctan2(np.linalg.norm(rec_v[:, 1:], axis=1), rec_v[:, 0])
    return SimulationResult(
        record_steps=rec, a=rec_a, w_par=rec_wpar, w_perp_norm=np.sqrt(rec_wperp2), train_error=rec_train / N,
        f_unsat=rec_unsat / N, test_error=test_error, teacher_angle=angle, teacher_vector=rec_v, t_sat=t_sat,
        x_par=X[:, 0].copy(),
        y=y.copy(), a_final=a, W_final=W, seed=seed, setup=setup, N=N, steps=steps, evaluated=rec_evaluated,
        screened=use_screen)


def _simulate_online(setup, N, steps, seed, a0, W0, X_test, y_test, n_test, rec, dt) -> SimulationResult:
    """``simulate(..., online=True)``: one kernel call per step on a fresh batch (drawn from the training-input
    and label-flip streams of ``SeedSequence(seed)``, batch after batch), parameters carried over."""
    d, M = setup.d, setup.M
    _, _, a0, W0, X_test, y_test = draw_problem(setup, 1, seed, n_test, np.zeros((1, d)), np.ones(1), a0, W0,
                                                X_test, y_test)
    s_X, s_noise = np.random.SeedSequence(seed).spawn(5)[:2]
    rng_X, rng_noise = np.random.Generator(np.random.PCG64(s_X)), np.random.Generator(np.random.PCG64(s_noise))
    a = np.array(a0, dtype=np.float64, order="C")
    W = np.array(W0, dtype=np.float64, order="C")
    Xt = np.ascontiguousarray(X_test, dtype=dt)
    yt = np.ascontiguousarray(y_test, dtype=np.float64)
    R = rec.shape[0]
    rec_a, rec_wpar, rec_wperp2, rec_v = np.empty((R, M)), np.empty((R, M)), np.empty((R, M)), np.empty((R, d))
    counts = np.zeros((4, R), dtype=np.int64)  # train errors, unsatisfied, test errors, evaluated
    no_test = np.empty((0, d), dtype=dt)
    user_model = None if setup.is_builtin else _variant_kernels.model_functions(
        _catalog_object("activation", setup.activation), _catalog_object("loss", setup.loss), setup.slope, setup.h)
    work = None if setup.is_builtin else (np.empty((N, M)), np.empty((N, d)))   # reused batch after batch
    ri = 0
    with single_threaded_blas():
        for t in range(steps + 1):
            X, y = draw_examples(rng_X, N, setup)
            if setup.label_noise > 0:
                flip = rng_noise.random(N) < setup.label_noise
                y[flip] = -y[flip]
            recorded = ri < R and rec[ri] == t
            # one step on this batch (its state before the update is recorded when asked); the kernel's margins
            # after the update (its t = 1, recorded nowhere) are skipped
            window = slice(ri, ri + 1) if recorded else slice(0, 0)
            if user_model is not None:
                _variant_kernels.gd_variant(
                    np.ascontiguousarray(X, dtype=np.float64), y, a, W, 1 if t < steps else 0,
                    np.zeros(1 if recorded else 0, dtype=np.int64), setup.h, setup.alpha, setup.beta, *user_model,
                    0.0, _SCREEN_TOL[dt], Xt if recorded else no_test, yt if recorded else np.empty(0), rec_a[window],
                    rec_wpar[window], rec_wperp2[window], rec_v[window], counts[0, window], counts[1, window],
                    counts[2, window], counts[3, window], np.full(N, -1, np.int64), *work, False)
                ri += recorded
                continue
            _kernels.gd_kernel(np.ascontiguousarray(X, dtype=dt), y, a, W, 1 if t < steps else 0,
                               np.zeros(1 if recorded else 0, dtype=np.int64), setup.h, setup.alpha, setup.beta,
                               setup.slope, _LOSS_CODES[setup.loss], setup.spectral_decoupling, False,
                               _SCREEN_TOL[dt], 0,
                               Xt if recorded else no_test, yt if recorded else np.empty(0), rec_a[window],
                               rec_wpar[window], rec_wperp2[window], rec_v[window], counts[0, window],
                               counts[1, window], counts[2, window], counts[3, window], np.full(N, -1, np.int64),
                               last_pass=False)
            ri += recorded
    _check_not_diverged(setup, a, W)
    n_t = Xt.shape[0]
    return SimulationResult(
        record_steps=rec, a=rec_a, w_par=rec_wpar, w_perp_norm=np.sqrt(rec_wperp2), train_error=counts[0] / N,
        f_unsat=counts[1] / N, test_error=counts[2] / n_t if n_t > 0 else np.full(R, np.nan),
        teacher_angle=np.arctan2(np.linalg.norm(rec_v[:, 1:], axis=1), rec_v[:, 0]), teacher_vector=rec_v,
        t_sat=np.full(N, -1),
        x_par=X[:, 0].copy(), y=y.copy(), a_final=a, W_final=W, seed=seed, setup=setup, N=N, steps=steps,
        evaluated=counts[3], screened=False)
