"""Turn a :class:`~mftheory.derivations.meanfield.MeanFieldDerivation` into the text of a numba kernel module.

Producing the text (``kernel_module_source``) is separate from writing and importing it
(``mftheory.kernels.registry``). Generation is deterministic (canonical CSE, fixed symbol names), and the text
starts with a header holding the SymPy version and a sha256 key over the derivation sources, the variant and
the generator settings (argument order included), so a stale file is detected without running SymPy.
"""
from __future__ import annotations

import hashlib
import pathlib
import re
import textwrap

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.code_text import file_code_text
from mftheory.derivations.checks import require
from mftheory.derivations import finite_sample as FS
from mftheory.derivations import fluctuations as FL
from mftheory.derivations import label_noise as LN
from mftheory.derivations import symbols as S
from mftheory.derivations.label_noise import small_label_noise
from mftheory.derivations.meanfield import MeanFieldDerivation
from mftheory.derivations.discrete_forms import discrete_forms
from mftheory.derivations.safe_forms import with_safe_forms
from mftheory.derivations.templates import template_body
from mftheory.derivations.gauss_rules import gauss_legendre

GENERATOR_VERSION = "1"
# composite Gauss-Legendre for averages without a closed form: nodes per panel, widest panel, and the cut-off
# of the Gaussian law (its density there is below 1e-55 of its peak)
QUADRATURE = {"nodes": 24, "panel": 2.0, "sphere_panel": 0.4, "gaussian_cutoff": 16.0, "grading": 2.0**-12}

ARGUMENT_NAMES = {
    S.kappa: "kappa", S.d: "d", S.h: "h", S.eps: "eps", S.odd_slope: "odd_slope", S.alpha: "alpha",
    S.sigma_a: "sigma_a", S.sigma_w: "sigma_w", S.gamma: "gamma", S.gamma_plus: "gamma_plus",
    S.gamma_minus: "gamma_minus", S.E_plus: "e_plus", S.E_minus: "e_minus", S.a0: "a0", S.w0: "w0", S.beta: "beta",
    S.g: "g", S.x: "x", S.leak: "s",
    S.M: "M", S.m_a2: "m_a2", S.m_w2: "m_w2", S.m_aw: "m_aw", S.r2: "r2", S.x_par: "x_par", S.y_par: "y_par",
    S.x_star: "x_star", S.N_sample: "N", S.P_unsat: "p_unsat", S.drift_B: "drift",
    FS.KERNEL: "kernel", FS.ACCUMULATED: "accumulated", FS.DELTA_KAPPA: "delta_kappa", FS.SPREAD: "spread",
    FS.QUADRATIC: "quadratic", FS.CUMULATIVE: "cumulative", FS.UNSAT_COUNT: "unsat_count", FS.TRAIN_FLUX: "train_flux",
    FS.DENSITY: "density", FS.CROSSING: "crossing", FS.OWN_MARGIN: "own_margin", FS.FADED: "faded", FS.CROWD: "crowd",
    FS.PILE: "pile", FS.PILE_X: "pile_x", FS.VELOCITY_SD: "velocity_sd", FS.OWN_STEP: "own_step", FS.WIDTH: "width",
    FS.AMPLITUDE: "amplitude", FS.OWN_KERNEL: "own_kernel", FS.OWN_QUADRATIC: "own_quadratic",
    FS.EXCESS: "excess", FS.TRANSFER[0]: "e_aa", FS.TRANSFER[1]: "e_aw", FS.TRANSFER[2]: "e_wa",
    FS.TRANSFER[3]: "e_ww",
    LN.dE_plus: "de_plus", LN.dE_minus: "de_minus", LN.dg: "dg", FL.var_v: "var_v",
    FL.degree2_cross: "cross", FL.degree2_cross_a2: "cross_a2", FL.response_sum: "response",
    FL.cell_mass: "mass", FL.bend_cross: "cross", FL.bend_cross_a2: "cross_a2",
}
AVERAGE_ARGS = ("kappa", "d", "h")
DERIVATION_SOURCES = ("symbols.py", "catalog.py", "checks.py", "averages.py", "meanfield.py", "finite_width.py", "finite_sample.py",
                      "label_noise.py", "fluctuations.py", "safe_forms.py", "discrete_forms.py", "codegen.py",
                      "gauss_rules.py", "templates/meanfield_loops.py")


class _Printer(PythonCodePrinter):
    def __init__(self):
        super().__init__({"standard": "python3", "fully_qualified_modules": True, "strict": True})


_printer = _Printer()


