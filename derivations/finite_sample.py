"""Finite sample N: what the empirical average over N training examples adds to the mean-field drive.

At finite N one GD step changes the margin of a training example mu by

    Delta_mu = (alpha beta / N) sum_nu u_nu y_nu y_mu K(x_mu, x_nu),
    K(x, x') = E_node[sigma(z) sigma(z') + a^2 sigma'(z) sigma'(z') x.x'/d]       (the network's tangent kernel)

Averaged over the other examples nu this is the mean-field drive (kappa_{t+1} - kappa_t)|x_par|. What is new:

* the *self* term nu = mu, (alpha beta / N) K(x_mu, x_mu) > 0, which a fresh test point never receives: every
  training example that stays unsatisfied is pushed up by it (memorization). Summed over time it satisfies a
  training example below x*(t): the crossing moves down by S(t)/kappa(t), S = sum_s alpha beta K(s) / N;
* the other unsatisfied examples' terms at example mu, of degree >= 2 along x_perp: persistent while they keep
  pulling, they spread the margins of examples at the same |x_par| (the kernel's rho^2 part, and at finite width M
  the nodes' own random features);
* the random part of the empirical mean (1/N) sum_{nu in U} y_nu x_nu orthogonal to w*, of norm
  sqrt((d-1) P_U / N): a random tilt of the effective teacher, and the random parts of the sums above.

Which part of the self term can memorize: the part of K of degree 0 and 1 along x_perp (Hermite / Mehler
expansion in the overlap of x_perp and x'_perp) spans only 1 + (d-1) functions; with N P_U >> d unsatisfied
examples it cannot single one out, and its self-contribution is the same low-rank tilt the loss feeds back on
(derivations/fluctuations.py). The *memorizing* kernel is the rest, K_mem = K_self - K_low, of degree >= 2. This is an
approximation: the degree-2 part spans d(d-1)/2 functions, and whether it memorizes depends on how that compares
with N P_U; the validation case measures how far the approximation is off.
"""
from __future__ import annotations

import dataclasses
import functools

import sympy as sp

from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.checks import require
from mftheory.derivations.disk_cache import cached_on_disk
from mftheory.derivations import symbols as S
from mftheory.derivations.averages import DataAverage, data_average
from mftheory.derivations.catalog import ACTIVATIONS, DATA_LAWS, Activation
from mftheory.derivations.meanfield import Step

N_SAMPLE, P_UNSAT, DRIFT = S.N_sample, S.P_unsat, S.drift_B
# placeholders: the kernel of the self term at time t, its sum S(t) over the steps so far, kappa_{t+1} - kappa_t
KERNEL = sp.Symbol("K_mem", positive=True)
ACCUMULATED = sp.Symbol("S", nonnegative=True)
DELTA_KAPPA = sp.Symbol(r"\Delta\kappa", positive=True)
# the spread of S over examples: its variance, sd, the rho^2 coefficient A_2 of K, its sum over the steps so far
# and the number of unsatisfied training examples
SPREAD = sp.Symbol(r"\sigma_S^2", nonnegative=True)
SPREAD_SD = sp.Symbol(r"\sigma_S", nonnegative=True)
QUADRATIC = sp.Symbol("A_2", nonnegative=True)
# the same two at another example's own |x_par| (one whose own deposit a crowd elsewhere re-memorizes)
OWN_KERNEL = sp.Symbol("K'_mem", positive=True)
OWN_QUADRATIC = sp.Symbol("A'_2", nonnegative=True)
CUMULATIVE = sp.Symbol("C", nonnegative=True)
UNSAT_COUNT = sp.Symbol("U", nonnegative=True)
# over a few steps: the share of training examples that left the unsatisfied set, the infinite set's density at
# the margin (per unit margin, -E[u']), the |x_par| at which training examples get satisfied and the margin an
# unsatisfied training example gained from its own term and lost to the fading of what it memorized
TRAIN_FLUX = sp.Symbol(r"\Delta f_{\mathrm{train}}", nonnegative=True)
DENSITY = sp.Symbol(r"\rho_\infty", positive=True)
CROSSING = sp.Symbol(r"x_c", nonnegative=True)
OWN_MARGIN = sp.Symbol(r"\Delta S", nonnegative=True)
FADED = sp.Symbol(r"\Delta S_{\mathrm{fade}}", nonnegative=True)
# one fixed set's crowd: the number of its examples stalled at the margin
CROWD = sp.Symbol(r"n_c", nonnegative=True)
# the examples held at the margin (the map's pile): their share of the set, their mean |x_par|, the sd of the velocity
# at which the other examples' pulls move a margin, and the margin an example gains per step from its own term
PILE = sp.Symbol(r"f_p", nonnegative=True)
PILE_X = sp.Symbol(r"\bar{x}_p", nonnegative=True)
VELOCITY_SD = sp.Symbol(r"\sigma_v", nonnegative=True)
OWN_STEP = sp.Symbol(r"s_{\mathrm{own}}", positive=True)
# the finite width's part of the others' pulls: its node average W_2 (per unit of 1/M), and the sd of one pulling
# example's degree >= 2 term at another example, both parts together (per unit of alpha beta / N)
WIDTH = sp.Symbol("W_2", nonnegative=True)
AMPLITUDE = sp.Symbol("q", nonnegative=True)
# one fixed set's node map: the training set's mean of u (y F - kappa |x_par|), what its unsatisfied examples' margins
# exceed the mean field's by, and the node map's transfer matrix P - I from the init, (a, w_par) = P (a_0, w_0)
EXCESS = sp.Symbol(r"\bar{\Delta}_U", real=True)
TRANSFER = tuple(sp.Symbol(name, real=True) for name in ("E_{aa}", "E_{aw}", "E_{wa}", "E_{ww}"))


