"""Features of unequal frequency and strength: the mean-field dynamics of the hinge network on ``data="features"``.

Data law (K = 2): y = +-1 with probability 1/2; feature k is present (s_k = 1) with probability p_k, independently,
an example with none being redrawn; along u_k = e_k the input is s_k y mu_k |g_k| (g_k ~ N(0, 1)); the other
d - K coordinates are N(0, 1). Presence patterns (s_1, s_2) = (1, 0), (0, 1), (1, 1) have probabilities
pi_10 = p_1 (1 - p_2) / Z, pi_01 = (1 - p_1) p_2 / Z, pi_11 = p_1 p_2 / Z with Z = 1 - (1 - p_1)(1 - p_2).

Derived below:

1. the reduction: the pair (x, y) has the law of (-x, -y) and the noise coordinates are independent of (y, s, g),
   so with the mean-field output F_t odd the even part of sigma averages out and, for an activation with
   sigma'(z) + sigma'(-z) = 2 c (ReLU: c = 1/2), one GD step moves a node (a, w_1, w_2) linearly:
   a <- a + beta (g_1 w_1 + g_2 w_2), w_k <- w_k + beta g_k a, the noise coordinates of w unchanged, with
   g_k = c G_k / sqrt(d) and G_k = E[u(y F_t(x)) y x_k]; F_t(x) = kappa_1 x_1 + kappa_2 x_2 with
   kappa_k = alpha c E[a w_k] / sqrt(d): one growth rate per feature, coupled through the shared satisfaction
   threshold y F_t(x) = kappa_1 s_1 mu_1 |g_1| + kappa_2 s_2 mu_2 |g_2| >= h;
2. G_k for the hinge (u = 1 below the margin) in closed form: with a = kappa_1 mu_1, b = kappa_2 mu_2,
   E[|g_1| 1[a|g_1| < h]] = sqrt(2/pi)(1 - exp(-h^2/(2a^2))) for an example with feature 1 alone, and for one with
   both, E[|g_1| 1[a|g_1| + b|g_2| < h]], a bivariate Gaussian integral over a triangle, by parts; for another
   margin loss (the logistic loss keeps pushing satisfied examples) G_k = sum over patterns of
   pi mu_k E[u(a s_1 |g_1| + b s_2 |g_2|) |g_k|], left as one- and two-dimensional integrals over half-normal
   variables (generated quadrature);
3. the fraction of unsatisfied examples (overall and per presence pattern); for both features it is the
   probability of the triangle, left as a one-dimensional integral (generated quadrature);
4. spectral decoupling (the penalty (lambda/2) F(x)^2 added to every example's loss): u y becomes u y - lambda F
   in every gradient; u y - lambda F is odd under (x, y) -> (-x, -y) like u y, so the reduction of 1. holds with
   G_k = E[u y x_k] - lambda E[F_t(x) x_k] = E[u y x_k] - lambda sum_j C_kj kappa_j, C_jk = E[x_j x_k] over the law
   (the noise coordinates are independent of F_t and average out).

5. the test error at finite width M on fresh examples with feature k alone (zero in the mean field once kappa_k > 0):
   for such an example z = (mu_k |g| y w_k + w_noise . x_noise) / sqrt(d), so given |g| the pair (a, z) is the one
   of the Gaussian law's finite-width derivation (derivations/finite_width.py) at |x_par| = |g| with
   (m_w2, m_aw) -> (mu_k^2 E[w_k^2], mu_k E[a w_k]) and |x_perp|^2 = d - 2 (the other feature's coordinate is 0):
   its frozen-init test error with that many noise coordinates applies as it is;
6. the hinge's feedback on the tilt (F's part linear in the noise coordinates, the part that the loss pulls back
   first): the density rho_h of the margins at h over the law (closed form; for the examples with both features
   the derivative of the triangle's mass) and the linear map of one noise coordinate of
   (1/M) sum_i (a_i, w_i1, w_i2) w_ik per step, as for Gaussian data (derivations/fluctuations.py, steps 1-4).

Approximations, stated once: M, N -> infinity (the mean field); Gaussian init law symmetric under (a, w) -> (-a, -w);
for 5., the frozen init law of F_M - F_t (no feedback of the loss on it); for 6., first order in the tilt, the
nonlinear rest kept at its frozen-init law (its degree-2 part's feedback, derived for Gaussian data, is not derived
for this law).
"""
from __future__ import annotations

