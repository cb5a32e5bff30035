"""The propagator of F's degree-2 part under the loss's feedback (:func:`degree2_propagator`): how a fluctuation
put in at one step is pulled back over the steps after it."""
from __future__ import annotations

import dataclasses

import numpy as np

from mftheory.dynamics import MeanFieldSolution
from mftheory.finite_size import _common
from mftheory.finite_size._common import _check_feedback_inputs, _node_moments, _threshold_density
from mftheory.kernels.binding import bind, kernel_template
from mftheory.model import _check_real, check_int


def _degree2_step_maps(solution, moments):
    """Per GD step i with F != 0: (i, the kernels' args, the frozen-init amplitude of F's degree-2 part on the
    rest's grid, its growth since the last step, and the hinge's pull-back of this step, None at the last
    step or where there is no threshold on the grid). A degree-2 part of F is carried from step to step as
    growth (elementwise), then pull: the matrix I - rates at^T, given as the pair (rates, at) (rank one: ``at``
    interpolates at the threshold, ``rates`` is what the feedback takes out per unit there)."""
    setup, k = solution.setup, solution.kernels
    fw = solution.variant.finite_width_kernels()
    grid = _common._REST_GRID
    G = grid.size
    d, M = float(setup.d), float(setup.M)
    n = len(solution.t)
    previous = None
    feedback_rates = bind(_feedback_rates, k.rest_feedback, fw.degree2_cross, fw.degree2_cross_a2)
    degree2_second = bind(_kernel_at, fw.degree2_second)
    for i in range(n):
        a2, w2, aw = moments[i, :3]
        if not aw > 0:   # t = 0: F = 0, no threshold yet
            continue
        args = (a2, w2, aw, setup.alpha, M, d, setup.sigma_w, setup.slope)
        frozen = np.sqrt(degree2_second(grid, args))
        # what the feedback took out (and what the sample put in) grows with the nodes as the fluctuation does
        growth = np.ones(G) if previous is None else np.divide(frozen, previous, out=np.ones(G), where=previous > 0)
        previous = frozen
        x_star, kappa = float(solution.x_star[i]), float(solution.kappa[i])
        pull = None
        if i + 1 < n and kappa > 0 and x_star < grid[-1]:
            e_u_prime = _threshold_density(solution, i, kappa, d, setup.h)
            at_threshold = _interpolation_weights(x_star, grid)
            rates = feedback_rates(grid, x_star, e_u_prime, setup.beta, d, setup.sigma_w, args)
            pull = (rates, at_threshold)
        yield i, args, frozen, growth, pull


@dataclasses.dataclass(frozen=True)
class Degree2Propagator:
    """What is left of a degree-2 part of F along x_perp (for example the change one GD step on one example makes
    there) ``t`` steps after it was put in at step ``start`` from a source at |x_par| = ``source``:
    ``retention`` (len(t), G), its amplitude at each of ``x_par`` relative to its amplitude there when it was put
    in; the hinge's pull-back and the nodes' growth, as :func:`rest_feedback` carries F's degree-2 parts.
    ``growth_only`` (len(t), G): the same without the pull-back (what is left when no example changes its hinge
    status because of the deposit)."""

    start: int
    source: float
    t: np.ndarray
    x_par: np.ndarray
    retention: np.ndarray
    growth_only: np.ndarray


