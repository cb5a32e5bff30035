"""The mean-field derivation, step by step: every intermediate result is an inspectable SymPy expression.

``derive(activation, loss, data)`` returns a :class:`MeanFieldDerivation`; ``derivation.steps`` lists the
equations in order (each with its assumptions), and the named attributes hold what the kernels are built from.
The conventions are those of ``mftheory.model``.
"""
from __future__ import annotations

import dataclasses
import functools

import sympy as sp
from sympy.codegen.cfunctions import expm1

from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.checks import require
from mftheory.derivations.disk_cache import cached_on_disk
from mftheory.derivations import symbols as S
from mftheory.derivations.averages import DataAverage, data_average
from mftheory.derivations.catalog import (ACTIVATIONS, DATA_LAWS, GAUSSIAN_INIT, LOSSES, Activation, DataLaw,
                                 Loss)


class ReductionError(ValueError):
    """A condition of the symmetry reduction fails; the message names which and why."""


class DataMean(sp.Function):
    """E_x[...] over the data law, kept unevaluated in the general equations."""

    def _latex(self, printer, exp=None):
        tex = r"\mathbb{E}_{x}\left[%s\right]" % printer._print(self.args[0])
        return tex if exp is None else r"\left(%s\right)^{%s}" % (tex, exp)


class InitMean(sp.Function):
    """E_{a,w}[...] over the law of a node's parameters."""

    def _latex(self, printer, exp=None):
        tex = r"\mathbb{E}_{a,w}\left[%s\right]" % printer._print(self.args[0])
        return tex if exp is None else r"\left(%s\right)^{%s}" % (tex, exp)


@dataclasses.dataclass(frozen=True)
class Step:
    key: str
    title: str
    equation: sp.Basic
    assumptions: str = ""


@dataclasses.dataclass(frozen=True)
class Condition:
    name: str
    holds: bool
    detail: str
    required: bool
    latex: str = ""  # the detail with its mathematics as $...$ (for the LaTeX document)
    latex_name: str = ""  # the name with its mathematics as $...$