def source_key(variant: str) -> str:
    """sha256 over the derivation sources' code (comments and docstrings left out), the variant's description and the generator settings.

    SymPy's version is written in each module's header for provenance but is not part of the key: the
    committed kernels stay valid under every SymPy release the package allows (the golden-text tests check that
    a regeneration gives the same code)."""
    digest = hashlib.sha256()
    here = pathlib.Path(__file__).parent
    for name in DERIVATION_SOURCES:
        digest.update(file_code_text(here / name).encode())
    settings = f"{GENERATOR_VERSION}|{sorted(QUADRATURE.items())}|{list(ARGUMENT_NAMES.values())}"
    digest.update(settings.encode())
    digest.update(variant.encode())
    return digest.hexdigest()


def variant_description(activation, loss, data) -> str:
    """Everything that identifies a variant, in a stable text form (srepr of its expressions)."""
    return "|".join((activation.name, sp.srepr(activation.expr), loss.name, sp.srepr(loss.expr), data.name,
                     sp.srepr(data.abs_par_density)))


def kernel_module_key(activation, loss, data) -> str:
    """The key of the mean-field kernel module of (activation, loss, data), known without deriving."""
    return source_key(variant_description(activation, loss, data))


def activation_modules_key(activations) -> str:
    """The key of the module holding the odd slopes of ``activations``."""
    from mftheory.derivations.catalog import GAUSSIAN, HINGE

    return source_key("|".join(variant_description(act, HINGE, GAUSSIAN) for act in activations))


def _rename(expr):
    return expr.xreplace({sym: sp.Symbol(name) for sym, name in ARGUMENT_NAMES.items() if sym in expr.free_symbols})


def _function(name, args, expr, doc, safe=True, preamble=()):
    """Source of one jitted kernel; ``preamble`` holds (local name, call) pairs evaluated before the body."""
    expr = with_safe_forms(expr) if safe else expr
    expr = _rename(expr)
    unknown = {str(s) for s in expr.free_symbols} - set(args) - {local for local, _ in preamble}
    if unknown:
        raise ValueError(f"kernel {name}: expression uses {sorted(unknown)} not among its arguments {args}")
    replacements, (reduced,) = sp.cse([expr], symbols=sp.numbered_symbols("_t"), order="canonical")
    lines = [f"    {local} = {call}" for local, call in preamble]
    lines += [f"    {sym} = {_printer.doprint(val)}" for sym, val in replacements]
    lines.append(f"    return {_printer.doprint(reduced)}")
    body = "\n".join(lines)
    return f'@jit\ndef {name}({", ".join(args)}):\n    """{doc}\n\n    Arguments: {", ".join(args)}.\n    """\n{body}\n'


def _quadrature_average(name, average, doc, args=AVERAGE_ARGS):
    """An average SymPy could not integrate: each piece by composite Gauss-Legendre in x (Gaussian law) or in
    theta with x = sqrt(d) sin(theta) (sphere law, whose density has an endpoint singularity in x)."""
    law = average.law
    theta = sp.Symbol("theta", positive=True)
    out = []
    piece_calls = []
    grading = QUADRATURE["grading"]
    call_args = ", ".join(args)
    for j, piece in enumerate(average.pieces):
        integrand = piece.integrand * law.abs_par_density
        if law.substitution is not None:
            xs = sp.sqrt(S.d) * sp.sin(theta)
            integrand = integrand.subs(S.x, xs) * sp.diff(xs, theta)
            variable, to_var, panel = "theta", "math.asin(min({} / math.sqrt(d), 1.0))", QUADRATURE["sphere_panel"]
            integrand = integrand.subs(theta, sp.Symbol("x"))
        else:
            variable, to_var, panel = "x", "min({}, %r)" % QUADRATURE["gaussian_cutoff"], QUADRATURE["panel"]
        piece_name = f"_{name}_piece{j}"
        out.append(_function(piece_name, ("x",) + tuple(args), integrand,
                             f"Integrand of piece {j} of {name} in the quadrature variable {variable}.", safe=False))
        lo = _printer.doprint(_rename(piece.lower))
        hi = _printer.doprint(_rename(piece.upper))
        piece_calls.append(textwrap.dedent(f"""\
            lo = {to_var.format(lo)}
            hi = {to_var.format(hi)}
            # panels double in width away from lo (resolving boundary layers of width down to 2^-12 of the
            # interval, such as the logistic weight at large kappa) and are capped at the panel width
            left = lo
            width = (hi - lo) * {grading!r}
            while left < hi:
                right = min(left + width, hi)
                if right <= left:
                    break
                half = 0.5 * (right - left)
                mid = left + half
                for q in range(_GL_NODES.shape[0]):
                    total += half * _GL_WEIGHTS[q] * {piece_name}(mid + half * _GL_NODES[q], {call_args})
                left = right
                width = min(2.0 * width, {panel!r})
            """))
    body = "    total = 0.0\n" + textwrap.indent("".join(piece_calls), "    ") + "    return total\n"
    out.append(f'@jit\ndef {name}({", ".join(args)}):\n    """{doc} (quadrature)\n\n'
               f'    Arguments: {", ".join(args)}.\n    """\n{body}')
    return "\n\n".join(out)


