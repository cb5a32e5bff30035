"""Extensive-width quadratic networks: the long-time estimator of gradient descent, derived.

Model (conventions of Martin, Biroli & Bach's code): Z = W W^T with W in R^{d x m}, teacher Z* = W* W*^T with
W* entries N(0, 1/m*), kappa = m/d, kappa* = m*/d, n = alpha d^2 examples X_k (GOE: off-diagonal variance 1/d,
diagonal 2/d), labels y_k = Tr(X_k Z*) + sqrt(Delta) xi_k, loss
L = (1/(4n)) sum_k (Tr(X_k Z) - y_k)^2 + (lambda/d) ||W||_F^2, gradient descent on d L.

Derived below, for d -> infinity at fixed alpha, kappa, kappa*, lambda, Delta:

1. the teacher's spectrum as a sum of kappa* d free rank-one parts: R-transform R*(w) = kappa* / (kappa* - w)
   (Marchenko-Pastur);
2. the effective observation Y = Z* + sqrt(s) G (G a GOE matrix of the data's law): its R-transform is
   R*(w) + s w (free additivity), so its Cauchy transform solves a cubic; the density is the imaginary part of
   the cubic's complex root (Cardano), and the edges of its support are the real zeros of the cubic's
   discriminant, a quartic in x;
3. the estimator: since ||W||_F^2 = Tr Z, a minimum of d L over W is a minimum over PSD Z of
   (1/(2n)) sum_k (<A_k, z> - y~_k)^2 + lambda Tr Z in an orthonormal basis of symmetric matrices
   (X_k = sqrt(2/d) A_k, A_k standard Gaussian in d(d+1)/2 dimensions). Its high-dimensional limit (the
   state evolution of approximate message passing, or Gordon's comparison) is the proximal map of the penalty at
   an effective threshold theta applied to Y: a spectral soft thresholding Z = sum_i (y_i - theta)_+ v_i v_i^T;
4. its test error from Y's spectrum alone (Stein's unbiased risk estimate, the divergence of a spectral map):
   MSE = int min(y, theta)^2 dmu - s + 2 s D, D = int int (f(x) - f(y)) / (x - y) dmu dmu, f(y) = (y - theta)_+;
   with the rank limit (kappa below the soft threshold's rank fraction): the proximal map of
   theta (Tr Z + [rank Z <= kappa d]), which keeps Y's kappa d largest eigenvalues above theta, each shifted by theta;
5. the two scalar equations in (s, theta): s = (Delta / 2 + MSE) / (2 alpha) and lambda = theta (1 - D / (2 alpha));
6. the training residual (message passing's Onsager term): (1/n) sum_k r_k^2 = 4 alpha s (lambda / theta)^2,
   the in-sample error (1/(2n)) sum_k r_k^2 and the training loss L;
7. thresholds: perfect recovery at lambda -> 0+ (s -> 0 with theta / sqrt(s) -> t: the minimax risk of the
   matrix denoiser, alpha = min_t M(t) / 2), by counting at lambda = 0 (the rank-m PSD matrices form a manifold
   of dimension d m - m (m - 1) / 2), and the interpolation threshold with label noise Delta at lambda -> 0+
   (where the threshold theta reaches 0: one equation in s, 1/4 as Delta -> infinity);
8. the gradient flow over time in the population limit (alpha -> infinity): d L is ||Z - Z*||_F^2 / 2 + lambda Tr Z
   up to a constant for both data laws, the flow of W is a matrix Riccati equation for Z that its inverse
   linearizes, so Z(t) = E W0 (I + W0^T K(t) W0)^{-1} W0^T E with E = exp(2 (Z* - lambda) t); its traces against
   Z* and itself follow, for d -> infinity, from the deterministic equivalent of log det(I + W0^T D W0) (a
   Marchenko-Pastur fixed point in one scalar g) and its derivatives along D, averaged over the teacher's
   spectrum (the free Poisson law of step 1, with its atom at 0).

Approximations, stated once: d -> infinity (corrections of relative order 1/d); gradient descent reaches the
global minimum of d L over W: for lambda > 0 the convex problem in Z whenever the estimator's rank fraction
is below kappa, else the rank-limited one (step 4b, ``rank_limited``); the O(d) terms of the divergence (the
eigenvalues' own derivatives) are dropped against its O(d^2) part.
"""
from __future__ import annotations

import dataclasses

import sympy as sp

from mftheory.derivations import sympy_memo as memo
from mftheory.derivations.checks import require
from mftheory.derivations.disk_cache import cached_on_disk
from mftheory.derivations.meanfield import Step