@dataclasses.dataclass(frozen=True)
class FiniteSampleDerivation:
    activation: Activation
    steps: tuple[Step, ...]
    self_kernel: DataAverage        # K(x, x) at x_par, |x_perp|^2 = d - 1, averaged over the node law
    low_degree_kernel: DataAverage  # its part of degree 0 and 1 along x_perp
    quadratic_kernel: DataAverage   # A_2: the coefficient of rho^2 in K(x, x') at the same x_par
    width_kernel: DataAverage       # W_2: one node's random-features energy (the finite width's part of the pulls)
    pull_amplitude: sp.Expr         # q: sd of one pulling example's degree >= 2 term at another, per alpha beta / N
    kernel_amplitude: sp.Expr       # q as first derived: the kernel's rho^2 term counted whole, no width part
    spread_step: sp.Expr            # sigma_S^2 after one more step
    self_rate: sp.Expr              # margin gained per step from the self term, in K (placeholder KERNEL)
    onset_ratio: sp.Expr            # self term / mean-field drive at the threshold, in K, Delta kappa, x*
    crossing_shift: sp.Expr         # shift of the satisfaction crossing, in S(t) and kappa
    tilt_ratio: sp.Expr             # |random part orthogonal to w*| / parallel drift, per step
    threshold_density_ratio: sp.Expr  # the training set's density at the margin / the infinite set's
    crowd_hold: sp.Expr             # share of a new degree-2 deposit's variance that the crowd at the margin leaves
    crowd_share: sp.Expr            # share of a new degree-2 deposit, along its own direction, that the crowd takes
    crowd_kept: sp.Expr             # share of an example's own memorized margin that the crowd leaves it
    velocity_sd: sp.Expr            # sd over examples of the velocity at which the others' pulls move a margin
    pile_unsat: sp.Expr             # share of the set held at the margin that pulls at a step
    pile_drift: sp.Expr             # their part of the drift rate g
    own_shift_rate: sp.Expr         # r: the a-growth per step (per beta) from the unsatisfied examples' own shifts
    transfer_step: tuple            # P - I after one more step of the node map with that growth, (E_aa, .., E_ww)
    transfer_moments: tuple         # (E a^2, E w_par^2, E a w_par, E (a-a0)^2, E (w_par-w0)^2) from P - I
    transfer_kappa: sp.Expr         # kappa from E a w_par

    def step(self, key):
        return next(s for s in self.steps if s.key == key)


