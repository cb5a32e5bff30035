"""Perturb-and-follow with parts of the dynamics switched off: which status changes carry a perturbation's fate.

Two copies of the network (unperturbed and perturbed) are trained side by side on the same data (one fixed
training set, or the same fresh batch at every step) by full-batch GD on the hinge loss, written from the model's
definition (sigma(z) = max(z, s z), u = 1 below the margin h, as :mod:`mftheory.validate.simulator`). Two
switches take away, in the perturbed copy only, one way in which the perturbation acts on the gradient:

- ``hinge="base"``: the perturbed copy sums over the unperturbed copy's unsatisfied examples (no example changes
  its hinge status because of the perturbation);
- ``kinks="base"``: each node's sigma'(z) on each example is the unperturbed copy's (no example crosses a node's
  kink because of the perturbation; sigma(z) is taken linear in z with that slope).

With both at "own" this is plain GD for both copies (the validation tests check it against ``simulate``).

On one fixed training set each copy's unsatisfied examples are found with the simulator's exact screening
(:mod:`mftheory.validate._kernels`): a margin is recomputed only where the bound on how far the network's output
can have moved since it was last computed reaches the margin; the others are certainly satisfied. The sets are
the same as with every margin computed (up to rounding of margins within 1e-8 of h, which are always recomputed).
"""
from __future__ import annotations

import math

import numpy as np

from mftheory.model import Setup, check_int
from mftheory.validate._kernels import _perp_norm_bound, _step_bound, hinge_gradient_rows, output_from_preactivations

_SWITCH = ("own", "base")
# fixed blocks of examples summed in order: the gradient does not depend on the thread count
_CHUNKS = 32
_SCREEN_TOL = 1e-8   # relative rounding allowance of the screening, as the simulator's in float64


class _Unsatisfied:
    """One copy's unsatisfied examples step after step; on one fixed set (``X`` given) with the exact screening:
    each example keeps its margin when last computed and the running bounds (PA, PB) at that step, so that
    |f_t(x) - f_t0(x)| <= (PA_t - PA_t0) |x_1| + (PB_t - PB_t0) |x_perp|."""

    def __init__(self, setup, X):
        self.setup = setup
        self.fixed = X is not None
        if self.fixed:
            n = X.shape[0]
            self.x_par, self.x_perp = np.abs(X[:, 0]), np.linalg.norm(X[:, 1:], axis=1)
            self.margin = np.full(n, -np.inf)
            self.pa0, self.pb0 = np.zeros(n), np.zeros(n)
            self.pa = self.pb = 0.0
            self.scale = setup.alpha / (setup.M * math.sqrt(setup.d))
        self.computed = 0

    def find(self, data, y, a, W):
        setup = self.setup
        root_d = math.sqrt(setup.d)
        output = lambda rows: y[rows] * output_from_preactivations(data[rows] @ W.T / root_d, a, setup.slope,
                                                                   setup.alpha / setup.M)
        if not self.fixed:
            self.computed += data.shape[0]
            return np.flatnonzero(output(slice(None)) < setup.h)
        bound = (self.pa - self.pa0) * self.x_par + (self.pb - self.pb0) * self.x_perp
        with np.errstate(invalid="ignore"):
            skip = self.margin - setup.h > bound * (1.0 + 1e-9) + _SCREEN_TOL * (np.abs(self.margin) + setup.h)
        rows = np.flatnonzero(~skip)
        self.computed += rows.size
        self.margin[rows] = output(rows)
        self.pa0[rows], self.pb0[rows] = self.pa, self.pb
        return rows[self.margin[rows] < setup.h]

    def moved(self, a_old, W_old, a, W):
        """Add the bound of one step's change of the parameters."""
        if self.fixed:
            step_a, step_b = _step_bound(a_old, W_old, a, W, self.scale, _perp_norm_bound(W))
            self.pa += step_a
            self.pb += step_b