def _average(name, average, doc, args=AVERAGE_ARGS):
    if average.closed_form is not None:
        return _function(name, args, average.closed_form, doc + " (closed form)")
    return _quadrature_average(name, average, doc, args)


def kernel_module_source(derivation: MeanFieldDerivation) -> str:
    """The full text of the kernel module of one (activation-independent) variant: data law x loss."""
    D = derivation
    key = kernel_module_key(D.activation, D.loss, D.data)
    nodes, weights = gauss_legendre(QUADRATURE["nodes"])
    Ac, Af, Pu, B = sp.symbols("clean flipped unsat B")
    parts = [
        f"# Generated by mftheory.derivations.codegen (generator {GENERATOR_VERSION}) -- do not edit; regenerate with "
        f"`mftheory derive`.\n# sympy: {sp.__version__}\n# key: {key}\n# variant: data={D.data.name} "
        f"loss={D.loss.name}",
        f'"""Mean-field kernels for {D.data.name} data and the {D.loss.name} loss '
        f'(u(z) = {D.weight}).\n\nEvery function is compiled by numba (mftheory.kernels._jit); arguments are floats '
        f'unless stated."""',
        "import math\n\nimport numpy as np\n\nfrom mftheory.kernels._jit import jit",
        f"DATA = {D.data.name!r}\nLOSS = {D.loss.name!r}\nKEY = {key!r}\n"
        f"HAS_FIXED_POINT = {D.threshold_fixed_point is not None}\n"
        f"HAS_SMALL_NOISE = {small_label_noise(D) is not None}\n"
        f"HAS_TILT = {FL.tilt_or_none(D) is not None}\n"
        f"RATE_BY_QUADRATURE = {D.clean_average.closed_form is None or D.flipped_average.closed_form is None}\n"
        f"UNSAT_BY_QUADRATURE = {D.unsat_average.closed_form is None}\n"
        f"_GL_NODES = np.array({[float(v) for v in nodes]!r})\n_GL_WEIGHTS = np.array({[float(v) for v in weights]!r})",
        _average("clean_average", D.clean_average, "E[u(kappa |x_par|) |x_par|] over correctly labelled data"),
        _average("flipped_average", D.flipped_average, "E[u(-kappa |x_par|) |x_par|] over flipped labels"),
        _average("unsat_probability", D.unsat_average, "P(kappa |x_par| < h)"),
    ]
    drift = (1 - S.eps) * Ac - S.eps * Af
    require(memo.simplify(drift.subs({Ac: D.clean_average.value, Af: D.flipped_average.value}) - D.drift) == 0)
    parts.append(_function("drift", ("kappa", "d", "h", "eps"), drift.subs({Ac: sp.Symbol("_clean"), Af: sp.Symbol("_flipped")}),
                           "B(kappa) = (1-eps) E[u(kappa|x|)|x|] - eps E[u(-kappa|x|)|x|]", safe=False,
                           preamble=(("_clean", "clean_average(kappa, d, h)"), ("_flipped", "flipped_average(kappa, d, h)"))))
    g_of_B = D.g.subs(D.drift, B) if D.g.has(D.drift) else S.odd_slope * B / sp.sqrt(S.d)
    require(memo.simplify(g_of_B.subs(B, D.drift) - D.g) == 0)
    parts.append(_function("g_rate", ("kappa", "d", "h", "eps", "odd_slope"), g_of_B.subs(B, sp.Symbol("_b")),
                           "g(kappa) = odd_slope B(kappa) / sqrt(d)", safe=False,
                           preamble=(("_b", "drift(kappa, d, h, eps)"),)))
    f_unsat = (1 - S.eps) * Pu + S.eps
    require(memo.simplify(f_unsat.subs(Pu, D.unsat_average.value) - D.f_unsat) == 0)
    parts.append(_function("unsat_fraction", ("kappa", "d", "h", "eps"), f_unsat.subs(Pu, sp.Symbol("_p")),
                           "fraction of unsatisfied training examples", safe=False,
                           preamble=(("_p", "unsat_probability(kappa, d, h)"),)))

    forms = discrete_forms(D)
    parts.append(_function("kappa_discrete", ("gamma_plus", "gamma_minus", "alpha", "d", "sigma_a", "sigma_w", "odd_slope"),
                           forms.kappa_safe, "slope kappa of F_t(x) = kappa x_par under the discrete map", safe=False))
    parts.append(_function("kappa_increments", ("e_plus", "e_minus", "alpha", "d", "sigma_a", "sigma_w", "odd_slope"),
                           forms.kappa_from_increments, "kappa under the discrete map from E_+- = prod_k (1 +- beta g_k) - 1",
                           safe=False))
    for name, sign, updated, gamma_of_e in zip(("plus", "minus"), ("+", "-"), forms.increment_updates,
                                               forms.gamma_from_increments):
        parts.append(_function(f"update_increment_{name}", (f"e_{name}", "beta", "g"), updated,
                               f"E_{name} after one GD step with rate g", safe=False))
        parts.append(_function(f"gamma_from_increment_{name}", (f"e_{name}",), gamma_of_e,
                               f"gamma_{name} = {sign}log(1 + E_{name})", safe=False))
    parts.append(_function("kappa_flow", ("gamma", "alpha", "d", "sigma_a", "sigma_w", "odd_slope"), D.kappa_flow,
                           "slope kappa of F_t(x) = kappa x_par under the continuous flow"))
    for j, coord in enumerate(("a", "w_par")):
        parts.append(_function(f"node_discrete_{coord}", ("a0", "w0", "gamma_plus", "gamma_minus"), D.node_discrete[j],
                               f"{coord} of a node with initial (a0, w0) under the discrete map"))
        parts.append(_function(f"node_flow_{coord}", ("a0", "w0", "gamma"), D.node_flow[j],
                               f"{coord} of a node with initial (a0, w0) under the continuous flow"))
    for name, expr in D.moments_discrete.items():
        parts.append(_function(f"moment_{name}", ("gamma_plus", "gamma_minus", "sigma_a", "sigma_w"), expr,
                               f"E over the init of {name} (a2: a^2, w2: w_par^2, aw: a w_par, da2: (a-a0)^2, "
                               "dw2: (w_par-w0)^2) under the discrete map"))
    parts.append(_function("update_gamma_plus", ("gamma_plus", "beta", "g"), D.discrete_update[0],
                           "gamma_+ after one GD step with rate g"))
    parts.append(_function("update_gamma_minus", ("gamma_minus", "beta", "g"), D.discrete_update[1],
                           "gamma_- after one GD step with rate g"))
    if D.threshold_fixed_point is not None:
        parts.append(_function("fixed_point_threshold", ("d", "eps"), D.threshold_fixed_point,
                               "x* at which the label-noise drift vanishes"))
    parts += _small_noise_kernels(D)
    parts += _tilt_kernels(D)
    parts.append(template_body("meanfield_loops").strip("\n"))
    return "\n\n\n".join(parts) + "\n"


