"""Mean-field dynamics: the exact discrete GD map and the continuous flow, from the generated kernels, and the
label-noise fixed point and small-noise expansion."""
from __future__ import annotations

import dataclasses
import math
import warnings
from types import ModuleType

import numpy as np
from scipy.optimize import brentq

from mftheory.model import Setup, check_int, check_memory
from mftheory.kappa_tables import kappa_table, no_table
from mftheory.variant import Variant, variant_of

# the solution's arrays and the work arrays of meanfield, float64 per GD step (with room for the caller's copies)
_BYTES_PER_STEP = 8 * 32


def _node_inputs(a0, w0_par):
    try:
        a0 = np.asarray(a0, dtype=float)
        w0 = np.asarray(w0_par, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError("a0 and w0_par must be real numbers or arrays of them") from err
    if a0.shape != w0.shape:
        raise ValueError(f"a0 and w0_par must have the same shape, got {a0.shape} and {w0.shape}")
    return a0, w0


@dataclasses.dataclass(frozen=True)
class MeanFieldSolution:
    """Mean-field dynamics of one :class:`~mftheory.model.Setup`, at GD steps ``t = 0 .. steps``.

    Attributes
    ----------
    t : (T+1,) int array of GD steps.
    gamma_plus, gamma_minus : log prod(1 + beta g_k) and -log prod(1 - beta g_k), the exact discrete map.
    gamma : the continuous flow d gamma/dt = beta g at the same times.
    kappa : slope of the mean-field output F_t(x) = kappa x_par (discrete map).
    x_star : satisfaction threshold h / kappa (inf at t = 0).
    f_unsat : fraction of unsatisfied training examples.
    g : rate g(kappa_t) of the node dynamics.
    alignment : E[w_par^2] / E[|w|^2]: the share of a node's squared weight along w* (rich: -> 1).
    relative_change : ||theta_t - theta_0|| / ||theta_0|| over a node's (a, w) (lazy: << 1).
    variant : the :class:`~mftheory.variant.Variant` (activation, loss, data law and kernels) it was solved with.
    """

    setup: Setup
    t: np.ndarray
    gamma_plus: np.ndarray
    gamma_minus: np.ndarray
    gamma: np.ndarray
    kappa: np.ndarray
    x_star: np.ndarray
    f_unsat: np.ndarray
    g: np.ndarray
    alignment: np.ndarray
    relative_change: np.ndarray
    variant: Variant = dataclasses.field(repr=False)

    @property
    def kernels(self) -> ModuleType:
        """The mean-field kernel module of the variant."""
        return self.variant.kernels

    def node(self, a0, w0_par):
        """Predicted (a, w_par) at every step for nodes starting at (a0, w0_par) (scalars or arrays).

        Returns two arrays of shape (T+1,) + shape of the inputs.
        """
        a0, w0 = _node_inputs(a0, w0_par)
        # the derived map is linear in (a0, w0): evaluate its coefficients once per step
        k = self.kernels
        ca_a = np.array([k.node_discrete_a(1.0, 0.0, p, m) for p, m in zip(self.gamma_plus, self.gamma_minus)])
        ca_w = np.array([k.node_discrete_a(0.0, 1.0, p, m) for p, m in zip(self.gamma_plus, self.gamma_minus)])
        cw_a = np.array([k.node_discrete_w_par(1.0, 0.0, p, m) for p, m in zip(self.gamma_plus, self.gamma_minus)])
        cw_w = np.array([k.node_discrete_w_par(0.0, 1.0, p, m) for p, m in zip(self.gamma_plus, self.gamma_minus)])
        expand = (slice(None),) + (None,) * a0.ndim
        return (ca_a[expand] * a0 + ca_w[expand] * w0, cw_a[expand] * a0 + cw_w[expand] * w0)

    def node_flow(self, a0, w0_par):
        """(a, w_par) under the continuous flow at the times of ``gamma``."""
        a0, w0 = _node_inputs(a0, w0_par)
        expand = (slice(None),) + (None,) * a0.ndim
        gamma = self.gamma[expand]
        return (np.vectorize(self.kernels.node_flow_a)(a0, w0, gamma),
                np.vectorize(self.kernels.node_flow_w_par)(a0, w0, gamma))

    def table(self, every: int | None = None) -> str:
        """A plain-text table of the main quantities."""
        every = max(1, len(self.t) // 20) if every is None else check_int("every", every, 1)
        rows = [f"{'t':>8} {'gamma+':>10} {'gamma-':>10} {'gamma':>10} {'kappa':>11} {'x*':>10} {'f_unsat':>9}"]
        idx = sorted(set(range(0, len(self.t), every)) | {len(self.t) - 1})
        for i in idx:
            rows.append(f"{self.t[i]:>8d} {self.gamma_plus[i]:>10.5f} {self.gamma_minus[i]:>10.5f} "
                        f"{self.gamma[i]:>10.5f} {self.kappa[i]:>11.5g} {self.x_star[i]:>10.5g} {self.f_unsat[i]:>9.5f}")
        return "\n".join(rows)


def _resolve_variant(setup: Setup, variant: Variant | None) -> Variant:
    """The variant to predict with: ``variant`` checked against ``setup``, or the one ``setup`` names."""
    if not isinstance(setup, Setup):
        raise ValueError(f"setup must be a mftheory.Setup, got {type(setup).__name__}")
    if setup.spectral_decoupling:
        raise ValueError("spectral_decoupling > 0 is derived for data='features' only (mftheory.features); got "
                         f"spectral_decoupling={setup.spectral_decoupling} with data={setup.as_dict()['data']!r}")
    if variant is None:
        return variant_of(setup)
    if not isinstance(variant, Variant):
        raise ValueError(f"variant must be a mftheory.Variant (from mftheory.compile_derivation or "
                         f"mftheory.variant_of), got {type(variant).__name__}")
    variant.check_setup(setup)
    return variant


def meanfield(setup: Setup, steps: int, substeps: int = 8, variant: Variant | None = None,
              tabulate: bool = True) -> MeanFieldSolution:
    """Solve the mean-field dynamics of ``setup`` over GD steps 0..steps.

    The kernels are those of the model ``setup`` names (:func:`mftheory.variant_of`: committed for the
    built-ins, derived and compiled on first use for a user's own activation or loss). ``variant`` passes an
    already compiled one (:func:`mftheory.compile_derivation`); it must be the model ``setup`` names.
    ``substeps`` RK4 steps per GD step integrate the flow. ``tabulate``: where the rate g(kappa) or the unsatisfied
    fraction is a quadrature, evaluate it from a piecewise Chebyshev table in kappa built once
    (:mod:`mftheory.kappa_tables`: within 1e-13 of the largest (1 + kappa)^2 |g| on each panel) rather than by the
    quadrature at every evaluation (``False``: the quadrature throughout).
    Raises ValueError if beta g reaches 1 (the exact discrete map is undefined there: lower eta).

    With ``data="features"`` the solution is a :class:`mftheory.features.FeatureSolution` (one slope per feature,
    ``kappa_features``).
    """
    if not isinstance(tabulate, (bool, np.bool_)):
        raise ValueError(f"tabulate must be True or False, got {tabulate!r}")
    if isinstance(setup, Setup) and setup.data == "features":
        from mftheory.features import meanfield_features

        if variant is not None:
            raise ValueError("variant is not used with data='features' (its kernels are derivations/features.py's)")
        return meanfield_features(setup, steps)
    variant = _resolve_variant(setup, variant)
    steps = check_int("steps", steps, 0)
    substeps = check_int("substeps", substeps, 1)
    check_memory(_BYTES_PER_STEP * (steps + 1.0), f"meanfield over steps = {steps}", "lower steps")
    k = variant.kernels
    slope = variant.odd_slope(setup.leak)
    n = int(steps) + 1
    gp, gm, kap, g = (np.zeros(n) for _ in range(4))
    d = float(setup.d)
    table = kappa_table(k, "rate", d, setup.h, setup.label_noise, slope) if tabulate else no_table()
    filled = k.discrete_map(int(steps), setup.beta, setup.alpha, d, setup.h, setup.label_noise, setup.sigma_a,
                            setup.sigma_w, slope, gp, gm, kap, g, *table)
    if filled < n:
        raise ValueError(f"beta g = {setup.beta * g[filled - 1]:.3g} >= 1 at step {filled - 1}: the discrete map "
                         f"is undefined; eta must be smaller (beta = eta alpha / M = {setup.beta:.3g})")
    gamma = np.zeros(n)
    k.flow(int(steps), int(substeps), setup.beta, setup.alpha, d, setup.h, setup.label_noise, setup.sigma_a,
           setup.sigma_w, slope, gamma, *table)
    with np.errstate(divide="ignore"):
        x_star = setup.h / kap
    f_unsat = np.empty(n)
    k.fill_unsat_fraction(kap, d, setup.h, setup.label_noise, f_unsat,
                          *(kappa_table(k, "unsat", d, setup.h, setup.label_noise, slope) if tabulate else no_table()))
    sa, sw = setup.sigma_a, setup.sigma_w
    moments = np.empty((n, 5))
    k.fill_moments(gp, gm, sa, sw, moments)
    w2, da2, dw2 = moments[:, 1], moments[:, 3], moments[:, 4]
    perp2 = (d - 1) * sw**2  # w_perp does not move
    with np.errstate(all="ignore"):
        alignment = w2 / (w2 + perp2)
        relative_change = np.sqrt((da2 + dw2) / (sa**2 + d * sw**2))
    for name, values in (("kappa", kap), ("alignment", alignment), ("relative_change", relative_change)):
        if not np.all(np.isfinite(values)):
            bad = int(np.argmin(np.isfinite(values)))
            raise ValueError(f"{name} is not finite from step {bad} on: h = {setup.h:g}, sigma_a = {setup.sigma_a:g}, "
                             f"sigma_w = {setup.sigma_w:g}, alpha = {setup.alpha:g} lie outside the range where the "
                             f"solution can be represented in float64")
    return MeanFieldSolution(setup=setup, t=np.arange(n), gamma_plus=gp, gamma_minus=gm, gamma=gamma, kappa=kap,
                             x_star=x_star, f_unsat=f_unsat, g=g, alignment=alignment,
                             relative_change=relative_change, variant=variant)


@dataclasses.dataclass(frozen=True)
class LabelNoiseFixedPoint:
    """Where gamma stalls with label noise: ``x_star`` the threshold at which the drift vanishes, ``kappa`` =
    h / x_star, and ``method`` "closed form" or "root of the drift"."""

    x_star: float
    kappa: float
    method: str


def label_noise_fixed_point(setup: Setup, variant: Variant | None = None) -> LabelNoiseFixedPoint:
    """Where gamma stalls with label noise: the threshold x* at which the drift vanishes, and kappa = h/x*.

    Uses the derived closed form when there is one (hinge, Gaussian data), else a root of the drift kernel.
    """
    k = _resolve_variant(setup, variant).kernels
    if setup.label_noise <= 0:
        raise ValueError("label_noise must be > 0 for a fixed point (with eps = 0, gamma grows forever)")
    d, h, eps = float(setup.d), setup.h, setup.label_noise
    if getattr(k, "HAS_FIXED_POINT", False):
        x_fp = float(k.fixed_point_threshold(d, eps))
        method = "closed form"
    else:
        drift = lambda log_kappa: k.drift(math.exp(log_kappa), d, h, eps)
        lo, hi = -30.0, 30.0
        if drift(lo) * drift(hi) > 0:
            raise ValueError(f"no sign change of the drift for kappa in [e^{lo}, e^{hi}]: no fixed point found")
        x_fp = h / math.exp(brentq(drift, lo, hi, xtol=1e-14))
        method = "root of the drift"
    return LabelNoiseFixedPoint(x_star=x_fp, kappa=h / x_fp, method=method)


@dataclasses.dataclass(frozen=True)
class LabelNoiseExpansion:
    """First order in the mislabel fraction eps around the clean mean field (derivations/label_noise.py).

    ``kappa_clean`` is kappa_t at eps = 0 and ``dkappa_deps`` its derivative in eps along the exact discrete map,
    so ``kappa_first_order = kappa_clean + eps dkappa_deps`` (valid while eps |dkappa_deps| << kappa_clean, i.e.
    well before the fixed point). ``x_star_fixed_point`` and ``kappa_fixed_point`` are the fixed point to relative
    order eps (x* ~ sqrt(2 eps)(1 + 3 eps / 4) for Gaussian data)."""

    t: np.ndarray
    eps: float
    kappa_clean: np.ndarray
    dkappa_deps: np.ndarray
    kappa_first_order: np.ndarray
    x_star_fixed_point: float
    kappa_fixed_point: float


def label_noise_expansion(setup: Setup, steps: int, variant: Variant | None = None) -> LabelNoiseExpansion:
    """The slowdown of kappa_t by a small fraction ``setup.label_noise`` of flipped labels, to first order in eps,
    and the fixed point's small-eps series. Hinge loss only (the other losses have no sqrt(eps) fixed point)."""
    variant = _resolve_variant(setup, variant)
    k = variant.kernels
    if not getattr(k, "HAS_SMALL_NOISE", False):
        raise ValueError(f"loss must be 'hinge' for the small-eps expansion (derived for it only), got "
                         f"{variant.loss.name!r}")
    eps = setup.label_noise
    clean = meanfield(setup.replace(label_noise=0.0), steps, variant=variant)
    slope = variant.odd_slope(setup.leak)
    d, h, beta = float(setup.d), setup.h, setup.beta
    sens = np.zeros(len(clean.t))
    de_plus = de_minus = 0.0
    for i in range(len(clean.t)):
        e_plus, e_minus = math.expm1(clean.gamma_plus[i]), math.expm1(-clean.gamma_minus[i])
        dkappa = k.noise_dkappa(de_plus, de_minus, e_plus, e_minus, setup.alpha, d, setup.sigma_a, setup.sigma_w,
                                slope)
        sens[i] = dkappa
        kap = clean.kappa[i]
        # at kappa = 0 (t = 0) dg/dkappa -> 0 while dkappa = 0: only the explicit eps dependence acts
        dg = k.noise_dg_deps(kap, d, h, slope) + (k.noise_dg_dkappa(kap, d, h, slope) * dkappa if kap > 0 else 0.0)
        de_plus, de_minus = (k.noise_update_plus(de_plus, e_plus, clean.g[i], beta, dg),
                             k.noise_update_minus(de_minus, e_minus, clean.g[i], beta, dg))
    outside = np.flatnonzero(eps * np.abs(sens) > 0.5 * clean.kappa)
    if outside.size:
        warnings.warn(f"label_noise_expansion: the first-order correction exceeds half of kappa from step "
                      f"{int(clean.t[outside[0]])} on (eps = {eps:g}): the expansion in eps is outside its range there "
                      f"(use meanfield with label_noise for the exact map)", stacklevel=2)
    x_fp = float(k.threshold_series(d, eps)) if eps > 0 else math.inf
    kappa_fp = float(k.kappa_series(d, h, eps)) if eps > 0 else math.inf
    return LabelNoiseExpansion(t=clean.t, eps=eps, kappa_clean=clean.kappa, dkappa_deps=sens,
                               kappa_first_order=clean.kappa + eps * sens, x_star_fixed_point=x_fp,
                               kappa_fixed_point=kappa_fp)
