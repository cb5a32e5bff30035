"""Full-batch gradient descent of the quadratic network, simulated as defined (no formula of the theory).

The model is the one of :mod:`mftheory.quadratic`: Z = W W^T, n = int(alpha d^2) examples, labels
y_k = Tr(X_k Z*) + sqrt(Delta) xi_k, and gradient descent on d L with step eta::

    r_k = Tr(X_k W W^T) - y_k
    W <- W - eta [ (d/n) sum_k r_k X_k W + 2 lambda W ]

(the gradient of d L = (d/(4n)) sum_k r_k^2 + lambda ||W||_F^2, with d Tr(X W W^T) / dW = 2 X W). Time t = eta *
steps.

Storage follows the data law. GOE inputs are kept as their d(d+1)/2 independent entries (the diagonal, then the
upper triangle row by row); the off-diagonal entries X_ij = H_ij + H_ji are drawn directly from their law
N(0, 1/d) and the diagonal ones 2 H_ii from N(0, 2/d), which is the same law as H + H^T. A step reads that
n x d(d+1)/2 matrix once (each example's residual and its part of the gradient in one pass). Gaussian inputs X_k = (x_k x_k^T - I)/sqrt(d) are kept as
the n x d matrix of the x_k, and a step costs O(n d m): Tr(X_k Z) = (|W^T x_k|^2 - Tr Z)/sqrt(d) and
sum_k r_k X_k W = (x^T diag(r) x W - (sum_k r_k) W)/sqrt(d). Memory is the data plus O(d^2).

Random numbers come from NumPy's ``Generator(PCG64)`` on independent child streams of ``SeedSequence(seed)``
(teacher, inputs, label noise, init) outside the compiled loop; the loop (``numba.njit``) runs BLAS
single-threaded, so a seed gives bit-identical runs on one machine.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import os

import numba
import numpy as np

from mftheory.model import _check_real, check_int, check_record_steps
from mftheory.quadratic.setup import QuadraticSetup
from mftheory.validate._blas import single_threaded_blas
from mftheory.validate.simulation_cache import cached_run
from mftheory.validate.simulator import DIVERGED

__all__ = ["QuadraticProblem", "QuadraticRun", "draw_quadratic_problem", "simulate_quadratic", "simulate_many",
           "network_outputs"]


@dataclasses.dataclass(frozen=True)
class QuadraticProblem:
    setup: QuadraticSetup
    alpha: float
    teacher: np.ndarray    # W*, d x m*
    inputs: np.ndarray     # GOE: n x d(d+1)/2 packed entries; gaussian: n x d vectors x_k
    labels: np.ndarray     # y_k
    init: np.ndarray       # W at t = 0, d x m

    @property
    def n(self) -> int:
        return self.labels.size


@dataclasses.dataclass(frozen=True)
class QuadraticRun:
    """A gradient-descent run: at each recorded ``step`` (time ``t = eta * step``) the test error ``mse``,
    ``in_sample_error`` (1/(2n)) sum r^2 and ``train_loss`` L; the final W and the eigenvalues of Z = W W^T."""

    problem: QuadraticProblem
    eta: float
    steps: np.ndarray
    mse: np.ndarray
    in_sample_error: np.ndarray
    train_loss: np.ndarray
    weights: np.ndarray
    eigenvalues: np.ndarray

    @property
    def t(self) -> np.ndarray:
        return self.eta * self.steps

    def rank_fraction(self, relative: float = 1e-3) -> float:
        """Fraction of eigenvalues of Z above ``relative`` times the largest (rank / d)."""
        ev = self.eigenvalues
        return float(np.mean(ev > relative * ev.max())) if ev.max() > 0 else 0.0


def _pack_indices(d):
    rows, cols = np.triu_indices(d, 1)
    return np.concatenate([np.arange(d), rows]), np.concatenate([np.arange(d), cols])


def draw_quadratic_problem(setup: QuadraticSetup, alpha: float, seed: int = 0) -> QuadraticProblem:
    """The teacher, the n = int(alpha d^2) examples and the init of one run, from ``seed``."""
    if not isinstance(setup, QuadraticSetup):
        raise TypeError(f"setup must be a QuadraticSetup, got {type(setup).__name__}")
    n = setup.n_examples(alpha)
    if n < 1:
        raise ValueError(f"alpha * d^2 must give at least one example, got alpha={alpha}, d={setup.d}")
    seed = check_int("seed", seed, 0)
    teacher_rng, input_rng, noise_rng, init_rng = (np.random.Generator(np.random.PCG64(s))
                                                   for s in np.random.SeedSequence(seed).spawn(4))
    d = setup.d
    teacher = teacher_rng.normal(0.0, 1.0 / math.sqrt(setup.m_star), (d, setup.m_star))
    z_star = teacher @ teacher.T
    if setup.data == "goe":
        scale = np.concatenate([np.full(d, math.sqrt(2.0 / d)), np.full(d * (d - 1) // 2, math.sqrt(1.0 / d))])
        inputs = input_rng.standard_normal((n, scale.size)) * scale
    else:
        inputs = input_rng.standard_normal((n, d))
    clean = network_outputs(setup, inputs, teacher, z_star)
    labels = clean + math.sqrt(setup.Delta) * noise_rng.standard_normal(n)
    init = init_rng.normal(0.0, math.sqrt(setup.gamma / setup.m), (d, setup.m))
    return QuadraticProblem(setup=setup, alpha=float(alpha), teacher=teacher, inputs=inputs, labels=labels, init=init)


def network_outputs(setup: QuadraticSetup, inputs: np.ndarray, W: np.ndarray, Z: np.ndarray | None = None):
    """Tr(X_k W W^T) for every example (NumPy; the reference the compiled loop is tested against)."""
    Z = W @ W.T if Z is None else Z
    if setup.data == "goe":
        rows, cols = _pack_indices(setup.d)
        weights = np.where(rows == cols, 1.0, 2.0)
        return inputs @ (Z[rows, cols] * weights)
    projected = inputs @ W
    return (np.einsum("ij,ij->i", projected, projected) - np.trace(Z)) / math.sqrt(setup.d)


@numba.njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _goe_residuals_and_gradient(inputs, labels, packed, gradient):
    """One pass over the examples' packed entries: r_k = <x_k, packed> - y_k and ``gradient`` = sum_k r_k x_k
    (packed); returns sum_k r_k^2. Reading each example once, not once per product, halves the memory traffic
    that bounds a step (the packed inputs outgrow the core's cache). Sums reassociated for SIMD: fixed order on a
    given machine, so a seed still gives bit-identical runs there."""
    gradient[:] = 0.0
    fit = 0.0
    for k in range(inputs.shape[0]):
        row = inputs[k]
        acc = 0.0
        for c in range(row.size):
            acc += row[c] * packed[c]
        r = acc - labels[k]
        fit += r * r
        for c in range(row.size):
            gradient[c] += r * row[c]
    return fit


@numba.njit(cache=True, nogil=True)
def _descend(goe, inputs, labels, z_star, W, eta, lam, steps, record, rows, cols, weights):
    n = labels.size
    d = W.shape[0]
    root_d = math.sqrt(d)
    out = np.empty((record.size, 3))
    j = 0
    packed = np.empty(rows.size)
    packed_gradient = np.empty(rows.size)
    for step in range(steps + 1):
        Z = np.dot(W, W.T)
        if goe:
            for k in range(rows.size):
                packed[k] = Z[rows[k], cols[k]] * weights[k]
            fit = _goe_residuals_and_gradient(inputs, labels, packed, packed_gradient) / n
        else:
            projected = np.dot(inputs, W)
            trace = np.trace(Z)
            residual = np.empty(n)
            for k in range(n):
                acc = 0.0
                for c in range(W.shape[1]):
                    acc += projected[k, c] * projected[k, c]
                residual[k] = (acc - trace) / root_d - labels[k]
            fit = np.dot(residual, residual) / n
        if j < record.size and record[j] == step:
            diff = Z - z_star
            out[j, 0] = np.sum(diff * diff) / d
            out[j, 1] = fit / 2.0
            out[j, 2] = fit / 4.0 + lam * np.sum(W * W) / d
            j += 1
        if step == steps:
            break
        if goe:
            scale = d / n
            matrix = np.empty((d, d))
            for k in range(rows.size):
                matrix[rows[k], cols[k]] = packed_gradient[k] * scale
                matrix[cols[k], rows[k]] = packed_gradient[k] * scale
            gradient = np.dot(matrix, W)
        else:
            weighted = np.empty_like(projected)
            for k in range(n):
                for c in range(W.shape[1]):
                    weighted[k, c] = residual[k] * projected[k, c]
            gradient = (np.dot(inputs.T, weighted) - np.sum(residual) * W) * (d / (n * root_d))
        W = W - eta * (gradient + 2.0 * lam * W)
    return W, out


# the training loss grown by this factor over its start means GD diverged (it falls at any stable eta)
LOSS_GROWTH = 1e6


def _check_not_diverged(eta, W, loss):
    """After a run, as validate/simulator.py's check: a ValueError if gradient descent diverged (W inf/NaN or
    beyond ``DIVERGED``, or the training ``loss`` at the followed steps non-finite or grown ``LOSS_GROWTH``-fold)."""
    if not (np.all(np.abs(W) <= DIVERGED) and np.all(np.isfinite(loss)) and loss.max() <= LOSS_GROWTH * loss[0]):
        raise ValueError(f"gradient descent diverged (parameters became inf/NaN or beyond {DIVERGED:g}, or the "
                         f"training loss grew more than {LOSS_GROWTH:g}-fold): eta = {eta:g} is too large for this "
                         f"setup")


def default_record_steps(steps: int, points: int = 60) -> np.ndarray:
    """Steps 0, ..., ``steps`` spread evenly in log time (at most ``points`` of them)."""
    grid = np.unique(np.round(np.geomspace(1, steps, points)).astype(np.int64)) if steps > 0 else np.empty(0, np.int64)
    return np.unique(np.concatenate([[0], grid, [steps]])).astype(np.int64)


def simulate_quadratic(setup: QuadraticSetup, alpha: float, time: float, eta: float = 0.02, seed: int = 0,
                       record_steps=None, problem: QuadraticProblem | None = None) -> QuadraticRun:
    """Gradient descent on d L for ``time`` (= eta * steps) from the problem drawn with ``seed``."""
    with single_threaded_blas():
        return _simulate(setup, alpha, time, eta, seed, record_steps, problem)


def simulate_many(jobs, workers: int | None = None) -> list[QuadraticRun]:
    """Run ``jobs`` (dicts of :func:`simulate_quadratic`'s arguments) on ``workers`` threads (default: every
    core), each with single-threaded BLAS; results in the order of ``jobs``, identical to one-by-one runs."""
    jobs = list(jobs)
    workers = workers or os.cpu_count() or 1
    with single_threaded_blas():
        if workers == 1 or len(jobs) == 1:
            return [_simulate(**_defaults(job)) for job in jobs]
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda job: _simulate(**_defaults(job)), jobs))


def _defaults(job):
    return {"eta": 0.02, "seed": 0, "record_steps": None, "problem": None} | dict(job)


def _simulate(setup, alpha, time, eta, seed, record_steps, problem):
    arguments = dict(setup=setup, alpha=alpha, time=time, eta=eta, seed=seed, record_steps=record_steps,
                     problem=problem)
    return cached_run("quadratic", arguments,
                      lambda: _descend_problem(setup, alpha, time, eta, seed, record_steps, problem),
                      _run_arrays, lambda arrays: _run_from_arrays(arrays, setup, alpha, seed, problem))


def _run_arrays(run: QuadraticRun) -> dict:
    return {f.name: np.asarray(getattr(run, f.name)) for f in dataclasses.fields(run) if f.name != "problem"}


def _run_from_arrays(arrays: dict, setup, alpha, seed, problem) -> QuadraticRun:
    # a drawn problem is drawn again from its seed: the same arrays the run was computed on
    problem = problem or draw_quadratic_problem(setup, alpha, seed)
    return QuadraticRun(problem=problem, eta=float(arrays["eta"]),
                        **{name: value for name, value in arrays.items() if name != "eta"})


def _descend_problem(setup, alpha, time, eta, seed, record_steps, problem):
    eta = _check_real("eta", eta, low=0.0, low_open=True)
    time = _check_real("time", time, low=0.0)
    problem = problem or draw_quadratic_problem(setup, alpha, seed)
    steps = int(math.ceil(time / eta - 1e-9))
    record = default_record_steps(steps) if record_steps is None else check_record_steps(record_steps, steps)
    d = setup.d
    rows, cols = _pack_indices(d)
    weights = np.where(rows == cols, 1.0, 2.0)
    z_star = problem.teacher @ problem.teacher.T
    followed = np.union1d(record, [0, steps])   # the first and last steps too, for the divergence check
    W, out = _descend(setup.data == "goe", problem.inputs, problem.labels, z_star, problem.init.copy(), eta,
                      setup.lam, steps, followed, rows.astype(np.int64), cols.astype(np.int64), weights)
    _check_not_diverged(eta, W, out[:, 2])
    out = out[np.isin(followed, record)]
    return QuadraticRun(problem=problem, eta=eta, steps=record, mse=out[:, 0], in_sample_error=out[:, 1],
                        train_loss=out[:, 2], weights=W, eigenvalues=np.linalg.eigvalsh(W @ W.T))