def _small_noise_kernels(D) -> list[str]:
    """Kernels of the small-eps expansion (derivations/label_noise.py): the fixed point to relative order eps and
    the first-order sensitivity d/d eps of the discrete map along the eps = 0 trajectory."""
    L = small_label_noise(D)
    if L is None:
        return []
    sens = ("de_plus", "de_minus", "e_plus", "e_minus", "alpha", "d", "sigma_a", "sigma_w", "odd_slope")
    return [
        _function("threshold_series", ("d", "eps"), L.threshold_series,
                  "x* of the label-noise fixed point to relative order eps", safe=False),
        _function("kappa_series", ("d", "h", "eps"), L.kappa_series,
                  "kappa of the label-noise fixed point to relative order eps", safe=False),
        _function("noise_dg_deps", ("kappa", "d", "h", "odd_slope"), L.dg_deps, "d g / d eps at eps = 0"),
        _function("noise_dg_dkappa", ("kappa", "d", "h", "odd_slope"), L.dg_dkappa, "d g / d kappa at eps = 0"),
        _function("noise_dkappa", sens, L.dkappa_linear, "d kappa / d eps from d E_+- / d eps", safe=False),
        _function("noise_update_plus", ("de_plus", "e_plus", "g", "beta", "dg"), L.sensitivity_update[0],
                  "d E_+ / d eps after one GD step", safe=False),
        _function("noise_update_minus", ("de_minus", "e_minus", "g", "beta", "dg"), L.sensitivity_update[1],
                  "d E_- / d eps after one GD step", safe=False),
    ]


def odd_slope_kernel_name(activation) -> str:
    """Name of the odd-slope kernel of ``activation`` in an activation module (a valid identifier)."""
    return "odd_slope_" + re.sub(r"\W", "_", activation.name)


