"""Turn :class:`~mftheory.derivations.quadratic.QuadraticDerivation` into the text of the quadratic network's kernel module.

The derived expressions (the cubic's depressed coefficients, the support's quartic, the risk, the fixed-point
maps, the training residual, the recovery risk) are printed by SymPy; the numerics around them (Cardano's root,
the support's intervals, the quadrature of the spectral integrals) are the fixed template ``_TEMPLATE``.
"""
from __future__ import annotations

import hashlib
import pathlib

import numpy as np
import sympy as sp

from mftheory.derivations.code_text import file_code_text
from mftheory.derivations import quadratic as Q
from mftheory.derivations.codegen import _function

GENERATOR_VERSION = "1"
# the spectral quadrature: each panel (the support's intervals, split at theta) is mapped by x = c - h cos(phi)
# and [0, pi] cut into PHI_PANELS equal parts with SPECTRAL_NODES Gauss-Legendre nodes each
SPECTRAL_NODES = 32
PHI_PANELS = 8
_NAMES = {Q.x: "x", Q.s: "s", Q.kappa_star: "kappa_star", Q.kappa: "kappa", Q.alpha: "alpha", Q.lam: "lam",
          Q.Delta: "Delta", Q.theta: "theta", Q.t: "t", Q.v: "v", Q.u: "u", Q.mse: "mse", Q.min2: "min2",
          Q.D: "D", Q.trace_z: "trace_z", sp.Symbol("D_0", nonnegative=True): "d_null",
          sp.Symbol("J_0", nonnegative=True): "j_null"}
SOURCES = ("quadratic.py", "quadratic_codegen.py", "codegen.py", "safe_forms.py")


def quadratic_module_key() -> str:
    """sha256 over the derivation's sources and the template settings: what ``mftheory derive`` compares."""
    digest = hashlib.sha256()
    here = pathlib.Path(__file__).parent
    for name in SOURCES:
        digest.update(file_code_text(here / name).encode())
    digest.update(f"{GENERATOR_VERSION}|{SPECTRAL_NODES}|{PHI_PANELS}".encode())
    return digest.hexdigest()


def _kernel(name, args, expr, doc):
    expr = sp.sympify(expr).xreplace({sym: sp.Symbol(n) for sym, n in _NAMES.items()})
    return _function(name, args, expr, doc, safe=False)


def _tuple_kernel(name, args, exprs, doc):
    renamed = [sp.sympify(e).xreplace({sym: sp.Symbol(n) for sym, n in _NAMES.items()}) for e in exprs]
    replacements, reduced = sp.cse(renamed, symbols=sp.numbered_symbols("_t"), order="canonical")
    from mftheory.derivations.codegen import _printer
    lines = [f"    {sym} = {_printer.doprint(val)}" for sym, val in replacements]
    lines.append(f"    return ({', '.join(_printer.doprint(r) for r in reduced)},)")
    return (f'@jit\ndef {name}({", ".join(args)}):\n    """{doc}\n\n    Arguments: {", ".join(args)}.\n    """\n'
            + "\n".join(lines) + "\n")


