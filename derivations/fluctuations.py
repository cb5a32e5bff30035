"""Finite-size fluctuations with the loss's feedback: the tilt of the effective teacher.

At finite width M (and finite sample N) the network's output F_M differs from the mean-field F_t = kappa x_par.
Its part linear in x_perp, tau . x_perp, tilts the effective teacher: with v = (1/M) sum_i a_i w_i,perp the
tilt is tau = alpha c_sigma v / sqrt(d) (c_sigma the odd slope), and the angle between v = (1/M) sum_i a_i w_i
and w* is theta = atan(|v_perp| / v_par), v_par -> E[a w_par] = m_aw.

The frozen-init picture (``mftheory.derivations.finite_width``) lets every node follow the mean-field map from its own
init, so that v_perp grows with the nodes. Here the loss feeds back: a tilt moves examples across the margin,
the unsatisfied set's mean of u y x_perp, r, stops vanishing, and r drives every node back.

Derived below, for a loss with u(z)^2 = u(z) (the hinge: u = 1 unsatisfied, 0 satisfied) on Gaussian data:

1. response of the unsatisfied set to a tilt: r = E[u'(kappa |x_par|)] tau per unit tilt, written by parts as
   (E[u(kappa|x|)|x|] - u(0) p(0)) / kappa with p the density of |x_par| (for the hinge: -2 phi(x*) / kappa);
2. the drive of a node by r, by Stein's lemma over x_perp and the two sides x_par = +-|x_par| (y = +-1):
   Delta a = beta c_sigma (w_perp . r) / sqrt(d), Delta w_perp = beta c_sigma a r / sqrt(d), Delta w_par = 0;
3. summed over nodes, one GD step maps X = (v_k, u_k) (one component k of v_perp and of
   u_perp = (1/M) sum_i w_i,par w_i,perp) linearly: X' = A X + b r_k, with the mean-field block
   [[1, beta g], [beta g, 1]] and b = beta c_sigma / sqrt(d) (sigma_w^2 + E[a' a], E[w_par' a]), a' the
   readout after the step; the feedback r_k = E[u'] alpha c_sigma v_k / sqrt(d) closes it on itself;
4. sources: the init, Var v_k = sigma_a^2 sigma_w^2 / M, Var u_k = sigma_w^4 / M; and the training sample,
   whose part r_k is an average of N f_U terms u y x_perp,k: variance f_U / N per step (fresh data at every step)
   or, for one fixed sample, the same examples step after step (Cov(r_t, r_s) = f_U(max(t, s)) / N, the
   unsatisfied set shrinking with x*(t));
5. the tilt's share of F's fluctuation at a fresh point, and the probability that a margin with a Gaussian
   fluctuation falls below a threshold: the finite-size error rates (``mftheory.finite_size.predict``) average
   it over x_par;
6. the feedback on the nonlinear rest's degree-2 part along x_perp (its degree-1 part is the tilt): per step, the
   degree-2 fluctuation at x is pulled back by ``rest_feedback`` times its value at the threshold, a rate of
   relative order 1/d against the tilt's, but the one that makes the nodes' contributions to the rest cancel;
7. the training sample as a second source of that degree-2 part (the other examples' memorization, seen at fresh
   points as well), pulled back by the same feedback;
8. the feedback on the bend of the linear part with x_par (the part of each node's linear coefficient odd in
   w_par x_par, which the tilt averages out): it moves both labels' margins at the threshold alike, and the
   unsatisfied set pulls it back through the nodes' own odd parts;
9. the training sample as a source of the bend (each unsatisfied example's pull through the nodes' odd parts),
   pulled back by the same feedback;
10. each node's own pull-back: a node's own contribution to F at the threshold moves the unsatisfied set, which pulls
   that node's w_perp back along itself (radially), at a rate of order 1/M per step times a_i^2. Where the loss's
   feedback takes a degree out of F (the common part, the tilt, most of degree 2) the node's share of it is gone
   too; degrees >= 3, which keep their frozen law, and the part of degree 2 the feedback leaves keep pulling. The
   node law then loses the frozen law's independence of a and |w_perp|: nodes with large a_i shrink their w_perp;
11. the other side of the same feedback: to take the tilt and the degree-2 part out of F it turns every node's
   w_perp across itself, by a_j times a common amount, and a turn across lengthens |w_perp| at second order, by as
   much on average as the self-pull's own order (1/M): s_j^2 gains G a_j^2;
12. the node law's factors these give over the init's Gaussian (a_0, w_0): E[a^2 s^2] / (E a^2 s_0^2) (every
   frozen part at x_par = 0 of a 1-homogeneous activation is proportional to E[a^2 s^2], s = |w_perp| / sqrt(d))
   and E[s^2] / s_0^2, from the quadratic form the two sum to along the mean-field node map.
13. the spread of the degree-2 feedback at finite M: step 6 pulls F's degree-2 tensor back at the feedback's
   isotropic average; with M nodes the feedback is an operator on the D(D+1)/2 - 1 traceless symmetric tensors, a
   sum of rank-one terms (each node's a-part and its D - 1 turns) whose spectrum spreads about that average (a
   weighted Marchenko-Pastur law), and the init's own degree-2 tensor lies along the nodes' a-part directions, whose
   spectral measures follow from the law by Sherman-Morrison (the local law). The rate on each eigendirection is
   step 6's times its eigenvalue over the average (``mftheory.feedback_spectrum``).

Approximations, stated once (10-12 also: the turns of 11 from the share of each part the feedback has taken out
by step t, as if taken along one fixed direction (the least turning that does it), by the nodes' w_perp alone (the
a-part of the degree-2 feedback, relative order 1 / (2 E a^2), left out); the shares at mu = w_par x* / sqrt(d) -> 0, the threshold's |x_par|
small against the node law's sqrt(d / m_w2); the same node pull on a_i, an O(1/M) change of the mean field that
the mean field's own drive of kappa answers, is left out): first order in the fluctuation (tau << kappa x*); the node law of the mean field
for every average (E[w_perp w_perp^T] = sigma_w^2 I); v_par at its mean-field value; the parts of F_M - F_t
that are not linear in x_perp (the common offset and the nonlinear rest) do not enter the tilt's equation at
this order (by isotropy in x_perp); the node-specific random part of sigma'(z) u y x_perp (zero mean, averaged
out over nodes) is left out of the sample source.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import sympy as sp

from mftheory.derivations import symbols as S
from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.checks import require
from mftheory.derivations.disk_cache import cached_on_disk
from mftheory.derivations.meanfield import MeanFieldDerivation, Step

# per-component state and its covariance
tilt_response = sp.Symbol("E[u']", real=True)       # E[u'(kappa |x_par|)]: r per unit tilt
var_v = sp.Symbol("V_v", nonnegative=True)           # Var of one component of v_perp
own_response = sp.Symbol("response_v", real=True)    # v_k per unit r_k from one example's own pull, summed
# node averages of the degree-2 Hermite coefficients at a point x and at the threshold (mftheory.derivations.finite_width)
degree2_cross = sp.Symbol(r"\mathbb{E}[h_2 h_2^*]", real=True)
degree2_cross_a2 = sp.Symbol(r"\mathbb{E}[a^2 h_2 h_2^*]", real=True)
# node averages of the linear coefficient's part odd in mu at a point x and at the threshold (its bend with x_par)
bend_cross = sp.Symbol(r"\mathbb{E}[c_{1o} c_{1o}^*]", real=True)
bend_cross_a2 = sp.Symbol(r"\mathbb{E}[a^2 c_{1o} c_{1o}^*]", real=True)
response_sum = sp.Symbol("R", real=True)        # a cell's accumulated degree-2 response at x, per unit injection
# a node's own pull-back: its shares by degree (mftheory.derivations.finite_width), the degree-2 part's damping at
# the threshold, the quadratic form of the init (a_0, w_0) it sums to and the node map's row (a = p . (a_0, w_0))
share_high, share_degree2 = sp.symbols("c_high c_2", nonnegative=True)
degree2_damping = sp.Symbol("D_2", nonnegative=True)
pull_form = sp.symbols("q_aa q_aw q_ww", real=True)
tilt_damping = sp.Symbol("D_1", nonnegative=True)
node_row = sp.symbols("p_a p_w", real=True)
cell_mass = sp.Symbol("p_cell", nonnegative=True)  # the share of training examples in a cell of |x_par|


@dataclasses.dataclass(frozen=True)
class TiltDerivation:
    """The tilt's propagator (module docstring); expressions in the symbols of ``mftheory.derivations.symbols``."""

    derivation: MeanFieldDerivation
    steps: tuple[Step, ...]
    response: sp.Expr          # E[u'(kappa|x_par|)] in kappa, d, h (clean labels)
    drive_v: sp.Expr           # b_v: Delta v_k per unit r_k in one step
    drive_u: sp.Expr           # b_u: Delta u_k per unit r_k
    gain: sp.Expr              # tau_k per unit v_k: alpha c_sigma / sqrt(d)
    init_var_v: sp.Expr        # Var v_k at t = 0
    init_var_u: sp.Expr        # Var u_k at t = 0
    angle: sp.Expr             # theta in V_v and m_aw
    output_variance: sp.Expr   # Var over x_perp of the tilt's part tau . x_perp of F, in V_v
    own_margin: sp.Expr        # a training example's margin from its own pull's tilt, in response_v
    margin_below: sp.Expr      # P(mean margin + Gaussian fluctuation < threshold)
    rest_feedback: sp.Expr     # degree-2 part of F at x pulled back per step, per unit of it at the threshold
    degree2_kernel: sp.Expr    # lambda(x, x'): the kernel's degree-2 part, per <X, X'>/2
    rest_sample_variance: sp.Expr  # Var of F's degree-2 part from one cell of training examples, per R^2
    bend_feedback: sp.Expr     # the linear part's bend at x pulled back per step, per unit of it at the threshold
    bend_kernel: sp.Expr       # lambda_o(x, x'): the kernel's degree-1 part odd in x_par, per x_perp . x'_perp
    bend_sample_variance: sp.Expr  # Var of the bend's part from one cell of training examples, per R^2
    self_pull_rate: sp.Expr    # rho: log s_i^2 loses 2 rho a_i^2 per step
    self_pull_s2: sp.Expr      # E[s^2] / s_0^2 over the init, given the quadratic form Q
    self_pull_variance: sp.Expr  # E[a^2 s^2] / (E[a^2] s_0^2), a = p . (a_0, w_0)
    turn_growth: sp.Expr       # G: log s_j^2 gains G a_j^2 from the feedback's turns across w_perp
    spread: tuple = ()         # step 13: (turn weight, a-part weight, law term, its slope in m, aligned resolvent)