def _tilt_kernels(D) -> list[str]:
    """Kernels of the tilt's propagator with the loss's feedback (derivations/fluctuations.py)."""
    T = FL.tilt_or_none(D)
    if T is None:
        return []
    node = ("m_a2", "m_aw", "beta", "g", "sigma_w", "odd_slope", "d")
    return [
        _function("tilt_response", ("kappa", "d", "h"), T.response,
                  "E[u'(kappa |x_par|)]: the unsatisfied set's r = E[u y x_perp] per unit tilt of F"),
        _function("tilt_drive_v", node, T.drive_v, "one GD step's change of a component of v_perp per unit r"),
        _function("tilt_drive_u", node, T.drive_u,
                  "one GD step's change of a component of u_perp per unit r"),
        _function("tilt_gain", ("alpha", "odd_slope", "d"), T.gain, "tilt of F per unit v_perp component"),
        _function("tilt_init_var_v", ("sigma_a", "sigma_w", "M"), T.init_var_v, "Var of a v_perp component at t = 0"),
        _function("tilt_init_var_u", ("sigma_w", "M"), T.init_var_u, "Var of a u_perp component at t = 0"),
        _function("tilt_angle", ("var_v", "m_aw", "d"), T.angle,
                  "angle between (1/M) sum a_i w_i and w*, from the per-component variance of v_perp"),
        _function("tilt_output_variance", ("var_v", "alpha", "odd_slope", "d"), T.output_variance,
                  "variance over x_perp of the tilt's part of F, from the per-component variance of v_perp"),
        _function("tilt_own_margin", ("response_v", "alpha", "odd_slope", "d", "N"), T.own_margin,
                  "a training example's margin from its own pull's tilt, per unit of its summed response R_v"),
        _function("margin_below", ("m", "theta_h", "V"), T.margin_below,
                  "P(m + delta < theta_h) for a Gaussian fluctuation delta of variance V"),
        _function("rest_feedback", ("e_u_prime", "beta", "alpha", "cross", "cross_a2", "d", "sigma_w"),
                  T.rest_feedback.xreplace({FL.tilt_response: sp.Symbol("e_u_prime")}),
                  "per-step pull-back of F's degree-2 part at x per unit of it at the threshold"),
        _function("degree2_kernel", ("cross", "cross_a2", "d", "sigma_w"), T.degree2_kernel,
                  "lambda(x, x'): the degree-2 part of the kernel K(x, x') per <X, X'>/2"),
        _function("rest_sample_variance", ("response", "mass", "alpha", "beta", "d", "N"), T.rest_sample_variance,
                  "variance of F's degree-2 part from one cell of training examples with accumulated response R"),
        _function("bend_feedback", ("e_u_prime", "beta", "alpha", "cross", "cross_a2", "d", "sigma_w"),
                  T.bend_feedback.xreplace({FL.tilt_response: sp.Symbol("e_u_prime")}),
                  "per-step pull-back of the linear part's bend at x per unit of it at the threshold"),
        _function("bend_kernel", ("cross", "cross_a2", "d", "sigma_w"), T.bend_kernel,
                  "lambda_o(x, x'): the kernel's degree-1 part odd in x_par, per x_perp . x'_perp"),
        _function("bend_sample_variance", ("response", "mass", "alpha", "beta", "d", "N"), T.bend_sample_variance,
                  "variance of the bend's part from one cell of training examples with accumulated response R"),
        _function("self_pull_rate", ("e_u_prime", "alpha", "beta", "M", "d", "c_high", "c_2", "D_2"),
                  T.self_pull_rate.xreplace({FL.tilt_response: sp.Symbol("e_u_prime")}),
                  "rho: a node's own pull-back per step, log s_i^2 loses 2 rho a_i^2"),
        _function("self_pull_s2", ("q_aa", "q_aw", "q_ww", "sigma_a", "sigma_w"), T.self_pull_s2,
                  "E[s^2] / s_0^2 of the node law after its own pull-back, Q = (q_aa, q_aw, q_ww)"),
        _function("self_pull_variance", ("p_a", "p_w", "q_aa", "q_aw", "q_ww", "sigma_a", "sigma_w"),
                  T.self_pull_variance, "E[a^2 s^2] / (E[a^2] s_0^2) of the node law after its own pull-back, "
                  "a = p . (a_0, w_0)"),
        _function("spread_turn_weight", ("a", "h_2", "sigma_w", "d"), T.spread[0],
                  "the degree-2 feedback's weight on each of a node's D - 1 turn directions (per alpha beta E[u'] / M)"),
        _function("spread_a_weight", ("h_2", "d"), T.spread[1],
                  "the degree-2 feedback's weight on a node's a-part direction (per alpha beta E[u'] / M)"),
        _function("spread_law_term", ("tau", "m"), T.spread[2], "one rank-one term of the spectral law's equation",
                  safe=False),
        _function("spread_law_slope", ("tau", "m"), T.spread[3], "its derivative in m", safe=False),
        _function("spread_aligned", ("m", "kappa_own"), T.spread[4],
                  "the Stieltjes transform seen along a node's own a-part direction of weight kappa_own", safe=False),
        _function("turn_growth", ("D_1", "D_2", "d", "M", "m_a2"), T.turn_growth,
                  "G: log s_j^2 gains G a_j^2 from the feedback's turns across w_perp (D_1, D_2: the shares of the "
                  "tilt and of the degree-2 part the feedback leaves)"),
    ]