import dataclasses

import mpmath as mp
import sympy as sp

from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.checks import require
from mftheory.derivations.disk_cache import cached_on_disk
from mftheory.derivations.meanfield import Step

kappa_1, kappa_2 = sp.symbols("kappa_1 kappa_2", nonnegative=True)
mu_1, mu_2 = sp.symbols("mu_1 mu_2", positive=True)
p_1, p_2 = sp.symbols("p_1 p_2", positive=True)
h = sp.Symbol("h", positive=True)
a, b = sp.symbols("a b", positive=True)    # kappa_k mu_k: the margin's slope along each feature
g = sp.Symbol("g", positive=True)
odd_slope = sp.Symbol("c", positive=True)
d = sp.Symbol("d", positive=True)


def _phi(v):
    return sp.exp(-v**2 / 2) / sp.sqrt(2 * sp.pi)


@dataclasses.dataclass(frozen=True)
class FeatureDerivation:
    steps: list
    patterns: dict            # (s_1, s_2) -> probability, in p_1, p_2
    single: sp.Expr           # E[|g| 1[a |g| < h]]
    both: sp.Expr             # E[|g_1| 1[a |g_1| + b |g_2| < h]] (closed form in a, b, h)
    both_mass_integrand: sp.Expr  # in g on [0, h/a]: P(a|g_1| + b|g_2| < h) = int of it
    drift: tuple              # G_1, G_2 in a, b, h, p_1, p_2, mu_1, mu_2 (closed form: hinge only, else None)
    loss: str = "hinge"
    weight: sp.Expr | None = None  # u(z) = -l'(z) of the loss, in mftheory.derivations.symbols.z and h
    output_moments: tuple = ()     # (C_11, C_12, C_22) = E[x_j x_k] over the law: spectral decoupling's drift
    margin_density: sp.Expr | None = None  # density of the margin y F_t(x) at h over the law, in a, b, h, p_1, p_2
    weight_slope: sp.Expr | None = None    # u'(z): the tilt's feedback is -E[u'(y F_t(x))] per unit tilt


both_mass = sp.Symbol("f_11", nonnegative=True)   # P(a|g_1| + b|g_2| < h): the triangle, by quadrature