@functools.lru_cache(maxsize=None)
@cached_on_disk
def derive_finite_sample(activation="relu", integration_seconds: int = 8) -> FiniteSampleDerivation:
    act = ACTIVATIONS[activation] if isinstance(activation, str) else activation
    steps = []
    add = lambda *args: steps.append(Step(*args))
    nu = sp.Symbol("nu", integer=True)
    add("finite_n_step", r"one GD step on the margin of training example $\mu$ at finite $N$",
        sp.Eq(sp.Symbol(r"\Delta_\mu"), S.alpha * S.beta / N_SAMPLE * sp.Sum(
            sp.Symbol("u_nu") * sp.Symbol("y_nu") * sp.Symbol("y_mu") * sp.Function("K")(sp.Symbol("x_mu"),
                                                                                   sp.Symbol("x_nu")),
            (nu, 1, N_SAMPLE))),
        r"$K(x, x') = \mathbb{E}_{\mathrm{node}}[\sigma(z)\,\sigma(z') + a^2 \sigma'(z)\,\sigma'(z')\,x \cdot x'/d]$; "
        r"the term $\nu = \mu$ is the self term.")

    # one node: z = mu + shat xi with xi ~ N(0, 1) the node's direction of x_perp (as in finite_width.py)
    mu = sp.Symbol("mu", real=True)
    shat = sp.Symbol(r"\hat{s}", positive=True)
    xi = sp.Symbol("xi", real=True)
    gauss = sp.exp(-xi**2 / 2) / sp.sqrt(2 * sp.pi)
    kink = -mu / shat
    pos, neg = act.branches
    dpos, dneg = sp.diff(pos, S.z), sp.diff(neg, S.z)

    def over_xi(f_pos, f_neg, weight):
        z = mu + shat * xi
        return memo.simplify(memo.integrate(weight * f_pos.subs(S.z, z) * gauss, (xi, kink, sp.oo))
                           + memo.integrate(weight * f_neg.subs(S.z, z) * gauss, (xi, -sp.oo, kink)))

    # Hermite coefficients c_0 = E[f], c_1 = E[f xi] and the second moment E[f^2] (Parseval: sum_k c_k^2)
    c0_s, c1_s, sq_s = over_xi(pos, neg, 1), over_xi(pos, neg, xi), over_xi(pos**2, neg**2, 1)
    c0_d, c1_d, sq_d = over_xi(dpos, dneg, 1), over_xi(dpos, dneg, xi), over_xi(dpos**2, dneg**2, 1)
    # degree 2: He_2(xi) = xi^2 - 1, normalised by sqrt(2!)
    c2_s = over_xi(pos, neg, (xi**2 - 1) / sp.sqrt(2))
    c2_d = over_xi(dpos, dneg, (xi**2 - 1) / sp.sqrt(2))
    add("hermite_self", r"a node's $\sigma$ and $\sigma'$ along $x_\perp$: Hermite coefficients and second moments",
        sp.Eq(sp.Matrix([sp.Symbol("c_0"), sp.Symbol("c_1"), sp.Symbol(r"E\sigma^2"), sp.Symbol("c'_0"),
                         sp.Symbol("c'_1"), sp.Symbol(r"E\sigma'^2")]),
              sp.Matrix([c0_s, c1_s, sq_s, c0_d, c1_d, sq_d])),
        r"$z = \mu + \hat{s}\,\xi$ with $\mu = w_\parallel x_\parallel/\sqrt{d}$, $\hat{s} = |w_\perp|/\sqrt{d}$ and "
        r"$\xi \sim \mathcal{N}(0, 1)$.")

    # x.x'/d = (x_par^2 + |x_perp||x'_perp| rho)/d; Mehler: E_nodes f(z) f(z') = sum_k c_k^2 rho^k
    norm2 = (S.x_par**2 + S.r2) / S.d
    per_node_self = (sq_s, sq_d * norm2)
    per_node_low = (c0_s**2 + c1_s**2, c0_d**2 * norm2 + c1_d**2 * S.x_par**2 / S.d)
    add("kernel_split",
        r"self kernel $K(x, x)$ and its part of degree $\le 1$ in the overlap $\rho$ of $x_\perp$, $x'_\perp$",
        sp.Eq(sp.Matrix([sp.Symbol("K_self"), sp.Symbol("K_low")]),
              sp.Matrix([sp.Function("E_node")(per_node_self[0] + S.a**2 * per_node_self[1]),
                         sp.Function("E_node")(per_node_low[0] + S.a**2 * per_node_low[1])])),
        r"The degree-0 and degree-1 parts span $1 + (d-1)$ functions of $x_\perp$; $K_{mem} = K_{self} - K_{low}$ "
        "memorizes.")

    # node law: w_par ~ N(0, m_w2), a | w_par ~ N(k w_par, v); symmetrised over +-w_par (as in finite_width.py)
    k_reg, v_res = S.m_aw / S.m_w2, S.m_a2 - S.m_aw**2 / S.m_w2
    node_subs = {shat: S.sigma_w * sp.sqrt((S.d - 1) / S.d), S.r2: S.d - 1}

    def node_average(parts):
        def at(w):
            sub = lambda e: e.subs(node_subs).subs(mu, w * S.x_par / sp.sqrt(S.d))
            mean_a = k_reg * w
            value = sub(parts[0]) + (mean_a**2 + v_res) * sub(parts[1])
            if len(parts) > 2:   # E[a^4 | w_par] of the Gaussian a | w_par
                value += (mean_a**4 + 6 * mean_a**2 * v_res + 3 * v_res**2) * sub(parts[2])
            return value
        w = sp.sqrt(S.m_w2) * S.x
        pair = (at(w) + at(-w)) / 2
        # where the erfc(mu/shat) terms of the +-w_par pair cancel on expanding (the self kernel), what is left is
        # a polynomial times a Gaussian that SymPy closes in about 3 s of CPU, instead of hitting the time limit
        # on a loaded machine; elsewhere the factored form is kept (expanded, its quadrature overflows at large
        # x_par)
        if pair.has(sp.erfc, sp.erf):
            expanded = sp.expand(pair)
            if not expanded.has(sp.erfc, sp.erf):
                pair = expanded
        return data_average(pair, DATA_LAWS["gaussian"], integration_seconds)

    # the coefficient of rho^2 in K(x, x') for two examples at the same x_par: the leading memorizing part
    per_node_quadratic = (c2_s**2, c2_d**2 * S.x_par**2 / S.d + c1_d**2 * S.r2 / S.d)
    self_kernel = node_average(per_node_self)
    low_kernel = node_average(per_node_low)
    quadratic_kernel = node_average(per_node_quadratic)
    width_kernel = node_average(_random_features_energy(mu, (c0_s, c1_s, sq_s), (c0_d, sq_d)))
    add("self_kernel", "self kernel over the mean-field node law",
        sp.Eq(sp.Symbol("K_self"), self_kernel.value), r"$|x_\perp|^2 = d - 1$ and $|w_\perp|^2$ is at its mean.")
    add("width_kernel", r"the width's random features in the others' pulls: one node's energy, over the node law",
        sp.Eq(WIDTH, sp.Function("E_node")(sp.Symbol("V_\\sigma") * (sp.Symbol(r"E\sigma^2") - sp.Symbol("c_0")**2
                                                                     - sp.Symbol("c_1")**2)
                                          + S.a**4 * sp.Symbol(r"\overline{E\sigma'^2}")
                                          * (sp.Symbol(r"E\sigma'^2") - sp.Symbol("{c'_0}")**2) * (S.d - 1) / S.d**2)),
        r"$V_\sigma$, $\overline{E\sigma'^2}$: the variance of $y\,\sigma(z)$ and the mean of $\sigma'(z)^2$ over "
        r"pulling examples of either label at the same $|x_\parallel|$; at width $M$ each pulling example adds the "
        r"variance $(\alpha\beta/N)^2 W_2/M$ to another's margin per step.")
    self_rate = S.alpha * S.beta * KERNEL / N_SAMPLE
    crossing_shift = -ACCUMULATED / S.kappa
    onset_ratio = self_rate / (DELTA_KAPPA * S.x_star)
    add("memorization", r"memorization offset: a training example unsatisfied since $t = 0$ is satisfied at",
        sp.Eq(sp.Symbol(r"|x_\parallel|_{\mathrm{sat}}"), S.x_star + crossing_shift),
        r"$S(t) = \sum_{s<t} \alpha\beta\,K_{mem}(s)/N$ with $K_{mem} = K_{self} - K_{low}$ at $x_\parallel = x^*(s)$; "
        r"first order in $1/N$.")
    add("onset", "onset of overfitting: the self term overtakes the mean-field drive at the threshold",
        sp.Eq(sp.Symbol("R(t)"), onset_ratio),
        r"Train and test part ways where $R(t)$ reaches $1$ ($R$ grows like $t^{3/2}/N$ late).")
    # the other examples' memorizing terms: for two examples, rho = overlap of their x_perp directions, uniform on
    # the sphere of dimension n = d - 1: E[rho^2] = 1/n, E[rho^4] = 3 / (n (n + 2)). Each step adds to example mu
    # (alpha beta / N) sum_{nu in U} y_nu y_mu A_2 rho^2; rho^2's mean gives every example of a label the same shift
    # (F's common part), so between examples it is Var(rho^2) that counts. At finite width M the nodes' own random
    # features add a part of the same order in U (``_random_features_energy``): W_2 / M per pulling example.
    n = S.d - 1
    rho4 = sp.Integer(3) / (n * (n + 2))
    harmonic = rho4 - 1 / n**2
    require(memo.simplify(harmonic - 2 * (n - 1) / (n**2 * (n + 2))) == 0)
    pull_amplitude = sp.sqrt(harmonic * QUADRATIC**2 + WIDTH / S.M)
    add("pull_amplitude", r"one pulling example's degree-$\ge 2$ term at another example: its sd, per "
        r"$\alpha\beta/N$",
        sp.Eq(AMPLITUDE, pull_amplitude),
        r"$\mathrm{Var}(\rho^2) = 2(d-2)/((d-1)^2(d+1))$ for the overlap $\rho$ of two $x_\perp$ directions "
        r"(its mean $1/(d-1)$ shifts every example of a label alike: $F$'s common part); $W_2/M$: the width's "
        r"random features.")
    # the amplitude as first derived, which ``predict`` keeps by default (its ``others_pulls``): rho^2 counted
    # whole, E[rho^4] (its mean included), and no width part
    kernel_amplitude = sp.sqrt(rho4) * QUADRATIC
    add("kernel_amplitude", r"the same, as first derived: the kernel's $\rho^2$ term counted whole, no width part",
        sp.Eq(sp.Symbol("q_K"), kernel_amplitude),
        r"$\mathbb{E}[\rho^4] = 3/((d-1)(d+1))$ counts $\rho^2$'s mean, which moves every example of a label "
        r"alike, and the width's random features are left out.")
    cross_variance = (S.alpha * S.beta / N_SAMPLE) ** 2 * UNSAT_COUNT * AMPLITUDE**2
    spread_step = SPREAD + (S.alpha * S.beta / N_SAMPLE) ** 2 * UNSAT_COUNT * AMPLITUDE * (AMPLITUDE + 2 * CUMULATIVE)
    add("spread", r"spread of the memorized margin over examples: variance of $\sum_s$ of the others' terms",
        sp.Eq(sp.Function(r"\sigma_S^2")(S.t + 1), spread_step.subs(SPREAD, sp.Function(r"\sigma_S^2")(S.t))),
        r"$U(t) = N f_{\mathrm{train}}(t)$ examples, $q$ at $x^*$, $C(t) = \sum_{s<t} q(s)$; one step adds the "
        r"variance $(\alpha\beta/N)^2 U q^2$, persistent while $U$ keeps its members.")
    require(memo.simplify(cross_variance - spread_step.subs({SPREAD: 0, CUMULATIVE: 0})) == 0)
    add("train_unsat", r"training $f_{\mathrm{unsat}}$ with memorization: margin "
        r"$\kappa|x_\parallel| + S + \sigma_S \zeta$, $\zeta \sim \mathcal{N}(0, 1)$",
        sp.Eq(sp.Symbol(r"f_{\mathrm{train}}"), sp.Function(r"E_\zeta")(sp.Function(r"P_U")(
            S.kappa, S.h - ACCUMULATED - SPREAD_SD * sp.Symbol("zeta")))),
        r"The drift $g$ averages over $\zeta$ the same way; the test set gets neither $S$ nor the spread.")
    tilt_ratio = sp.sqrt((S.d - 1) * P_UNSAT / N_SAMPLE) / DRIFT
    add("random_mean", r"random part of the empirical mean $(1/N) \sum_U y\,x$ orthogonal to $w^*$, per unit drift",
        sp.Eq(sp.Symbol(r"|\xi_{\perp}| / B"), tilt_ratio),
        r"Each of the $d - 1$ coordinates has variance $P_U/N$ (Gaussian data); $B = \mathbb{E}[u\,|x_\parallel|]$ is "
        "the drift.")
    # the loss's feedback on a fluctuation counts the examples at the margin. For one fixed set they are the
    # training set's: by continuity, the density just below the margin is the flux of examples through it over the
    # speed at which they cross it: the common motion at the crossing x_c, plus their own term, less what the
    # loss's feedback takes off the margin they memorized (it fades like every degree-2 part of F, so an example
    # at the margin rises slower than its own term alone would raise it, and the examples bunch up there). Without
    # memorization (x_c = x*, no own term, nothing to fade) the flux is the infinite set's, rho_inf x* Delta kappa,
    # and the ratio is 1; it is 0 once no training example crosses (the whole set satisfied: GD has stopped).
    density_ratio = TRAIN_FLUX / (DENSITY * (CROSSING * DELTA_KAPPA + OWN_MARGIN - FADED))
    require(memo.simplify(density_ratio.subs({OWN_MARGIN: 0, FADED: 0, CROSSING: S.x_star}).subs(
        TRAIN_FLUX, DENSITY * S.x_star * DELTA_KAPPA)) == 1)
    add("threshold_density", r"one fixed training set: its density of examples at the margin, relative to the "
        r"infinite set's (continuity)",
        sp.Eq(sp.Symbol(r"\rho_{\mathrm{train}} / \rho_\infty"), density_ratio),
        r"Over the same few steps, $\Delta f_{\mathrm{train}}$ is the share of the training set that got satisfied, "
        r"$\Delta\kappa$ the growth of $\kappa$, $x_c = x^* - S/\kappa$ the $|x_\parallel|$ at which training "
        r"examples get satisfied, $\Delta S$ the margin an unsatisfied example gained from its own term, "
        r"$\Delta S_{\mathrm{fade}}$ what the fading of its memorized margin took off it and "
        r"$\rho_\infty = -\mathbb{E}[u']$ the infinite set's density at the margin. It scales the loss's feedback on "
        r"every fluctuation of $F$.")
    hold, share, kept = _crowd_hold(add)
    velocity_sd, pile_unsat, pile_drift = _pile_motion(add, cross_variance)
    own_shift_rate, transfer_step, transfer_moments, transfer_kappa = _own_shift(add)
    return FiniteSampleDerivation(activation=act, steps=tuple(steps), self_kernel=self_kernel,
                                  low_degree_kernel=low_kernel, quadratic_kernel=quadratic_kernel,
                                  width_kernel=width_kernel, pull_amplitude=pull_amplitude,
                                  kernel_amplitude=kernel_amplitude,
                                  spread_step=spread_step, self_rate=self_rate, onset_ratio=onset_ratio,
                                  crossing_shift=crossing_shift, tilt_ratio=tilt_ratio,
                                  threshold_density_ratio=density_ratio, crowd_hold=hold,
                                  crowd_share=share, crowd_kept=kept, velocity_sd=velocity_sd, pile_unsat=pile_unsat,
                                  pile_drift=pile_drift, own_shift_rate=own_shift_rate, transfer_step=transfer_step,
                                  transfer_moments=transfer_moments, transfer_kappa=transfer_kappa)