# spectral variable, Cauchy transform and R-transform argument
z, G, w = sp.symbols("z G w")
x, u, y_ = sp.symbols("x u y", real=True)
s = sp.Symbol("s", positive=True)                 # variance of the effective noise (semicircle variance)
kappa_star = sp.Symbol("kappa_*", positive=True)
kappa = sp.Symbol("kappa", positive=True)
alpha = sp.Symbol("alpha", positive=True)
lam = sp.Symbol("lambda", nonnegative=True)
Delta = sp.Symbol("Delta", nonnegative=True)
theta = sp.Symbol("theta", real=True)
t = sp.Symbol("t", real=True)                     # theta / sqrt(s) in the recovery limit
v = sp.Symbol("v", positive=True)                 # a semicircle's variance
d = sp.Symbol("d", positive=True)
mse = sp.Symbol("MSE", nonnegative=True)
min2 = sp.Symbol("I_min2", nonnegative=True)      # int min(y, theta)^2 dmu
D = sp.Symbol("D", nonnegative=True)              # the divergence's double integral
trace_z = sp.Symbol("T_Z", nonnegative=True)      # Tr Z / d


@dataclasses.dataclass(frozen=True)
class QuadraticDerivation:
    steps: list
    cubic: tuple          # coefficients (of G^3, G^2, G, 1) of the Cauchy transform's equation, in z, s, kappa*
    depressed: tuple      # (p, q) of the depressed cubic, in x, s, kappa*
    edge_quartic: tuple   # coefficients (x^4 ... x^0) of the polynomial whose real zeros bound the support
    discriminant_scale: sp.Expr  # (q/2)^2 + (p/3)^3 = edge quartic / discriminant_scale
    free_cumulants: tuple  # first three free cumulants of Y's spectrum
    mse: sp.Expr          # in min2, s, D
    noise: sp.Expr        # s as a function of MSE, alpha, Delta
    lambda_equation: sp.Expr  # lambda as a function of theta, D, alpha
    fit: sp.Expr          # (1/n) sum_k r_k^2 in alpha, s, lambda, theta
    in_sample_error: sp.Expr
    train_loss: sp.Expr   # in the fit, lambda and Tr Z / d
    semicircle_density: sp.Expr   # in u, v
    semicircle_min2: sp.Expr      # E[min(u, t)^2] for u ~ semicircle of variance v, |t| < 2 sqrt(v)
    recovery_risk: sp.Expr        # M(t) in kappa*, the semicircle parts and D_null
    counting_threshold: sp.Expr   # alpha at lambda = 0, kappa < 1
    psd_interpolation: sp.Expr    # alpha of the interpolation threshold as Delta -> infinity (kappa >= 1/2)
    interpolation_equation: sp.Expr  # zero at the interpolation threshold's s (theta = 0), in s, D, I_min2, Delta
    teacher_density: sp.Expr      # density of Z*'s nonzero eigenvalues (free Poisson), in x, kappa*
    teacher_edges: tuple          # its support
    flow_integrands: tuple        # (e0, e1, e2) in the scaled variables of step 8d
    flow_square_correction: sp.Expr  # g' E[f2b] in E_00 = E[e0^2], E_2 = E[e2] and kappa
    flow_mse: sp.Expr             # MSE(t) from the traces T2 = Tr Z^2/d and T1 = Tr Z Z*/d
    flow_train_loss: sp.Expr      # L(t) in the population limit, from MSE, Delta, lambda and Tr Z/d