def _gaussian_mean(expr, var):
    return memo.integrate(expr * sp.exp(-var**2 / 2) / sp.sqrt(2 * sp.pi), (var, -sp.oo, sp.oo))


def derive_tilt(derivation: MeanFieldDerivation) -> TiltDerivation:
    """The tilt propagator of one mean-field derivation. Raises NotImplementedError unless u^2 = u (hinge type)
    and the data are Gaussian."""
    D = derivation
    u = D.weight
    if D.data.name != "gaussian" or memo.simplify((u**2 - u).rewrite(sp.Piecewise)) != 0:
        raise NotImplementedError("the tilt propagator is derived for a loss with u^2 = u (the hinge) on Gaussian "
                                  "data")
    # from the disk cache the result carries an unpickled copy of the derivation: it points back to the caller's
    return dataclasses.replace(_derive_tilt(derivation), derivation=derivation)


@cached_on_disk
def _derive_tilt(D: MeanFieldDerivation) -> TiltDerivation:
    """:func:`derive_tilt`'s steps, for a variant it covers."""
    u = D.weight
    steps = []
    add = lambda *args: steps.append(Step(*args))

    # 1. the unsatisfied set's response: E[u'(kappa|x|)] = int_0^oo u'(kappa x) p(x) dx, by parts
    p = D.data.abs_par_density
    u_at_0 = memo.simplify(u.subs(S.z, 0))  # h > 0: the origin is unsatisfied
    by_parts = (D.clean_average.value - u_at_0 * p.subs(S.x, 0)) / S.kappa
    require(memo.simplify(sp.diff(p, S.x) + S.x * p) == 0, "Gaussian |x_par| density: p'(x) = -x p(x)")
    response = memo.simplify(by_parts)
    # independent route for the hinge: u' = -delta(h - z), so E[u'] = -p(x*) / kappa with p(x*) = 2 phi(x*)
    if D.loss.name == "hinge":
        direct = -p.subs(S.x, S.h / S.kappa) / S.kappa
        require(memo.simplify(response - direct) == 0, (response, direct))
    add("tilt_response", r"response of the unsatisfied set to a tilt $\tau$ of $F$",
        sp.Eq(sp.Symbol("r") / sp.Symbol(r"\tau"), response),
        r"$r = \mathbb{E}[u\,y\,x_\perp]$ with $u(y\,(\kappa x_\parallel + \tau x_\perp))$; $d/d\tau$ at $0$ gives "
        r"$\mathbb{E}[u'(\kappa|x_\parallel|)]$ (both sides $y = \pm 1$ alike); by parts against the density $p$ of "
        r"$|x_\parallel|$, $p'(x) = -x\,p(x)$.")

    # 2. a node's drive by r (Stein over x_perp; the two sides average sigma' to c_sigma)
    mu = sp.Symbol("mu", real=True)
    shat = sp.Symbol(r"\hat{s}", positive=True)
    xi = sp.Symbol("xi", real=True)
    pos, neg = D.activation.branches
    dpos, dneg = sp.diff(pos, S.z), sp.diff(neg, S.z)
    zz = mu + shat * xi
    kink = -mu / shat
    gauss = sp.exp(-xi**2 / 2) / sp.sqrt(2 * sp.pi)

    def mean_over_xi(f_pos, f_neg, weight=1):
        return (memo.integrate(weight * f_pos.subs(S.z, zz) * gauss, (xi, kink, sp.oo))
                + memo.integrate(weight * f_neg.subs(S.z, zz) * gauss, (xi, -sp.oo, kink)))

    stein_lhs = mean_over_xi(pos, neg, xi)
    stein_rhs = shat * mean_over_xi(dpos, dneg)
    require(memo.simplify(stein_lhs - stein_rhs) == 0, "Stein's lemma E[xi sigma(mu + s xi)] = s E[sigma'(.)]")
    sides = mean_over_xi(dpos, dneg) + mean_over_xi(dpos, dneg).subs(mu, -mu)
    sides = memo.simplify(sides)
    require(memo.simplify(sides - 2 * D.odd_slope) == 0, ("E[sigma'] over the two sides", sides, D.odd_slope))
    r = sp.Symbol("r", real=True)
    add("node_drive", r"a node's drive by $r$ (per component along $x_\perp$)",
        sp.Eq(sp.Matrix([sp.Symbol(r"\Delta a"), sp.Symbol(r"\Delta w_\perp"), sp.Symbol(r"\Delta w_\parallel")]),
              sp.Matrix([S.beta * S.odd_slope * sp.Symbol(r"w_\perp") * r / sp.sqrt(S.d),
                         S.beta * S.odd_slope * S.a * r / sp.sqrt(S.d), 0])),
        r"Stein's lemma over $x_\perp$; $\mathbb{E}[\sigma'(z)]$ summed over $x_\parallel = \pm|x_\parallel|$ is "
        r"$2 c_\sigma = " + sp.latex(sides) + r"$; the $x_\parallel$ part cancels between the two sides.")

    # 3. one GD step on (v_k, u_k): a' = a + beta g w_par, w_par' = w_par + beta g a (mean-field map)
    ea_next_a = S.m_a2 + S.beta * S.g * S.m_aw
    ew_next_a = S.m_aw + S.beta * S.g * S.m_a2
    drive_v = S.beta * S.odd_slope / sp.sqrt(S.d) * (S.sigma_w**2 + ea_next_a)
    drive_u = S.beta * S.odd_slope / sp.sqrt(S.d) * ew_next_a
    gain = S.alpha * S.odd_slope / sp.sqrt(S.d)
    v, uu = sp.symbols("v_k u_k", real=True)
    step_map = sp.Matrix([[1, S.beta * S.g], [S.beta * S.g, 1]]) * sp.Matrix([v, uu]) \
        + sp.Matrix([drive_v, drive_u]) * r
    add("tilt_step", r"one GD step of the tilt's state $(v_k, u_k)$, driven by $r$",
        sp.Eq(sp.Matrix([sp.Symbol("v'_{k}"), sp.Symbol("u'_{k}")]), step_map),
        r"$(1/M) \sum_i w_{\perp,i} w_{\perp,i}^T = \sigma_w^2 I$; $\mathbb{E}[a' a] = m_{a^2} + \beta g\,m_{aw}$ and "
        r"$\mathbb{E}[w_\parallel' a] = m_{aw} + \beta g\,m_{a^2}$.")
    add("feedback", r"feedback: the tilt's own $r$", sp.Eq(r, tilt_response * gain * v),
        r"$\tau_k = \alpha c_\sigma v_k/\sqrt{d}$ is the linear part of $F_M$ along $x_\perp$.")

    # 4. sources
    init_var_v = _gaussian_mean(_gaussian_mean(S.a0**2 * sp.Symbol("w_k")**2 * S.sigma_a**2 * S.sigma_w**2,
                                               S.a0), sp.Symbol("w_k")) / S.M
    init_var_u = S.sigma_w**4 / S.M
    require(memo.simplify(init_var_v - S.sigma_a**2 * S.sigma_w**2 / S.M) == 0)
    add("tilt_sources", "sources: the init (variance per component) and the training sample",
        sp.Eq(sp.Matrix([sp.Symbol(r"\mathrm{Var}\,v_k(0)"), sp.Symbol(r"\mathrm{Var}\,u_k(0)"),
                         sp.Symbol(r"\mathrm{Var}\,r_k")]),
              sp.Matrix([init_var_v, init_var_u, S.P_unsat / S.N_sample])),
        r"$v_k(0) = (1/M) \sum_i a_i(0)\,w_{i,k}(0)$; $r_k$ is the mean of $u\,y\,x_{\perp,k}$ over $N$ examples, "
        r"with $u^2 = u$; for one fixed sample, $\mathrm{Cov}(r_t, r_s) = f_U(\max(t, s))/N$.")
    angle = sp.atan(sp.sqrt((S.d - 1) * var_v) / S.m_aw)
    add("tilt_angle", r"angle between the effective teacher $(1/M) \sum_i a_i w_i$ and $w^*$",
        sp.Eq(sp.Symbol(r"\theta"), angle),
        r"$|v_\perp|^2 = (d - 1) V_v$; $v_\parallel$ is at its mean-field value $m_{aw}$.")
    output_variance = gain**2 * (S.d - 1) * var_v
    add("tilt_output_variance", r"the tilt's share of $F$'s fluctuation at a fresh point",
        sp.Eq(sp.Symbol(r"\mathrm{Var}_{x_\perp}(\tau \cdot x_\perp)"), output_variance),
        r"$\tau_k = \alpha c_\sigma v_k/\sqrt{d}$ for each of the $d - 1$ components, with "
        r"$x_\perp \sim \mathcal{N}(0, I)$.")
    # a training example's own pull adds r_k = y x_k / N to each of its d - 1 components; whatever the tilt's
    # system makes of it (R_v per unit r, with the loss's feedback) lifts that example's own margin by
    # y tau . x_perp = gain R_v |x_perp|^2 / N: the degree-1 part of its self term, which the memorizing part
    # (degree >= 2) leaves out
    own_margin = gain * (S.d - 1) * own_response / S.N_sample
    add("tilt_own_margin", r"a training example's own pull along its own $x_\perp$: the margin it keeps",
        sp.Eq(sp.Symbol(r"\Delta m_\mu"), own_margin),
        r"Its pull adds $r_k = y_\mu x_{\mu,k}/N$ to each component; $R_v$ is the tilt's response $v_k$ per unit "
        r"$r_k$ summed over the steps it was unsatisfied, each carried by the tilt's step with the loss's feedback "
        r"to now; $|x_\perp|^2 = d - 1$. At the first step $R_v = b_v$, the degree-1 part of its self kernel.")

    # 5. the finite-size error rates: a point's margin is its mean m plus a Gaussian fluctuation of variance V
    # (the parts of F_M - F_t and, for a training point, the spread of its memorized margin, added in quadrature)
    m, threshold = sp.symbols("m theta_h", real=True)
    V = sp.Symbol("V", positive=True)
    margin_below = sp.erfc((m - threshold) / sp.sqrt(2 * V)) / 2
    delta = sp.Symbol("delta", real=True)
    direct = memo.integrate(sp.exp(-delta**2 / (2 * V)) / sp.sqrt(2 * sp.pi * V), (delta, -sp.oo, threshold - m),
                          conds="none")
    require(memo.simplify((direct - margin_below).rewrite(sp.erf)) == 0, ("P(m + delta < theta)", direct))
    add("margin_below", "probability that a point's margin falls below a threshold",
        sp.Eq(sp.Symbol(r"P(m + \delta < \theta_{h})"), margin_below),
        r"$\delta \sim \mathcal{N}(0, V)$; the test error is its average over $x_\parallel$ at "
        r"$m = \kappa|x_\parallel|$, $\theta_h = 0$; $f_{\mathrm{unsat}}$ is at $\theta_h = h$; a training point adds "
        r"its memorized margin $S$ to $m$ and $\sigma_S^2$ to $V$ (the average over the spread of a Gaussian CDF is "
        "again one).")

    # 6. the loss's feedback on the nonlinear rest, degree 2 along x_perp: F_2(x) = <T(x_par), x_perp x_perp^T - I>
    # with T = (alpha / 2M) sum_i a_i h_2,i w_i w_i^T / |w_i|^2; a fluctuation dT* of it at the threshold (the same
    # on both sides: h_2 even) moves the unsatisfied set, and one GD step changes a_i (by Hermite orthogonality)
    # and turns w_perp,i (by Stein's lemma) so that T(x) changes by -rate dT*
    Dp = S.d - 1
    shat2 = S.sigma_w**2 * Dp / S.d
    # the sphere average the two routes rest on, checked on a traceless A: E[(w.A.w)(w.B.w)] = 2 tr(AB)/(D(D+2)),
    # here in D = 3 by exact integration over the sphere's coordinates
    th, ph = sp.symbols("theta phi", real=True)
    unit = sp.Matrix([sp.sin(th) * sp.cos(ph), sp.sin(th) * sp.sin(ph), sp.cos(th)])
    A = sp.Matrix([[1, 2, 0], [2, -3, 1], [0, 1, 2]])
    B = sp.Matrix([[0, 1, 1], [1, 2, 0], [1, 0, -2]])
    integrand = (unit.T * A * unit)[0] * (unit.T * B * unit)[0] * sp.sin(th) / (4 * sp.pi)
    sphere = memo.integrate(memo.integrate(sp.expand(integrand), (ph, 0, 2 * sp.pi)), (th, 0, sp.pi))
    require(memo.simplify(sphere - 2 * (A * B).trace() / (3 * 5)) == 0, ("sphere average", sphere))
    degree2_kernel = degree2_cross / (Dp * (Dp + 2)) + 2 * degree2_cross_a2 / (shat2 * S.d * Dp)
    rest_feedback = -S.beta * tilt_response * S.alpha * degree2_kernel
    add("rest_feedback", r"feedback on the degree-2 part of $F$ (the nonlinear rest's first degree)",
        sp.Eq(sp.Symbol(r"\Delta T(x) / \delta T^*"), rest_feedback),
        r"One GD step gives "
        r"$\Delta a_i = \beta\,\mathbb{E}[u'] \sum_{\mathrm{sides}} h_2(x^*)\,w \cdot \delta T^* \cdot w$ "
        r"(Hermite orthogonality) and $\Delta w_{\perp,i} = \beta\,\mathbb{E}[u']\,a_i\,2\,(h_2(x^*)/\hat{s})\,"
        r"\delta T^* w/\sqrt{d}$ (Stein's lemma), averaged over the isotropic directions $w$ with "
        r"$\mathbb{E}[(w \cdot A \cdot w)(w \cdot B \cdot w)] = 2\,\mathrm{tr}(AB)/(D(D+2))$ and "
        r"$\mathbb{E}[w w^T] = I/D$, $D = d - 1$; $\hat{s}^2 = \sigma_w^2 (d-1)/d$; the radial turn of $w_\perp$ and "
        r"the change of $w_\parallel$ enter at relative order $1/D$ and $1/d$ and are left out; the injected change "
        r"then grows with the nodes as the fluctuation itself does (both follow the mean-field node map), and "
        r"degrees $\ge 3$ keep the frozen law.")

    # 7. the training sample as a source of the degree-2 part: with N examples, one GD step adds to F(x) the random
    # (alpha beta / N) sum_{mu in U} y_mu K(x, x_mu), whose degree-2 part is lambda(x, x_mu) <X, X_mu> / 2,
    # X = x_perp x_perp^T - I. Var over x_perp of <B, X> is 2 |B|^2 (B traceless), E|X_mu|^2 = D^2 + D:
    Dv = sp.Symbol("D", positive=True, integer=True)
    r2_moment = Dv * (Dv + 2)                         # E|x|^4 for x ~ N(0, I_D): chi^2 with D degrees of freedom
    chi = sp.Symbol("q", positive=True)
    chi2_density = chi**(Dv / 2 - 1) * sp.exp(-chi / 2) / (2**(Dv / 2) * sp.gamma(Dv / 2))
    for dims in (1, 2, 5):
        exact = memo.integrate((chi**2 * chi2_density).subs(Dv, dims), (chi, 0, sp.oo))
        require(memo.simplify(exact - r2_moment.subs(Dv, dims)) == 0, ("E|x|^4", dims, exact))
    frobenius = sp.expand(r2_moment - 2 * Dv + Dv)    # E|x x^T - I|^2 = E|x|^4 - 2 E|x|^2 + D
    require(memo.simplify(frobenius - (Dv**2 + Dv)) == 0, frobenius)
    rest_sample_variance = (S.alpha * S.beta) ** 2 * frobenius.subs(Dv, Dp) / (2 * S.N_sample) * cell_mass \
        * response_sum**2
    add("rest_sample_source", "the training sample's share of the degree-2 part, per cell of examples",
        sp.Eq(sp.Symbol(r"\mathrm{Var}\,F_2^{\mathrm{sample}}(x)"), rest_sample_variance),
        r"A cell holds a share $p_{cell}$ of the $N$ examples at one $|x_\parallel| = x'$; while they are unsatisfied "
        r"each step injects $\lambda(x, x')$ per unit into their response $R(x)$, which the feedback and the nodes' "
        r"growth then carry like the init's part; one fixed sample has the same examples every step (their tensors "
        r"$X_\mu$ add up coherently), fresh data new examples every step (independent); "
        r"$\mathbb{E}|x x^T - I|^2 = D^2 + D$; the test and the training points see it alike (a training point's own "
        "term is its memorized margin).")

    # 8. the loss's feedback on the bend B(x) of the linear part (derivations/finite_width.py, step linear_bend):
    # B(x*) . x_perp moves both labels' margins at the threshold alike, so the unsatisfied set's mean of u x_perp
    # (not y-weighted) becomes q = E[u'] B(x*); on the two sides y sigma'(y mu) sums to the odd part 2 c_1o / shat,
    # so Delta w_perp,i = beta a_i (c_1o,i(x*) / shat) q / sqrt(d) and Delta a_i = beta (c_1o,i(x*) / shat)
    # (w_perp,i . q) / sqrt(d): the tilt's step 2 with c_sigma replaced by the node's own odd part, which the
    # tilt's system does not carry (it averages out of v)
    bend_kernel = bend_cross / Dp + bend_cross_a2 / (shat2 * S.d)
    bend_feedback = -S.beta * tilt_response * S.alpha * bend_kernel
    add("bend_feedback", r"feedback on the linear part's bend $B(x)$ with $x_\parallel$",
        sp.Eq(sp.Symbol(r"\Delta B(x) / B(x^*)"), bend_feedback),
        r"$B(x^*) \cdot x_\perp$ moves the margins of both labels at the threshold alike, so the unsatisfied set's "
        r"$q = \mathbb{E}[u\,x_\perp] = \mathbb{E}[u'] B(x^*)$; summed over the sides $y = \pm 1$, "
        r"$y\,\mathbb{E}[\sigma'(y\mu + \hat{s}\xi)]$ is $2 c_{1o}(\mu)/\hat{s}$, so one GD step gives "
        r"$\Delta w_{\perp,i} = \beta\,a_i\,(c_{1o,i}(x^*)/\hat{s})\,q/\sqrt{d}$ and "
        r"$\Delta a_i = \beta\,(c_{1o,i}(x^*)/\hat{s})\,w_{\perp,i} \cdot q/\sqrt{d}$ (the tilt's step with "
        r"$c_\sigma$ replaced by the node's odd part), and $B(x) = (\alpha/M) \sum_i a_i\,(c_{1o,i}(x)/\hat{s})\,"
        r"w_{\perp,i}/\sqrt{d}$ changes by the above times $B(x^*)$, with "
        r"$(1/M) \sum_i w_{\perp,i} w_{\perp,i}^T = \sigma_w^2 I$ and $\hat{s}^2 = \sigma_w^2 (d-1)/d$; the "
        r"part along each node's own $w_\perp$ enters at relative order $1/d$ and is left out, and the change "
        r"then grows with the nodes as the bend itself does.")

    # 9. the training sample as a source of the bend: an unsatisfied example mu pulls every node by
    # beta a_i sigma'_i(x_mu) y_mu x_perp,mu / (N sqrt(d)); the part of sigma' odd in mu, times y_mu (whose sign is
    # x_mu,par's), is y-free, so the example adds (alpha beta / N) lambda_o(x, |x_mu,par|) x_perp,mu to B(x), and
    # the examples' x_perp are independent: Var over x_perp of the sum is (alpha beta / N)^2 D sum_mu R_mu^2
    bend_sample_variance = (S.alpha * S.beta) ** 2 * Dp / S.N_sample * cell_mass * response_sum**2
    add("bend_sample_source", "the training sample's share of the bend, per cell of examples",
        sp.Eq(sp.Symbol(r"\mathrm{Var}\,B^{\mathrm{sample}}(x) \cdot x_\perp"), bend_sample_variance),
        r"An unsatisfied example adds $\beta\,a_i\,\sigma'_i(x_\mu)\,y_\mu\,x_{\perp,\mu}/(N\sqrt{d})$ to each "
        r"node's $w_\perp$ (and its $a_i$ likewise along $w_{\perp,i}$); the part of $\sigma'$ odd in $\mu$ flips "
        r"with $y_\mu$, so $B(x)$ gains $(\alpha\beta/N)\,\lambda_o(x, |x_{\mu,\parallel}|)\,x_{\perp,\mu}$ "
        r"with $\lambda_o = " + sp.latex(bend_kernel) + r"$, independent of the tilt's source (the $y$-weighted "
        r"mean); a cell's accumulated response $R$ is carried by the bend's feedback and growth like the degree-2 "
        r"part's, and $|x_{\perp,\mu}|^2 = D$.")
    self_pull_rate, self_pull_s2, self_pull_variance, turn_growth = _self_pull(add)
    spread = _degree2_spread(add, degree2_kernel)
    return TiltDerivation(derivation=D, steps=tuple(steps), response=response, drive_v=drive_v, drive_u=drive_u,
                          gain=gain, init_var_v=init_var_v, init_var_u=init_var_u, angle=angle,
                          output_variance=output_variance, own_margin=own_margin, margin_below=margin_below,
                          rest_feedback=rest_feedback,
                          degree2_kernel=degree2_kernel, rest_sample_variance=rest_sample_variance,
                          bend_feedback=bend_feedback, bend_kernel=bend_kernel,
                          bend_sample_variance=bend_sample_variance, self_pull_rate=self_pull_rate,
                          self_pull_s2=self_pull_s2, self_pull_variance=self_pull_variance,
                          turn_growth=turn_growth, spread=spread)