def _random_features_energy(mu, sigma_moments, derivative_moments):
    """One node's part of the others' pulls at finite width, per unit of 1/M (before the node average).

    At width M the kernel is K_M = (1/M) sum_i k_i, k_i(x, x') = sigma(z_i) sigma(z'_i) + a_i^2 sigma'(z_i)
    sigma'(z'_i) x.x'/d. The U pulling examples' terms at example mu, sum_nu y_nu k_i(x_mu, x_nu) / M, carry per node
    a random sum R_i over the pulling examples: y sigma(z_i) has variance V_s over them (its mean is node i's drive, a
    part of F shared by every point), and sum_nu y_nu sigma'(z_i) x_nu,perp is a vector of squared norm U E[sigma'^2]
    (d - 1) in a direction of its own. At example mu this gives sigma(z_i) R_i, of degree >= 2 energy (Hermite, in
    xi) E[sigma^2] - c_0^2 - c_1^2, and a_i^2 sigma'(z_i) x_mu . R_i / d, a degree-1 function of x_perp times
    sigma'(z_i): its degree >= 2 energy is E[sigma'^2] - c'_0^2 per unit of |R_i|^2 / d^2. Over the nodes these add
    with zero mean cross terms (their R_i differ), hence one node's energy over M: the variance (alpha beta / N)^2
    U W_2 / M beside the kernel's own (alpha beta / N)^2 U Var(rho^2) A_2^2. The pulling examples are taken at the
    receiving example's |x_par|, with either label (mu -> -mu); their x_par x'_par / d part, of relative size
    x_par^2 / sqrt(d), and the part of R_i along the node's own direction (one of d - 1) are left out.
    Returns the per-node parts with no a, with a^2 and with a^4."""
    c0_s, c1_s, sq_s = sigma_moments
    c0_d, sq_d = derivative_moments
    flip = lambda e: e.subs(mu, -mu)
    pulled_sigma = (sq_s + flip(sq_s)) / 2 - ((c0_s - flip(c0_s)) / 2) ** 2
    pulled_derivative = (sq_d + flip(sq_d)) / 2
    return (pulled_sigma * (sq_s - c0_s**2 - c1_s**2), sp.Integer(0),
            pulled_derivative * (sq_d - c0_d**2) * S.r2 / S.d**2)


