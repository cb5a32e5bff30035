"""Finite width M: the law of F_M(x) - F_t(x) over the init at fixed x, the band around x*(t), and the
finite-M test error.

Nodes that each follow the mean-field map from their own init give, at
fixed x, a bivariate Gaussian (a, z = w.x/sqrt d); F_M(x) = (alpha/M) sum_i a_i sigma(z_i) then has mean
F_t(x) and variance (alpha^2/M) Var[a sigma(z)]. This is the *frozen-init* approximation: it ignores the
feedback of the loss on the fluctuations and finite N (derivations/fluctuations.py derives the feedback on the
tilt; the validation case measures how far the rest is off).
"""
from __future__ import annotations

import dataclasses
import functools

import sympy as sp

from mftheory.derivations import symbols as S
from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.averages import DataAverage, data_average
from mftheory.derivations.catalog import ACTIVATIONS, DATA_LAWS, Activation
from mftheory.derivations.checks import require
from mftheory.derivations.meanfield import InitMean, Step
from mftheory.derivations.disk_cache import cached_on_disk


@dataclasses.dataclass(frozen=True)
class FiniteWidthDerivation:
    activation: Activation
    steps: tuple[Step, ...]
    mean_node_output: sp.Expr   # E[a sigma(z)] at fixed (x_par, |x_perp|^2)
    node_variance: sp.Expr      # Var[a sigma(z)] at fixed x, in V_a, V_z, C
    output_variance: sp.Expr    # Var F_M(x) in the node moments, x_par and r2 = |x_perp|^2
    band_sd: sp.Expr            # sd of the |x_par| at which examples get satisfied, at x*
    test_error: DataAverage     # E_x[P(y F_M(x) < 0)], |x_perp|^2 = d - 1
    test_error_noise: DataAverage  # the same with |x_perp|^2 = r2 (another data law's noise coordinates)
    # Hermite split of F_M - F_t along x_perp at fixed x_par: common part (same for every x_perp), linear part
    # (a tilt of the effective teacher) and the nonlinear rest
    common_variance: tuple         # (E[a^2 c_0^2], E[a c_0]) over the node law
    linear_variance: DataAverage   # E[a^2 c_1^2]: variance of the linear part, divided by alpha^2/M
    threshold: sp.Expr             # x* = h / kappa in the node moments
    band_scatter_sd: sp.Expr       # band without the common part (in V_common, V_linear placeholders)
    band_rest_sd: sp.Expr          # band of the nonlinear rest alone
    placeholders: tuple            # (V_common, V_linear) symbols used by the two bands above
    # the degree-2 Hermite part along x_perp (the first degree of the nonlinear rest), where the loss's feedback
    # acts next after the tilt (derivations/fluctuations.py): h_2 even in mu, else None
    degree2: tuple | None          # (E[a^2 h_2(x)^2], E[h_2(x) h_2(y)], E[a^2 h_2(x) h_2(y)]) over the node law
    degree2_variance: sp.Expr | None  # Var of F's degree-2 part at x_par, in the placeholder V_2 = E[a^2 h_2^2]
    # the part of the linear coefficient c_1 odd in mu = w_par x_par / sqrt(d): it bends the linear part with x_par
    # and is not the tilt (derivations/fluctuations.py derives the loss's feedback on it)
    bend: tuple | None = None      # (E[a^2 c_1o(x)^2], E[c_1o(x) c_1o(y)], E[a^2 c_1o(x) c_1o(y)]) over the node law
    bend_is_all_of_the_rest: bool = False  # c_1's even part is the same at every x_par (the tilt carries all of it)
    # a node's own pull-back (derivations/fluctuations.py, step self_pull): E[sigma_part sigma' xi] / shat at mu = 0
    # for the part of degree >= 3 along x_perp and for the degree-2 part
    self_pull: tuple | None = None  # (share of degrees >= 3, share of degree 2), in sigma_w, d and the leak
    # sigma(c z) = c sigma(z) for every c > 0 (ReLU, leaky ReLU): a node's contribution at x_par = 0 is then
    # a s times a function of w_perp's direction, so a change of the node law scales every frozen part of F's
    # fluctuation there by E[a^2 s^2] (mftheory.node_law's factor)
    one_homogeneous: bool = False
    # h_2 of one node as a function of mu = w_par x_par / sqrt(d), |w_perp| at its mean (in sigma_w, d and the
    # leak): the node-by-node weights of the degree-2 feedback's spectrum (derivations/fluctuations.py, step
    # degree2_spread); None where degree2 is None
    degree2_node: sp.Expr | None = None

    def step(self, key):
        return next(s for s in self.steps if s.key == key)