def _self_pull(add):
    """Steps 10-12: a node's own pull-back per step, the feedback's turns, and the node law's factors they give."""
    # 10. node i's own part of F, (alpha/M) a_i sigma_part(z_i), moves the unsatisfied set at the threshold by
    # u' times it; the GD step's w_i-gradient beta a_i E[u y sigma'(z_i) x] / sqrt(d) then gains
    # (alpha beta / M) a_i^2 E[u' sigma_part sigma' x] / sqrt(d), whose part along w_perp,i is, with
    # E[u' f] = E[u'] (mean of f over x_par = +-x*) and |w_perp,i| = shat sqrt(d),
    # d|w_perp,i| / |w_perp,i| = (alpha beta E[u'] / M) a_i^2 c / d, c = E[sigma_part sigma' xi] / shat
    share = share_high + degree2_damping * share_degree2
    rate = -S.alpha * S.beta * tilt_response * share / (S.M * S.d)
    add("self_pull", r"a node's own pull-back: the loss's feedback on its own contribution",
        sp.Eq(sp.Symbol(r"\Delta \log \hat{s}_i^2"), -2 * sp.Symbol(r"\rho") * S.a**2),
        r"$\rho = " + sp.latex(rate) + r"$. Node $i$'s own part $(\alpha/M)\,a_i\,\sigma_{\mathrm{part}}(z_i)$ of $F$ "
        r"moves the unsatisfied set by $u'$ times it; the step's gradient of $w_i$ then gains "
        r"$(\alpha\beta/M)\,a_i^2\,\mathbb{E}[u'\,\sigma_{\mathrm{part}}\sigma'\,x]/\sqrt{d}$, along "
        r"$w_{\perp,i}$ by Stein's lemma. Degrees $\ge 3$ pull in full ($c_{\mathrm{high}}$); the feedback has "
        r"taken the common part and the tilt out, and of degree 2 leaves the share $D_2$ (the damping of its "
        r"amplitude at the threshold). $\hat{s}_i = |w_{\perp,i}|/\sqrt{d}$.")
    # 11. the feedback's turns. The tilt: every w_perp,j moves by a_j R (step 2), and (1/M) sum_j a_j (a_j R)
    # cancels the share 1 - D_1 of the frozen v = (1/M) sum_j a_j w_perp,j, |v|^2 = (d - 1) sigma_w^2 E[a^2] / M:
    # |a_j R|^2 / |w_perp,j|^2 = (1 - D_1)^2 a_j^2 / (M E[a^2]). Degree 2: w_j turns by -c a_j h_j P_j dT w_j (step 6,
    # P_j across w_j); over isotropic w, E[P dT w w^T + w w^T dT P] = 2 dT / (D + 2) and E|P dT w|^2 =
    # tr(dT^2) / (D + 2) (from the sphere average of step 6), so cancelling the share 1 - D_2 of the frozen
    # dT = (alpha / 2M) sum_j a_j h_j (w_j w_j^T - I / D), tr(dT^2) = alpha^2 E[a^2 h^2] (1 - 1/D) / (4M), takes
    # c = (1 - D_2) (D + 2) / (alpha E[a^2 h^2]) and |dw_j|^2 = (1 - D_2)^2 (D + 2) (1 - 1/D) a_j^2 / (4 M E[a^2])
    # (h_j the same for every node at mu = 0)
    A3 = sp.Matrix([[1, 2, 0], [2, -3, 1], [0, 1, 2]])
    th, ph = sp.symbols("theta phi", real=True)
    unit = sp.Matrix([sp.sin(th) * sp.cos(ph), sp.sin(th) * sp.sin(ph), sp.cos(th)])
    across = A3 * unit - unit * (unit.T * A3 * unit)[0]
    sphere_mean = lambda f: memo.integrate(memo.integrate(sp.expand(f * sp.sin(th) / (4 * sp.pi)), (ph, 0, 2 * sp.pi)),
                                         (th, 0, sp.pi))
    require(memo.simplify(sphere_mean((across.T * across)[0]) - (A3 * A3).trace() / 5) == 0, "E|P A w|^2, D = 3")
    turned = (across * unit.T + unit * across.T).applyfunc(sphere_mean)
    require(memo.simplify(turned - 2 * A3 / 5) == sp.zeros(3, 3), "E[P A w w^T + w w^T A P], D = 3")
    D = S.d - 1
    growth = ((1 - tilt_damping) ** 2 + (1 - degree2_damping) ** 2 * (D + 2) * (1 - 1 / D) / 4) / (S.M * S.m_a2)
    add("turn_growth", r"the feedback's turns across $w_\perp$ lengthen it",
        sp.Eq(sp.Symbol(r"\Delta \log \hat{s}_j^2"), sp.Symbol("G") * S.a**2),
        r"$G = " + sp.latex(growth) + r"$, with $D_1$, $D_2$ the shares of the tilt and of the degree-2 part "
        r"the feedback leaves. To cancel the rest of the frozen tilt every $w_{\perp,j}$ moves by $a_j R$ "
        r"(the node drive), and to cancel the degree-2 part it turns by $-c\,a_j h_j P_j\,\delta T\,\hat{w}_j$; "
        r"with $\mathbb{E}[P\,\delta T\,\hat{w}\hat{w}^T + \hat{w}\hat{w}^T \delta T\,P] = 2\,\delta T/(D+2)$ "
        r"and $\mathbb{E}|P\,\delta T\,\hat{w}|^2 = \mathrm{tr}\,\delta T^2/(D+2)$ over the sphere, "
        r"$D = d - 1$. A move across $w_\perp$ lengthens it by its square.")
    # 12. a_i(t) = p_t . v with v = (a_0, w_0) ~ N(0, diag(sigma_a^2, sigma_w^2)) along the mean-field node map, so
    # log s_i^2(t) = log s_i^2(0) - v^T Q v with Q = sum_s 2 rho_s p_s p_s^T - G_t p_t p_t^T; s_i(0) is independent
    # of v.
    # Gaussian integrals: E[exp(-v^T Q v)] = (det Sigma det A)^(-1/2), E[(p.v)^2 exp(-v^T Q v)] = that times
    # p^T A^-1 p, A = Sigma^-1 + 2 Q
    q_aa, q_aw, q_ww = pull_form
    p_a, p_w = node_row
    sigma = sp.diag(S.sigma_a**2, S.sigma_w**2)
    Q = sp.Matrix([[q_aa, q_aw], [q_aw, q_ww]])
    A = sigma.inv() + 2 * Q
    p = sp.Matrix([p_a, p_w])
    s2 = memo.simplify(1 / sp.sqrt(sigma.det() * A.det()))
    variance = memo.simplify(s2 * (p.T * A.inv() * p)[0] / (p.T * sigma * p)[0])
    # independent check: the two Gaussian integrals by a product Gauss-Hermite rule at one point (the integrands are
    # entire, so 80 nodes per axis reach ~1e-15)
    point = {S.sigma_a: 1.3, S.sigma_w: 0.7, q_aa: 0.4, q_aw: -0.15, q_ww: 0.9, p_a: 1.7, p_w: -0.6}
    pa, pw, qa, qb, qc, sa, sw = (point[k] for k in (p_a, p_w, q_aa, q_aw, q_ww, S.sigma_a, S.sigma_w))
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    x, y = np.meshgrid(sa * nodes, sw * nodes, indexing="ij")
    law = np.outer(weights, weights) / (2 * np.pi) * np.exp(-(qa * x * x + 2 * qb * x * y + qc * y * y))
    e_s2 = float(law.sum())
    e_a2s2 = float((law * (pa * x + pw * y) ** 2).sum()) / (pa**2 * sa**2 + pw**2 * sw**2)
    require(abs(float(s2.subs(point)) - e_s2) < 1e-12, ("self pull: E[s^2]", s2.subs(point), e_s2))
    require(abs(float(variance.subs(point)) - e_a2s2) < 1e-12, ("self pull: E[a^2 s^2]", variance.subs(point), e_a2s2))
    add("self_pull_law", r"the node law after its own pull-back and the turns: factors over the frozen law",
        sp.Eq(sp.Matrix([sp.Symbol(r"\mathbb{E}[\hat{s}^2]/\hat{s}_0^2"),
                         sp.Symbol(r"\mathbb{E}[a^2 \hat{s}^2]/(\mathbb{E}[a^2]\,\hat{s}_0^2)")]),
              sp.Matrix([s2, variance])),
        r"$a_i(t) = p_t \cdot (a_0, w_0)$ along the mean-field node map, $(a_0, w_0) \sim "
        r"\mathcal{N}(0, \mathrm{diag}(\sigma_a^2, \sigma_w^2))$, so $\log \hat{s}_i^2(t) = \log \hat{s}_i^2(0) - "
        r"v^T Q v$ with $Q = \sum_s 2\rho_s\,p_s p_s^T - G_t\,p_t p_t^T$ (first order in each step's "
        r"$\rho_s a_i^2$) and "
        r"$\hat{s}_i(0)$ independent of $v$: Gaussian integrals with $A = \Sigma^{-1} + 2Q$.")
    return rate, s2, variance, growth