def _pile_motion(add, cross_variance):
    """The examples held at the margin, moved by the others' pulls.

    Each step the U unsatisfied examples' pulls add to example mu's margin their degree >= 2 terms, of variance
    ``cross_variance`` = (alpha beta / N)^2 U q^2 over examples; while U keeps its members this is the same every step: a
    persistent velocity v_mu, independent of mu's own offset (GD: ``bench/margin_diffusion.py``). The spread
    sigma_S zeta follows its coherent sum, whose size grows slowly; the velocity itself moves each example. One held
    at the margin against v < 0 pulls at min(|v|, s) / s of the steps (s its own step), one with v > 0 leaves it:
    averaged over the velocity's Gaussian law, a share E[min(max(0, -v), s)] / s of the held examples pulls at a step
    (sigma_v / (s sqrt(2 pi)) for sigma_v << s, one half for sigma_v >> s), and drives g at their mean |x_par|
    like any unsatisfied example (g = c_sigma B / sqrt(d), B = E[u |x_par|])."""
    v = sp.Symbol("v", real=True)
    velocity_sd = sp.sqrt(cross_variance)
    sd = sp.Symbol("sigma", positive=True)   # the law needs sigma_v > 0 (the kernel guards sigma_v = 0)
    law = sp.exp(-v**2 / (2 * sd**2)) / (sd * sp.sqrt(2 * sp.pi))
    # one pushed down faster than its own step pulls at every step: min(|v|, s) / s
    step = sp.Symbol("s", positive=True)
    pulled = memo.simplify((memo.integrate(-v * law, (v, -step, 0)) + step * memo.integrate(law, (v, -sp.oo, -step)))
                         / step)
    slow = memo.simplify(memo.integrate(-v * law, (v, -sp.oo, 0)) / step)
    require(memo.simplify(slow - sd / (step * sp.sqrt(2 * sp.pi))) == 0)        # |v| << s: E[max(0, -v)] / s
    require(sp.limit(pulled, sd, sp.oo) == sp.Rational(1, 2))                  # |v| >> s: those with v < 0, always
    require(abs(sp.N(pulled.subs({sd: 1, step: 1}), 30) - sp.N(
        (1 - sp.exp(-sp.Rational(1, 2))) / sp.sqrt(2 * sp.pi) + sp.erfc(1 / sp.sqrt(2)) / 2, 30)) < 1e-25)
    pile_unsat = PILE * pulled.subs({sd: VELOCITY_SD, step: OWN_STEP})
    add("pile_velocity", r"the velocity at which the others' pulls move a training example's margin",
        sp.Eq(VELOCITY_SD, velocity_sd),
        r"The $U$ unsatisfied examples' degree-$\ge 2$ terms at example $\mu$, the same at every step "
        r"while $U$ keeps its members: a persistent velocity, Gaussian over examples.")
    add("pile_unsat", r"the examples held at the margin that pull at a step",
        sp.Eq(sp.Symbol(r"f_{p,U}"), pile_unsat),
        r"$f_p$: the share of the set held at the margin; one held against a velocity $v < 0$ pulls at $|v|/s$ of the "
        r"steps ($s$ its own step; all of them if $|v| > s$), one with $v > 0$ leaves: "
        r"$\mathbb{E}[\min(\max(0, -v), s)]/s$.")
    pile_drift = pile_unsat * S.odd_slope * PILE_X / sp.sqrt(S.d)
    add("pile_drift", r"their part of the drift rate",
        sp.Eq(sp.Symbol(r"g_p"), pile_drift),
        r"$\bar{x}_p$: the held examples' mean $|x_\parallel|$ ($g = c_\sigma B/\sqrt{d}$, "
        r"$B = \mathbb{E}[u\,|x_\parallel|]$).")
    return velocity_sd, pile_unsat, pile_drift