def _quadratic_hinge_drift(patterns, hinge_single, add):
    """G_1, G_2 for the quadratic hinge (u = h - z below the margin), in a, b, h and the triangle's mass f_11.

    Below the margin u is linear, so the inner integral over g_2 is closed, Q(c) = E[(c - b|g_2|) 1[b|g_2| < c]];
    by parts in g_1 (2 g phi(g) = -d(2 phi)/dg) with Q(0) = 0 and dQ(h - a g)/dg = -a P(b|g_2| < h - a g):
    E[|g_1| Q(h - a|g_1|) 1[a|g_1| < h]] = 2 phi(0) Q(h) - a f_11, an erf and exponentials less a times the
    mass of the triangle that the hinge's unsatisfied fraction already needs."""
    c = sp.Symbol("c", positive=True)
    g2 = sp.Symbol("g_2", positive=True)
    inner = memo.simplify(memo.integrate((c - b * g2) * 2 * _phi(g2), (g2, 0, c / b)))
    require(memo.simplify(sp.diff(inner, c) - sp.erf(c / (sp.sqrt(2) * b))) == 0,
            "dQ/dc = P(b|g_2| < c): the boundary terms of the derivative cancel")
    single = memo.simplify(memo.integrate((h - a * g) * g * 2 * _phi(g), (g, 0, h / a)))
    require(memo.simplify(single - (2 * _phi(0) * h - a * sp.erf(h / (sp.sqrt(2) * a)))) == 0,
            "one feature: the same by parts, with the single feature's mass erf(h / (sqrt(2) a))")
    both = 2 * _phi(0) * inner.subs(c, h) - a * both_mass
    for values in ({a: 0.7, b: 1.3, h: 1.0}, {a: 2.0, b: 0.4, h: 0.8}, {a: 0.3, b: 0.3, h: 1.5}):
        va, vb, vh = (mp.mpf(values[v]) for v in (a, b, h))
        weight_2d = lambda t, s: (vh - va * t - vb * s) * t * 4 * mp.npdf(t) * mp.npdf(s)
        exact = mp.quad(lambda t: mp.quad(lambda s: weight_2d(t, s), [0, (vh - va * t) / vb]), [0, vh / va])
        mass = mp.quad(lambda t: 2 * mp.npdf(t) * mp.erf((vh - va * t) / (vb * mp.sqrt(2))), [0, vh / va])
        require(abs(float(both.subs(values).subs(both_mass, float(mass))) - float(exact)) < 1e-12,
                "both features, quadratic hinge: by parts against the double integral")
    add("single_quadratic_hinge", "drift of an example with one feature (quadratic hinge)",
        sp.Eq(sp.Symbol("E_1"), single), r"The average $\mathbb{E}\big[|g|\,(h - a|g|)\,\mathbf{1}[a|g| < h]\big]$.")
    add("both_quadratic_hinge", "drift of an example with both features (quadratic hinge)",
        sp.Eq(sp.Symbol("E_{11}"), both),
        r"The average $\mathbb{E}\big[|g_1|\,(h - a|g_1| - b|g_2|)\,\mathbf{1}[a|g_1| + b|g_2| < h]\big]$, by parts in "
        r"$g_1$.")
    swap = {a: b, b: a}
    G_1 = patterns[(1, 0)] * mu_1 * single + patterns[(1, 1)] * mu_1 * both
    G_2 = patterns[(0, 1)] * mu_2 * single.xreplace(swap) + patterns[(1, 1)] * mu_2 * both.xreplace(swap)
    add("drift_quadratic_hinge", "drift along each feature (quadratic hinge)",
        sp.Eq(sp.Tuple(sp.Symbol("G_1"), sp.Symbol("G_2")), sp.Tuple(G_1, G_2)),
        r"$f_{11} = P(a|g_1| + b|g_2| < h)$ is symmetric in $(a, b)$, so the same quadrature serves both.")
    return G_1, G_2


penalty = sp.Symbol("lambda", nonnegative=True)   # spectral decoupling: (lambda/2) F(x)^2 per example


def _spectral_decoupling(patterns, add):
    """C_jk = E[x_j x_k] over the law (x_k = s_k y mu_k |g_k|, y^2 = 1, g_1 and g_2 independent) and spectral
    decoupling's change of the drift, -lambda sum_j C_kj kappa_j."""
    second = memo.integrate(g**2 * 2 * _phi(g), (g, 0, sp.oo))    # E|g|^2
    first = memo.integrate(g * 2 * _phi(g), (g, 0, sp.oo))          # E|g|
    require(second == 1 and memo.simplify(first - sp.sqrt(2 / sp.pi)) == 0, "half-normal moments")
    moments = (memo.simplify((patterns[(1, 0)] + patterns[(1, 1)]) * mu_1**2 * second),
               memo.simplify(patterns[(1, 1)] * mu_1 * mu_2 * first**2),
               memo.simplify((patterns[(0, 1)] + patterns[(1, 1)]) * mu_2**2 * second))
    C = sp.Matrix([[moments[0], moments[1]], [moments[1], moments[2]]])
    add("output_moments", "second moments of the two features' coordinates",
        sp.Eq(sp.MatrixSymbol("C", 2, 2), sp.ImmutableMatrix(C)),
        r"$C_{jk} = \mathbb{E}[x_j x_k]$, so $\mathbb{E}[F_t(x)\,x_k] = \sum_j C_{kj} \kappa_j$.")
    G1, G2 = sp.symbols("G_1 G_2", real=True)
    shift = -penalty * C * sp.Matrix([kappa_1, kappa_2])
    add("spectral_decoupling", r"spectral decoupling: the drift with the penalty $(\lambda/2)\,F(x)^2$",
        sp.Eq(sp.Tuple(sp.Symbol("G_1^{SD}"), sp.Symbol("G_2^{SD}")), sp.Tuple(G1 + shift[0], G2 + shift[1])),
        r"$u\,y - \lambda F$ is odd under $(x, y) \to (-x, -y)$, so the node map keeps its form with this drift.")
    return moments