def activation_module_source(derivations) -> str:
    """Text of the module with the odd slope (sigma'(z) + sigma'(-z))/2 of each activation, as a function of
    the leak s."""
    key = activation_modules_key(list(dict.fromkeys(D.activation for D in derivations)))
    parts = [f"# Generated by mftheory.derivations.codegen (generator {GENERATOR_VERSION}) -- do not edit.\n"
             f"# sympy: {sp.__version__}\n# key: {key}",
             '"""Odd slope of each activation: the only way the activation enters the reduced dynamics."""',
             "import math\n\nfrom mftheory.kernels._jit import jit"]
    seen = set()
    for D in derivations:
        if D.activation.name in seen:
            continue
        seen.add(D.activation.name)
        parts.append(_function(odd_slope_kernel_name(D.activation), ("s",), D.odd_slope + 0 * S.leak,
                               f"(sigma'(z) + sigma'(-z)) / 2 for {D.activation.name}, sigma = {D.activation.expr}"))
    return "\n\n\n".join(parts) + "\n"


FINITE_WIDTH_ARGS = ("m_a2", "m_w2", "m_aw", "alpha", "M", "d", "sigma_w", "s")


def activation_module_key(family: str, activation) -> str:
    """The key of the per-activation module of ``family`` ("finite_width", "finite_sample"): what
    mftheory.derivations.build compares with the key stored in the file."""
    return source_key(f"{family}|" + activation.name + "|" + sp.srepr(activation.expr))


def _activation_module_head(family, activation, title) -> list[str]:
    """Header, docstring, imports and quadrature nodes of a per-activation module (Gaussian data) of ``family``."""
    key = activation_module_key(family, activation)
    nodes, weights = gauss_legendre(QUADRATURE["nodes"])
    return [
        f"# Generated by mftheory.derivations.codegen (generator {GENERATOR_VERSION}) -- do not edit; regenerate with "
        f"`mftheory derive`.\n# sympy: {sp.__version__}\n# key: {key}\n# variant: {family} "
        f"activation={activation.name}",
        f'"""{title} kernels for {activation.name}, Gaussian data (derivations/{family}.py).\n\n'
        'm_a2, m_w2, m_aw are E[a^2], E[w_par^2], E[a w_par] of the mean-field node law at time t; s is the leak."""',
        "import math\n\nimport numpy as np\n\nfrom mftheory.kernels._jit import jit",
        f"KEY = {key!r}\n_GL_NODES = np.array({[float(v) for v in nodes]!r})\n"
        f"_GL_WEIGHTS = np.array({[float(v) for v in weights]!r})",
    ]


