"""Label noise at small eps: where training stalls, and how much a little noise slows it down.

``derive_label_noise(derivation)`` takes a :class:`~mftheory.derivations.meanfield.MeanFieldDerivation` (hinge-type loss:
the clean average vanishes like x*^2 as x* = h/kappa -> 0 while the flipped one stays finite) and returns a
:class:`LabelNoiseDerivation`:

* the small-eps expansion of the fixed-point threshold x*_fp(eps) to relative order eps,
  x*_fp = sqrt(a_1 eps) (1 + c eps + O(eps^2)) (Gaussian data: a_1 = 2, c = 3/4), and kappa_fp = h / x*_fp;
* the first-order response of the rate g(kappa, eps) = odd_slope B(kappa, eps) / sqrt(d) to eps and to kappa,
  both at eps = 0;
* the partial derivatives of kappa = P (E_+ - E_-)(2 + E_+ + E_-) (P the prefactor of codegen's
  ``kappa_increments``) with respect to E_+ and E_-;
* the first-order-in-eps linearisation of one step of the discrete map E_+- <- E_+- +- beta g (1 + E_+-): the
  recursion of the sensitivities dE_+- = d E_+- / d eps at eps = 0 along the noiseless trajectory.

Every result is checked here against an independent route (see the asserts).

Symbols introduced by this module (all real):

``dE_plus`` ("dE_+"), ``dE_minus`` ("dE_-")
    d E_+ / d eps and d E_- / d eps at eps = 0 before a GD step (both 0 at t = 0: E_+- start at 0 for every eps).
``dE_plus_next`` ("dE'_+"), ``dE_minus_next`` ("dE'_-")
    the same after the step (used as left-hand sides in the displayed equations).
``dkappa`` ("d\\kappa")
    d kappa / d eps at eps = 0 at the current step: dkappa_dE_plus dE_+ + dkappa_dE_minus dE_-.
``dg`` ("dg")
    d g / d eps at eps = 0 along the trajectory: dg_dkappa dkappa + dg_deps.
"""
from __future__ import annotations

import dataclasses

import sympy as sp

from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.checks import require
from mftheory.derivations.disk_cache import cached_on_disk
from mftheory.derivations import symbols as S
from mftheory.derivations.meanfield import MeanFieldDerivation, Step

dE_plus = sp.Symbol("dE_+", real=True)
dE_minus = sp.Symbol("dE_-", real=True)
dE_plus_next = sp.Symbol("dE'_+", real=True)
dE_minus_next = sp.Symbol("dE'_-", real=True)
dkappa = sp.Symbol(r"d\kappa", real=True)
dg = sp.Symbol("dg", real=True)

# unknown coefficients of the perturbative ansatz x*^2 = a_1 eps + a_2 eps^2
_a1 = sp.Symbol("a_1", positive=True)
_a2 = sp.Symbol("a_2", real=True)


@dataclasses.dataclass(frozen=True)
class LabelNoiseDerivation:
    """Small-eps results; the symbols each expression uses are listed next to it."""

    derivation: MeanFieldDerivation
    threshold_method: str            # "series of the closed-form fixed point" or "perturbative (drift = 0)"
    threshold_squared_series: sp.Expr  # x*_fp^2 = a_1 eps + a_2 eps^2 (+ O(eps^3))     [eps, maybe d]
    threshold_series: sp.Expr        # x*_fp = sqrt(a_1 eps) (1 + c eps) (+ O(eps^2) rel.)  [eps, maybe d]
    threshold_correction: sp.Expr    # c = a_2 / (2 a_1)                                    [maybe d]
    kappa_series: sp.Expr            # kappa_fp = h / sqrt(a_1 eps) (1 - c eps) (+ O(eps^2) rel.)  [h, eps, ...]
    dg_deps: sp.Expr                 # d g / d eps at eps = 0                 [kappa, d, h, odd_slope]
    dg_dkappa: sp.Expr               # d g / d kappa at eps = 0               [kappa, d, h, odd_slope]
    kappa_increments: sp.Expr        # P (E_+ - E_-)(2 + E_+ + E_-)           [E_+-, alpha, d, sigma_a, sigma_w, odd_slope]
    dkappa_dE_plus: sp.Expr          # d kappa / d E_+                        [E_+, alpha, d, sigma_a, sigma_w, odd_slope]
    dkappa_dE_minus: sp.Expr         # d kappa / d E_-                        [E_-, alpha, d, sigma_a, sigma_w, odd_slope]
    dkappa_linear: sp.Expr           # dkappa = dkappa_dE_plus dE_+ + dkappa_dE_minus dE_-
    dg_linear: sp.Expr               # dg = dg_dkappa dkappa + dg_deps, dkappa substituted
    sensitivity_update: tuple[sp.Expr, sp.Expr]  # (dE'_+, dE'_-) in dE_+-, E_+-, g, beta, dg
    sensitivity_update_explicit: tuple[sp.Expr, sp.Expr]  # g -> g(kappa, eps=0), dg -> dg_linear
    steps: tuple[Step, ...]

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(f"no step {key!r}; steps are {[s.key for s in self.steps]}")