def tilt_or_none(derivation: MeanFieldDerivation) -> TiltDerivation | None:
    """derive_tilt, or None for the variants it does not cover."""
    try:
        return derive_tilt(derivation)
    except NotImplementedError:
        return None


def _degree2_spread(add, degree2_kernel):
    """Step 13: the degree-2 feedback as an operator on traceless symmetric tensors, its node-by-node weights, the
    equation of its spectral law and the local law of a node's own a-part direction."""
    Dp = S.d - 1
    shat2 = S.sigma_w**2 * Dp / S.d
    h2 = sp.Symbol("h_2", real=True)
    # geometry in D = 3, w = e_3 (any unit w by rotation): the a-part's direction P = w w^T - I/D has
    # |P|^2 = 1 - 1/D, the turns sym(v w^T) (v orthogonal to w) have |.|^2 = 1/2, and for a traceless symmetric
    # dT the turns' projection sum_v <S_v, dT> S_v (S_v = sqrt(2) sym(v w^T), orthonormal) is 2 sym((dT w)_perp w^T)
    e = [sp.Matrix([1 if i == j else 0 for i in range(3)]) for j in range(3)]
    w = e[2]
    P = w * w.T - sp.eye(3) / 3
    require(sp.simplify((P * P).trace() - (1 - sp.Rational(1, 3))) == 0)
    sym = lambda X: (X + X.T) / 2
    turns = [sp.sqrt(2) * sym(v * w.T) for v in e[:2]]
    require(all(sp.simplify((S_v * S_v).trace() - 1) == 0 for S_v in turns))
    t11, t12, t13, t22, t23 = sp.symbols("t11 t12 t13 t22 t23", real=True)
    dT = sp.Matrix([[t11, t12, t13], [t12, t22, t23], [t13, t23, -t11 - t22]])
    projected = sum(((S_v * dT).trace() * S_v for S_v in turns), sp.zeros(3, 3))
    dTw = dT * w
    require(sp.simplify(projected - 2 * sym((dTw - (w.T * dTw)[0] * w) * w.T)) == sp.zeros(3, 3))
    # step 6's two routes node by node, per unit of the common factor alpha beta E[u'] / M: the a-part
    # Delta T = (h_2^2 / 2) <P, dT> P and the turns Delta T = (2 a^2 h_2^2 / (shat^2 d)) sym((dT w)_perp w^T),
    # so rank-one weights h_2^2 |P|^2 / 2 (one direction) and a^2 h_2^2 / (shat^2 d) (D - 1 directions)
    a_weight = h2**2 * (1 - 1 / Dp) / 2
    turn_weight = S.a**2 * h2**2 / (shat2 * S.d)
    # their isotropic average over the directions w is step 6's kernel: the a-part exactly (E[<P, dT> P] =
    # 2 dT / (D (D + 2))), the turns up to their radial part, relative order 2 / D (E[sym((dT w)_perp w^T)] =
    # dT (1/D - 2/(D (D + 2))))
    dimension = Dp * (Dp + 1) / 2 - 1
    cross, cross_a2 = degree2_cross, degree2_cross_a2
    spread_average = (cross / 2 * 2 / (Dp * (Dp + 2))
                      + cross_a2 / (shat2 * S.d) * 2 * (1 / Dp - 2 / (Dp * (Dp + 2))))
    require(memo.simplify(sp.limit((spread_average.subs(cross, 0) / degree2_kernel.subs(cross, 0)), S.d, sp.oo))
            == 1)
    require(memo.simplify(spread_average.subs(cross_a2, 0) - degree2_kernel.subs(cross_a2, 0)) == 0)
    # the law of L = sum_j tau_j p_j p_j^T over n dimensions, p_j unit and spread isotropically (the directions of
    # M nodes in D(D+1)/2 - 1 dimensions), in units of its trace average: its Stieltjes transform
    # m(z) = E[1/(x - z)] solves 1/m = -z + (1/n) sum_j tau_j / (1 + tau_j m) (Silverstein's equation for a
    # weighted sum of rank-one terms), solved by Newton with the term and its slope in m
    tau, m, kap = sp.Symbol("tau", positive=True), sp.Symbol("m"), sp.Symbol("kappa_own", positive=True)
    term = tau / (1 + tau * m)
    slope = sp.diff(term, m)
    # a node's own a-part direction p: L = L_- + kappa p p^T with L_- free of p (its own turns are orthogonal to
    # it), so p's resolvent is m / (1 + kappa m) (Sherman-Morrison), m = <p, (L_- - z)^-1 p>; checked on a 2 x 2
    # with a general p
    l1, l2, p1, p2, zz = sp.symbols("l1 l2 p1 p2 z")
    pv = sp.Matrix([p1, p2])
    B = sp.diag(l1 - zz, l2 - zz)
    whole = (pv.T * (B + kap * pv * pv.T).inv() * pv)[0]
    own = (pv.T * B.inv() * pv)[0]
    require(sp.simplify(whole - own / (1 + kap * own)) == 0)
    aligned = m / (1 + kap * m)
    add("degree2_spread", r"the degree-2 feedback at finite $M$: its spectral law and a node's own direction",
        sp.Eq(sp.Matrix([sp.Symbol(r"\tau_{a,i}"), sp.Symbol(r"\tau_{w,i}"), sp.Symbol(r"1/m(z)"),
                         sp.Function("m_i")(sp.Symbol("z"))]),
              sp.Matrix([a_weight.subs(h2, sp.Symbol("h_{2,i}")),
                         turn_weight.subs({h2: sp.Symbol("h_{2,i}"), S.a: sp.Symbol("a_i")}),
                         -sp.Symbol("z") + sp.Sum(sp.Symbol(r"\tau_j") / (1 + sp.Symbol(r"\tau_j") * m),
                                                 (sp.Symbol("j"), 1, sp.Symbol("J"))) / dimension,
                         aligned.subs(kap, sp.Symbol(r"\tau_{a,i}"))])),
        r"Step 6's feedback is $\alpha\beta\mathbb{E}[u']/M$ times an operator on the $n = D(D+1)/2 - 1$ traceless "
        r"symmetric tensors: node $i$'s a-part $\tau_{a,i} \hat{P}_i \hat{P}_i^T$ ($P_i$ the traceless part of "
        r"$w_i w_i^T$) and its $D - 1$ turns $\mathrm{sym}(v\,w_i^T)$, $v \perp w_i$, of weight $\tau_{w,i}$ each; "
        r"their isotropic average is step 6's kernel (the turns' up to relative order $2/D$). Its law, in units of "
        r"its trace average, has the Stieltjes transform $m(z)$ ($J = M D$ rank-one terms); the init's tensor "
        r"$\sum_i a_i h_{2,i} P_i$ lies along the a-part directions, each of which sees $m_i = m/(1 + \tau_{a,i} m)$ "
        r"(Sherman-Morrison; its own turns are orthogonal to it). Each eigendirection is pulled back at step 6's "
        r"rate times its eigenvalue over the average.")
    return turn_weight, a_weight, term, slope, aligned
