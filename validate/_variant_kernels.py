"""GD for a user's own activation or loss: the model's definition compiled, nothing derived.

A user's ``Activation`` and ``Loss`` are SymPy expressions; the simulator needs sigma(z), sigma'(z) and
u(m) = -l'(m), which are the *definition* of the model (what autodiff would give a training script), not
results of the mean-field theory. They are lambdified to plain ``math`` code and compiled with numba, then
passed to one jitted GD loop. The conventions, the recorded quantities and the order of the updates are those
of :mod:`validate._kernels`.

Exact screening, as the built-in kernel's: where sigma(0) = 0, sigma is L-Lipschitz with L known from its
expression (:func:`screening_lipschitz`) and u = 0 at every margin >= h (a hinge-type loss), a satisfied
example's margin is recomputed only when a rigorous bound on its change since it was last computed can reach
its slack. The bound is L times the built-in one (:func:`validate._kernels._step_bound_norms`, derived there for
|sigma(z)| <= |z| and a 1-Lipschitz sigma: both scale with L), summed over the steps. A skipped example has
u = 0 in the dense run too, so the trajectory is the dense one up to the rounding of the products over fewer
rows (the same unsatisfied set at every step, away from margins within rounding of h).
"""
from __future__ import annotations

import builtins
import functools
import hashlib
import inspect
import math
import textwrap
import warnings

import numba
from numba import prange
import numpy as np
import sympy as sp

from mftheory.derivations import symbols as S
from mftheory.derivations.averages import _Timeout, _time_limit
from mftheory.kernels import import_generated
from mftheory.kernels.binding import bind, kernel_template
from mftheory.validate._kernels import (SLABS, _perp_norm_bound, gd_update, record_parameters,
                                       step_bound_after_update)


@functools.lru_cache(maxsize=None)
def model_functions(activation, loss, leak: float, h: float):
    """Compiled (sigma, sigma', u) of a user's activation (at ``leak``) and loss (at margin ``h``).

    sigma' is SymPy's derivative of the Piecewise form (so at a kink it takes the value of the branch SymPy
    assigns the kink to); u = -l' likewise, which for a hinge-type loss gives u = 0 at y f = h (satisfied).
    They are written, as SymPy's ``lambdify`` prints them, to a module in the kernel cache named by its content
    (``$MFTHEORY_CACHE/kernels``), so that the GD loop compiled with them is cached on disk too
    (:func:`gd_variant`)."""
    values = {S.leak: leak, S.h: h}
    sigma = activation.expr.rewrite(sp.Piecewise).subs(values)
    dsigma = sp.diff(sigma, S.z)
    weight = (-sp.diff(loss.expr.rewrite(sp.Piecewise), S.z)).subs(values)
    functions = {}
    for name, expr in (("sigma", sigma), ("dsigma", dsigma), ("u", weight)):
        extra = expr.free_symbols - {S.z}
        if extra:
            raise ValueError(f"{name} of the user's model depends on {sorted(map(str, extra))} besides z: only "
                             f"z, the leak s and the margin h can be set by a Setup")
        functions[name] = sp.lambdify(S.z, expr, modules="math")
    source = _model_module_source(functions)
    if source is None:   # a name lambdify took from outside the math module: compiled in this process only
        return tuple(numba.njit(function) for function in functions.values())
    try:
        module = import_generated(f"mftheory_model_{hashlib.sha256(source.encode()).hexdigest()[:24]}",
                                  lambda: source)
    except OSError as err:   # no writable cache
        warnings.warn(f"{err}; the user's model is compiled anew in every process", stacklevel=2)
        return tuple(numba.njit(function) for function in functions.values())
    return tuple(getattr(module, name) for name in functions)


