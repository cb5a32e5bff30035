"""The mean-field loop of the K-feature law: the sum over presence patterns, nested quadrature over each pattern's
half-normal variables, and the node law's (K + 1) x (K + 1) covariance carried step by step.

Hand-written part of every K-feature kernel module (``derivations/many_features_codegen.py``, one per loss): the
generator copies the text below the marker line verbatim after the printed kernels. Above it, the imports make this
a module that linters and tests can load; they are not copied.
"""
import math

import numpy as np

from mftheory.kernels._jit import jit

# the generated kernels and constants these loops use: the generated module defines them
from mftheory.kernels.generated.manyfeatures_hinge import (
    _CUT,
    _FLOOR,
    _GL_NODES,
    _GL_WEIGHTS,
    _SPLIT,
    inner_mass,
    inner_pull,
    inner_weight,
    own_moment,
    pair_moment,
)

# ---- generated module body: everything below this line is copied into the module ----
_HALF_NORMAL = 2.0 / math.sqrt(2.0 * math.pi)


@jit
def pattern_averages(slopes, h, drifts):
    """Over one pattern's half-normal variables |g_j| (margin sum_j slopes[j] |g_j|): fill ``drifts`` (m,) with
    E[|g_j| u] and return the mass P(margin < h). The last variable is integrated in closed form given the budget
    r that the others leave (its mass, its weight E[|g| u] and its pull E[u]); the others by nested
    Gauss-Legendre quadrature on [0, min(r_j / slopes[j], _CUT)], the region below the margin (the density beyond
    _CUT is negligible), the drift along an outer variable's feature as the average of |g_j| times the pull. What
    the deeper variables give varies over r on the scale of their smallest slope, so each range is split where the
    budget left falls below _SPLIT times that slope: the narrow panel next to the margin resolves the variation
    however much smaller that slope is."""
    m = slopes.shape[0]
    last = slopes[m - 1]
    finest = np.empty(m)      # the smallest slope among the variables deeper than each level
    smallest = last
    for level in range(m - 2, -1, -1):
        finest[level] = smallest
        smallest = min(smallest, slopes[level])
    n = _GL_NODES.shape[0]
    count = (2 * n) ** (m - 1)
    drifts[:] = 0.0
    mass = 0.0
    point = np.empty(m)
    for flat in range(count):
        budget = h
        weight = 1.0
        rest = flat
        for level in range(m - 1):
            node = rest % (2 * n)
            rest //= 2 * n
            top = min(budget / slopes[level], _CUT)
            split = max(top - _SPLIT * finest[level] / slopes[level], 0.5 * top)
            low, high = (0.0, split) if node < n else (split, top)
            half = 0.5 * (high - low)
            x = low + half * (_GL_NODES[node % n] + 1.0)
            weight *= half * _GL_WEIGHTS[node % n] * _HALF_NORMAL * math.exp(-0.5 * x * x)
            budget -= slopes[level] * x
            point[level] = x
        budget = max(budget, 0.0)
        mass += weight * inner_mass(budget, last)
        pulled = weight * inner_pull(budget, last)
        for level in range(m - 1):
            drifts[level] += point[level] * pulled
        drifts[m - 1] += weight * inner_weight(budget, last)
    return mass


@jit
def pattern_probabilities(p):
    """(2^K - 1,): the probability of each presence pattern, pattern index mask - 1 with bit k = feature k."""
    K = p.shape[0]
    empty = 1.0
    for k in range(K):
        empty *= 1.0 - p[k]
    out = np.empty(2**K - 1)
    for mask in range(1, 2**K):
        prob = 1.0
        for k in range(K):
            prob *= p[k] if (mask >> k) & 1 else 1.0 - p[k]
        out[mask - 1] = prob / (1.0 - empty)
    return out


@jit
def output_moments(mu, p):
    """(K, K): C_jk = E[x_j x_k] over the law (spectral decoupling's drift is -lambda sum_j C_kj kappa_j)."""
    K = p.shape[0]
    empty = 1.0
    for k in range(K):
        empty *= 1.0 - p[k]
    Z = 1.0 - empty
    C = np.empty((K, K))
    for j in range(K):
        for k in range(K):
            C[j, k] = own_moment(p[j], mu[j], Z) if j == k else pair_moment(p[j], p[k], mu[j], mu[k], Z)
    return C


@jit
def drift_and_unsat(kappa, mu, p, h, drift, unsat):
    """At F = sum_k kappa_k x_k: fill drift (K,) with G_k = E[u y x_k] and unsat (2^K,) with the unsatisfied
    fraction of each pattern (index mask - 1) and, last, of all examples."""
    K = kappa.shape[0]
    probs = pattern_probabilities(p)
    drift[:] = 0.0
    total = 0.0
    members = np.empty(K, np.int64)
    averages = np.empty(K)
    for mask in range(1, 2**K):
        m = 0
        for k in range(K):
            if (mask >> k) & 1:
                members[m] = k
                m += 1
        slopes = np.empty(m)
        for q in range(m):
            slopes[q] = max(kappa[members[q]] * mu[members[q]], _FLOOR)
        f = pattern_averages(slopes, h, averages[:m])
        unsat[mask - 1] = f
        total += probs[mask - 1] * f
        for q in range(m):
            k = members[q]
            drift[k] += probs[mask - 1] * mu[k] * averages[q]
    unsat[2**K - 1] = total


@jit
def meanfield_loop(steps, beta, alpha, d, c, sigma_a, sigma_w, mu, p, h, penalty, kappa, drifts, unsat, maps):
    """Iterate the node law's covariance of (a, w_1, ..., w_K) through ``steps`` GD steps; fill kappa (steps+1, K),
    drifts (steps+1, K), unsat (steps+1, 2^K) (:func:`drift_and_unsat`) and the one-step maps (steps, K+1, K+1) of
    a node. ``penalty``: lambda of spectral decoupling (0: none)."""
    K = mu.shape[0]
    moments = output_moments(mu, p)
    C = np.zeros((K + 1, K + 1))
    C[0, 0] = sigma_a * sigma_a
    for k in range(K):
        C[k + 1, k + 1] = sigma_w * sigma_w
    root_d = math.sqrt(d)
    G = np.empty(K)
    for t in range(steps + 1):
        for k in range(K):
            kappa[t, k] = alpha * c * C[0, k + 1] / root_d
        drift_and_unsat(kappa[t], mu, p, h, G, unsat[t])
        for k in range(K):
            for j in range(K):
                G[k] -= penalty * moments[k, j] * kappa[t, j]
            drifts[t, k] = G[k]
        if t == steps:
            break
        A = np.eye(K + 1)
        for k in range(K):
            A[0, k + 1] = A[k + 1, 0] = beta * c * G[k] / root_d
        maps[t] = A
        C = A @ C @ A.T