def _own_shift(add):
    """One fixed set's node map: the unsatisfied examples' own shifts of their preactivations feed the a-drive.

    Each pull of training example mu moves node i's w_i by (beta / (sqrt(d) N)) a_i y sigma'(z_i) x_mu, so its own
    preactivation z_i = w_i . x_mu / sqrt(d) by (beta / N) a_i y sigma'(z_i) (|x_mu|^2 = d): summed over its pulls,
    y delta_mu a_i sigma'(z_i) with delta_mu >= 0 the same for every node (a_i's growth along the way aside). Its next
    pull on a_i, (beta / N) y sigma(z_i), is then larger than the mean field's (which takes z_i at an independent
    x_perp) by (beta / N) y [sigma(z_i + y delta a_i sigma') - sigma(z_i)] = (beta / N) delta a_i sigma'(z_i)^2 to
    first order: proportional to a_i, a growth a_i -> (1 + beta r) a_i of every node. Its size follows from what
    it does to the example's own margin: the same shift raises y F(x_mu) = (alpha / M) sum_i a_i y sigma(z_i) by
    alpha delta E_node[a^2 sigma'^2], so with sigma'^2 independent of a over the nodes,
    r = E[u (y F - F_mf)] / (alpha m_a2): the training set's mean, over its unsatisfied examples, of how far their
    margins exceed the mean field's kappa |x_par| (what they memorized and their offsets). The mean field has
    r = 0 (no example pulls twice). The node map's step on (a, w_par) becomes [[1 + beta r, beta g], [beta g, 1]]
    and the node law is (a, w_par) = P (a_0, w_0), a_0 ~ N(0, sigma_a^2), w_0 ~ N(0, sigma_w^2) independent,
    P the product of the steps (P - I kept, for the increments' moments without cancellation)."""
    r = EXCESS / (S.alpha * S.m_a2)
    add("own_shift_rate", r"one fixed set: the unsatisfied examples' own shifts of their preactivations grow $a$",
        sp.Eq(sp.Symbol("r"), r),
        r"An example's pulls move each node's preactivation at its own point by $y\,\delta\,a_i\sigma'$, so its "
        r"next pull on $a_i$ exceeds the mean field's by $\delta\,a_i\sigma'^2$ (per $\beta/N$): a growth "
        r"$a_i \to (1 + \beta r)\,a_i$, of size fixed by the margin the same shifts gave it: "
        r"$\bar{\Delta}_U = \mathbb{E}[u\,(yF - \kappa|x_\parallel|)]$ over the training set.")
    E = sp.Matrix(2, 2, TRANSFER)
    step = sp.Matrix([[1 + S.beta * sp.Symbol("r"), S.beta * S.g], [S.beta * S.g, 1]])
    after = sp.expand(step * (sp.eye(2) + E) - sp.eye(2))
    add("transfer_step", r"one fixed set's node map: the transfer matrix from the init after one more step",
        sp.Eq(sp.MatrixSymbol("P_{t+1}", 2, 2), sp.MatMul(step, sp.MatrixSymbol("P_t", 2, 2), evaluate=False)),
        r"$(a, w_\parallel) = P_t (a_0, w_0)$; with $r = 0$ the mean field's map, "
        r"$P_t = \frac{1}{2}[[e^{\gamma_+} + e^{-\gamma_-}, e^{\gamma_+} - e^{-\gamma_-}], [\cdot, \cdot]]$.")
    P = sp.eye(2) + E
    variances = sp.diag(S.sigma_a**2, S.sigma_w**2)
    second = sp.expand(P * variances * P.T)
    increments = sp.expand(E * variances * E.T)
    moments = (second[0, 0], second[1, 1], second[0, 1], increments[0, 0], increments[1, 1])
    # r = 0: the mean field's product of steps, in gamma_+ = log prod(1 + beta g), gamma_- = -log prod(1 - beta g)
    gp, gm = sp.symbols("gamma_p gamma_m", real=True)
    mean_field = sp.Matrix([[sp.exp(gp) + sp.exp(-gm), sp.exp(gp) - sp.exp(-gm)],
                            [sp.exp(gp) - sp.exp(-gm), sp.exp(gp) + sp.exp(-gm)]]) / 2
    one_step = step.subs(sp.Symbol("r"), 0)
    require(memo.simplify(one_step - mean_field.subs({gp: sp.log(1 + S.beta * S.g),
                                                    gm: -sp.log(1 - S.beta * S.g)})) == sp.zeros(2, 2))
    g2 = sp.Symbol("g_2", real=True)   # two steps multiply: gamma_+- add
    two = step.subs({sp.Symbol("r"): 0, S.g: g2}) * mean_field
    require(memo.simplify(two - mean_field.subs({gp: gp + sp.log(1 + S.beta * g2),
                                               gm: gm - sp.log(1 - S.beta * g2)})) == sp.zeros(2, 2))
    kappa = S.alpha * S.odd_slope * sp.Symbol("m_aw_P") / sp.sqrt(S.d)
    add("transfer_moments", r"the node law's moments from the transfer matrix",
        sp.Eq(sp.Matrix([S.m_a2, S.m_w2, S.m_aw, sp.Symbol(r"m_{\Delta a^2}"), sp.Symbol(r"m_{\Delta w^2}")]),
              sp.Matrix(moments)),
        r"$a_0 \sim \mathcal{N}(0, \sigma_a^2)$ and $w_0 \sim \mathcal{N}(0, \sigma_w^2)$ independent; "
        r"$\kappa = \alpha c_\sigma m_{aw} / \sqrt{d}$, as in the mean field.")
    return r, tuple(after[i, j] for i in range(2) for j in range(2)), moments, kappa.subs(sp.Symbol("m_aw_P"), S.m_aw)