def _model_module_source(functions) -> str | None:
    """The source of a module defining each of ``functions`` (lambdified with the math module) under its key as
    a cached numba function; None if one of them reads a name that is neither math's nor a builtin."""
    imports, bodies = set(), []
    for name, function in functions.items():
        for used in function.__code__.co_names:
            value = function.__globals__.get(used, getattr(builtins, used, None))
            if value is not None and value is getattr(builtins, used, None):
                continue
            if used in vars(math) and vars(math)[used] is value:   # a function or constant (pi, e)
                imports.add(f"from math import {used}")
            elif getattr(math, getattr(value, "__name__", ""), None) is value:   # a translated name
                imports.add(f"from math import {value.__name__} as {used}")
            else:
                return None
        text = textwrap.dedent(inspect.getsource(function)).replace(f"def {function.__name__}(", f"def {name}(", 1)
        bodies.append("@numba.njit(cache=True)\n" + text.rstrip() + "\n")
    header = ("# Generated by mftheory.validate._variant_kernels -- do not edit: a user's model (sigma, sigma', u) "
              "as SymPy's lambdify prints it; the name carries the key of this text.\nimport numba\n")
    return header + "".join(line + "\n" for line in sorted(imports)) + "\n\n" + "\n\n".join(bodies)


@functools.lru_cache(maxsize=None)
def screening_lipschitz(activation, loss, leak: float, h: float) -> float:
    """The Lipschitz constant L of a user's sigma (at ``leak``) when exact screening applies, else 0.0.

    Screening needs sigma(0) = 0 (so |sigma(z)| <= L |z|), an L read off the expression, and u = -l' equal to 0
    at every margin >= h. L is max |sigma'| over its pieces, each a number (piecewise-linear sigma) or bounded by
    SymPy's ``minimum`` and ``maximum`` over the piece's own interval; where SymPy cannot decide one of these
    (it gives up on the critical points of GELU's or swish's sigma', for instance), 0.0: every margin is computed at
    every step."""
    values = {S.leak: leak, S.h: h}
    sigma = activation.expr.rewrite(sp.Piecewise).subs(values)
    weight = (-sp.diff(loss.expr.rewrite(sp.Piecewise), S.z)).subs(values)
    beyond = sp.Symbol("beyond", nonnegative=True)
    try:
        with _time_limit(SCREENING_ANALYSIS_SECONDS):
            return _lipschitz_if_screenable(sigma, weight, h, beyond)
    except (_Timeout, TypeError, ValueError, NotImplementedError, AttributeError):
        return 0.0


# CPU seconds SymPy gets to decide whether a user's model can be screened (its extrema can search for long)
SCREENING_ANALYSIS_SECONDS = 10.0


def _lipschitz_if_screenable(sigma, weight, h, beyond):
    """screening_lipschitz on the model's sigma and u = -l' at its h (``beyond``: a margin's excess over h)."""
    if sp.simplify(sigma.subs(S.z, 0)) != 0 or sp.simplify(weight.subs(S.z, h + beyond)) != 0:
        return 0.0
    slope = sp.piecewise_fold(sp.diff(sigma, S.z))
    pieces = slope.args if isinstance(slope, sp.Piecewise) else [(slope, sp.true)]
    bound, rest = 0.0, sp.S.Reals
    for piece, condition in pieces:
        domain = rest.intersect(condition.as_set()) if condition is not sp.true else rest
        rest = rest - domain
        if domain.is_empty:
            continue
        low, high = ((piece, piece) if piece.is_number
                     else (sp.minimum(piece, S.z, domain), sp.maximum(piece, S.z, domain)))
        for value in (low, high):
            if not (value.is_number and value.is_finite):
                return 0.0
            bound = max(bound, abs(float(value)))
    return bound * (1.0 + 1e-12)


@kernel_template(1, parallel=True)
def _forward_rows(sigma, X, rows, n, W, a, alpha, Xr, Z, f):
    """f[r] = (alpha/M) sum_i a_i sigma(w_i.x / sqrt d) for the examples rows[:n], increasing, and Z[r] = their
    products x.w_i; Xr: room for their copy. ``SLABS`` fixed slabs of rows, one BLAS product each (BLAS
    single-threaded), run by numba threads: the values do not depend on the thread count."""
    d = X.shape[1]
    M = a.shape[0]
    WT = np.ascontiguousarray(W.T)
    inv = 1.0 / math.sqrt(d)
    for p in prange(SLABS):
        lo = (n * p) // SLABS
        hi = (n * (p + 1)) // SLABS
        if hi == lo:
            continue
        if rows[hi - 1] - rows[lo] == hi - 1 - lo:
            np.dot(X[rows[lo]:rows[lo] + hi - lo], WT, Z[lo:hi])
        else:
            for r in range(lo, hi):
                mu = rows[r]
                for k in range(d):
                    Xr[r, k] = X[mu, k]
            np.dot(Xr[lo:hi], WT, Z[lo:hi])
        for r in range(lo, hi):
            acc = 0.0
            for i in range(M):
                acc += a[i] * sigma(Z[r, i] * inv)
            f[r] = alpha / M * acc