def finite_width_module_source(derivation) -> str:
    """Text of the finite-width kernel module of one activation (Gaussian data)."""
    D = derivation
    parts = _activation_module_head("finite_width", D.activation, "Finite-width (frozen init law)") + [
        _function("output_variance", ("x_par", "r2") + FINITE_WIDTH_ARGS, D.output_variance,
                  "Var F_M(x) over the init at fixed x (x_par, r2 = |x_perp|^2)"),
        _function("band_sd", ("h",) + FINITE_WIDTH_ARGS, D.band_sd,
                  "sd of the |x_par| at which examples get satisfied, linearised at x*"),
        _average("test_error", D.test_error, "finite-M test error P(y F_M(x) < 0)", FINITE_WIDTH_ARGS),
        _average("test_error_noise", D.test_error_noise,
                 "finite-M test error P(y F_M(x) < 0) with |x_perp|^2 = r2", ("r2",) + FINITE_WIDTH_ARGS),
    ]
    part_args = ("x_par",) + FINITE_WIDTH_ARGS
    common_sq, common_mean = D.common_variance
    parts += [_average("common_second", common_sq, "E[a^2 c_0^2] over the node law at x_par", part_args),
              _average("common_mean", common_mean, "E[a c_0] over the node law at x_par", part_args),
              _average("linear_second", D.linear_variance, "E[a^2 c_1^2] over the node law at x_par", part_args)]
    Vc, Vl = D.placeholders
    call = ", ".join(part_args).replace("x_par", "_x", 1)
    preamble = (("_x", _printer.doprint(_rename(D.threshold))),
                ("_vc", f"common_second({call}) - common_mean({call}) ** 2"),
                ("_vl", f"linear_second({call})"))
    local = {Vc: sp.Symbol("_vc"), Vl: sp.Symbol("_vl")}
    parts += [_function("band_scatter_sd", ("h",) + FINITE_WIDTH_ARGS, D.band_scatter_sd.xreplace(local),
                        "band without the common part (one run's scatter around x*)", preamble=preamble[:2]),
              _function("band_rest_sd", ("h",) + FINITE_WIDTH_ARGS, D.band_rest_sd.xreplace(local),
                        "band of the nonlinear rest alone (tilt removed)", preamble=preamble)]
    pair_args = ("x_par", "y_par") + FINITE_WIDTH_ARGS
    parts.append(f"HAS_BEND = {D.bend is not None}\n")
    if D.bend is not None:
        square, cross, cross_a2 = D.bend
        parts += [_average("linear_odd_second", square, "E[a^2 c_1o(x_par)^2] over the node law: the bend's variance "
                           "per alpha^2/M", part_args),
                  _average("linear_odd_cross", cross, "E[c_1o(x_par) c_1o(y_par)] over the node law", pair_args),
                  _average("linear_odd_cross_a2", cross_a2, "E[a^2 c_1o(x_par) c_1o(y_par)] over the node law",
                           pair_args),
                  _function("bend_variance", part_args, S.alpha**2 / S.M * sp.Symbol("_vb"),
                            "variance of the bend of F's linear part along x_perp at x_par (frozen init law)",
                            preamble=(("_vb", f"linear_odd_second({', '.join(part_args)})"),))]
    parts.append(f"ONE_HOMOGENEOUS = {D.one_homogeneous}\n")
    if D.self_pull is not None:
        high, degree2 = D.self_pull
        parts += [_function("self_pull_high", ("sigma_w", "d", "s"), high + 0 * S.leak,
                            "a node's own pull on |w_perp| from its part of degree >= 3 along x_perp, per unit a^2 "
                            "(mu = 0)"),
                  _function("self_pull_degree2", ("sigma_w", "d", "s"), degree2 + 0 * S.leak,
                            "the same from its degree-2 part")]
    parts.append(f"HAS_DEGREE2 = {D.degree2 is not None}\n")
    if D.degree2 is not None:
        square, cross, cross_a2 = D.degree2
        variance, V2 = D.degree2_variance
        parts += [_average("degree2_second", square, "E[a^2 h_2(x_par)^2] over the node law", part_args),
                  _average("degree2_cross", cross, "E[h_2(x_par) h_2(y_par)] over the node law", pair_args),
                  _average("degree2_cross_a2", cross_a2, "E[a^2 h_2(x_par) h_2(y_par)] over the node law",
                           pair_args),
                  _function("degree2_variance", part_args, variance.xreplace({V2: sp.Symbol("_v2")}),
                            "variance of F's degree-2 part along x_perp at x_par (frozen init law)",
                            preamble=(("_v2", f"degree2_second({', '.join(part_args)})"),)),
                  _function("degree2_node", ("mu", "sigma_w", "d", "s"), D.degree2_node + 0 * S.leak,
                            "h_2 of one node at mu = w_par x_par / sqrt(d), |w_perp| at its mean (the degree-2 "
                            "feedback's node-by-node weights)")]
    return "\n\n\n".join(parts) + "\n"


FINITE_SAMPLE_ARGS = ("m_a2", "m_w2", "m_aw", "d", "sigma_w", "s")
TRANSFER_ARGS = ("e_aa", "e_aw", "e_wa", "e_ww")