def _crowd_hold(add):
    """One fixed set's crowd at the margin against a new degree-2 part of F along x_perp (a deposit).

    The n_c examples stalled at the margin keep their margins there: each re-memorizes whatever a deposit puts at its
    own point, through the memorizing part K_mem of the kernel, and its pulls put a degree-2 part of their own
    into F. Taken together they solve K_cc e = -delta(x_c): on the sphere of x_perp directions (dimension n = d - 1)
    the rho^2 term of the kernel, A_2 rho^2, has its degree-2 harmonic part A_2 (rho^2 - 1/n), whose Gram matrix
    over the crowd is a (n - 1)/n Phi^T Phi / N_2, Phi the crowd's coordinates in the N_2 = (n - 1)(n + 2)/2
    degree-2 harmonics (unit variance each); the parts of degree >= 3 span far more functions than the crowd has
    examples and act as a ridge R = K_mem - A_2 on its diagonal. What is left of a deposit in a random degree-2
    direction is (I - P) delta, P = A Phi (A Phi^T Phi / N_2 + R)^-1 Phi^T / N_2 with A = A_2 (n - 1)/n: over the
    N_2 directions its variance keeps 1 - g + g r^2 E[1/(mu + r)^2], g = n_c / N_2, r = R / A, mu the eigenvalues of
    Phi^T Phi / N_2 (the Marchenko-Pastur law of ratio g, whose Stieltjes transform m(z) = E[1/(mu - z)] solves
    g z m^2 - (1 - g - z) m + 1 = 0)."""
    n = S.d - 1
    harmonics = (n - 1) * (n + 2) / 2
    g = sp.Symbol("g", positive=True)
    r = sp.Symbol("r", positive=True)
    z = sp.Symbol("z")
    b = 1 - g + r
    root = sp.sqrt(b**2 + 4 * g * r)
    resolvent = (root - b) / (2 * g * r)                       # m(-r) = E[1/(mu + r)]
    require(memo.simplify((g * z * resolvent**2 - (1 - g - z) * resolvent + 1).subs(z, -r)) == 0)
    require(memo.simplify(sp.limit(resolvent, g, 0) - 1 / (1 + r)) == 0)   # no crowd: mu = 1
    kept = 1 - g + g * r**2 * (-sp.diff(resolvent, r))
    # the same without cancellations as g -> 0 (root - b = 4 g r / (root + b); 1 + g + r - root = 4 g / (1 + g + r
    # + root), root^2 = (1 + g + r)^2 - 4 g): every term carries its factor g
    stable = 1 - g + 2 * g * r / (root + b) - 2 * g * r / (root * (1 + g + r + root))
    for point in ({g: sp.Rational(1, 3), r: sp.Rational(3, 5)}, {g: sp.Rational(7, 5), r: sp.Rational(1, 10)}):
        require(abs(sp.N((kept - stable).subs(point), 30)) < 1e-25)
    # small crowd: each example takes out A / (A + R) of its share 1/N_2 of the directions and puts back its own
    require(stable.subs(g, 0) == 1)
    require(memo.simplify(sp.diff(stable, g).subs(g, 0) + (1 + 2 * r) / (1 + r)**2) == 0)
    hold = stable.subs({g: CROWD / harmonics, r: (KERNEL - QUADRATIC) / (QUADRATIC * (n - 1) / n)})
    add("crowd_hold", r"one fixed set's crowd at the margin: the share of a new degree-2 deposit's variance it leaves",
        sp.Eq(sp.Symbol(r"H_c"), stable.subs({g: sp.Symbol(r"\gamma_c"), r: sp.Symbol("r_c")})),
        r"$\gamma_c = n_c / N_2$, $N_2 = (d - 2)(d + 1)/2$ degree-2 harmonics of $x_\perp$, "
        r"$r_c = (K_{mem} - A_2) / (A_2 (d - 2)/(d - 1))$: the $n_c$ examples stalled at the margin re-memorize "
        r"what a deposit puts at their points (Marchenko-Pastur law of their Gram matrix; degrees $\ge 3$ act "
        r"as a ridge).")
    # along the deposit's own direction: <delta, P delta> / |delta|^2 = tr P / N_2 = g E[mu / (mu + r)]
    taken = g * (1 - r * resolvent)
    stable_taken = g * (1 - 2 * r / (root + b))
    for point in ({g: sp.Rational(1, 3), r: sp.Rational(3, 5)}, {g: sp.Rational(7, 5), r: sp.Rational(1, 10)}):
        require(abs(sp.N((taken - stable_taken).subs(point), 30)) < 1e-25)
    require(memo.simplify(sp.diff(stable_taken, g).subs(g, 0) - 1 / (1 + r)) == 0)
    share = stable_taken.subs({g: CROWD / harmonics, r: (KERNEL - QUADRATIC) / (QUADRATIC * (n - 1) / n)})
    add("crowd_share", r"the same crowd: the share of a new degree-2 deposit, along its own direction, taken out at once",
        sp.Eq(sp.Symbol(r"s_c"), stable_taken.subs({g: sp.Symbol(r"\gamma_c"), r: sp.Symbol("r_c")})),
        r"$\langle \delta, P \delta\rangle / |\delta|^2$ averaged over the directions: "
        r"$\gamma_c\,\mathbb{E}[\mu/(\mu + r_c)]$; a small crowd takes $n_c A/(A + R)$ of the $N_2$ directions' "
        r"share.")
    # an example's own pull puts K(x, .) into F: at its own point K'_mem, of which A'_2 (n - 1)/n (the degree-2
    # harmonics, the directions the crowd re-memorizes) loses the share s_c; the degrees >= 3 and rho^2's constant
    # stay. The kernel between the example and the crowd has its degree-2 coefficient taken as sqrt(A'_2 A_2)
    # (exact where the example sits at the crowd's |x_par|, an upper bound elsewhere)
    kept = 1 - share * OWN_QUADRATIC * (n - 1) / (n * OWN_KERNEL)
    add("crowd_kept", r"the same crowd: the share of an example's own memorized margin it leaves",
        sp.Eq(sp.Symbol(r"k_c"), 1 - sp.Symbol(r"s_c") * OWN_QUADRATIC * (n - 1) / (n * OWN_KERNEL)),
        r"An example's own pull puts $K(x, \cdot)$ into $F$, $K'_{mem}$ at its own point (its $|x_\parallel|$); the "
        r"crowd takes $s_c$ (its own $A_2$, $K_{mem}$) of the deposit's degree-2 harmonic part, "
        r"$A'_2 (d - 2)/(d - 1)$ there, and leaves the degrees $\ge 3$ and $\rho^2$'s mean (the kernel between "
        r"the example and the crowd taken with degree-2 coefficient $\sqrt{A'_2 A_2}$).")
    return hold, share, kept