def _zero(expr) -> bool:
    return memo.simplify(sp.expand(sp.expand_log(expr.rewrite(sp.exp), force=True))) == 0


def _numerically_equal(lhs, rhs, digits=30) -> bool:
    """lhs == rhs at three generic points (every free symbol a distinct rational in (0, 1)), to ``digits``.

    For identities whose symbolic simplification takes minutes (exp of a rational function of E_+-)."""
    symbols = sorted((lhs - rhs).free_symbols, key=str)
    for shift in range(3):
        point = {s: sp.Rational(2 + ((3 * j + shift) % 7), 11 + shift) for j, s in enumerate(symbols)}
        a, b = sp.N(lhs.subs(point), digits), sp.N(rhs.subs(point), digits)
        if abs(a - b) > sp.Float(10) ** (5 - digits) * max(1, abs(a), abs(b)):
            return False
    return True


def _small_threshold_branches(expr, probe):
    """expr with every Piecewise replaced by its branch that holds at the small-threshold point ``probe``."""
    def pick(pw):
        for branch, cond in pw.args:
            if cond in (True, sp.true) or cond.subs(probe) in (True, sp.true):
                return branch
        raise NotImplementedError(f"cannot decide which branch of {pw} holds at small x*")

    return expr.replace(lambda e: isinstance(e, sp.Piecewise), pick)


def _squared_from_closed_form(fixed_point):
    """a_1 eps + a_2 eps^2 from the series of the derived x*_fp(eps)^2."""
    fp = _small_threshold_branches(fixed_point, {S.eps: sp.Rational(1, 1000), S.d: 10})
    series = sp.expand(sp.series(fp**2, S.eps, 0, 3).removeO())
    return series


def _squared_from_drift(drift):
    """a_1 eps + a_2 eps^2 by solving B(h / x*, eps) = 0 order by order with x*^2 = a_1 eps + a_2 eps^2."""
    if drift.has(sp.Integral):
        raise NotImplementedError("the drift is an unevaluated integral: no perturbative expansion of it here")
    bracket = drift.subs(S.kappa, S.h / S.x_star)
    bracket = _small_threshold_branches(bracket, {S.x_star: sp.Rational(1, 1000), S.d: 10, S.h: 1})
    ansatz = sp.sqrt(S.eps * (_a1 + _a2 * S.eps))
    expansion = sp.expand(sp.series(bracket.subs(S.x_star, ansatz), S.eps, 0, 3).removeO())
    integer_orders = expansion.coeff(S.eps, 1) * S.eps + expansion.coeff(S.eps, 2) * S.eps**2
    if memo.simplify(expansion - integer_orders) != 0:
        raise NotImplementedError(f"B(h / x*, eps) with x*^2 = a_1 eps + a_2 eps^2 expands as {expansion}, not as "
                                  "c_1 eps + c_2 eps^2: the fixed point does not scale like x* ~ sqrt(eps)")
    roots = [r for r in sp.solve(expansion.coeff(S.eps, 1), _a1) if r.is_positive is not False]
    if len(roots) != 1:
        raise NotImplementedError(f"no unique positive leading coefficient x*^2 ~ a_1 eps (solutions {roots})")
    first = memo.simplify(roots[0])
    second = sp.solve(expansion.coeff(S.eps, 2).subs(_a1, first), _a2)
    if len(second) != 1:
        raise NotImplementedError(f"no unique next coefficient a_2 (solutions {second})")
    return first * S.eps + memo.simplify(second[0]) * S.eps**2


_CACHE: dict[int, tuple[MeanFieldDerivation, LabelNoiseDerivation]] = {}