_TEMPLATE = '''
_SQRT3_2PI = math.sqrt(3.0) / (2.0 * math.pi)


@jit
def density(x, s, kappa_star):
    """Density of Y = Z* + sqrt(s) G at x: the imaginary part of the cubic's complex root (Cardano)."""
    p, q = depressed_cubic(x, s, kappa_star)
    # (q/2)^2 + (p/3)^3 from the quartic, whose terms do not cancel at small s (the two squares do)
    c4, c3, c2, c1, c0 = edge_quartic(s, kappa_star)
    disc = ((((c4 * x + c3) * x + c2) * x + c1) * x + c0) / discriminant_scale(s)
    if not disc > 0.0:
        return 0.0
    # the two real cube roots u, v with u v = -p/3; u taken where -q/2 and the root add, v from the product,
    # so that neither is a difference of nearly equal numbers
    half = -0.5 * q
    u = np.cbrt(half + math.copysign(math.sqrt(disc), half))
    return _SQRT3_2PI * abs(u + p / (3.0 * u))


@jit
def support(s, kappa_star):
    """The intervals where the density is positive, as an array of (left, right) rows."""
    coefficients = np.array(edge_quartic(s, kappa_star), dtype=np.complex128)
    roots = np.roots(coefficients)
    edges = np.sort(np.array([r.real for r in roots if abs(r.imag) <= 1e-9 * (1.0 + abs(r.real))]))
    out = np.empty((edges.size, 2))
    count = 0
    for i in range(edges.size - 1):
        if edges[i + 1] > edges[i] and density(0.5 * (edges[i] + edges[i + 1]), s, kappa_star) > 0.0:
            if count > 0 and out[count - 1, 1] == edges[i]:
                out[count - 1, 1] = edges[i + 1]
            else:
                out[count, 0] = edges[i]
                out[count, 1] = edges[i + 1]
                count += 1
    return out[:count]


@jit
def necks(s, kappa_star):
    """Where two parts of the support have just merged, the quartic's pair of complex roots sits close to the
    real axis, over a narrow neck of the density: the real parts of such pairs (the panels are cut there)."""
    roots = np.roots(np.array(edge_quartic(s, kappa_star), dtype=np.complex128))
    out = np.empty(roots.size)
    count = 0
    for r in roots:
        if r.imag > 1e-9 * (1.0 + abs(r.real)):
            out[count] = r.real
            count += 1
    return out[:count]


@jit
def _panels(intervals, splits):
    """The intervals cut at each of ``splits`` that falls inside one."""
    out = np.empty((intervals.shape[0] + splits.size, 2))
    count = 0
    ordered = np.sort(splits)
    for i in range(intervals.shape[0]):
        left, right = intervals[i, 0], intervals[i, 1]
        for cut in ordered:
            if left < cut < right:
                out[count, 0], out[count, 1] = left, cut
                count += 1
                left = cut
        out[count, 0], out[count, 1] = left, right
        count += 1
    return out[:count]


@jit
def _mapped_nodes(panels, s, kappa_star, semicircle_v):
    """Nodes and density-weighted weights over ``panels``; each is mapped by x = c - h cos(phi), which turns
    square-root edges into smooth integrands, and [0, pi] is cut into _PHI_PANELS Gauss-Legendre panels.
    The density is Y's (semicircle_v <= 0) or a semicircle's of variance semicircle_v."""
    n = _GL_NODES.size
    per_panel = n * _PHI_PANELS
    xs = np.empty(panels.shape[0] * per_panel)
    ws = np.empty(panels.shape[0] * per_panel)
    width = math.pi / _PHI_PANELS
    for k in range(panels.shape[0]):
        c = 0.5 * (panels[k, 0] + panels[k, 1])
        h = 0.5 * (panels[k, 1] - panels[k, 0])
        for p in range(_PHI_PANELS):
            for j in range(n):
                phi = width * (p + 0.5 * (_GL_NODES[j] + 1.0))
                i = k * per_panel + p * n + j
                xs[i] = c - h * math.cos(phi)
                rho = semicircle_density(xs[i], semicircle_v) if semicircle_v > 0 else density(xs[i], s, kappa_star)
                ws[i] = 0.5 * width * _GL_WEIGHTS[j] * h * math.sin(phi) * rho
    return xs, ws


@jit
def spectral_nodes(s, kappa_star, theta):
    """Nodes and weights (density included) of the quadrature over Y's spectrum, panels split at theta."""
    splits = np.append(necks(s, kappa_star), theta)
    return _mapped_nodes(_panels(support(s, kappa_star), splits), s, kappa_star, 0.0)


@jit
def divided_difference_integral(xs, ws, theta):
    """D = sum_ij w_i w_j (f(x_i) - f(x_j)) / (x_i - x_j) for f(x) = (x - theta)_+ (f' on the diagonal)."""
    total = 0.0
    for i in range(xs.size):
        for j in range(xs.size):
            above_i = xs[i] > theta
            above_j = xs[j] > theta
            if above_i and above_j:
                total += ws[i] * ws[j]
            elif above_i != above_j:
                high = max(xs[i], xs[j])
                low = min(xs[i], xs[j])
                total += ws[i] * ws[j] * (high - theta) / (high - low)
    return total


@jit
def spectral_functionals(s, kappa_star, theta):
    """(mass, I_min2, D, rank fraction, Tr Z / d) of the soft threshold at theta of Y's spectrum."""
    xs, ws = spectral_nodes(s, kappa_star, theta)
    mass = 0.0
    min2 = 0.0
    above = 0.0
    trace = 0.0
    for i in range(xs.size):
        mass += ws[i]
        m = min(xs[i], theta)
        min2 += ws[i] * m * m
        if xs[i] > theta:
            above += ws[i]
            trace += ws[i] * (xs[i] - theta)
    return mass, min2, divided_difference_integral(xs, ws, theta), above, trace


@jit
def fixed_point_residual(log_s, theta, alpha, lam, Delta, kappa_star):
    """The two equations of the long-time fixed point, zero at the solution, and the solution's functionals."""
    s = math.exp(log_s)
    mass, min2, D, rank, trace = spectral_functionals(s, kappa_star, theta)
    m = risk(min2, s, D)
    return (math.log(noise(m, alpha, Delta)) - log_s, lambda_of_theta(theta, D, alpha) - lam), (m, D, rank, trace, mass)


@jit
def semicircle_divided_difference(t, v):
    """D_0(t): the divided-difference integral of (u - t)_+ for u ~ semicircle of variance v."""
    edge = 2.0 * math.sqrt(v)
    xs, ws = _mapped_nodes(_panels(np.array([[-edge, edge]]), np.array([t])), 0.0, 0.0, v)
    return divided_difference_integral(xs, ws, t)


@jit
def recovery_risk_at(t, kappa_star):
    """M(t): risk per unit noise of the denoiser near perfect recovery, theta = t sqrt(s), s -> 0."""
    v = 1.0 - kappa_star
    if v <= 0.0:
        return recovery_risk(t, kappa_star, 0.0, 0.0)
    t_in = min(max(t, -2.0 * math.sqrt(v)), 2.0 * math.sqrt(v))
    j_null = semicircle_min2(t_in, v) if t_in == t else (v if t > 0 else t * t)
    return recovery_risk(t, kappa_star, semicircle_divided_difference(t, v), j_null)
'''