def degree2_propagator(solution: MeanFieldSolution, start: int, source: float = 0.0) -> Degree2Propagator:
    """The propagator of a degree-2 part of F along x_perp under the hinge's feedback, from a deposit at step
    ``start`` (the kernel's degree-2 part from a source at |x_par| = ``source``) to the end of ``solution``.
    Hinge loss, Gaussian data, clean labels."""
    setup, _ = _check_feedback_inputs(solution, None, "fixed", "the degree-2 propagator")
    n = len(solution.t)
    start = check_int("start", start, 1)
    if start > n - 2:
        raise ValueError(f"start must be a step of the solution before its last, 1 to {n - 2}, got {start}")
    source = _check_real("source (an |x_par|)", source, 0.0, float(_common._REST_GRID[-1]))
    fw = solution.variant.finite_width_kernels()
    if not getattr(fw, "HAS_DEGREE2", False):
        raise ValueError(f"the degree-2 propagator needs the degree-2 derivation, which the activation "
                         f"{solution.variant.activation.name!r} does not have")
    moments = _node_moments(solution)
    deposit = response = grown = None
    out, out_grown = [], []
    ratio = lambda part: np.divide(part, deposit, out=np.zeros_like(part), where=deposit != 0)
    for i, args, _frozen, growth, pull in _degree2_step_maps(solution, moments):
        if response is not None:
            response, grown = response * growth, grown * growth
            out.append(ratio(response))
            out_grown.append(ratio(grown))
            if pull is not None:
                rates, at = pull
                response = response - rates * (at @ response)
        if i == start:   # put in after this step's pull, as the sample's parts are
            k = solution.kernels
            deposit = _degree2_kernel_matrix(fw.degree2_cross, fw.degree2_cross_a2, k.degree2_kernel, _common._REST_GRID,
                                             np.array([source]), float(setup.d), setup.sigma_w, args)[:, 0]
            response, grown = deposit.copy(), deposit.copy()
            out.append(np.ones_like(deposit))
            out_grown.append(np.ones_like(deposit))
    if deposit is None:
        raise ValueError(f"start = {start}: F is still 0 there (no threshold yet); choose a later step")
    return Degree2Propagator(start=start, source=source, t=np.arange(len(out)), x_par=_common._REST_GRID.copy(),
                             retention=np.array(out), growth_only=np.array(out_grown))


def _interpolation_weights(x, grid):
    """(G,): w with w @ values = np.interp(x, grid, values) for any values on ``grid`` (x inside it)."""
    weights = np.zeros(grid.size)
    j = min(int(np.searchsorted(grid, x, side="right")) - 1, grid.size - 2)
    width = grid[j + 1] - grid[j]
    weights[j] = (-1.0 / width) * (x - grid[j]) + 1.0       # np.interp's own arithmetic on a unit vector
    weights[j + 1] = (1.0 / width) * (x - grid[j])
    return weights


@kernel_template(1)
def _kernel_at(kernel, xs, args):
    """kernel(x, *args) at each of xs (args: the finite-width kernels' eight parameters)."""
    a2, w2, aw, alpha, M, d, sw, s = args
    out = np.empty(xs.shape[0])
    for i in range(xs.shape[0]):
        out[i] = kernel(xs[i], a2, w2, aw, alpha, M, d, sw, s)
    return out


@kernel_template(3)
def _feedback_rates(rest_feedback, cross, cross_a2, xs, x_star, e_u_prime, beta, d, sigma_w, args):
    """The per-step pull-back of F's degree-2 part at each of xs per unit of it at the threshold x_star."""
    a2, w2, aw, alpha, M, _, sw, s = args
    out = np.empty(xs.shape[0])
    for i in range(xs.shape[0]):
        out[i] = rest_feedback(e_u_prime, beta, alpha, cross(xs[i], x_star, a2, w2, aw, alpha, M, d, sw, s),
                               cross_a2(xs[i], x_star, a2, w2, aw, alpha, M, d, sw, s), d, sigma_w)
    return out


@kernel_template(3)
def _degree2_kernel_matrix(cross, cross_a2, kernel, xs, ys, d, sigma_w, args):
    """lambda(x, y) for x in xs, y in ys: the kernel's degree-2 part from the node averages."""
    a2, w2, aw, alpha, M, _, sw, s = args
    out = np.empty((xs.shape[0], ys.shape[0]))
    for i in range(xs.shape[0]):
        for j in range(ys.shape[0]):
            out[i, j] = kernel(cross(xs[i], ys[j], a2, w2, aw, alpha, M, d, sw, s),
                               cross_a2(xs[i], ys[j], a2, w2, aw, alpha, M, d, sw, s), d, sigma_w)
    return out