def derive_label_noise(derivation: MeanFieldDerivation) -> LabelNoiseDerivation:
    """Small-eps label-noise results for one mean-field derivation (cached per derivation object).

    Raises NotImplementedError when the fixed point does not scale like x* ~ sqrt(eps) (losses other than the
    hinge) or the drift has no closed form.
    """
    hit = _CACHE.get(id(derivation))
    if hit is not None and hit[0] is derivation:
        return hit[1]
    # from the disk cache the result carries an unpickled copy of the derivation: it points back to the caller's
    result = dataclasses.replace(_derive(derivation), derivation=derivation)
    _CACHE[id(derivation)] = (derivation, result)
    return result


def small_label_noise(derivation: MeanFieldDerivation) -> LabelNoiseDerivation | None:
    """derive_label_noise, or None for the variants it does not cover (no sqrt(eps) fixed point, or a drift with
    no closed form)."""
    try:
        return derive_label_noise(derivation)
    except NotImplementedError:
        return None


@cached_on_disk
def _derive(D: MeanFieldDerivation) -> LabelNoiseDerivation:
    steps = []
    add = lambda *args: steps.append(Step(*args))

    # --- the threshold where the drift vanishes, at small eps -------------------------------------------
    perturbative = None
    try:
        perturbative = _squared_from_drift(D.drift)
    except NotImplementedError:
        if D.threshold_fixed_point is None:
            raise
    if D.threshold_fixed_point is not None:
        squared = _squared_from_closed_form(D.threshold_fixed_point)
        method = "series of the closed-form fixed point"
        if perturbative is not None:  # two independent routes agree
            require(memo.simplify(squared - perturbative) == 0, (squared, perturbative))
    else:
        squared, method = perturbative, "perturbative (drift = 0)"
    a1, a2 = sp.factor(squared.coeff(S.eps, 1)), sp.factor(squared.coeff(S.eps, 2))
    require(memo.simplify(squared - a1 * S.eps - a2 * S.eps**2) == 0 and a1 != 0, squared)
    squared = a1 * S.eps + a2 * S.eps**2
    correction = memo.simplify(a2 / (2 * a1))
    lead = sp.sqrt(a1 * S.eps)
    threshold_series = lead * (1 + correction * S.eps)
    kappa_series = S.h / lead * (1 - correction * S.eps)
    # checks: the truncated series makes the drift vanish to O(eps^3) (B itself is O(eps));
    # h / x*_series agrees with kappa_series to relative O(eps^2)
    bracket = _small_threshold_branches(D.drift.subs(S.kappa, S.h / S.x_star) if not D.drift.has(sp.Integral)
                                        else sp.S.Zero, {S.x_star: sp.Rational(1, 1000), S.d: 10, S.h: 1})
    if bracket != 0:
        residual = sp.series(bracket.subs(S.x_star, threshold_series), S.eps, 0, 3).removeO()
        require(memo.simplify(residual) == 0, residual)
    require(memo.simplify(sp.series((S.h / threshold_series - kappa_series) / (S.h / lead), S.eps, 0, 2).removeO()) == 0)
    if D.threshold_fixed_point is not None:
        fp = _small_threshold_branches(D.threshold_fixed_point, {S.eps: sp.Rational(1, 1000), S.d: 10})
        # relative error of the truncated series against the closed form is O(eps^2): at 50 digits it drops
        # 100-fold from eps = 1e-8 to 1e-9 (the sample d = 10 stands for any d)
        sample = {S.d: 10, S.h: 1}
        rel = [abs(sp.N((fp / threshold_series - 1).subs(sample).subs(S.eps, sp.Rational(1, 10**k)), 50))
               for k in (8, 9)]
        require(rel[0] < sp.Rational(1, 10**14) and 50 < rel[0] / rel[1] < 200, rel)
    if D.data.name == "gaussian" and D.loss.name == "hinge":
        # the paper's x*^2 = 2 ln((1-eps)/(1-2eps)) = 2 eps + 3 eps^2 + O(eps^3)
        require(sp.expand(squared - (2 * S.eps + 3 * S.eps**2)) == 0, squared)
        require(correction == sp.Rational(3, 4))
    order = sp.O(S.eps**2)
    add("noise_threshold_series", "small label noise: fixed-point threshold",
        sp.Eq(S.x_star, sp.Mul(lead, sp.Add(1, correction * S.eps, order, evaluate=False), evaluate=False)),
        method[0].upper() + method[1:] + r"; $(x^*)^2 = " + sp.latex(squared) + r" + O(\epsilon^3)$; the truncated "
        r"series makes the drift vanish to $O(\epsilon^3)$.")
    add("noise_kappa_series", r"small label noise: $\kappa$ where training stalls",
        sp.Eq(S.kappa, sp.Mul(S.h / lead, sp.Add(1, -correction * S.eps, order, evaluate=False), evaluate=False)),
        r"$\kappa = h/x^*$ at the fixed point.")

    # --- response of the rate to eps and kappa at eps = 0 -------------------------------------------------
    require(D.g.free_symbols <= {S.kappa, S.d, S.h, S.eps, S.odd_slope, S.leak}, D.g.free_symbols)
    require(_zero(D.g - S.odd_slope * D.drift / sp.sqrt(S.d)))
    require(sp.diff(D.g, S.eps, 2) == 0)  # g is linear in eps
    dg_deps = sp.factor_terms(sp.expand(sp.diff(D.g, S.eps).subs(S.eps, 0)))
    dg_dkappa = sp.factor_terms(sp.expand(sp.diff(D.g, S.kappa).subs(S.eps, 0)))
    clean, flipped = D.clean_average.value, D.flipped_average.value
    require(_zero(dg_deps + S.odd_slope / sp.sqrt(S.d) * (clean + flipped)))
    require(_zero(dg_dkappa - S.odd_slope / sp.sqrt(S.d) * sp.diff(clean, S.kappa)))
    if D.data.name == "gaussian" and D.loss.name == "hinge":
        c = S.odd_slope * sp.sqrt(2 / sp.pi) / sp.sqrt(S.d)
        require(_zero(dg_deps + c * (2 - sp.exp(-S.h**2 / (2 * S.kappa**2)))))
        require(_zero(dg_dkappa + c * S.h**2 / S.kappa**3 * sp.exp(-S.h**2 / (2 * S.kappa**2))))
    g0 = sp.Function("g")(S.kappa, S.eps)
    add("noise_dg_deps", "response of the rate to label noise",
        sp.Eq(sp.Subs(sp.Derivative(g0, S.eps), S.eps, 0), dg_deps),
        r"It equals $-c_\sigma\,(\mathbb{E}[u(\kappa|x|)\,|x|] + \mathbb{E}[u(-\kappa|x|)\,|x|])/\sqrt{d}$; $g$ is "
        r"linear in $\epsilon$.")
    add("noise_dg_dkappa", r"slope of the noiseless rate in $\kappa$",
        sp.Eq(sp.Subs(sp.Derivative(g0, S.kappa), S.eps, 0), dg_dkappa), r"At $\epsilon = 0$.")

    # --- kappa in the increments E_+- and its partial derivatives ---------------------------------------------
    kd = D.kappa_discrete
    prefactor = memo.simplify(kd / (sp.exp(2 * S.gamma_plus) - sp.exp(-2 * S.gamma_minus)))  # as in codegen.py
    require(prefactor.free_symbols.isdisjoint({S.gamma_plus, S.gamma_minus}))
    kappa_inc = prefactor * (S.E_plus - S.E_minus) * (2 + S.E_plus + S.E_minus)
    to_gamma = {S.E_plus: sp.exp(S.gamma_plus) - 1, S.E_minus: sp.exp(-S.gamma_minus) - 1}
    require(_zero(kappa_inc.subs(to_gamma) - kd))
    dk_plus = sp.factor(sp.diff(kappa_inc, S.E_plus))
    dk_minus = sp.factor(sp.diff(kappa_inc, S.E_minus))
    # chain rule through gamma_+- : dE_+ / dgamma_+ = exp(gamma_+), dE_- / dgamma_- = -exp(-gamma_-)
    require(_zero(dk_plus.subs(to_gamma) - sp.diff(kd, S.gamma_plus) * sp.exp(-S.gamma_plus)))
    require(_zero(dk_minus.subs(to_gamma) + sp.diff(kd, S.gamma_minus) * sp.exp(S.gamma_minus)))
    require(_zero(dk_plus - 2 * prefactor * (1 + S.E_plus)) and _zero(dk_minus + 2 * prefactor * (1 + S.E_minus)))
    add("noise_dkappa_dE", r"$\kappa$ and its derivatives in the increments $E_\pm = P_\pm - 1$",
        sp.Eq(sp.Matrix([S.kappa, sp.Derivative(S.kappa, S.E_plus), sp.Derivative(S.kappa, S.E_minus)]),
              sp.Matrix([kappa_inc, dk_plus, dk_minus])),
        r"$P_+^2 - P_-^2 = (E_+ - E_-)(2 + E_+ + E_-)$; the prefactor is as in the kernel kappa_increments.")

    # --- first-order linearisation of one GD step ---------------------------------------------------------
    dkappa_linear = dk_plus * dE_plus + dk_minus * dE_minus
    dg_linear = dg_dkappa * dkappa_linear + dg_deps
    update = (S.E_plus + S.beta * S.g * (1 + S.E_plus), S.E_minus - S.beta * S.g * (1 + S.E_minus))
    # d/d eps of the update with E_+- and g depending on eps
    sensitivity = tuple(sp.expand(sp.diff(u.subs({S.E_plus: S.E_plus + S.eps * dE_plus,
                                                   S.E_minus: S.E_minus + S.eps * dE_minus,
                                                   S.g: S.g + S.eps * dg}, simultaneous=True), S.eps).subs(S.eps, 0))
                        for u in update)
    require(_zero(sensitivity[0] - ((1 + S.beta * S.g) * dE_plus + S.beta * (1 + S.E_plus) * dg)))
    require(_zero(sensitivity[1] - ((1 - S.beta * S.g) * dE_minus - S.beta * (1 + S.E_minus) * dg)))
    g_noiseless = D.g.subs(S.eps, 0)
    explicit = tuple(s.subs({dg: dg_linear, S.g: g_noiseless}) for s in sensitivity)
    # independent check by the chain rule: E_+-(eps) as functions, g(kappa(E_+(eps), E_-(eps)), eps)
    Ep, Em = sp.Function("E_p")(S.eps), sp.Function("E_m")(S.eps)
    g_full = D.g.subs(S.kappa, kappa_inc.subs({S.E_plus: Ep, S.E_minus: Em}))
    for sign, e, s in ((1, Ep, explicit[0]), (-1, Em, explicit[1])):
        direct = sp.diff(e + sign * S.beta * g_full * (1 + e), S.eps).subs(
            {sp.Derivative(Ep, S.eps): dE_plus, sp.Derivative(Em, S.eps): dE_minus}).subs(
            {Ep: S.E_plus, Em: S.E_minus}).subs(S.eps, 0)
        require(_numerically_equal(direct, s.subs(S.kappa, kappa_inc)))
    add("noise_dg", "first-order change of the rate along the noiseless trajectory",
        sp.Eq(dg, sp.Subs(sp.Derivative(g0, S.kappa), S.eps, 0) * dkappa
              + sp.Subs(sp.Derivative(g0, S.eps), S.eps, 0)),
        r"$d\kappa = (d\kappa/dE_+)\,dE_+ + (d\kappa/dE_-)\,dE_-$, where $dX = dX/d\epsilon$ at $\epsilon = 0$.")
    add("noise_sensitivity", r"first-order (in $\epsilon$) linearisation of one GD step",
        sp.Eq(sp.Matrix([dE_plus_next, dE_minus_next]), sp.Matrix(sensitivity)),
        r"$E_\pm \leftarrow E_\pm \pm \beta g\,(1 + E_\pm)$ differentiated in $\epsilon$ at $\epsilon = 0$; "
        r"$dE_\pm = 0$ at $t = 0$; $E_\pm$, $g$, $\kappa$ along the noiseless map; "
        r"$\kappa(\epsilon) = \kappa + \epsilon\,d\kappa + O(\epsilon^2)$.")

    return LabelNoiseDerivation(
        derivation=D, threshold_method=method, threshold_squared_series=squared, threshold_series=threshold_series,
        threshold_correction=correction, kappa_series=kappa_series, dg_deps=dg_deps, dg_dkappa=dg_dkappa,
        kappa_increments=kappa_inc, dkappa_dE_plus=dk_plus, dkappa_dE_minus=dk_minus, dkappa_linear=dkappa_linear,
        dg_linear=dg_linear, sensitivity_update=sensitivity, sensitivity_update_explicit=explicit,
        steps=tuple(steps))
