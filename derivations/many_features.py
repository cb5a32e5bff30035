"""K features of unequal frequency and strength (K >= 2): the mean-field drift as a sum over presence patterns.

The data law of ``derivations/features.py`` with K informative directions u_k = e_k: feature k is present (s_k = 1)
with probability p_k, independently, an example with none being redrawn; along u_k the input is s_k y mu_k |g_k|
(g_k ~ N(0, 1)); the other d - K coordinates are N(0, 1). The reduction of ``derivations/features.py`` (step 1)
holds for any K, with one coordinate w_k per feature: a <- a + beta sum_k g_k w_k, w_k <- w_k + beta g_k a,
g_k = c G_k / sqrt(d), F_t(x) = sum_k kappa_k x_k.

Derived below:

1. presence patterns S (the non-empty subsets of the K features), with probability
   pi_S = prod_{j in S} p_j prod_{j not in S} (1 - p_j) / Z, Z = 1 - prod_j (1 - p_j);
2. an example with pattern S has margin y F_t(x) = sum_{j in S} a_j |g_j|, a_j = kappa_j mu_j, so
   G_k = sum_{S containing k} pi_S mu_k E[|g_k| u(sum_{j in S} a_j |g_j|)] and the unsatisfied fraction of pattern S
   is P(sum_{j in S} a_j |g_j| < h). For the hinge (u = 1 below the margin) and the quadratic hinge (u = h - z
   below it) the integral over the last variable is closed given the others' remaining budget
   r = h - sum_{j != k} a_j |g_j| >= 0: the mass P(a|g| < r), the hinge's weight E[|g| 1[a|g| < r]] and the
   quadratic hinge's E[|g| (r - a|g|) 1[a|g| < r]], and E[u 1[a|g| < r]] (the drift along an outer variable's
   feature is the nested average of |g_j| times it). The other |S| - 1 variables are integrated by nested
   Gauss-Legendre quadrature on [0, r_j / a_j] (the region where the example stays below the margin), generated,
   one pass giving the pattern's mass and all its drifts;
4. spectral decoupling for K features: C_jk = E[x_j x_k] = p_j p_k mu_j mu_k (2/pi) / Z (j != k),
   C_kk = p_k mu_k^2 / Z, checked against the sum over the patterns at K = 3.

Approximations: those of the mean field (M, N -> infinity). The nested quadrature is a numerical method, its error
tested against the two-feature closed forms and a Monte Carlo of the law.
"""
from __future__ import annotations

import dataclasses
import itertools

import mpmath as mp
import sympy as sp

from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.checks import require
from mftheory.derivations.disk_cache import cached_on_disk
from mftheory.derivations.meanfield import Step

r = sp.Symbol("r", nonnegative=True)       # what is left of the margin h for the last variable
a = sp.Symbol("a", positive=True)          # that variable's slope kappa_k mu_k
g = sp.Symbol("g", positive=True)
h = sp.Symbol("h", positive=True)

MANY_FEATURE_LOSSES = ("hinge", "quadratic_hinge")


def _half_normal(v):
    return 2 * sp.exp(-v**2 / 2) / sp.sqrt(2 * sp.pi)


@dataclasses.dataclass(frozen=True)
class ManyFeatureDerivation:
    steps: list
    loss: str
    inner_mass: sp.Expr       # P(a|g| < r)
    inner_weight: sp.Expr     # E[|g| u] over the last variable, given the remaining budget r
    inner_pull: sp.Expr       # E[u] over the last variable, given r
    own_moment: sp.Expr       # C_kk in p, mu, Z
    pair_moment: sp.Expr      # C_jk (j != k) in p_j, p_k, mu_j, mu_k, Z


def _pattern_probability(present, p):
    K = len(p)
    Z = 1 - sp.prod([1 - p[j] for j in range(K)])
    return sp.prod([p[j] if present[j] else 1 - p[j] for j in range(K)]) / Z


def _check_moments_at_three(own, pair, P, MU, ZZ):
    """C_jk over the K = 3 law, summed over its 7 patterns, against the general forms."""
    p = sp.symbols("p_1:4", positive=True)
    mu = sp.symbols("mu_1:4", positive=True)
    Z = 1 - (1 - p[0]) * (1 - p[1]) * (1 - p[2])
    first, second = sp.sqrt(2 / sp.pi), 1    # E|g|, E g^2 of a half-normal
    for j, k in ((0, 0), (0, 1), (1, 2), (2, 2)):
        total = 0
        for present in itertools.product((0, 1), repeat=3):
            if not any(present):
                continue
            both = present[j] * present[k]
            total += _pattern_probability(present, p) * both * mu[j] * mu[k] * (second if j == k else first**2)
        general = (own.subs({P[0]: p[j], MU[0]: mu[j], ZZ: Z}) if j == k
                   else pair.subs({P[0]: p[j], P[1]: p[k], MU[0]: mu[j], MU[1]: mu[k], ZZ: Z}))
        require(memo.simplify(total - general) == 0, f"C_{j + 1}{k + 1} at K = 3: the sum over the patterns")