def check_conditions(activation: Activation, init: sp.Expr = GAUSSIAN_INIT) -> list[Condition]:
    """The conditions of the symmetry reduction, each decided symbolically."""
    p = sp.Symbol("p", positive=True)
    lam = sp.Symbol("lambda", positive=True)
    sigma, dsigma = activation.expr.rewrite(sp.Piecewise), activation.derivative
    out = []

    derivative_sum = memo.simplify(dsigma.subs(S.z, p) + dsigma.subs(S.z, -p))
    holds = p not in derivative_sum.free_symbols
    out.append(Condition(
        "sigma'(z) + sigma'(-z) constant", holds,
        f"sigma'(z) + sigma'(-z) = {derivative_sum.subs(p, S.z)} for z > 0"
        + ("" if holds else ": depends on z, so E[u y sigma'(w.x) x] is not the same for every node"),
        required=True,
        latex=r"$\sigma'(z) + \sigma'(-z) = " + sp.latex(derivative_sum.subs(p, S.z)) + "$ for $z > 0$"
        + ("" if holds else r": depends on $z$, so $\mathbb{E}[u\,y\,\sigma'(w \cdot x)\,x]$ is not the same for "
                            "every node"),
        latex_name=r"$\sigma'(z) + \sigma'(-z)$ constant"))

    odd = memo.simplify(sigma.subs(S.z, p) - sigma.subs(S.z, -p) - derivative_sum * p)
    out.append(Condition(
        "odd part of sigma linear", odd == 0,
        "sigma(z) - sigma(-z) = (sigma'(z) + sigma'(-z)) z" if odd == 0
        else f"sigma(z) - sigma(-z) - (sigma'(z)+sigma'(-z)) z = {odd.subs(p, S.z)} != 0: F_t is not linear in x_par",
        required=True,
        latex=r"$\sigma(z) - \sigma(-z) = (\sigma'(z) + \sigma'(-z))\,z$" if odd == 0
        else r"$\sigma(z) - \sigma(-z) - (\sigma'(z) + \sigma'(-z))\,z = " + sp.latex(odd.subs(p, S.z))
        + r" \neq 0$: $F_t$ is not linear in $x_\parallel$",
        latex_name=r"odd part of $\sigma$ linear"))

    flipped = memo.simplify(init.subs({S.a0: -S.a0, S.w0: -S.w0}, simultaneous=True) - init)
    out.append(Condition(
        "init law invariant under (a, w) -> (-a, -w)", flipped == 0,
        "p(-a, -w) = p(a, w): F_t is odd in x, u_t even" if flipped == 0
        else f"p(-a,-w) - p(a,w) = {flipped} != 0: F_t need not be odd",
        required=True,
        latex=r"$p(-a, -w) = p(a, w)$: $F_t$ is odd in $x$, $u_t$ even" if flipped == 0
        else r"$p(-a, -w) - p(a, w) = " + sp.latex(flipped) + r" \neq 0$: $F_t$ need not be odd",
        latex_name=r"init law invariant under $(a, w) \to (-a, -w)$"))

    homogeneous = all(memo.simplify(sigma.subs(S.z, lam * q) - lam * sigma.subs(S.z, q)) == 0 for q in (p, -p))
    out.append(Condition(
        "sigma positively homogeneous", homogeneous,
        "sigma(lambda z) = lambda sigma(z) for lambda > 0: the dynamics is invariant under rescaling "
        "(a, w) -> (a/lambda, lambda w)" if homogeneous
        else "sigma(lambda z) != lambda sigma(z): not needed for the reduction of the drift (the two conditions "
             "above suffice) but the rich/lazy picture in alpha/(h sqrt d) assumes it",
        required=False,
        latex=r"$\sigma(\lambda z) = \lambda\,\sigma(z)$ for $\lambda > 0$: the dynamics is invariant under rescaling "
        r"$(a, w) \to (a/\lambda, \lambda w)$" if homogeneous
        else r"$\sigma(\lambda z) \neq \lambda\,\sigma(z)$: not needed for the reduction of the drift (the two "
             r"conditions above suffice) but the rich/lazy picture in $\alpha/(h\sqrt{d})$ assumes it",
        latex_name=r"$\sigma$ positively homogeneous"))
    return out


@dataclasses.dataclass(frozen=True)
class MeanFieldDerivation:
    activation: Activation
    loss: Loss
    data: DataLaw
    conditions: tuple[Condition, ...]
    steps: tuple[Step, ...]
    odd_slope: sp.Expr            # (sigma'(z) + sigma'(-z)) / 2
    weight: sp.Expr               # u(z) = -l'(z)
    clean_average: DataAverage    # E[u(kappa |x|) |x|]
    flipped_average: DataAverage  # E[u(-kappa |x|) |x|]
    unsat_average: DataAverage    # P(kappa |x| < h)
    drift: sp.Expr                # B(kappa) = (1-eps) E[u(kappa|x|)|x|] - eps E[u(-kappa|x|)|x|]
    g: sp.Expr                    # g(kappa) = odd_slope * B / sqrt(d)
    f_unsat: sp.Expr
    node_flow: tuple[sp.Expr, sp.Expr]      # (a, w_par) at flow time gamma
    node_discrete: tuple[sp.Expr, sp.Expr]  # (a, w_par) in terms of gamma_+, gamma_-
    kappa_flow: sp.Expr
    kappa_discrete: sp.Expr
    moments_discrete: dict
    discrete_update: tuple[sp.Expr, sp.Expr]  # gamma_+ and gamma_- after one step with rate g
    threshold_fixed_point: sp.Expr | None    # x* where B = 0 (label noise), when SymPy solves it
    late_time: sp.Expr | None                # gamma(t) at large t (hinge with a closed-form drift)

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(f"no step {key!r}; steps are {[s.key for s in self.steps]}")

    def _repr_latex_(self):
        from mftheory.derivations.latex import derivation_body
        return derivation_body(self, standalone=False)