@cached_on_disk
def derive_quadratic() -> QuadraticDerivation:
    steps = []
    add = lambda *args: steps.append(Step(*args))

    # 1. teacher: kappa* d rank-one parts, each with eigenvalue |w*_a|^2 -> d / m* = 1 / kappa*; a rank-one matrix
    # of eigenvalue c in dimension d has R-transform c / (d (1 - c w)) to leading order in 1/d
    c = 1 / kappa_star
    r_teacher = memo.simplify(kappa_star * d * (c / (d * (1 - c * w))))
    require(memo.simplify(r_teacher - kappa_star / (kappa_star - w)) == 0, "teacher R-transform")
    first = sp.series(r_teacher, w, 0, 3).removeO()
    require(memo.simplify(first.coeff(w, 0) - 1) == 0 and memo.simplify(first.coeff(w, 1) - 1 / kappa_star) == 0,
            "teacher spectrum: Tr Z*/d = 1 and Tr Z*^2/d - 1 = 1/kappa*")
    add("teacher_r", "teacher spectrum (Marchenko-Pastur) as an R-transform",
        sp.Eq(sp.Function("R_*")(w), r_teacher),
        r"$Z^*$ is a sum of $\kappa_* d$ free rank-one matrices of eigenvalue $1/\kappa_*$ ($d \to \infty$).")

    # 2. Y = Z* + sqrt(s) GOE: R adds; the Cauchy transform G inverts z = R(G) + 1/G
    r_total = r_teacher + s * w
    numerator = sp.numer(sp.together(r_total.subs(w, G) + 1 / G - z))
    poly = sp.Poly(sp.expand(-numerator), G)
    require(poly.degree() == 3, "the Cauchy transform of Y solves a cubic")
    a3, a2, a1, a0 = [sp.factor(cf) for cf in poly.all_coeffs()]
    require(memo.simplify(a3 - s) == 0, "leading coefficient s")
    add("cubic", r"Cauchy transform of $Y = Z^* + \sqrt{s}\,G$: a cubic (free additivity of R-transforms)",
        sp.Eq(sum(cf * G**k for cf, k in zip((a3, a2, a1, a0), (3, 2, 1, 0))), 0),
        r"$G(z) = \int d\mu(y)/(z - y)$; the root with $\mathrm{Im}\,G < 0$ for $\mathrm{Im}\,z > 0$.")
    cumulants = (sp.Integer(1), 1 / kappa_star + s, 1 / kappa_star**2)
    series = sp.series(r_total, w, 0, 3).removeO()
    require(all(memo.simplify(series.coeff(w, k) - cumulants[k]) == 0 for k in range(3)), "free cumulants of Y")

    # Cardano: one real root and a complex pair when (q/2)^2 + (p/3)^3 > 0; Im of the pair = sqrt(3)/2 (u - v)
    A, B, C, E = [cf.subs(z, x) for cf in (a3, a2, a1, a0)]
    p = memo.simplify((3 * A * C - B**2) / (3 * A**2))
    q = memo.simplify((2 * B**3 - 9 * A * B * C + 27 * A**2 * E) / (27 * A**3))
    p_sym, q_sym = sp.symbols("p q", real=True)
    add("depressed", r"depressed cubic ($G = g - b/(3a)$ at $z = x$)",
        sp.Eq(sp.Tuple(p_sym, q_sym), sp.Tuple(p, q)), "")
    root = sp.sqrt(q_sym**2 / 4 + p_sym**3 / 27)
    add("density", r"density of $Y$'s spectrum from the complex root (Cardano)",
        sp.Eq(sp.Function("rho")(x), sp.sqrt(3) / (2 * sp.pi) * (sp.cbrt(-q_sym / 2 + root) - sp.cbrt(-q_sym / 2 - root))),
        r"Where $(q/2)^2 + (p/3)^3 > 0$ (real cube roots); zero elsewhere.")
    numerator, denominator = sp.fraction(sp.together(q**2 / 4 + p**3 / 27))
    quartic = sp.Poly(numerator, x)
    require(quartic.degree() <= 4, "the support's edges solve a quartic")
    require(memo.simplify(denominator - 2916 * s**6) == 0, "the discriminant's denominator")
    edge = tuple(sp.factor(cf) for cf in quartic.all_coeffs())
    edge = (sp.Integer(0),) * (5 - len(edge)) + edge
    add("edges", "edges of the support: zeros of the discriminant",
        sp.Eq(sum(cf * x**k for cf, k in zip(edge, range(4, -1, -1))), 0), "")

    # 3.-4. the estimator's risk from Y's spectrum: Stein's identity with the divergence of a spectral map,
    # div F = sum_i f'(y_i) + sum_{i<j} (f(y_i) - f(y_j)) / (y_i - y_j) -> d^2 D / 2
    P = d * (d + 1) / 2
    tau2 = 2 * s / d  # Y = Z* + tau g in the orthonormal basis: off-diagonal variance tau^2 / 2 = s / d
    risk = (d * min2 - P * tau2 + 2 * tau2 * (d**2 * D / 2)) / d
    mse_expr = sp.limit(risk, d, sp.oo)
    require(memo.simplify(mse_expr - (min2 - s + 2 * s * D)) == 0, "risk from the spectrum")
    add("risk", "test error from Stein's identity (divergence of the spectral soft threshold)",
        sp.Eq(mse, mse_expr),
        r"$I_{min2} = \int \min(y, \theta)^2\,d\mu(y)$ and "
        r"$D = \iint ((y - \theta)_+ - (y' - \theta)_+)/(y - y')\,d\mu\,d\mu$.")

    # 4b. the rank limit (kappa below the soft threshold's rank): Z = W W^T has rank <= m = kappa d, so the
    # proximal map is that of theta (Tr Z + [rank Z <= m]) over PSD Z. It is spectral (von Neumann's trace
    # inequality: Z shares Y's eigenvectors), and per eigenvalue the kept value minimises (z - y)^2/2 + theta z over
    # z >= 0; keeping y instead of dropping it lowers the objective by (y - theta)_+^2 / 2, increasing in y, so the
    # map keeps the m largest: f(y) = (y - theta) [y > y_c], y_c Y's upper kappa-quantile (theta if fewer are
    # above theta). Stein's identity holds with its divergence: the jump at y_c adds O(d) to the sum of f', dropped
    # against the O(d^2) pairs like the eigenvalues' own derivatives.
    yy, zz = sp.symbols("y z", real=True)
    kept_value = sp.solve(sp.diff((zz - yy)**2 / 2 + theta * zz, zz), zz)[0]
    require(memo.simplify(kept_value - (yy - theta)) == 0, "a kept eigenvalue is shifted by theta")
    gain = memo.simplify(yy**2 / 2 - ((kept_value - yy)**2 / 2 + theta * kept_value))
    require(memo.simplify(gain - (yy - theta)**2 / 2) == 0 and memo.simplify(sp.diff(gain, yy) - (yy - theta)) == 0,
            "keeping the largest eigenvalues lowers the objective most")
    require(memo.simplify((yy - kept_value)**2 - theta**2) == 0, "a kept eigenvalue's residual is theta^2")
    cut = sp.Symbol("y_c", real=True)
    add("rank_limit", r"the rank limit ($\kappa$ below the soft threshold's rank): keep Y's largest $\kappa d$",
        sp.Eq(sp.Function("f")(yy), (yy - theta) * sp.Heaviside(yy - cut)),
        r"$y_c$ is the point above which a share $\kappa$ of $\mu$ lies ($	heta$ where less than $\kappa$ lies above "
        r"$	heta$). Keeping $y > 	heta$ lowers the objective by $(y - 	heta)^2/2$, so the largest are kept. The "
        r"test error is step 4's with $I_{min2} 	o I_{cut} = \int_{y > y_c} 	heta^2\,d\mu + \int_{y \le y_c} "
        r"y^2\,d\mu$ and $D$ the divided-difference integral of this $f$ (a kept eigenvalue against a dropped one: "
        r"$(y - 	heta)/(y - y')$); the fixed point (steps 5 and 6) is unchanged in form.")

    # 5. the fixed point: tau^2 = sigma_w^2 + E||z - z*||^2 / n and lambda = theta (1 - E div / n)
    n = alpha * d**2
    sigma_w2 = Delta * d / (2 * n)
    noise_expr = sp.solve(sp.Eq(tau2, sigma_w2 + d * mse / n), s)[0]
    require(memo.simplify(noise_expr - (Delta / 2 + mse) / (2 * alpha)) == 0, "effective noise")
    add("noise", "effective noise of the observation",
        sp.Eq(s, noise_expr),
        r"State evolution of message passing for $\frac{1}{2}\|y - B z\|^2 + \lambda \operatorname{Tr} Z$, $Z$ PSD.")
    lambda_expr = sp.limit(theta * (1 - (d**2 * D / 2) / n), d, sp.oo)
    add("threshold", "effective threshold", sp.Eq(lam, lambda_expr), "The stationarity of the penalty.")

    # 6. training residual: r_k = sqrt(2n/d) (B z - y')_k with ||B z - y'||^2 / n -> tau^2 (1 - div/n)^2
    fit_expr = memo.simplify((2 * n / d) * tau2 * (lam / theta)**2)
    add("fit", "mean squared training residual", sp.Eq(sp.Symbol("R_train"), fit_expr),
        "Message passing's Onsager-corrected residual at the fixed point.")
    in_sample = fit_expr / 2
    loss_expr = fit_expr / 4 + lam * trace_z
    add("train_loss",
        r"training loss $L$ (data term plus penalty, $\lambda \|W\|^2/d = \lambda \operatorname{Tr} Z/d$)",
        sp.Eq(sp.Symbol("L"), loss_expr), r"$T_Z = \operatorname{Tr} Z/d = \int (y - \theta)_+\,d\mu$.")

    # 7a. recovery at lambda -> 0+: s -> 0 with theta = t sqrt(s). Signal eigenvalues (fraction kappa*) stay at
    # O(1): min(y, theta)^2 = s t^2, and every pair with one of them has divided difference 1. The null block
    # (fraction 1 - kappa*) is sqrt(s) times a semicircle of variance 1 - kappa*.
    rho_sc = sp.sqrt(4 * v - u**2) / (2 * sp.pi * v)
    require(memo.simplify(memo.integrate(rho_sc, (u, -2 * sp.sqrt(v), 2 * sp.sqrt(v))) - 1) == 0, "semicircle mass")
    require(memo.simplify(memo.integrate(u**2 * rho_sc, (u, -2 * sp.sqrt(v), 2 * sp.sqrt(v))) - v) == 0,
            "semicircle variance")
    # u = 2 sqrt(v) sin(phi): the semicircle becomes (2/pi) cos(phi)^2 dphi on [-pi/2, pi/2]
    phi, phi_t = sp.symbols("phi phi_t", real=True)
    measure = 2 / sp.pi * sp.cos(phi)**2
    below = memo.integrate(4 * v * sp.sin(phi)**2 * measure, (phi, -sp.pi / 2, phi_t))
    above = (2 * sp.sqrt(v) * sp.sin(phi_t))**2 * memo.integrate(measure, (phi, phi_t, sp.pi / 2))
    sc_min2 = memo.simplify((below + above).subs(phi_t, sp.asin(t / (2 * sp.sqrt(v)))))
    d_null = sp.Symbol("D_0", nonnegative=True)
    e_null = sp.Symbol("J_0", nonnegative=True)
    risk0 = kappa_star * t**2 + (1 - kappa_star) * e_null - 1 + 2 * (kappa_star**2 + 2 * kappa_star * (1 - kappa_star)
                                                                      + (1 - kappa_star)**2 * d_null)
    risk_from_general = (sp.limit(mse_expr.subs({min2: s * (kappa_star * t**2 + (1 - kappa_star) * e_null),
                                                 D: kappa_star**2 + 2 * kappa_star * (1 - kappa_star)
                                                 + (1 - kappa_star)**2 * d_null}) / s, s, 0))
    require(memo.simplify(risk_from_general - risk0) == 0, "recovery risk from the general risk")
    add("recovery_risk", "risk per unit noise of the denoiser near perfect recovery",
        sp.Eq(sp.Function("M")(t), risk0),
        r"$J_0 = \mathbb{E}[\min(u, t)^2]$ and $D_0$ is the divided-difference integral for $u \sim$ semicircle of "
        r"variance $1 - \kappa_*$; perfect recovery at $\lambda \to 0^+$ for $\alpha > \min_t M(t)/2$.")
    add("semicircle_min2", r"$\mathbb{E}[\min(u, t)^2]$ for a semicircle of variance $v$",
        sp.Eq(sp.Symbol("J_0"), sc_min2), r"$|t| \le 2\sqrt{v}$.")

    # 7b. lambda = 0, kappa < 1: n constraints against the dimension of the rank-m PSD matrices
    m = kappa * d
    counting = sp.limit((d * m - m * (m - 1) / 2) / d**2, d, sp.oo)
    add("counting", r"perfect recovery at $\lambda = 0$ ($\kappa_* \le \kappa < 1$): dimension count",
        sp.Eq(sp.Symbol("alpha_0"), counting), "Gradient descent reaches an interpolating minimum.")

    # 7c. interpolation threshold with label noise at lambda -> 0+: the fit (step 6) vanishes while theta stays
    # positive, so the threshold equation (step 5) gives D = 2 alpha; it ends where theta reaches 0 (beyond it the
    # projection of Y onto the PSD cone no longer fits the data). With alpha = D/2 in the noise equation, s solves
    # one equation at theta = 0, and alpha = D(s, 0)/2.
    alpha_of_d = [a for a in sp.solve(sp.Eq(1 - (D / (2 * alpha)), 0), alpha)]
    require(len(alpha_of_d) == 1 and memo.simplify(lambda_expr.subs(alpha, alpha_of_d[0])) == 0,
            "lambda -> 0+ with theta > 0: D = 2 alpha")
    interpolation_equation = memo.simplify(sp.numer(sp.together(
        (noise_expr.subs(mse, mse_expr) - s).subs(alpha, alpha_of_d[0]))))
    interpolation_equation = sp.expand(-interpolation_equation / 2)
    require(memo.simplify(interpolation_equation - (s * (1 - D) - min2 - Delta / 2)) == 0,
            "the interpolation threshold's equation in s")
    add("interpolation", r"interpolation threshold with label noise ($\lambda \to 0^+$): $\alpha = D(s, 0)/2$ with",
        sp.Eq(interpolation_equation, 0),
        r"At $\theta = 0$: $I_{min2} = \int \min(y, 0)^2\,d\mu$ and $D$ of the projection of $Y$ onto the PSD cone. "
        r"Where the projection's rank fraction exceeds $\kappa$, the rank limit (step 4b) at $\theta = 0$: "
        r"$I_{cut}$ and $D$ of the projection onto the PSD matrices of rank $\kappa d$.")
    # Delta -> infinity: s -> infinity and Y -> sqrt(s) times a semicircle, whose projection has D = 1/2 (pairs of
    # opposite signs give E[x / (x + |y|)] = 1/2 by exchanging x and |y|): alpha -> 1/4, rank 1/2
    xx, yy = sp.symbols("x_+ y_-", positive=True)
    require(memo.simplify(xx / (xx + yy) + yy / (yy + xx) - 1) == 0, "exchange symmetry")
    d_psd = sp.Rational(1, 4) * 1 + sp.Rational(1, 2) * sp.Rational(1, 2)
    psd = d_psd / 2
    add("interpolation_limit", r"the interpolation threshold as $\Delta \to \infty$",
        sp.Eq(sp.Symbol("alpha_interp"), psd),
        "Half the symmetric matrices' dimension is the PSD cone's statistical dimension.")

    # 8a. the population loss: Tr(X A) for symmetric A has variance (2/d) ||A||_F^2 under both data laws
    dd = 3
    A_sym = sp.Matrix(dd, dd, lambda i, j: sp.Symbol(f"A_{min(i, j)}{max(i, j)}", real=True))
    frob = sum(A_sym[i, j]**2 for i in range(dd) for j in range(dd))
    goe_variance = sum((2 if i == j else 1) * sp.Rational(1, dd) * (A_sym[i, j] * (1 if i == j else 2))**2
                       for i in range(dd) for j in range(i, dd))
    require(sp.expand(goe_variance - sp.Rational(2, dd) * frob) == 0, "GOE: Var Tr(XA) = (2/d) ||A||^2")
    # Gaussian law X = (x x^T - I)/sqrt(d): Var(x^T A x) = 2 Tr A^2 (Isserlis)
    xs_ = sp.symbols(f"x0:{dd}", real=True)
    quad = sum(A_sym[i, j] * xs_[i] * xs_[j] for i in range(dd) for j in range(dd))
    moments = {1: 0, 2: 1, 3: 0, 4: 3}

    def gaussian_mean(expr):
        total = 0
        for term in sp.Add.make_args(sp.expand(expr)):
            coeff, value = term, 1
            for xi in xs_:
                power = sp.degree(term, xi)
                if power:
                    value *= moments[power]
                    coeff = coeff / xi**power
            total += coeff * value
        return sp.expand(total)
    trace_a = sum(A_sym[i, i] for i in range(dd))
    require(sp.expand(gaussian_mean(quad**2) - trace_a**2 - 2 * frob) == 0,
            "Gaussian inputs: Var(x^T A x) = 2 ||A||^2")
    add("population_loss", r"population loss ($\alpha \to \infty$), both data laws",
        sp.Eq(sp.Symbol("L_pop"), sp.Symbol("R", positive=True)**2 / (2 * d) + lam * trace_z + Delta / 4),
        r"$R = \|Z - Z^*\|_F$, $T_Z = \operatorname{Tr} Z/d$; $\mathbb{E}[\operatorname{Tr}(X A)^2] = \frac{2}{d}\|A\|_F^2$ "
        r"for symmetric $A$ (GOE and $(xx^T - I)/\sqrt d$).")

    # 8b.-8c. the flow dW/dt = -2 (Z - Z* + lambda) W; with A = 2 (Z* - lambda), dZ/dt = A Z + Z A - 4 Z^2, and
    # W = e^{A t} W0 M(t) with S = M M^T gives d(S^{-1})/dt = 4 W0^T e^{2 A t} W0: checked on one eigen-direction
    tt, a_, w0, zeta_ = sp.symbols("t a w_0 zeta", real=True)
    k_t = 4 * memo.integrate(sp.exp(2 * a_ * tt), (tt, 0, tt), conds="none")
    z_t = sp.exp(2 * a_ * tt) * w0**2 / (1 + w0**2 * k_t)
    require(memo.simplify(sp.diff(z_t, tt) - (2 * a_ * z_t - 4 * z_t**2)) == 0, "the Riccati flow's solution")
    require(memo.simplify(z_t.subs(tt, 0) - w0**2) == 0, "its initial value")
    add("flow", r"gradient flow in the population limit: $Z(t) = E\,W_0 (I + W_0^T K(t) W_0)^{-1} W_0^T E$",
        sp.Eq(sp.Function("K")(tt), memo.simplify(k_t)),
        r"$E = e^{A t}$, $A = 2(Z^* - \lambda)$, $\dot W = -2(Z - Z^* + \lambda) W$: $Z^{-1}$ (or $S^{-1}$, "
        r"$W = e^{At} W_0 M$, $S = M M^T$) obeys a linear equation.")

    # 8d. deterministic equivalent of phi(D) = log det(I_m + W0^T D W0) / m, W0 entries N(0, gamma/m), D diagonal
    # in Z*'s eigenbasis (W0 rotated stays Gaussian): phi = -log g + g - 1 + (1/kappa) E log(1 + gamma D g),
    # stationary in g. Its derivatives along D1 give Tr Z Z*/d (D1 = E Z* E) and Tr Z^2/d (D1 = E^2). Checked on a
    # two-atom law of D (weights p1, p2), with g(eps) implicit.
    gam, gg, eps, p1 = sp.symbols("gamma g epsilon p_1", positive=True)
    K1, K2, D1a, D1b = sp.symbols("K_1 K_2 D_1 D_2", nonnegative=True)
    atoms = ((p1, K1, D1a), (1 - p1, K2, D1b))
    phi = -sp.log(gg) + gg - 1 + sum(pw * sp.log(1 + gam * (Kk + eps * Dk) * gg) for pw, Kk, Dk in atoms) / kappa
    stationarity = sp.diff(phi, gg)
    fixed = 1 / gg - 1 - sum(pw * gam * (Kk + eps * Dk) / (1 + gam * (Kk + eps * Dk) * gg) for pw, Kk, Dk in atoms) / kappa
    require(memo.simplify(stationarity + fixed) == 0, "phi is stationary at the fixed point in g")
    first = sp.diff(phi, eps)                                  # envelope: g's own change drops out
    g_prime = -sp.diff(fixed, eps) / sp.diff(fixed, gg)
    second = sp.diff(first, eps) + sp.diff(first, gg) * g_prime
    f0 = lambda Kk: gam * Kk / (1 + gam * Kk * gg)
    f1 = lambda Dk, Kk: gam * Dk * gg / (1 + gam * Kk * gg)
    f2a = lambda Dk, Kk: (gam * Dk * gg)**2 / (1 + gam * Kk * gg)**2
    f2b = lambda Dk, Kk: gam * Dk / (1 + gam * Kk * gg)**2
    f0g = lambda Kk: (gam * Kk)**2 / (1 + gam * Kk * gg)**2
    mean = lambda f: sum(pw * f(Dk, Kk) for pw, Kk, Dk in atoms)
    at0 = {eps: 0}
    require(memo.simplify((kappa * first).subs(at0) - mean(f1)) == 0, "Tr(G W^T D1 W)/d")
    gp = mean(f2b) / kappa / (-1 / gg**2 + sum(pw * f0g(Kk) for pw, Kk, _ in atoms) / kappa)
    require(memo.simplify((-kappa * second).subs(at0) - (mean(f2a) - gp * mean(f2b))) == 0,
            "Tr((G W^T D1 W)^2)/d")
    add("deterministic_equivalent", r"deterministic equivalent of $\frac{1}{m}\log\det(I + W_0^T D W_0)$",
        sp.Eq(1 / gg, 1 + sp.Function(r"\mathbb{E}")(f0(sp.Symbol("D"))) / kappa),
        r"$\phi = -\log g + g - 1 + \kappa^{-1}\mathbb{E}\log(1 + \gamma D g)$, stationary in $g$; "
        r"$\operatorname{Tr}(Z Z^*)/d = \mathbb{E}[\gamma D_1 g/(1 + \gamma K g)]$ with $D_1 = \zeta e^{2 a t}$, "
        r"$\operatorname{Tr} Z^2/d = \mathbb{E}[(\gamma D_1 g)^2/(1 + \gamma K g)^2] - g' \mathbb{E}[\gamma D_1/(1 + "
        r"\gamma K g)^2]$ with $D_1 = e^{2at}$, $g' = -\mathbb{E}[\gamma D_1/(1+\gamma K g)^2] / (\kappa g^{-2} - "
        r"\mathbb{E}[\gamma^2 K^2/(1 + \gamma K g)^2])$.")
    # in variables that neither overflow nor underflow (g falls like exp(-2 a t) when kappa < kappa*): with
    # r = exp(-2 |a| t) <= 1 and khat = 4 t (1 - r) / (2 |a| t) (-> 4 t at a = 0), K = khat / r and D1 = 1 / r
    # where a > 0, K = khat and D1 = r elsewhere; the forms times powers of g are functions of
    # (Phat, Gf, N1hat, Rhat) = (r / g, 1, 1, r / g) where a > 0 and (1, g, r g, r g) elsewhere:
    # e0 = g f0, e0^2 = g^2 f0g, e1 = f1, e1^2 = f2a, e2 = g f2b
    Ph, Gf, N1h, Rh, r_, khat = sp.symbols("Phat G_f N1hat Rhat r khat", positive=True)
    scaled = (gam * khat * Gf / (Ph + gam * khat * Gf), gam * N1h / (Ph + gam * khat * Gf),
              gam * Rh / (Ph + gam * khat * Gf)**2)
    plain = (gg * f0(K1), f1(D1a, K1), gg * f2b(D1a, K1))
    for branch in ({K1: khat / r_, D1a: 1 / r_, Ph: r_ / gg, Gf: 1, N1h: 1, Rh: r_ / gg},
                   {K1: khat, D1a: r_, Ph: 1, Gf: gg, N1h: r_ * gg, Rh: r_ * gg}):
        for plain_f, scaled_f in zip(plain, scaled):
            require(memo.simplify(plain_f.subs(branch) - scaled_f.subs(branch)) == 0, "scaled flow integrands")
        require(memo.simplify((gg**2 * f0g(K1) - scaled[0]**2).subs(branch)) == 0, "g^2 f0g = e0^2")
        require(memo.simplify((f2a(D1a, K1) - scaled[1]**2).subs(branch)) == 0, "f2a = e1^2")
    # the fixed point and Tr Z^2/d in these forms: 1 = g + E[e0]/kappa, g' E[f2b] = (E[e2]^2/kappa)/(E[e0^2]/kappa - 1)
    E0, E00, E2 = sp.symbols("E_0 E_00 E_2", positive=True)
    g_prime_term = (E2**2 / kappa) / (E00 / kappa - 1)
    F2b, F0g = sp.symbols("F_2b F_0g", positive=True)   # E[f2b], E[f0g]
    require(memo.simplify((F2b / kappa) / (-1 / gg**2 + F0g / kappa) * F2b
                        - g_prime_term.subs({E2: gg * F2b, E00: gg**2 * F0g})) == 0, "g' E[f2b] in scaled forms")
    # 8e. the test error and the loss over time from the traces (Tr Z*^2 / d = 1 + 1/kappa*)
    T1, T2, TZ = sp.symbols("T_1 T_2 T_Z", real=True)
    require(memo.simplify(kappa_star * (1 / kappa_star**2) * (1 + kappa_star) - (1 + 1 / kappa_star)) == 0,
            "Tr Z*^2 / d")
    flow_mse = T2 - 2 * T1 + 1 + 1 / kappa_star
    flow_loss = mse / 2 + Delta / 4 + lam * TZ
    add("flow_mse", r"test error and training loss over time ($\alpha \to \infty$)",
        sp.Eq(sp.Tuple(mse, sp.Symbol("L")), sp.Tuple(flow_mse, flow_loss)),
        r"$T_2 = \operatorname{Tr} Z^2/d$, $T_1 = \operatorname{Tr} Z Z^*/d$, $T_Z = \operatorname{Tr} Z/d$; "
        r"the in-sample error is MSE $+ \Delta/2$.")
    # the teacher's nonzero eigenvalues: the free Poisson law of R*(w) (step 1), from its Cauchy transform's quadratic
    Gq = sp.Symbol("G")
    quad_eq = sp.numer(sp.together((r_teacher.subs(w, Gq) + 1 / Gq - x)))
    disc = sp.discriminant(sp.Poly(quad_eq, Gq))
    lead = sp.Poly(quad_eq, Gq).LC()
    teacher_density = sp.sqrt(-disc) / (2 * sp.pi * sp.Abs(lead)) / kappa_star
    edges = tuple(sorted(sp.solve(sp.Eq(disc, 0), x), key=lambda e: float(e.subs(kappa_star, sp.Rational(1, 2)))))
    require(all(memo.simplify(e - v) == 0 for e, v in zip(edges, ((1 - sp.sqrt(kappa_star))**2 / kappa_star,
                                                                  (1 + sp.sqrt(kappa_star))**2 / kappa_star))),
            "free Poisson edges")
    add("teacher_density", r"$Z^*$'s nonzero eigenvalues (free Poisson law, mass $\min(\kappa_*, 1)$ in all)",
        sp.Eq(sp.Function(r"\rho_*")(x), teacher_density),
        r"Normalised to one over $[(1 - \sqrt{\kappa_*})^2/\kappa_*, (1 + \sqrt{\kappa_*})^2/\kappa_*]$ for "
        r"$\kappa_* \le 1$; the rest of the spectrum is an atom at 0.")

    return QuadraticDerivation(steps=steps, cubic=(a3, a2, a1, a0), depressed=(p, q), edge_quartic=edge,
                               discriminant_scale=denominator,
                               free_cumulants=cumulants, mse=mse_expr, noise=noise_expr,
                               lambda_equation=lambda_expr, fit=fit_expr, in_sample_error=in_sample,
                               train_loss=loss_expr, semicircle_density=rho_sc, semicircle_min2=sc_min2,
                               recovery_risk=risk0, counting_threshold=counting, psd_interpolation=psd,
                               interpolation_equation=interpolation_equation,
                               teacher_density=teacher_density, teacher_edges=edges,
                               flow_integrands=scaled, flow_square_correction=g_prime_term,
                               flow_mse=flow_mse, flow_train_loss=flow_loss)