@functools.lru_cache(maxsize=None)
@cached_on_disk
def derive_finite_width(activation="relu", data="gaussian", integration_seconds: int = 8) -> FiniteWidthDerivation:
    act = ACTIVATIONS[activation] if isinstance(activation, str) else activation
    law = DATA_LAWS[data] if isinstance(data, str) else data
    Va, Vz = sp.symbols("V_a V_z", positive=True)
    C = sp.Symbol("C", real=True)
    steps = []
    add = lambda *args: steps.append(Step(*args))

    # (a, z) zero-mean bivariate Gaussian: a | z ~ N(C z / V_z, V_a - C^2 / V_z)
    pos, neg = act.branches
    density = sp.exp(-S.z**2 / (2 * Vz)) / sp.sqrt(2 * sp.pi * Vz)
    second = C**2 * S.z**2 / Vz**2 + Va - C**2 / Vz
    m1 = memo.simplify(memo.integrate(C * S.z / Vz * pos * density, (S.z, 0, sp.oo))
                     + memo.integrate(C * S.z / Vz * neg * density, (S.z, -sp.oo, 0)))
    m2 = memo.integrate(second * pos**2 * density, (S.z, 0, sp.oo)) + memo.integrate(second * neg**2 * density, (S.z, -sp.oo, 0))
    node_variance = sp.factor(memo.simplify(m2 - m1**2))
    add("node_variance", r"variance of a node's output at fixed $x$ over the init",
        sp.Eq(sp.Symbol(r"\mathrm{Var}[a\sigma(z)]"), node_variance),
        r"$(a, z)$ is jointly Gaussian with $\mathrm{Var}\,a = V_a$, $\mathrm{Var}\,z = V_z$ and $\mathrm{Cov} = C$; "
        r"$\mathbb{E}[a\,\sigma(z)] = " + sp.latex(m1) + "$.")

    moments = {Va: S.m_a2, Vz: (S.m_w2 * S.x_par**2 + S.sigma_w**2 * S.r2) / S.d, C: S.m_aw * S.x_par / sp.sqrt(S.d)}
    add("moments_at_x", r"node moments at fixed $x$ at time $t$",
        sp.Eq(sp.Matrix([Va, Vz, C]), sp.Matrix([moments[Va], moments[Vz], moments[C]])),
        r"$m_{a^2}$, $m_{w^2}$, $m_{aw}$ are $\mathbb{E}[a^2]$, $\mathbb{E}[w_\parallel^2]$, "
        r"$\mathbb{E}[a\,w_\parallel]$ of the mean-field node law; $w_\perp$ keeps its init law "
        r"$\mathcal{N}(0, \sigma_w^2 I_{d-1})$; $r^2 = |x_\perp|^2$.")
    mean_node = m1.subs(moments)
    output_variance = sp.factor(S.alpha**2 / S.M * node_variance.subs(moments))
    add("output_variance", r"finite-$M$ output: $F_M(x) = F_t(x) + O(1/\sqrt{M})$ with variance",
        sp.Eq(sp.Symbol(r"\mathrm{Var}\,F_M(x)"), output_variance), r"$M$ independent nodes (frozen init law).")

    kappa = memo.simplify(S.alpha * mean_node / S.x_par)
    x_star = S.h / kappa
    at_threshold = {S.x_par: x_star, S.r2: S.d - 1}
    band = sp.sqrt(output_variance.subs(at_threshold)) / kappa
    add("band", r"sd of the $|x_\parallel|$ at which examples get satisfied (linearised at $x^*$)",
        sp.Eq(sp.Symbol(r"\mathrm{sd}\,x_{\parallel,\mathrm{sat}}"), band),
        r"$F_M(x) = h$ is crossed at $x_\parallel = x^* + (F_M - F_t)/\kappa$; $|x_\perp|^2$ is replaced by its mean "
        r"$d - 1$.")

    margin_mean = S.alpha * mean_node.subs(S.x_par, S.x)
    margin_sd = sp.sqrt(output_variance.subs({S.x_par: S.x, S.r2: S.d - 1}))
    error = data_average(sp.erfc(margin_mean / (sp.sqrt(2) * margin_sd)) / 2, law, integration_seconds)
    add("test_error", r"finite-$M$ test error: $P(y F_M(x) < 0)$ averaged over $x$",
        sp.Eq(sp.Symbol(r"\epsilon_{\mathrm{test}}"), error.value),
        r"$F_M(x)$ is Gaussian around $\kappa\,x_\parallel$ with the variance above; $|x_\perp|^2 = d - 1$ (the same "
        r"with $|x_\perp|^2 = r^2$ is generated too, for laws whose other coordinates are fewer).")
    noise_sd = sp.sqrt(output_variance.subs(S.x_par, S.x))
    error_noise = data_average(sp.erfc(margin_mean / (sp.sqrt(2) * noise_sd)) / 2, law, integration_seconds)
    # Hermite split: for one node, x_perp enters only through xi = w_perp.x_perp/|w_perp| ~ N(0, 1), with
    # z = mu + shat xi, mu = w_par x_par/sqrt(d), shat = |w_perp|/sqrt(d) ~ sigma_w sqrt((d-1)/d) (concentrated)
    mu = sp.Symbol("mu", real=True)
    shat = sp.Symbol(r"\hat{s}", positive=True)
    xi = sp.Symbol("xi", real=True)
    gauss = sp.exp(-xi**2 / 2) / sp.sqrt(2 * sp.pi)
    zz = mu + shat * xi
    kink = -mu / shat
    hermite0 = memo.simplify(memo.integrate(pos.subs(S.z, zz) * gauss, (xi, kink, sp.oo))
                           + memo.integrate(neg.subs(S.z, zz) * gauss, (xi, -sp.oo, kink)))
    hermite1 = memo.simplify(memo.integrate(xi * pos.subs(S.z, zz) * gauss, (xi, kink, sp.oo))
                           + memo.integrate(xi * neg.subs(S.z, zz) * gauss, (xi, -sp.oo, kink)))
    add("hermite", r"one node's output along $x_\perp$: common and linear Hermite coefficients",
        sp.Eq(sp.Matrix([sp.Symbol("c_0"), sp.Symbol("c_1")]), sp.Matrix([hermite0, hermite1])),
        r"$\sigma(\mu + \hat{s}\,\xi) = c_0 + c_1 \xi$ plus a rest orthogonal to $1$ and $\xi$, with "
        r"$\xi \sim \mathcal{N}(0, 1)$.")
    # node law: w_par ~ N(0, m_w2), a | w_par ~ N(k w_par, v); w_par = sqrt(m_w2) x, symmetrised over +-x so the
    # average is over |x| like a data average of the Gaussian law
    k_reg, v_res = S.m_aw / S.m_w2, S.m_a2 - S.m_aw**2 / S.m_w2
    node_subs = {shat: S.sigma_w * sp.sqrt((S.d - 1) / S.d)}

    def node_average(f_of_w):
        sym = (f_of_w(sp.sqrt(S.m_w2) * S.x) + f_of_w(-sp.sqrt(S.m_w2) * S.x)) / 2
        return data_average(sym, DATA_LAWS["gaussian"], integration_seconds)

    at = lambda expr, w: expr.subs(node_subs).subs(mu, w * S.x_par / sp.sqrt(S.d))
    second = lambda w: k_reg**2 * w**2 + v_res
    common_sq = node_average(lambda w: second(w) * at(hermite0, w) ** 2)
    common_mean = node_average(lambda w: k_reg * w * at(hermite0, w))
    linear_sq = node_average(lambda w: second(w) * at(hermite1, w) ** 2)
    Vc, Vl = sp.symbols("V_common V_linear", nonnegative=True)
    # shown through c_0 and c_1 of the step before: written out, the integrand of a kinked activation runs wider
    # than the page (the kernels use the integrals above)
    c0, c1 = sp.Function("c_0"), sp.Function("c_1")
    mu_node = S.w_par * S.x_par / sp.sqrt(S.d)
    add("common_linear", r"variance of the common and linear parts (per $\alpha^2/M$)",
        sp.Eq(sp.Matrix([Vc, Vl]), sp.Matrix([InitMean(S.a**2 * c0(mu_node)**2) - InitMean(S.a * c0(mu_node))**2,
                                              InitMean(S.a**2 * c1(mu_node)**2)])),
        r"$\mathbb{E}_{a,w}$ is over the node law at time $t$: $w_\parallel \sim \mathcal{N}(0, m_{w^2})$ and "
        r"$a \mid w_\parallel \sim \mathcal{N}(k\,w_\parallel, v)$ with $k = m_{aw}/m_{w^2}$, "
        r"$v = m_{a^2} - m_{aw}^2/m_{w^2}$; $c_0, c_1$ are those of the step before with "
        r"$\mu = w_\parallel x_\parallel/\sqrt{d}$ and $|w_\perp|^2$ at its mean $\sigma_w^2 (d-1)$.")
    scale = S.alpha**2 / S.M
    total_at_threshold = output_variance.subs(at_threshold)
    band_scatter = sp.sqrt(total_at_threshold - scale * Vc) / kappa
    band_rest = sp.sqrt(total_at_threshold - scale * (Vc + Vl)) / kappa
    # shown through the output variance at x* and kappa (steps above): written out they run wider than the page
    variance_at_threshold, kappa_symbol = sp.Symbol(r"\mathrm{Var}\,F_M(x^*)", positive=True), sp.Symbol(r"\kappa")
    shown = lambda removed: sp.sqrt(variance_at_threshold - scale * removed) / kappa_symbol
    add("band_scatter", "band within one run: the common part shifts every example alike",
        sp.Eq(sp.Symbol(r"\mathrm{sd}_{\mathrm{scatter}}"), shown(Vc)),
        r"$\mathrm{Var}\,F_M$ (output variance above), $V_{common}$ and $V_{linear}$ are taken at $x_\parallel = x^*$, "
        r"$|x_\perp|^2 = d - 1$; $\kappa = \alpha\,\mathbb{E}[a\sigma(z)]/x_\parallel$ is the mean-field slope.")
    add("band_rest", "band of the nonlinear rest (tilt removed)", sp.Eq(sp.Symbol(r"\mathrm{sd}_{\mathrm{rest}}"), shown(Vc + Vl)),
        "The hinge's feedback suppresses the tilt (derivations/fluctuations.py); this is the band if it removes it "
        "entirely.")
    # the linear coefficient's part odd in mu: c_1 = c_1e + c_1o. The tilt (derivations/fluctuations.py) is the
    # even part's at x_par = 0; the odd part turns the nodes' w_perp by sign(w_par) and so adds a linear part whose
    # direction is the same for both labels at |x_par|, zero at x_par = 0. Over the node law, symmetric in +-w_par,
    # c_1e and c_1o are uncorrelated, so V_linear = E[a^2 c_1e^2] + E[a^2 c_1o^2]
    odd1 = memo.simplify((hermite1 - hermite1.subs(mu, -mu)) / 2)
    even1 = memo.simplify((hermite1 + hermite1.subs(mu, -mu)) / 2)
    even_is_flat = memo.simplify(sp.diff(even1, mu)) == 0
    at_y_par = lambda expr, w: expr.subs(node_subs).subs(mu, w * S.y_par / sp.sqrt(S.d))
    bend = (node_average(lambda w: second(w) * at(odd1, w) ** 2),
            node_average(lambda w: at(odd1, w) * at_y_par(odd1, w)),
            node_average(lambda w: second(w) * at(odd1, w) * at_y_par(odd1, w)))
    add("linear_bend", r"the linear part's bend with $x_\parallel$: $c_1$'s part odd in $\mu$",
        sp.Eq(sp.Matrix([sp.Symbol(r"c_{1o}"), sp.Symbol(r"\mathrm{Var}\,B(x)")]),
              sp.Matrix([odd1, scale * InitMean(S.a**2 * sp.Function(r"c_{1o}")(mu_node) ** 2)])),
        r"$c_1 = c_{1e} + c_{1o}$ with $c_{1o}(\mu) = (c_1(\mu) - c_1(-\mu))/2$. A node's linear part along "
        r"$x_\perp$ is $c_1(\mu)\,\hat{w}_\perp$: its odd part flips with the side of $x_\parallel$, and so does "
        r"$y$, so $B(x) \cdot x_\perp$ moves the margins of both labels at $|x_\parallel|$ the same way, where the "
        r"tilt moves them apart. The node law is symmetric in $\pm w_\parallel$, so $\mathbb{E}[a^2 c_{1e} c_{1o}] "
        r"= 0$ and $V_{linear} = \mathbb{E}[a^2 c_{1e}^2] + \mathbb{E}[a^2 c_{1o}^2]$. "
        + (r"Here $c_{1e} = " + sp.latex(even1) + r"$ does not depend on $x_\parallel$: the tilt carries all of it."
           if even_is_flat else
           r"Here $c_{1e}$ depends on $x_\parallel$; that dependence is left out of the band."))
    # degree 2: h_2 = E[sigma(mu + shat xi) He_2(xi)] = shat^2 E[sigma''], He_2 = xi^2 - 1; F's degree-2 part at x is
    # (alpha/M) sum_i a_i h_2,i He_2(xi_i)/2, of variance (alpha^2/M) E[a^2 h_2^2]/2 (E[He_2^2]/4 = 1/2)
    hermite2 = memo.simplify(memo.integrate((xi**2 - 1) * pos.subs(S.z, zz) * gauss, (xi, kink, sp.oo))
                           + memo.integrate((xi**2 - 1) * neg.subs(S.z, zz) * gauss, (xi, -sp.oo, kink)))
    degree2 = degree2_variance = degree2_node = None
    if memo.simplify(hermite2.subs(mu, -mu) - hermite2) == 0:
        degree2_node = hermite2.subs(node_subs)
        at_y = lambda expr, w: expr.subs(node_subs).subs(mu, w * S.y_par / sp.sqrt(S.d))
        degree2 = (node_average(lambda w: second(w) * at(hermite2, w) ** 2),
                   node_average(lambda w: at(hermite2, w) * at_y(hermite2, w)),
                   node_average(lambda w: second(w) * at(hermite2, w) * at_y(hermite2, w)))
        V2 = sp.Symbol("V_2", nonnegative=True)
        degree2_variance = scale * V2 / 2
        add("degree2",
            r"degree-2 Hermite coefficient of a node along $x_\perp$ and the variance of $F$'s degree-2 part",
            sp.Eq(sp.Matrix([sp.Symbol("h_2"), sp.Symbol(r"\mathrm{Var}\,F_2(x)")]),
                  sp.Matrix([hermite2, degree2_variance.subs(V2, degree2[0].value)])),
            r"$h_2 = \mathbb{E}[\sigma(\mu + \hat{s}\,\xi)(\xi^2 - 1)]$ is even in $\mu$ (both sides "
            r"$x_\parallel = \pm|x_\parallel|$ alike); $\mathbb{E}[(\xi^2 - 1)^2]/4 = 1/2$; the node law is as for the "
            "common and linear parts.")
        degree2_variance = (degree2_variance, V2)
    self_pull = _self_pull_shares(pos, neg, xi, shat, gauss, node_subs, add)
    return FiniteWidthDerivation(one_homogeneous=_one_homogeneous(pos, neg), activation=act, steps=tuple(steps), mean_node_output=mean_node,
                                 node_variance=node_variance, output_variance=output_variance, band_sd=band,
                                 test_error=error, test_error_noise=error_noise,
                                 common_variance=(common_sq, common_mean), linear_variance=linear_sq,
                                 threshold=x_star, band_scatter_sd=band_scatter, band_rest_sd=band_rest,
                                 placeholders=(Vc, Vl), degree2=degree2, degree2_variance=degree2_variance,
                                 bend=bend, bend_is_all_of_the_rest=bool(even_is_flat), self_pull=self_pull,
                                 degree2_node=degree2_node)