@functools.lru_cache(maxsize=None)
def _init_moment(i, j, init):
    return memo.simplify(memo.integrate(S.a0**i * S.w0**j * init, (S.a0, -sp.oo, sp.oo), (S.w0, -sp.oo, sp.oo)))


def _init_mean(expr, init):
    """E over the init law of a polynomial in (a_0, w_0), monomial by monomial."""
    poly = sp.Poly(sp.expand(expr), S.a0, S.w0)
    return memo.simplify(sum(coeff * _init_moment(i, j, init) for (i, j), coeff in poly.terms()))


def _split_power_of_d(expr):
    """(d^p r)^q -> d^(p q) r^q: the left form overflows for large d even when p q = 1 (d > 0; r is kept whole,
    since splitting it further could separate two negative factors)."""
    def split(term):
        powers_of_d = [f for f in term.base.args if f == S.d or (f.is_Pow and f.base == S.d)]
        rest = sp.Mul(*[f for f in term.base.args if f not in powers_of_d])
        return sp.Mul(*[sp.powdenest(f**term.exp, force=True) for f in powers_of_d]) * rest**term.exp

    def has_power_of_d(term):
        return (term.is_Pow and term.base.is_Mul and not term.exp.is_Integer
                and any(f == S.d or (f.is_Pow and f.base == S.d) for f in term.base.args))

    return memo.simplify(expr.replace(has_power_of_d, split))


def _real_branch(solutions):
    """The branch of a multivalued solution that is real where all its symbols are 1."""
    for sol in solutions:
        probe = sp.N(sol.subs({s: 1 for s in sol.free_symbols}))
        if probe.is_real or abs(sp.im(probe)) < 1e-12:
            return sol
    raise ValueError(f"no real branch among {solutions}")


def _as_name(obj, table, kind, cls):
    if isinstance(obj, str):
        if obj not in table:
            raise ValueError(f"{kind} must be one of {sorted(table)} or a mftheory.derivations.catalog object; got {obj!r}")
        return table[obj]
    if not isinstance(obj, cls):
        raise TypeError(f"{kind} must be one of {sorted(table)} or a mftheory.derivations.catalog.{cls.__name__}; "
                        f"got {obj!r}")
    return obj


def derive(activation="relu", loss="hinge", data="gaussian", init: sp.Expr = GAUSSIAN_INIT,
           integration_seconds: int = 8) -> MeanFieldDerivation:
    """Derive the mean-field dynamics of one (activation, loss, data law, init law).

    Raises :class:`ReductionError` if a required symmetry condition fails.
    """
    _as_name(activation, ACTIVATIONS, "activation", Activation)   # before the caches hash them
    _as_name(loss, LOSSES, "loss", Loss)
    _as_name(data, DATA_LAWS, "data", DataLaw)
    return _derive(activation, loss, data, init, integration_seconds)