def _finite_width_mapping(add):
    """Step 5: an example with feature k alone is, for one node, the Gaussian law's example at |x_par| = |g| with the
    node's moments along u_k rescaled by mu_k (checked on the moments of (a, z) given |g|)."""
    from mftheory.derivations import symbols as S

    m_aa, m_kk, m_ak, mu, sw, dd = sp.symbols("m_aa m_kk m_ak mu_k sigma_w d", positive=True)
    size = sp.Symbol("g_abs", positive=True)
    # (a, z) given |g|: z = (mu |g| y w_k + w_noise . x_noise) / sqrt(d), y^2 = 1, |x_noise|^2 = r2
    var_z = (mu**2 * size**2 * m_kk + sw**2 * S.r2) / dd
    cov = mu * size * m_ak / sp.sqrt(dd)
    gaussian_law = {"V_z": (S.m_w2 * S.x_par**2 + S.sigma_w**2 * S.r2) / S.d, "C": S.m_aw * S.x_par / sp.sqrt(S.d)}
    mapping = {S.m_w2: mu**2 * m_kk, S.m_aw: mu * m_ak, S.x_par: size, S.sigma_w: sw, S.d: dd}
    require(memo.simplify(gaussian_law["V_z"].subs(mapping) - var_z) == 0
            and memo.simplify(gaussian_law["C"].subs(mapping) - cov) == 0,
            "feature k alone: the Gaussian law's node moments at x_par = |g| with (m_w2, m_aw) -> (mu^2 m_kk, mu m_ak)")
    add("finite_width_one_feature", r"finite-$M$ test error on the examples with feature $k$ alone",
        sp.Eq(sp.Symbol(r"\epsilon_k"), sp.Function(r"\epsilon_{\mathrm{FW}}")(m_aa, mu**2 * m_kk, mu * m_ak)),
        r"The Gaussian law's frozen-init test error (derivations/finite_width.py) with the node's moments along "
        r"$u_k$ rescaled by $\mu_k$ and $|x_\perp|^2 = d - 2$.")