def follow_perturbation(setup: Setup, start, perturbed, steps: int, record_steps, X=None, N: int | None = None,
                        batch_seed: int = 0, hinge: str = "own", kinks: str = "own"):
    """Train ``start`` = (a, W) and ``perturbed`` = (a', W') side by side for ``steps`` GD steps.

    ``X`` (N, d): one fixed training set (labels sign(x_1)); otherwise ``N`` fresh Gaussian examples per step
    drawn from ``numpy.random.default_rng(batch_seed)``, the same batch for both copies. Returns, for each of
    ``record_steps`` (increasing, in [0, steps]), the tuple (a, W, a', W') after that many steps.
    """
    if setup.loss != "hinge" or setup.activation not in ("relu", "leaky_relu") or setup.label_noise != 0:
        raise ValueError("follow_perturbation is written for the hinge loss, the (leaky) ReLU and clean labels; got "
                         f"loss={setup.loss!r}, activation={setup.activation!r}, label_noise={setup.label_noise}")
    for name, value in (("hinge", hinge), ("kinks", kinks)):
        if value not in _SWITCH:
            raise ValueError(f"{name} must be one of {_SWITCH}, got {value!r}")
    steps = check_int("steps", steps, 0)
    record = [check_int("record_steps", r, 0) for r in record_steps]
    if record != sorted(record) or (record and record[-1] > steps):
        raise ValueError(f"record_steps must be increasing steps in [0, {steps}], got {record_steps!r}")
    d, M, h, s = setup.d, setup.M, setup.h, setup.slope
    if X is None:
        N = check_int("N (without X)", N, 1)
        batches = np.random.default_rng(batch_seed)
    else:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != d:
            raise ValueError(f"X must be an (N, d={d}) array, got shape {X.shape}")
        N, batches = X.shape[0], None
    root_d = math.sqrt(d)
    copies = [np.array(p, dtype=np.float64) for p in (*start, *perturbed)]
    base_status, own_status = _Unsatisfied(setup, X), _Unsatisfied(setup, X)
    out = []
    for t in range(steps + 1):
        if record and t == record[0]:
            out.append(tuple(c.copy() for c in copies))
            record.pop(0)
        if t == steps:
            break
        data = X if batches is None else batches.standard_normal((N, d))
        y = np.where(data[:, 0] >= 0, 1.0, -1.0)
        a, W, a_p, W_p = copies
        unsat = base_status.find(data, y, a, W)
        # with hinge="base" the perturbed copy needs no margins of its own
        unsat_p = unsat if hinge == "base" else own_status.find(data, y, a_p, W_p)
        # the backward pass's pre-activations, recomputed on the rows it sums (one product for every mode and both
        # copies, so that equal copies stay bit for bit equal and the base copy does not depend on the switches)
        Z, Z_p = data[unsat] @ W.T / root_d, data[unsat_p] @ W_p.T / root_d
        rows, rows_p = np.arange(unsat.size), np.arange(unsat_p.size)
        if kinks == "base":   # the base copy's kink side on the perturbed copy's rows
            sign, sign_rows = (Z, rows) if hinge == "base" else (data[unsat_p] @ W.T / root_d, rows_p)
        else:
            sign, sign_rows = Z_p, rows_p
        copies = [*_step(a, W, hinge_gradient_rows(data, unsat, y, Z, rows, Z, rows, s, _CHUNKS), N, setup),
                  *_step(a_p, W_p, hinge_gradient_rows(data, unsat_p, y, Z_p, rows_p, sign, sign_rows, s, _CHUNKS),
                         N, setup)]
        base_status.moved(a, W, *copies[:2])
        if hinge != "base":
            own_status.moved(a_p, W_p, *copies[2:])
    return out


def _step(a, W, gradient, N, setup):
    """One GD step of the hinge loss from its summed ``gradient`` over the unsatisfied examples of N."""
    grad_a, grad_W = gradient
    return a + setup.beta / N * grad_a, W + setup.beta / (math.sqrt(setup.d) * N) * a[:, None] * grad_W