@kernel_template(3, parallel=True)
def _backward_rows(sigma, dsigma, u, X, y, rows, n, Z, f, M, ga_s, gW_s, G, pulling, counts):
    """The gradient sums <u y sigma(z_i)> (ga_s) and <u y sigma'(z_i) x> (gW_s) of the examples rows[:n], per slab
    of ``_forward_rows``' slabs, to be added in slab order; an example with u = 0 adds nothing and is left out of
    the slab's BLAS product. ``G``, ``pulling``: room for the slabs' rows (``G`` may be ``Z`` itself: a row of G is
    written only once the row of Z at or after it has been read)."""
    d = X.shape[1]
    inv = 1.0 / math.sqrt(d)
    for p in prange(SLABS):
        lo = (n * p) // SLABS
        hi = (n * (p + 1)) // SLABS
        ga = ga_s[p]
        ga[:] = 0.0
        k = lo
        for r in range(lo, hi):
            mu = rows[r]
            uy = u(y[mu] * f[r]) * y[mu]
            if uy == 0.0:
                continue
            for i in range(M):
                z = Z[r, i] * inv
                ga[i] += uy * sigma(z)
                G[k, i] = uy * dsigma(z)
            pulling[k] = mu
            k += 1
        counts[p] = k - lo
        if k > lo:
            Xp = np.empty((k - lo, d))
            for j in range(lo, k):
                for c in range(d):
                    Xp[j - lo, c] = X[pulling[j], c]
            np.dot(G[lo:k].T, Xp, gW_s[p])
        else:
            gW_s[p][:] = 0.0


def gd_variant(X, y, a, W, steps, record_steps, h, alpha, beta, sigma, dsigma, u, lipschitz, tol, X_test, y_test,
               rec_a, rec_wpar, rec_wperp2, rec_v, rec_train_err, rec_unsat, rec_test_err, rec_evaluated, t_sat,
               Z, Xr, last_pass=True):
    """:func:`_gd_variant_loop` for the model's compiled (sigma, dsigma, u) (:func:`model_functions`), compiled
    once per model and loaded from the disk cache by every later process (:func:`mftheory.kernels.binding.bind`)."""
    bind(_gd_variant_loop, sigma, dsigma, u)(X, y, a, W, steps, record_steps, h, alpha, beta, lipschitz, tol, X_test,
                                             y_test, rec_a, rec_wpar, rec_wperp2, rec_v, rec_train_err, rec_unsat,
                                             rec_test_err, rec_evaluated, t_sat, Z, Xr, last_pass)