@functools.lru_cache(maxsize=None)
@cached_on_disk
def _derive(activation, loss, data, init: sp.Expr = GAUSSIAN_INIT,
            integration_seconds: int = 8) -> MeanFieldDerivation:
    """:func:`derive`, cached in the process and on disk."""
    act = _as_name(activation, ACTIVATIONS, "activation", Activation)
    los = _as_name(loss, LOSSES, "loss", Loss)
    law = _as_name(data, DATA_LAWS, "data", DataLaw)
    conditions = tuple(check_conditions(act, init))
    failed = [cnd for cnd in conditions if cnd.required and not cnd.holds]
    if failed:
        raise ReductionError("symmetry reduction does not apply: "
                             + "; ".join(f"{cnd.name} fails ({cnd.detail})" for cnd in failed))

    sigma = sp.Function(r"\sigma")
    M, N, i = sp.symbols("M N i", positive=True, integer=True)
    xv, wv, wstar = sp.symbols(r"\mathbf{x} \mathbf{w} \mathbf{w}^{*}")
    y, u_t, F_t = sp.symbols("y u_t F_t")
    steps = []
    add = lambda *args: steps.append(Step(*args))

    f_net = sp.Function("f")(xv)
    A_i, W_i = sp.IndexedBase("a"), sp.IndexedBase(r"\mathbf{w}")
    add("network", "network output", sp.Eq(f_net, S.alpha / M * sp.Sum(A_i[i] * sigma(W_i[i] * xv / sp.sqrt(S.d)), (i, 1, M))),
        r"One hidden layer of $M$ nodes; the readout is scaled by $\alpha/M$.")
    add("gd", "one full-batch GD step on the mean loss, per node",
        sp.Eq(sp.Symbol(r"\Delta a_i"), S.beta * DataMean(u_t * y * sigma(sp.Symbol("z_i")))),
        r"The per-node rate is $\beta = \eta\alpha/M$ and the weight $u = -\ell'(y f)$; likewise "
        r"$\Delta w_i = \beta a_i\,\mathbb{E}[u\,y\,\sigma'(z_i)\,x]/\sqrt{d}$.")
    add("meanfield_output", r"mean-field output ($M \to \infty$)",
        sp.Eq(F_t, S.alpha * InitMean(S.a * sigma(wv * xv / sp.sqrt(S.d)))),
        r"The nodes are independent given the data average, and $u_t = -\ell'(y F_t)$.")
    add("node_drift", "single-node mean-field drift",
        sp.Eq(sp.Symbol(r"\Delta \mathbf{w}"), S.beta * S.a * DataMean(u_t * y * sp.Derivative(sigma(S.z), S.z) * xv) / sp.sqrt(S.d)),
        r"Every node feels the population only through $u_t(x) = -\ell'(y F_t(x))$.")

    odd_slope = memo.simplify((act.derivative.subs(S.z, sp.Symbol("p", positive=True))
                             + act.derivative.subs(S.z, -sp.Symbol("p", positive=True))) / 2)
    add("odd_slope", "odd slope of the activation",
        sp.Eq(S.odd_slope, odd_slope),
        "; ".join(f"{cnd.latex_name or cnd.name}: {cnd.latex or cnd.detail}" for cnd in conditions) + ".")
    xpar = sp.Symbol("x_par", real=True)
    g_def = S.odd_slope / sp.sqrt(S.d) * DataMean(u_t * sp.Abs(xpar))
    add("symmetry", "symmetry reduction: the drift is the same for every node",
        sp.Eq(S.g, g_def),
        r"$u_t$ is even in $x$ ($F_t$ is odd), the data are spherical and $y = \mathrm{sign}(x_\parallel)$, so "
        r"$\mathbb{E}[u\,y\,\sigma'(z)\,x] = c_\sigma\,\mathbb{E}[u\,|x_\parallel|]\,w^*$; then "
        r"$a \leftarrow a + \beta g\,w_\parallel$, $w_\parallel \leftarrow w_\parallel + \beta g\,a$, and $w_\perp$ "
        "stays constant.")

    # node dynamics: d(a, w)/d gamma = [[0,1],[1,0]] (a, w); one GD step multiplies by [[1, beta g],[beta g, 1]]
    K = sp.Matrix([[0, 1], [1, 0]])
    flow = ((K * S.gamma).exp() * sp.Matrix([S.a0, S.w0])).applyfunc(lambda e: memo.simplify(e.rewrite(sp.cosh)))
    node_flow = (S.a0 * sp.cosh(S.gamma) + S.w0 * sp.sinh(S.gamma), S.w0 * sp.cosh(S.gamma) + S.a0 * sp.sinh(S.gamma))
    require(all(memo.simplify((flow[j] - node_flow[j]).rewrite(sp.exp)) == 0 for j in range(2)))
    add("node_flow", r"continuous flow, $\gamma = \beta \int g\,dt$",
        sp.Eq(sp.Matrix([S.a, S.w_par]), sp.Matrix(node_flow)), r"$w_\perp$ stays at its initial value.")
    P, D = (sp.eye(2) + S.beta * S.g * K).diagonalize()
    # eigenvectors (1, +-1), eigenvalues 1 +- beta g: after k steps a +- w_par = (a0 +- w0) prod(1 +- beta g_k)
    eig = {memo.simplify(D[j, j]): P[:, j] for j in range(2)}
    require(set(eig) == {1 + S.beta * S.g, 1 - S.beta * S.g})
    Pp, Pm = sp.exp(S.gamma_plus), sp.exp(-S.gamma_minus)
    node_discrete = (sp.expand(((S.a0 + S.w0) * Pp + (S.a0 - S.w0) * Pm) / 2),
                     sp.expand(((S.a0 + S.w0) * Pp - (S.a0 - S.w0) * Pm) / 2))
    add("node_discrete", "exact discrete GD map",
        sp.Eq(sp.Matrix([S.a + S.w_par, S.a - S.w_par]),
              sp.Matrix([(S.a0 + S.w0) * S.P_plus, (S.a0 - S.w0) * S.P_minus])),
        r"$P_\pm = \prod_k (1 \pm \beta g_k) = e^{+\gamma_+}, e^{-\gamma_-}$; this requires $\beta g_k < 1$.")
    discrete_update = (S.gamma_plus + sp.log(1 + S.beta * S.g), S.gamma_minus - sp.log(1 - S.beta * S.g))

    # F_t(x) = alpha E[a sigma(z)]: the even part of sigma averages out, the odd part is odd_slope * z
    aw_flow = _init_mean(node_flow[0] * node_flow[1], init)
    aw_discrete = _init_mean(node_discrete[0] * node_discrete[1], init)
    kappa_flow = S.alpha * S.odd_slope * (S.sigma_a**2 + S.sigma_w**2) * sp.sinh(2 * S.gamma) / (2 * sp.sqrt(S.d))
    require(memo.simplify((kappa_flow - S.alpha * S.odd_slope * aw_flow / sp.sqrt(S.d)).rewrite(sp.exp)) == 0)
    kappa_discrete = sp.factor(S.alpha * S.odd_slope * aw_discrete / sp.sqrt(S.d))
    add("kappa_flow", r"mean-field output is linear: $F_t(x) = \kappa\,x_\parallel$", sp.Eq(S.kappa, kappa_flow),
        r"Continuous flow; $\mathbb{E}$ is over the init law.")
    add("kappa_discrete", r"$\kappa$ under the exact discrete map", sp.Eq(S.kappa, kappa_discrete),
        "Discrete GD.")
    moments = {name: sp.factor(_init_mean(expr, init)) for name, expr in
               (("a2", node_discrete[0] ** 2), ("w2", node_discrete[1] ** 2), ("aw", node_discrete[0] * node_discrete[1]))}
    # increments from the init in terms of P_+ - 1 = expm1(gamma_+) and P_- - 1 = expm1(-gamma_-): no cancellation
    # at small gamma, where a - a0 is tiny
    E1, E2 = sp.symbols("E_1 E_2", real=True)
    increments = [sp.expand(e.subs({Pp: 1 + E1, Pm: 1 + E2})) for e in node_discrete]
    for name, inc, start in (("da2", increments[0], S.a0), ("dw2", increments[1], S.w0)):
        moment = sp.factor(_init_mean((inc - start) ** 2, init))
        moments[name] = moment.subs({E1: expm1(S.gamma_plus), E2: expm1(-S.gamma_minus)})
    add("moments", "second moments of a node under the discrete map",
        sp.Eq(sp.Matrix([sp.Symbol(r"\mathbb{E}[a^2]"), sp.Symbol(r"\mathbb{E}[w_{\parallel}^2]")]),
              sp.Matrix([moments["a2"], moments["w2"]])), "Used for the alignment and the relative change.")

    u = los.weight
    add("weight", "gradient weight of an example", sp.Eq(sp.Symbol("u(z)"), u),
        r"The loss is $\ell(z) = " + sp.latex(los.expr) + "$.")
    clean = data_average(u.subs(S.z, S.kappa * S.x) * S.x, law, integration_seconds)
    flipped = data_average(u.subs(S.z, -S.kappa * S.x) * S.x, law, integration_seconds)
    unsat = data_average(sp.Piecewise((1, S.kappa * S.x < S.h), (0, True)), law, integration_seconds)
    drift = (1 - S.eps) * clean.value - S.eps * flipped.value
    add("drift_integral", r"data average of the drift ($|x| = |x_\parallel|$)",
        sp.Eq(sp.Symbol("B"), (1 - S.eps) * clean.integral - S.eps * flipped.integral),
        rf"{law.name.capitalize()} data (${law.description}$); a fraction $\epsilon$ of the labels is flipped, with "
        r"$y F = -\kappa |x_\parallel|$ for them.")
    add("drift", "drift evaluated", sp.Eq(sp.Symbol("B"), drift),
        "In closed form." if clean.closed_form is not None and flipped.closed_form is not None
        else "Kept as an integral: the kernel integrates it by Gauss-Legendre quadrature.")
    g = S.odd_slope * drift / sp.sqrt(S.d)
    add("g", "rate of the node dynamics", sp.Eq(S.g, g),
        r"One GD step advances $\gamma_{t+1} = \gamma_t + \beta\,g(\kappa_t)$.")
    f_unsat = (1 - S.eps) * unsat.value + S.eps
    add("f_unsat", r"fraction of unsatisfied training examples ($y F < h$)", sp.Eq(sp.Symbol("f_U"), f_unsat),
        "Flipped examples are never satisfied.")
    add("threshold", "satisfaction threshold", sp.Eq(S.x_star, S.h / S.kappa),
        r"An example with $|x_\parallel| < x^*$ is unsatisfied.")

    fixed_point = None
    late = None
    if los.name == "hinge" and clean.closed_form is not None and flipped.closed_form is not None:
        bracket = memo.simplify(drift.subs(S.kappa, S.h / S.x_star))
        # the positive root, judged at a sample point 0 < eps < 1/2
        probe = {S.eps: sp.Rational(1, 4), S.d: 10}
        solutions = [s for s in sp.solve(sp.Eq(bracket, 0), S.x_star) if sp.N(s.subs(probe)).is_positive]
        if len(solutions) == 1:
            fixed_point = _split_power_of_d(memo.simplify(solutions[0]))
            add("fixed_point", "label-noise fixed point: the drift vanishes", sp.Eq(S.x_star, fixed_point),
                r"$\gamma$ stops where $\kappa = h/x^*$.")
        if law.substitution is None:
            # late times: kappa >> h, x* -> 0; the drift's leading term in x* gives d gamma / dt ~ A exp(-4 gamma)
            lead = sp.series(bracket.subs(S.eps, 0), S.x_star, 0, 3).removeO()
            kappa_large = sp.limit(kappa_flow * sp.exp(-2 * S.gamma), S.gamma, sp.oo) * sp.exp(2 * S.gamma)
            rate = memo.simplify(S.beta * S.odd_slope / sp.sqrt(S.d) * lead.subs(S.x_star, S.h / kappa_large))
            # separable: int d gamma / rate = t + C
            C1 = sp.Symbol("C_1", real=True)
            antiderivative = memo.integrate(1 / rate, S.gamma)
            late = memo.simplify(_real_branch(sp.solve(sp.Eq(antiderivative, S.t + C1), S.gamma)))
            tt = sp.Function("gamma")
            add("late_time", r"late-time law of the flow ($x^* \to 0$)", sp.Eq(tt(S.t), late),
                r"The leading drift is $B \sim " + sp.latex(lead) + r"$, so $\gamma \sim \log(t)/4$.")
    return MeanFieldDerivation(
        activation=act, loss=los, data=law, conditions=conditions, steps=tuple(steps), odd_slope=odd_slope,
        weight=u, clean_average=clean, flipped_average=flipped, unsat_average=unsat, drift=drift, g=g,
        f_unsat=f_unsat, node_flow=node_flow, node_discrete=node_discrete, kappa_flow=kappa_flow,
        kappa_discrete=kappa_discrete, moments_discrete=moments, discrete_update=discrete_update,
        threshold_fixed_point=fixed_point, late_time=late)