def quadratic_module_source(derivation) -> str:
    """Text of ``mftheory/kernels/generated/quadratic.py``."""
    Dq = derivation
    key = quadratic_module_key()
    nodes, weights = np.polynomial.legendre.leggauss(SPECTRAL_NODES)
    args_x = ("x", "s", "kappa_star")
    parts = [
        f"# Generated by derivations.quadratic_codegen (generator {GENERATOR_VERSION}) -- do not edit; regenerate "
        f"with `mftheory derive`.\n# sympy: {sp.__version__}\n# key: {key}\n# variant: quadratic network",
        '"""Kernels of the extensive-width quadratic network\'s long-time theory (derivations/quadratic.py).\n\n'
        "Y = Z* + sqrt(s) G is the effective observation (Z* the teacher, G a GOE matrix), theta the soft "
        'threshold, kappa_star = m*/d."""',
        "import math\n\nimport numpy as np\n\nfrom mftheory.kernels._jit import jit",
        f"KEY = {key!r}\n_GL_NODES = np.array({[float(v) for v in nodes]!r})\n"
        f"_GL_WEIGHTS = np.array({[float(v) for v in weights]!r})\n_PHI_PANELS = {PHI_PANELS}",
        _tuple_kernel("cauchy_cubic", ("x", "s", "kappa_star"), [c.subs(Q.z, Q.x) for c in Dq.cubic],
                      "coefficients (G^3, G^2, G, 1) of the equation of Y's Cauchy transform at z = x"),
        _tuple_kernel("depressed_cubic", args_x, Dq.depressed, "(p, q) of the depressed cubic at x"),
        _tuple_kernel("edge_quartic", ("s", "kappa_star"), Dq.edge_quartic,
                      "coefficients (x^4 ... x^0) of the polynomial whose real zeros bound the support"),
        _kernel("discriminant_scale", ("s",), Dq.discriminant_scale,
                "(q/2)^2 + (p/3)^3 times this is the edge quartic"),
        _kernel("risk", ("min2", "s", "D"), Dq.mse, "test error MSE = ||Z - Z*||_F^2 / d from the spectrum"),
        _kernel("noise", ("mse", "alpha", "Delta"), Dq.noise, "effective noise s of the fixed point"),
        _kernel("lambda_of_theta", ("theta", "D", "alpha"), Dq.lambda_equation, "lambda at threshold theta"),
        _kernel("training_fit", ("alpha", "s", "lam", "theta"), Dq.fit, "(1/n) sum_k r_k^2"),
        _kernel("in_sample_error", ("alpha", "s", "lam", "theta"), Dq.in_sample_error,
                "(1/(2n)) sum_k r_k^2, the training counterpart of MSE + Delta/2"),
        _kernel("train_loss", ("alpha", "s", "lam", "theta", "trace_z"), Dq.train_loss,
                "L = (1/(4n)) sum_k r_k^2 + (lambda/d) ||W||_F^2"),
        _kernel("semicircle_density", ("u", "v"), Dq.semicircle_density, "semicircle density of variance v"),
        _kernel("semicircle_min2", ("t", "v"), Dq.semicircle_min2, "E[min(u, t)^2], u ~ semicircle of variance v"),
        _kernel("recovery_risk", ("t", "kappa_star", "d_null", "j_null"), Dq.recovery_risk,
                "M(t) from the null block's D_0 and J_0"),
        _kernel("counting_threshold", ("kappa",), Dq.counting_threshold + 0 * Q.kappa,
                "perfect-recovery alpha at lambda = 0 for kappa < 1 (dimension count)"),
    ]
    return "\n\n".join(parts) + "\n" + _TEMPLATE