@kernel_template(3)
def _gd_variant_loop(sigma, dsigma, u, X, y, a, W, steps, record_steps, h, alpha, beta, lipschitz, tol, X_test,
                     y_test, rec_a, rec_wpar, rec_wperp2, rec_v, rec_train_err, rec_unsat, rec_test_err,
                     rec_evaluated, t_sat, Z, Xr, last_pass=True):
    """Run ``steps`` full-batch GD steps in place on a (M,), W (M, d), float64; the arguments and records are
    those of :func:`validate._kernels.gd_kernel`. ``lipschitz`` > 0 (:func:`screening_lipschitz`) screens the
    satisfied examples exactly (module docstring), with the relative rounding allowance ``tol`` on a margin;
    0 computes every margin at every step. ``Z`` (N, M) and ``Xr`` (N, d): work space (a caller that runs the
    kernel again on as many examples passes the same). ``last_pass=False`` skips the margins after the last update unless
    that step is recorded (a caller that moves on to a new batch needs neither them nor ``t_sat`` there)."""
    N, d = X.shape
    M = a.shape[0]
    inv = 1.0 / math.sqrt(d)
    screen = lipschitz > 0.0
    f = np.empty(N)
    f_test = np.empty(X_test.shape[0])
    G = Z   # a row of G is written once its row of Z has been read (:func:`_backward_rows`)
    Z_test = np.empty((X_test.shape[0], M))
    rows = np.empty(N, dtype=np.int64)
    pulling = np.empty(N, dtype=np.int64)
    all_test = np.arange(X_test.shape[0])
    ga_s = np.empty((SLABS, M))
    gW_s = np.empty((SLABS, M, d))
    counts = np.zeros(SLABS, dtype=np.int64)
    # screening: |x_1|, |x_perp| per example; its key at its last evaluation: the slack (m - h) less the rounding
    # allowance, less the bound's running sums (P_A, P_B) then; it is skipped while the key exceeds the sums now
    x_1 = np.empty(N)
    x_perp = np.empty(N)
    key_a = np.zeros(N)
    key_b = np.zeros(N)
    key = np.full(N, -np.inf)
    for mu in range(N):
        x_1[mu] = abs(X[mu, 0])
        s2 = 0.0
        for k in range(1, d):
            s2 += X[mu, k] * X[mu, k]
        x_perp[mu] = math.sqrt(s2) * (1.0 + 1e-12)
    sum_a = 0.0
    sum_b = 0.0
    scale = alpha / (M * math.sqrt(d))
    w_perp_norm = _perp_norm_bound(W) if screen else 0.0
    w_perp_exact = w_perp_norm
    a_old = np.empty(M)
    W_old = np.empty((M, d))
    ri = 0
    for t in range(steps + 1):
        if t == steps and not last_pass and not (ri < record_steps.shape[0] and record_steps[ri] == t):
            break
        n = 0
        for mu in range(N):
            skip = screen and key[mu] - h > (1.0 + 1e-9) * ((sum_a - key_a[mu]) * x_1[mu]
                                                             + (sum_b - key_b[mu]) * x_perp[mu])
            if not skip:
                rows[n] = mu
                n += 1
        _forward_rows(sigma, X, rows, n, W, a, alpha, Xr, Z, f)
        n_err = 0
        n_unsat = 0
        for r in range(n):
            mu = rows[r]
            m = y[mu] * f[r]
            if m <= 0.0:
                n_err += 1
            if m < h:
                n_unsat += 1
            elif t_sat[mu] < 0:
                t_sat[mu] = t
            if screen:
                key[mu] = m - tol * (abs(m) + h)
                key_a[mu] = sum_a
                key_b[mu] = sum_b
        if ri < record_steps.shape[0] and record_steps[ri] == t:
            record_parameters(ri, a, W, rec_a, rec_wpar, rec_wperp2, rec_v)
            rec_train_err[ri] = n_err
            rec_unsat[ri] = n_unsat
            rec_evaluated[ri] = n
            if X_test.shape[0] > 0:
                _forward_rows(sigma, X_test, all_test, X_test.shape[0], W, a, alpha, X_test, Z_test, f_test)
                n_test = 0
                for r in range(X_test.shape[0]):
                    if y_test[r] * f_test[r] <= 0.0:
                        n_test += 1
                rec_test_err[ri] = n_test
            ri += 1
        if t == steps:
            break
        # <u y sigma(z_i)> and <u y sigma'(z_i) x> per slab, added in slab order, every parameter updated from the
        # old ones; an example with u = 0 (satisfied, under a hinge-type loss; every skipped one) adds nothing
        _backward_rows(sigma, dsigma, u, X, y, rows, n, Z, f, M, ga_s, gW_s, G, pulling, counts)
        if counts.sum() == 0:   # nothing pulls: the parameters stay
            continue
        ga = ga_s[0].copy()
        gW = gW_s[0].copy()
        for p in range(1, SLABS):
            for i in range(M):
                ga[i] += ga_s[p, i]
                for k in range(d):
                    gW[i, k] += gW_s[p, i, k]
        gd_update(a, W, a_old, W_old, ga, gW, beta / N, beta * inv / N)
        if screen:
            w_perp_norm, w_perp_exact, bound_a, bound_b = step_bound_after_update(a_old, W_old, a, W, scale,
                                                                                  w_perp_norm, w_perp_exact)
            sum_a += lipschitz * bound_a
            sum_b += lipschitz * bound_b