@cached_on_disk
def derive_many_features(loss: str = "hinge") -> ManyFeatureDerivation:
    """The K-feature derivation for ``loss`` ('hinge' or 'quadratic_hinge'): the closed inner integrals and the
    output moments; the sum over patterns and the nested quadrature are the generated loop's."""
    if loss not in MANY_FEATURE_LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, MANY_FEATURE_LOSSES))} for K features, got {loss!r}")
    steps = []
    add = lambda *args: steps.append(Step(*args))

    present = sp.IndexedBase("s")
    p_k, j_, K_ = sp.IndexedBase("p"), sp.Idx("j"), sp.Symbol("K", positive=True, integer=True)
    add("many_patterns", r"presence patterns of $K$ features",
        sp.Eq(sp.Symbol(r"\pi_S"), sp.Product(sp.Piecewise((p_k[j_], sp.Eq(present[j_], 1)), (1 - p_k[j_], True)),
                                                (j_, 1, K_)) / sp.Symbol("Z")),
        r"$S$ is a non-empty subset of the features and $Z = 1 - \prod_j (1 - p_j)$ (an example with none is "
        r"redrawn).")

    mass = memo.simplify(memo.integrate(_half_normal(g), (g, 0, r / a)))
    require(memo.simplify(mass - sp.erf(r / (sp.sqrt(2) * a))) == 0, "the last variable's mass")
    if loss == "hinge":
        weight = memo.simplify(memo.integrate(g * _half_normal(g), (g, 0, r / a)))
        require(memo.simplify(weight - sp.sqrt(2 / sp.pi) * (1 - sp.exp(-r**2 / (2 * a**2)))) == 0,
                "the hinge's weight of the last variable")
        pull = mass
        u_text = r"$u = 1$ below the margin"
    else:
        weight = memo.simplify(memo.integrate(g * (r - a * g) * _half_normal(g), (g, 0, r / a)))
        require(memo.simplify(weight - (sp.sqrt(2 / sp.pi) * r - a * sp.erf(r / (sp.sqrt(2) * a)))) == 0,
                "the quadratic hinge's weight of the last variable")
        pull = memo.simplify(memo.integrate((r - a * g) * _half_normal(g), (g, 0, r / a)))
        require(memo.simplify(pull - (r * sp.erf(r / (sp.sqrt(2) * a)) - a * sp.sqrt(2 / sp.pi)
                                    * (1 - sp.exp(-r**2 / (2 * a**2))))) == 0,
                "the quadratic hinge's pull of the last variable")
        u_text = r"$u = h - z$ below the margin"
    for values in ({r: 0.7, a: 1.3}, {r: 2.0, a: 0.4}, {r: 0.05, a: 3.0}):
        vr, va = (mp.mpf(values[v]) for v in (r, a))
        u = (lambda t: 1) if loss == "hinge" else (lambda t: vr - va * t)
        exact = mp.quad(lambda t: t * u(t) * 2 * mp.npdf(t), [0, vr / va])
        require(abs(float(weight.subs(values)) - float(exact)) < 1e-13, "the last variable's weight against mpmath")
        exact = mp.quad(lambda t: u(t) * 2 * mp.npdf(t), [0, vr / va])
        require(abs(float(pull.subs(values)) - float(exact)) < 1e-13, "the last variable's pull against mpmath")
        require(abs(float(mass.subs(values)) - float(2 * mp.ncdf(vr / va) - 1)) < 1e-13,
                "the last variable's mass against mpmath")

    G_k, mu_k = sp.Symbol("G_k"), sp.Symbol("mu_k", positive=True)
    add("many_drift", r"drift along feature $k$ as a sum over patterns",
        sp.Eq(G_k, sp.Function(r"\sum_{S \ni k}")(sp.Symbol(r"\pi_S") * mu_k
                                                    * sp.Function(r"\mathbb{E}_S")(sp.Abs(sp.Symbol("g_k")) * sp.Symbol("u")))),
        r"An example with pattern $S$ has margin $\sum_{j \in S} a_j |g_j|$ with $a_j = \kappa_j \mu_j$; " + u_text
        + ".")
    add("many_inner_mass", r"mass of the last variable given the budget $r = h - \sum_{j \ne k} a_j |g_j|$",
        sp.Eq(sp.Symbol(r"P(a|g| < r)"), mass),
        r"The other variables of the pattern are integrated by nested Gauss--Legendre quadrature on "
        r"$[0, r_j / a_j]$, the region where the example stays below the margin.")
    add("many_inner_weight", f"weight of the last variable ({loss.replace('_', ' ')})",
        sp.Eq(sp.Symbol(r"W(r, a)"), weight),
        r"The average $\mathbb{E}\big[|g|\,u\,\mathbf{1}[a|g| < r]\big]$ over the last variable, $g$ half-normal: "
        r"the drift along the last variable's feature.")
    add("many_inner_pull", f"pull of the last variable ({loss.replace('_', ' ')})",
        sp.Eq(sp.Symbol(r"U(r, a)"), pull),
        r"The average $\mathbb{E}\big[u\,\mathbf{1}[a|g| < r]\big]$: the drift along an outer variable's feature is "
        r"the nested average of $|g_j|\,U$, so one pass over the outer nodes gives every drift of the pattern and "
        r"its mass.")

    P, MU, ZZ = sp.symbols("p_j p_k", positive=True), sp.symbols("mu_j mu_k", positive=True), sp.Symbol("Z", positive=True)
    own = P[0] * MU[0]**2 / ZZ
    pair = P[0] * P[1] * MU[0] * MU[1] * 2 / (sp.pi * ZZ)
    _check_moments_at_three(own, pair, P, MU, ZZ)
    add("many_output_moments", r"second moments $C_{jk} = \mathbb{E}[x_j x_k]$ for $K$ features",
        sp.Eq(sp.Tuple(sp.Symbol("C_{kk}"), sp.Symbol(r"C_{jk}")), sp.Tuple(own, pair)),
        r"$j \ne k$ in the second; checked against the sum over the patterns at $K = 3$. Spectral decoupling "
        r"subtracts $\lambda \sum_j C_{kj} \kappa_j$ from $G_k$.")
    return ManyFeatureDerivation(steps=steps, loss=loss, inner_mass=mass, inner_weight=weight, inner_pull=pull,
                                 own_moment=own,
                                 pair_moment=pair)