def finite_sample_module_source(derivation) -> str:
    """Text of the finite-sample kernel module of one activation (Gaussian data)."""
    D = derivation
    parts = _activation_module_head("finite_sample", D.activation, "Finite-sample") + [
        _average("self_kernel", D.self_kernel, "K(x, x) over the node law at x_par, |x_perp|^2 = d - 1",
                 ("x_par",) + FINITE_SAMPLE_ARGS),
        _average("low_degree_kernel", D.low_degree_kernel, "the part of K(x, x) of degree <= 1 along x_perp",
                 ("x_par",) + FINITE_SAMPLE_ARGS),
        _average("quadratic_kernel", D.quadratic_kernel, "A_2: the coefficient of rho^2 in K(x, x') at the same x_par",
                 ("x_par",) + FINITE_SAMPLE_ARGS),
        _average("width_kernel", D.width_kernel, "W_2: one node's random-features energy in the others' pulls "
                 "(the finite width's part, per unit of 1/M)", ("x_par",) + FINITE_SAMPLE_ARGS),
        _function("pull_amplitude", ("quadratic", "width", "M", "d"), D.pull_amplitude,
                  "sd of one pulling example's degree >= 2 term at another example, per unit of alpha beta / N"),
        _function("kernel_amplitude", ("quadratic", "d"), D.kernel_amplitude,
                  "the same as first derived: the kernel's rho^2 term counted whole (its mean included), no width "
                  "part"),
        _function("spread_step", ("spread", "amplitude", "cumulative", "unsat_count", "alpha", "beta", "N"),
                  D.spread_step, "variance of the memorized margin over examples after one more step"),
        _function("self_rate", ("kernel", "alpha", "beta", "N"), D.self_rate,
                  "margin a training example gains per step from its own term"),
        _function("onset_ratio", ("kernel", "alpha", "beta", "N", "delta_kappa", "x_star"), D.onset_ratio,
                  "self term over the mean-field drive at the threshold (overfitting sets in where it reaches 1)"),
        _function("crossing_shift", ("accumulated", "kappa"), D.crossing_shift,
                  "shift of the |x_par| at which a training example gets satisfied"),
        _function("tilt_ratio", ("p_unsat", "drift", "d", "N"), D.tilt_ratio,
                  "random part of the empirical mean orthogonal to w*, per unit of the parallel drift"),
        _function("threshold_density_ratio", ("train_flux", "density", "crossing", "delta_kappa", "own_margin",
                                                    "faded"),
                  D.threshold_density_ratio,
                  "one fixed set's density of examples at the margin over the infinite set's (continuity)"),
        _function("crowd_hold", ("crowd", "quadratic", "kernel", "d"), D.crowd_hold,
                  "share of a new degree-2 deposit's variance that a crowd of examples stalled at the margin leaves "
                  "(quadratic: A_2, kernel: K_mem, both at the crowd's |x_par|)"),
        _function("crowd_share", ("crowd", "quadratic", "kernel", "d"), D.crowd_share,
                  "share of a new degree-2 deposit, along its own direction, that a crowd of examples stalled at the "
                  "margin takes out at once (quadratic: A_2, kernel: K_mem)"),
        _function("crowd_kept", ("crowd", "quadratic", "kernel", "own_quadratic", "own_kernel", "d"), D.crowd_kept,
                  "share of an example's own memorized margin that a crowd of examples stalled at the margin leaves "
                  "it (quadratic, kernel: A_2, K_mem at the crowd's |x_par|; own_quadratic, own_kernel: at the "
                  "example's)"),
        _function("velocity_sd", ("amplitude", "unsat_count", "alpha", "beta", "N"), D.velocity_sd,
                  "sd over examples of the velocity at which the unsatisfied examples' pulls move a margin"),
        _function("pile_unsat", ("pile", "velocity_sd", "own_step"), D.pile_unsat,
                  "share of the set held at the margin (pile) that pulls at a step, against the others' velocity"),
        _function("pile_drift", ("pile", "velocity_sd", "own_step", "pile_x", "odd_slope", "d"), D.pile_drift,
                  "their part of the drift rate g (pile_x: their mean |x_par|)"),
        _function("own_shift_rate", ("excess", "alpha", "m_a2"), D.own_shift_rate,
                  "one fixed set: the growth r of every a_i per step (per beta) that the unsatisfied examples' own "
                  "shifts of their preactivations put in (excess: the set's mean of u (y F - kappa |x_par|))"),
    ] + [_function(f"transfer_step_{entry}", TRANSFER_ARGS + ("beta", "g", "r"), expr,
                   f"one fixed set's node map: entry {entry} of P - I after one more step (P: (a, w_par) = "
                   f"P (a0, w0); g the drift rate, r the own shifts' growth of a)")
         for entry, expr in zip(("aa", "aw", "wa", "ww"), D.transfer_step)
    ] + [_function(f"transfer_{name}", TRANSFER_ARGS + ("sigma_a", "sigma_w"), expr,
                   f"one fixed set's node law: {doc} from P - I")
         for name, expr, doc in zip(("a2", "w2", "aw", "da2", "dw2"), D.transfer_moments,
                                    ("E a^2", "E w_par^2", "E a w_par", "E (a - a0)^2", "E (w_par - w0)^2"))
    ] + [_function("transfer_kappa", ("m_aw", "alpha", "odd_slope", "d"), D.transfer_kappa,
                   "kappa from the node law's E a w_par")]
    return "\n\n\n".join(parts) + "\n"