def _tilt_feedback(patterns, add):
    """Step 6: the hinge's feedback on the tilt, through the density of margins at the threshold (closed form)."""
    single = sp.sqrt(2 / sp.pi) / a * sp.exp(-h**2 / (2 * a**2))
    require(memo.simplify(single - sp.diff(sp.erf(h / (sp.sqrt(2) * a)), h)) == 0,
            "one feature: the margin's density is the derivative of its mass erf(h / (sqrt 2 a))")
    # both features: d/dh of P(a|g_1| + b|g_2| < h) = int_0^{h/a} 2 phi(g) erf((h - a g) / (sqrt 2 b)) dg (the
    # boundary term vanishes, erf(0) = 0), a Gaussian integral
    derivative = memo.integrate(sp.powsimp(sp.expand(4 * _phi(g) * _phi((h - a * g) / b) / b), combine="exp"),
                              (g, 0, h / a))
    r = sp.sqrt(a**2 + b**2)
    both = (sp.sqrt(2 / sp.pi) / r * sp.exp(-h**2 / (2 * r**2))
            * (sp.erf(b * h / (sp.sqrt(2) * a * r)) + sp.erf(a * h / (sp.sqrt(2) * b * r))))
    for values in ({a: 0.7, b: 1.3, h: 1.0}, {a: 2.0, b: 0.4, h: 0.8}, {a: 0.3, b: 0.3, h: 1.5}):
        A, B, H = (mp.mpf(values[s]) for s in (a, b, h))
        mass = lambda hh: mp.quad(lambda t: 2 * mp.npdf(t) * mp.erf((hh - A * t) / (B * mp.sqrt(2))), [0, hh / A])
        exact = mp.diff(mass, H)
        require(abs(float(derivative.subs(values)) - float(exact)) < 1e-10, "both features: the density by SymPy")
        require(abs(float(both.subs(values)) - float(exact)) < 1e-10, "both features: the density's closed form")
    density = patterns[(1, 0)] * single + patterns[(0, 1)] * single.subs(a, b) + patterns[(1, 1)] * both
    add("margin_density", r"density of the margins at the threshold, $\rho_h$",
        sp.Eq(sp.Symbol(r"\rho_h"), density),
        r"The density of $y F_t(x) = a s_1 |g_1| + b s_2 |g_2|$ at $h$ over the law (the examples with both features: "
        r"the derivative in $h$ of the triangle's mass, a Gaussian integral).")
    rho, alpha, beta, sw = sp.symbols("rho alpha beta sigma_w", positive=True)   # rho = -E[u'(y F_t)]
    e_aa, e_1a, e_2a = sp.symbols("e_a e_1 e_2", real=True)   # E[a' a], E[w_1' a], E[w_2' a]
    X = sp.Matrix(sp.symbols("v_k u_k1 u_k2", real=True))
    r_k = -rho * alpha * odd_slope * X[0] / sp.sqrt(d)
    drive = beta * odd_slope / sp.sqrt(d) * sp.Matrix([sw**2 + e_aa, e_1a, e_2a])
    node_map = sp.Matrix(3, 3, lambda i, j: sp.Symbol(f"A_{{{i}{j}}}"))
    after = sp.Matrix(sp.symbols("v'_k u'_k1 u'_k2", real=True))
    add("tilt_feedback", r"the tilt's feedback: one noise coordinate $k$ of $v = \frac{1}{M}\sum_i a_i w_i$",
        sp.Eq(after, node_map * X + drive * r_k),
        r"A tilt $\tau_k = \alpha c\, v_k / \sqrt{d}$ of $F$ along a noise coordinate changes every margin by "
        r"$\tau_k x_k$: the drive along it becomes $r_k = \mathbb{E}[u\,y\,x_k] = \mathbb{E}[u'(y F_t)]\, \tau_k$ "
        r"(the noise is independent of the margin, $\mathbb{E}[x_k^2] = 1$), $-\rho_h \tau_k$ for the hinge "
        r"($u' = -\delta(z - h)$), minus the unsatisfied fraction times $\tau_k$ for the quadratic hinge ($u' = -1$ "
        r"below the margin), a quadrature of $u'$ over the law otherwise; $\rho = -\mathbb{E}[u'(y F_t)]$ below. It moves each node "
        r"by $\Delta a = \beta c\, (w_{\mathrm{noise}} \cdot r) / \sqrt{d}$, $\Delta w_{\mathrm{noise}} = \beta c\, a\, r / \sqrt{d}$ "
        r"(Stein's lemma over the noise, the two signs of $x$ giving $c$), so that $X_k = \frac{1}{M}\sum_i (a_i, w_{i1}, "
        r"w_{i2})\, w_{ik}$ follows the node map $A_t = (A_{ij})$ plus $r_k$ times the drive shown ($e_a = \mathbb{E}[a' a]$, "
        r"$e_j = \mathbb{E}[w_j' a]$, $a'$ and $w'$ after the node map; "
        r"$\frac{1}{M}\sum_i w_{ik} w_{il} \to \sigma_w^2 \delta_{kl}$). Init: $\mathrm{Var}\, X_k = \sigma_w^2\, "
        r"\mathrm{diag}(\sigma_a^2, \sigma_w^2, \sigma_w^2) / M$. The tilt's variance at a fresh point is "
        r"$(\alpha c)^2 (d - 2)\, \mathrm{Var}\, v_k / d$; it replaces the frozen-init linear part, and the common "
        r"part (an offset seen by every example, pulled back $d$ times harder) is left out, as for Gaussian data.")
    return density