def _one_homogeneous(pos, neg) -> bool:
    """Whether sigma(c z) = c sigma(z) for every c > 0, on both sides of the kink (SymPy decides it exactly; an
    expression it cannot decide counts as not homogeneous)."""
    c = sp.Symbol("c", positive=True)
    return all(memo.simplify(branch.subs(S.z, c * S.z) - c * branch) == 0 for branch in (pos, neg))


def _self_pull_shares(pos, neg, xi, shat, gauss, node_subs, add):
    """A node's radial pull on itself through the loss, per unit of its own contribution: E[sigma_part(shat xi)
    sigma'(shat xi) xi] / shat at mu = 0 for its part of degree >= 3 along x_perp and for its degree-2 part."""
    dpos, dneg = sp.diff(pos, S.z), sp.diff(neg, S.z)

    def mean(f_pos, f_neg, weight):
        return memo.simplify(memo.integrate(weight * f_pos.subs(S.z, shat * xi) * gauss, (xi, 0, sp.oo))
                           + memo.integrate(weight * f_neg.subs(S.z, shat * xi) * gauss, (xi, -sp.oo, 0)))
    hermite = [sp.hermite_prob(k, xi) for k in range(5)]
    h = [mean(pos, neg, hermite[k]) for k in range(5)]
    total = mean(pos * dpos, neg * dneg, xi)
    parts = [h[k] / sp.factorial(k) * mean(dpos, dneg, hermite[k] * xi) for k in range(3)]
    # Stein's lemma twice: E[He_k(xi) sigma'(shat xi) xi] = (h_{k+2} + k h_k) / shat
    for k in range(3):
        require(memo.simplify(parts[k] - h[k] / sp.factorial(k) * (h[k + 2] + k * h[k]) / shat) == 0,
                ("self pull: Stein", k, parts[k]))
    high = memo.simplify(((total - sum(parts)) / shat).subs(node_subs))
    degree2 = memo.simplify((parts[2] / shat).subs(node_subs))
    add("self_pull_shares", r"a node's pull on its own $|w_\perp|$ per unit of its own contribution, by degree",
        sp.Eq(sp.Matrix([sp.Symbol(r"c_{\ge 3}"), sp.Symbol(r"c_2")]), sp.Matrix([high, degree2])),
        r"$c_{\mathrm{part}} = \mathbb{E}[\sigma_{\mathrm{part}}(\hat{s}\xi)\,\sigma'(\hat{s}\xi)\,\xi]/\hat{s}$ at "
        r"$\mu = 0$, with $\sigma_{\ge 3} = \sigma - \sum_{k \le 2} h_k \mathrm{He}_k(\xi)/k!$ and "
        r"$\sigma_2 = h_2 \mathrm{He}_2(\xi)/2$; by Stein's lemma "
        r"$\mathbb{E}[\mathrm{He}_k(\xi)\,\sigma'\,\xi] = (h_{k+2} + k\,h_k)/\hat{s}$.")
    return high, degree2