@cached_on_disk
def derive_features(loss: str = "hinge") -> FeatureDerivation:
    """The derivation for ``loss`` (a built-in name): closed-form drifts for the hinge, integrals otherwise."""
    from mftheory.derivations import symbols as S
    from mftheory.derivations.catalog import LOSSES

    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    steps = []
    add = lambda *args: steps.append(Step(*args))

    Z = 1 - (1 - p_1) * (1 - p_2)
    patterns = {(1, 0): p_1 * (1 - p_2) / Z, (0, 1): (1 - p_1) * p_2 / Z, (1, 1): p_1 * p_2 / Z}
    require(memo.simplify(sum(patterns.values()) - 1) == 0, "presence patterns sum to one")
    add("patterns", "presence patterns (an example with no feature is redrawn)",
        sp.Eq(sp.Symbol("Z"), Z),
        r"The patterns have probabilities $\pi_{10} = p_1 (1 - p_2)/Z$, $\pi_{01} = (1 - p_1)\,p_2/Z$ and "
        r"$\pi_{11} = p_1 p_2/Z$.")

    w1, w2, aa, beta = sp.symbols("w_1 w_2 a_node beta", real=True)
    G1, G2 = sp.symbols("G_1 G_2", real=True)
    step_matrix = sp.Matrix([[1, beta * odd_slope * G1 / sp.sqrt(d), beta * odd_slope * G2 / sp.sqrt(d)],
                             [beta * odd_slope * G1 / sp.sqrt(d), 1, 0],
                             [beta * odd_slope * G2 / sp.sqrt(d), 0, 1]])
    require(step_matrix.is_symmetric(), "the node map is symmetric")
    add("node_map", r"one GD step of a node $(a, w_1, w_2)$: a linear map",
        sp.Eq(sp.Matrix([aa, w1, w2]), step_matrix * sp.Matrix([aa, w1, w2])),
        r"The reduction of the hinge network with $c = (\sigma'(z) + \sigma'(-z))/2$; the noise coordinates of $w$ "
        "stay.")
    add("kappa", "mean-field output along each feature",
        sp.Eq(sp.Symbol("kappa_k"), sp.Symbol("alpha") * odd_slope * sp.Function("E")(sp.Symbol("a") * sp.Symbol("w_k")) / sp.sqrt(d)),
        r"$F_t(x) = \kappa_1 x_1 + \kappa_2 x_2$; the test error is zero once both $\kappa_k > 0$.")

    # one feature present: E[|g| 1[a|g| < h]]
    single = memo.simplify(memo.integrate(2 * g * _phi(g), (g, 0, h / a)))
    require(memo.simplify(single - sp.sqrt(2 / sp.pi) * (1 - sp.exp(-h**2 / (2 * a**2)))) == 0, "single feature")
    # both present: by parts in g_1, the boundary term and a Gaussian integral
    inner_cdf = sp.erf((h - a * g) / (b * sp.sqrt(2)))      # P(b|g_2| < h - a g)
    boundary = (-2 * _phi(g) * inner_cdf).subs(g, h / a) - (-2 * _phi(g) * inner_cdf).subs(g, 0)
    gaussian = sp.powsimp(sp.expand(2 * _phi(g) * sp.diff(inner_cdf, g)), combine="exp")
    by_parts = boundary + memo.integrate(gaussian, (g, 0, h / a))
    r = sp.sqrt(a**2 + b**2)
    both = (sp.sqrt(2 / sp.pi) * sp.erf(h / (sp.sqrt(2) * b))
            - sp.sqrt(2 / sp.pi) * a / r * sp.exp(-h**2 / (2 * r**2))
            * (sp.erf(a * h / (sp.sqrt(2) * b * r)) + sp.erf(b * h / (sp.sqrt(2) * a * r))))
    for values in ({a: 0.7, b: 1.3, h: 1.0}, {a: 2.0, b: 0.4, h: 0.8}, {a: 0.3, b: 0.3, h: 1.5}):
        exact = mp.quad(lambda t: 2 * t * mp.npdf(t) * mp.erf((values[h] - values[a] * t) / (values[b] * mp.sqrt(2))),
                        [0, values[h] / values[a]])
        require(abs(float(by_parts.subs(values)) - float(exact)) < 1e-12, "both features: integration by parts")
        require(abs(float(both.subs(values)) - float(exact)) < 1e-12, "both features: simplified form")
    require(sp.limit(both.subs(b, sp.Symbol("eps", positive=True)), sp.Symbol("eps", positive=True), 0)
            .equals(single), "both features -> one feature as b -> 0")
    add("single", "drift of an example with one feature (hinge)", sp.Eq(sp.Symbol("E_1"), single),
        r"The average $\mathbb{E}\big[|g|\,\mathbf{1}[a|g| < h]\big]$, with $a = \kappa_k \mu_k$.")
    add("both", "drift of an example with both features (hinge)", sp.Eq(sp.Symbol("E_{11}"), both),
        r"The average $\mathbb{E}\big[|g_1|\,\mathbf{1}[a|g_1| + b|g_2| < h]\big]$, by parts in $g_1$; "
        r"$a = \kappa_1 \mu_1$, $b = \kappa_2 \mu_2$.")

    G_1 = patterns[(1, 0)] * mu_1 * single + patterns[(1, 1)] * mu_1 * both
    G_2 = (patterns[(0, 1)] * mu_2 * single.subs(a, b) + patterns[(1, 1)] * mu_2 * both.xreplace({a: b, b: a}))
    add("drift", r"drift along each feature, $G_k = \mathbb{E}[u\,y\,x_k]$",
        sp.Eq(sp.Tuple(G1, G2), sp.Tuple(G_1, G_2)),
        r"Hinge: $u = 1$ below the margin; the competition is in the examples with both features.")
    mass_integrand = 2 * _phi(g) * inner_cdf
    moments = _spectral_decoupling(patterns, add)
    add("unsat_both", "unsatisfied fraction of the examples with both features",
        sp.Eq(sp.Symbol("f_{11}"), sp.Integral(mass_integrand, (g, 0, h / a))), "Evaluated by generated quadrature.")
    _finite_width_mapping(add)
    margin_density = _tilt_feedback(patterns, add)
    weight = LOSSES[loss].weight.subs(S.h, h)
    zz = sp.Symbol("z", real=True)
    weight_slope = sp.diff(weight.subs(S.z, zz), zz)
    if loss == "hinge":   # u jumps from 1 to 0 at the margin: its derivative is a delta there
        weight_slope = -sp.DiracDelta(zz - h)
        require(memo.integrate(weight_slope, (zz, -sp.oo, sp.oo)) == -1, "hinge: u' integrates to u's jump, -1")
    if loss == "quadratic_hinge":
        require(memo.simplify(weight_slope.subs({zz: h / 2}) + 1) == 0 and weight_slope.subs({zz: 2 * h}) == 0,
                "quadratic hinge: u' = -1 below the margin, 0 above: the tilt's feedback is the unsatisfied fraction")
    add("tilt_response", r"the tilt's feedback per unit tilt, $-\mathbb{E}[u'(y F_t)]$, " + loss.replace("_", " "),
        sp.Eq(sp.Symbol("u'(z)"), weight_slope),
        {"hinge": r"The density $\rho_h$ of the margins at $h$ (above).",
         "quadratic_hinge": r"The unsatisfied fraction.",
         }.get(loss, r"By tensor Gauss-Legendre quadrature over the half-normal strengths, as the drift."))
    if loss == "quadratic_hinge":
        G_1, G_2 = _quadratic_hinge_drift(patterns, single, add)
        return FeatureDerivation(steps=steps, patterns=patterns, single=single, both=both,
                                 both_mass_integrand=mass_integrand, drift=(G_1, G_2), loss=loss, weight=weight,
                                 output_moments=moments, margin_density=margin_density,
                                 weight_slope=weight_slope)
    if loss != "hinge":
        u = weight.subs(S.z, zz)
        g1, g2 = sp.symbols("g_1 g_2", positive=True)
        add("drift_" + loss, f"drift along feature 1 for the {loss} loss (generated quadrature)",
            sp.Eq(G1, (patterns[(1, 0)] * mu_1 * sp.Integral(u.subs(zz, a * g1) * g1 * 2 * _phi(g1), (g1, 0, sp.oo))
                       + patterns[(1, 1)] * mu_1 * sp.Integral(u.subs(zz, a * g1 + b * g2) * g1 * 4 * _phi(g1)
                                                               * _phi(g2), (g1, 0, sp.oo), (g2, 0, sp.oo)))),
            r"$u(z) = " + sp.latex(weight) + r"$; $G_2$ follows by exchanging the features.")
        return FeatureDerivation(steps=steps, patterns=patterns, single=single, both=both,
                                 both_mass_integrand=mass_integrand, drift=None, loss=loss, weight=weight,
                                 output_moments=moments, margin_density=margin_density,
                                 weight_slope=weight_slope)
    return FeatureDerivation(steps=steps, patterns=patterns, single=single, both=both,
                             both_mass_integrand=mass_integrand, drift=(G_1, G_2), loss=loss, weight=weight,
                                 output_moments=moments, margin_density=margin_density,
                                 weight_slope=weight_slope)
