"""Theory of the focal loss: focal-entropy, minimisers, inverse maps (numpy).

The readable numpy form of the focal loss and of its population version,
the exact minimisers of the expected loss and their closed-form inverses
(the score recalibration of a focal-loss detector). The fused torch kernel
computes the same per-term formula, with its gradient, in
:func:`focal_det.losses.kernel._binary_focal` (soft targets:
``_soft_focal``); the paper form the kernel is tested against is
:func:`focal_det.losses.reference.focal_terms`. The class-balanced focal
loss reuses the inverse map with an effective alpha per class
(:mod:`focal_det.theory.class_balanced`).

The focal loss ``-(1 - q)**gamma log q`` is to the focal-entropy what the log
loss is to the cross-entropy. For a data distribution ``p`` on K classes and
a prediction ``q`` on the same simplex::

    FE_gamma(p, q) = sum_i p_i f(q_i),     f(q) = -(1 - q)**gamma log q.

The expected loss of a classifier trained with the focal loss is minimised by
``q*(p, gamma) = argmin_q FE_gamma(p, q)``; unlike the cross-entropy
(``gamma = 0``, ``q* = p``) this minimiser is not ``p``. It amplifies
mid-range probabilities, suppresses high ones and, when the mass of ``p``
sits on many mid-range classes, over-suppresses the very small ones. This
module computes ``q*`` exactly and inverts the map in closed form, so that
scores of a focal-loss-trained model can be mapped back to the distribution
they estimate.

Derivation (simplex)
--------------------
``f'(q) = gamma (1 - q)**(gamma - 1) log q - (1 - q)**gamma / q < 0`` on
(0, 1). Write ``phi = -f' > 0``::

    phi(q) = (1 - q)**(gamma - 1) * D(q) / q,   D(q) = (1 - q) - gamma q log q.

``f`` is strictly convex for every ``gamma >= 0``: with ``t = (1 - q) / q``,
``f''(q) = (1 - q)**(gamma - 2) [t**2 + 2 gamma t - gamma (gamma - 1) log q]``
where ``-gamma (gamma - 1) log q = gamma (gamma - 1) log(1 + t)`` is
``>= 0`` for ``gamma >= 1`` and ``>= -gamma (1 - gamma) t`` for
``gamma < 1`` (``log(1 + t) <= t``), so the bracket is at least
``t**2 + gamma min(2, 1 + gamma) t > 0``.
Hence ``phi`` decreases strictly from ``phi(0+) = +inf`` to ``phi(1) = 0``
(``gamma > 0``; it is 1 for ``gamma = 0``). The Lagrangian
``FE + lambda (sum q - 1)`` is stationary where ``p_i f'(q_i) + lambda = 0``::

    p_i phi(q_i) = lambda    =>    q_i = phi^{-1}(lambda / p_i),

one multiplier ``lambda > 0`` for all coordinates; ``q_i`` increases with
``p_i``. ``S(lambda) = sum_i q_i`` decreases strictly, so exactly one
``lambda`` gives ``S = 1``: the minimiser exists and is unique (convexity
makes the stationary point the global minimum). Classes with ``p_i = 0`` get
``q_i = 0``: they do not enter ``FE``, so any mass on them is wasted.

Inverse (simplex). The stationarity condition read backwards gives ``p`` in
closed form, normalised to sum 1::

    p_i = lambda / phi(q_i) ∝ h(q_i),  h(q) = q (1 - q)**(1 - gamma) / D(q).

Which coordinates grow: with the *focal tilt* ``psi(p) = p phi(p)``,
``q*_i > p_i  <=>  phi(p_i) > phi(q*_i) = lambda / p_i  <=>  psi(p_i) >
lambda``. ``psi(0+) = 1``, ``psi(1) = 0`` and, for ``gamma > 0``, ``psi``
rises above 1 on small-to-mid ``p`` before falling to 0 (``gamma = 2``: max
about 1.23 near ``p = 0.1``, back to 1 near ``p = 0.30``). Since ``q*`` sums
to 1, ``min_i psi(p_i) <= lambda <= max_i psi(p_i)``. Consequences:

* high probabilities (``psi(p_i) < min(1, lambda)``) are suppressed;
* mid-range probabilities with ``psi(p_i) > lambda`` are amplified;
* the tail: ``q*_i / p_i -> 1 / lambda`` as ``p_i -> 0`` (``phi(q) ~ 1/q``).
  When one class dominates, ``lambda < 1`` and tiny probabilities are
  amplified: ``gamma = 2``, ``p = [0.98, 0.0199, 1e-4]`` has
  ``lambda = 0.123`` and ``q* = [0.810, 0.190, 8.2e-4]``. When the head
  mass is spread over several mid-range classes (no class above the point
  where ``psi`` falls back to 1, 0.30 for ``gamma = 2``), ``lambda > 1``
  and every tiny probability is pushed *further down*: the over-suppression
  regime. ``gamma = 2``: ``K`` classes at ``(1 - 1e-4) / K`` plus one at
  ``1e-4`` give ``q*_tail / p_tail = 1.07, 0.93, 0.87, 0.82`` for
  ``K = 3, 4, 5, 10`` (``lambda = 0.93, 1.08, 1.16, 1.22``); Zipf
  ``p_k ∝ 1/k`` on 100 classes gives ``lambda = 1.12``, head amplified
  (x1.03), ranks 9-100 suppressed, the last to x0.91. Exactly:
  ``lambda > 1  <=>  sum_i phi^{-1}(1 / p_i) > 1``, and larger ``gamma``
  deepens it (same Zipf: tail x0.97, 0.94, 0.91, 0.89, 0.87 for
  ``gamma = 0.5, 1, 2, 3, 5``).

Derivation (per-class sigmoid, as in detectors)
-----------------------------------------------
For a Bernoulli target ``p`` and a score ``q``, with weight ``alpha`` on the
positive term::

    SFE(p, q) = -alpha p (1 - q)**gamma log q
                - (1 - alpha)(1 - p) q**gamma log(1 - q).

The negative term is ``f(1 - q)`` and ``d/dq f(1 - q) = phi(1 - q)``, so::

    dSFE/dq = -alpha p phi(q) + (1 - alpha)(1 - p) phi(1 - q).

The first term increases strictly in ``q`` (``phi`` decreases), the second
as well (``phi(1 - q)`` increases): ``SFE`` is strictly convex with one
root ``q*(p; gamma, alpha)``. Solving the root for ``p``::

    p = (1 - alpha) A(q) / ((1 - alpha) A(q) + alpha B(q)),
    A(q) = phi(1 - q) = q**gamma / (1 - q) - gamma q**(gamma - 1) log(1 - q),
    B(q) = phi(q)     = (1 - q)**gamma / q - gamma (1 - q)**(gamma - 1) log q.

``alpha = None`` (no weighting) is the same map as ``alpha = 1/2``.
Monotonicity: ``A`` increases strictly and ``B`` decreases strictly on
(0, 1) for every ``gamma >= 0``, so the log-odds
``log((1 - alpha)/alpha) + log A(q) - log B(q)`` increase strictly; the map
preserves the per-class ranking of detector scores in exact arithmetic, with
no exceptional regime. In floating point the *probability* saturates where
its odds leave double range: near ``q = 1``,
``1 - p ~ alpha (1 + gamma)(1 - q)**(gamma + 1) / (1 - alpha)`` rounds to 0
(e.g. ``gamma = 5``, ``alpha = 0.25``: every ``q > 0.99803`` maps to
``p = 1.0``), and near 0 ``p ~ (1 - alpha)(1 + gamma) q**(gamma + 1) /
alpha`` underflows. Ties then appear but no order is reversed;
:func:`inverse_sigmoid_minimiser_log_odds` returns the strictly increasing
log-odds for ranking without ties.

Numerics: all maps are evaluated through ``log phi`` written with
``log q``, ``log(1 - q)`` (``log1p``) and ``D > 0`` (a sum of two
non-negative terms, no cancellation). The minimisers solve in the logit
``u = log(q / (1 - q))``, where ``log phi`` is close to linear, with
bracketed Newton iterations (a bisection step whenever Newton leaves the
bracket) for a fixed maximum number of vectorised iterations.
"""
from typing import Callable, Tuple, Union

import numpy as np

# alpha of the sigmoid forms: None (no weighting), a float, or an array that
# broadcasts with the probabilities (one alpha per class, e.g. the effective
# alphas of a class-balanced focal loss).
Alpha = Union[None, float, np.ndarray]

# Logit bracket of the solvers. exp(-745) is below the smallest double, so
# coordinates that small are 0 in the output; 1 - q < exp(-700) rounds q to
# 1 while exp(-700) is still a normal double, keeping log D accurate there.
_U_MIN, _U_MAX = -745.0, 700.0
# Accepted deviation of a row of q from sum 1 in the simplex inverse (float32
# softmax outputs pass); the map is not scale invariant so q must be on the
# simplex.
_SIMPLEX_SUM_ATOL = 1e-5
_MAX_ITERATIONS = 200


def _softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + exp(x)) without overflow."""
    return np.logaddexp(0.0, x)


def _check_gamma(gamma: float) -> float:
    gamma = float(gamma)
    if not np.isfinite(gamma) or gamma < 0:
        raise ValueError(f'gamma must be finite and >= 0, got {gamma}')
    return gamma


def _check_alpha(alpha: Alpha) -> Union[None, np.ndarray]:
    if alpha is None:
        return None
    alpha = np.asarray(alpha, dtype=np.float64)
    if not np.all((alpha > 0) & (alpha < 1)):
        raise ValueError(f'alpha must lie in (0, 1) or be None, got {alpha}')
    return alpha


def _log_alpha_ratio(alpha: Alpha) -> Union[float, np.ndarray]:
    """log((1 - alpha) / alpha); 0 for alpha=None (both terms weight 1)."""
    alpha = _check_alpha(alpha)
    if alpha is None:
        return 0.0
    return np.log1p(-alpha) - np.log(alpha)


def _as_probability(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if not np.all((x >= 0) & (x <= 1)):
        raise ValueError(f'{name} must lie in [0, 1] (NaN is not allowed)')
    return x


def _log_phi(log_q: np.ndarray, log_1mq: np.ndarray,
             gamma: float) -> np.ndarray:
    """log phi(q), phi = -f', from log q and log(1 - q) (q in (0, 1)).

    phi(q) = (1 - q)**(gamma - 1) D(q) / q with D = (1 - q) - gamma q log q;
    both terms of D are >= 0, so log D has no cancellation.
    """
    d = np.exp(log_1mq) - gamma * np.exp(log_q) * log_q
    return (gamma - 1.0) * log_1mq + np.log(d) - log_q


def _log_phi_of_logit(u: np.ndarray,
                      gamma: float) -> Tuple[np.ndarray, np.ndarray]:
    """log phi(sigmoid(u)) and its derivative with respect to u.

    d log phi / du = (phi'/phi) q (1 - q) = -f'' q (1 - q) / phi
                   = -[(1 - q)**2 + 2 gamma q (1 - q)
                       - gamma (gamma - 1) q**2 log q] / D(q),
    which is < 0 (strict convexity of f) and bounded: log phi is close to
    linear in u (slope -1 as q -> 0, -gamma as q -> 1), so Newton in u
    converges in a few steps.
    """
    log_q, log_1mq = -_softplus(-u), -_softplus(u)
    q, one_minus_q = np.exp(log_q), np.exp(log_1mq)
    d = one_minus_q - gamma * q * log_q
    log_phi = (gamma - 1.0) * log_1mq + np.log(d) - log_q
    curvature = (one_minus_q**2 + 2.0 * gamma * q * one_minus_q -
                 gamma * (gamma - 1.0) * q * q * log_q)
    return log_phi, -curvature / d


def _solve_increasing(residual: Callable[[np.ndarray], Tuple[np.ndarray,
                                                             np.ndarray]],
                      x0: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                      xtol: float, rtol: float) -> np.ndarray:
    """Elementwise root of a strictly increasing function on [lower, upper].

    Safeguarded Newton: each evaluation shrinks the bracket to the side of
    the root, a Newton step outside the (closed) bracket is replaced by the
    bracket midpoint, so every element converges at least as fast as
    bisection. A root beyond the bracket converges to its end (used for
    coordinates that under- or overflow float64).

    Args:
        residual: maps x (shape S) to (r(x), r'(x)), both shape S.
        x0, lower, upper: starting points and bracket, broadcastable to S.
        xtol: absolute step size at which an element counts as converged.
        rtol: residual size at which an element counts as converged (its
            evaluated point is kept): near the root, rounding noise in r
            divided by r' would otherwise send Newton around the bracket.

    Returns:
        The roots, shape S.
    """
    lower, upper, x0 = np.broadcast_arrays(lower, upper, x0)
    lower, upper = lower.copy(), upper.copy()
    x = np.clip(x0, lower, upper)
    for _ in range(_MAX_ITERATIONS):
        r, slope = residual(x)
        lower = np.where(r < 0, x, lower)
        upper = np.where(r > 0, x, upper)
        with np.errstate(divide='ignore', invalid='ignore'):
            newton = x - r / slope
        # Closed bracket: a Newton step that rounds onto an end is a
        # converged step, not a reason to jump back to the midpoint.
        in_bracket = (newton >= lower) & (newton <= upper)
        solved = np.abs(r) <= rtol
        x_next = np.where(solved, x,
                          np.where(in_bracket, newton, 0.5 * (lower + upper)))
        converged = solved | (np.abs(x_next - x) <= xtol)
        x = x_next
        if converged.all():
            return x
    raise RuntimeError('focal-entropy root finding did not converge in '
                       f'{_MAX_ITERATIONS} iterations')


def _largest_entry_mask(x: np.ndarray) -> np.ndarray:
    """Boolean mask of the (first) largest entry of each row of x."""
    largest = np.argmax(x, axis=-1)[..., None]
    return np.arange(x.shape[-1]) == largest


def _simplex_logs(x: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """log x_i and log(1 - x_i) for rows x on the simplex, both accurate.

    When the largest entry rounds to (or near) 1, e.g. ``[1 - 1e-96, 1e-96]``
    is ``[1.0, 1e-96]`` in float64, ``1 - x_max`` cancels and
    ``log x_max = 0`` drops the ``-1e-96`` that ``D = (1 - x) - gamma x log x``
    needs; both come instead from the sum of the other entries,
    ``1 - x_max = sum_{i != max} x_i``. The other entries are <= 1/2, so
    ``1 - x_i`` is exact to rounding there. Zero entries give ``log x = -inf``
    and a vertex ``log(1 - x_max) = -inf``; callers mask them.
    """
    is_largest = _largest_entry_mask(x)
    others = np.where(is_largest, 0.0, x).sum(axis=-1, keepdims=True)
    with np.errstate(divide='ignore'):
        log_x = np.where(is_largest, np.log1p(-others), np.log(x))
        log_1mx = np.log(np.where(is_largest, others, 1.0 - x))
    return log_x, log_1mx


def focal_entropy(p, q, gamma: float) -> np.ndarray:
    """Focal-entropy ``FE(p, q) = -sum_i p_i (1 - q_i)**gamma log q_i``.

    ``gamma = 0`` is the cross-entropy. Terms with ``p_i = 0`` count 0 (also
    where ``q_i = 0``); ``p_i > 0`` with ``q_i = 0`` gives ``+inf``.

    Args:
        p: data distributions, shape [..., K].
        q: predicted distributions, shape broadcastable with ``p``.
        gamma: focusing parameter, >= 0.

    Returns:
        FE over the last axis, shape [...] (the broadcast leading shape).
    """
    gamma = _check_gamma(gamma)
    p = _as_probability(p, 'p')
    q = _as_probability(q, 'q')
    with np.errstate(divide='ignore', invalid='ignore'):
        terms = -p * (1.0 - q)**gamma * np.log(q)
    return np.where(p > 0, terms, 0.0).sum(axis=-1)


def sigmoid_focal_entropy(p, q, gamma: float,
                          alpha: Alpha = None) -> np.ndarray:
    """Per-class binary focal-entropy, the population form of sigmoid FL.

    ``SFE(p, q) = -alpha p (1 - q)**gamma log q
    - (1 - alpha)(1 - p) q**gamma log(1 - q)``, elementwise. ``alpha=None``
    weights both terms 1. A term whose target weight (``p`` or ``1 - p``) is
    0 counts 0.

    Args:
        p: Bernoulli target probabilities, any shape.
        q: predicted probabilities, broadcastable with ``p``.
        gamma: focusing parameter, >= 0.
        alpha: weight of the positive term in (0, 1): a float, an array
            broadcastable with the probabilities (e.g. one per class), or
            None for no weighting.

    Returns:
        SFE, the broadcast shape of ``p``, ``q`` and ``alpha``.
    """
    gamma = _check_gamma(gamma)
    alpha = _check_alpha(alpha)
    weight_pos = 1.0 if alpha is None else alpha
    weight_neg = 1.0 if alpha is None else 1.0 - alpha
    p = _as_probability(p, 'p')
    q = _as_probability(q, 'q')
    with np.errstate(divide='ignore', invalid='ignore'):
        positive = -weight_pos * p * (1.0 - q)**gamma * np.log(q)
        negative = -weight_neg * (1.0 - p) * q**gamma * np.log1p(-q)
    return np.where(p > 0, positive, 0.0) + np.where(p < 1, negative, 0.0)


def focal_tilt(p, gamma: float) -> np.ndarray:
    """Focal tilt ``psi(p) = p phi(p) = (1 - p)**(gamma - 1) D(p)``.

    ``D(p) = (1 - p) - gamma p log p``. It decides the direction of the
    distortion: ``q*_i > p_i`` iff ``psi(p_i) > lambda`` (the multiplier of
    :func:`simplex_minimiser`). ``psi(0) = 1``; ``psi(1) = 0`` for
    ``gamma > 0``; ``psi = 1`` everywhere for ``gamma = 0``.

    Args:
        p: probabilities in [0, 1], any shape.
        gamma: focusing parameter, >= 0.

    Returns:
        psi(p), same shape.
    """
    gamma = _check_gamma(gamma)
    p = _as_probability(p, 'p')
    if gamma == 0:
        return np.ones_like(p)
    interior = (p > 0) & (p < 1)
    p_safe = np.where(interior, p, 0.5)
    log_p = np.log(p_safe)
    log_tilt = log_p + _log_phi(log_p, np.log1p(-p_safe), gamma)
    return np.where(interior, np.exp(log_tilt), np.where(p == 0, 1.0, 0.0))


def simplex_minimiser(p, gamma: float, return_multiplier: bool = False):
    """Exact minimiser ``q* = argmin_{q in simplex} FE_gamma(p, q)``.

    Solves ``p_i phi(q_i) = lambda`` (see the module docstring):
    ``q_i(lambda) = phi^{-1}(lambda / p_i)`` is found by safeguarded Newton in
    the logit of ``q_i``, and ``log lambda`` by safeguarded Newton on
    ``sum_i q_i(lambda) = 1`` inside the bracket
    ``[min_i log psi(p_i), max_i log psi(p_i)]`` (positive ``p_i``), with
    ``d sum q / d log lambda = sum_i q_i (1 - q_i) / (d log phi/du)(u_i)``.
    The constraint is solved as ``log(1 - q_m) = log sum_{i != m} q_i`` for
    the largest class ``m``, which stays exact when ``q_m`` rounds to 1.
    Coordinates come out with relative error ~1e-12 and rows sum to 1 to
    rounding (final renormalisation of a sum already within ~1e-12),
    far inside 1e-10.

    ``p_i = 0`` gives ``q*_i = 0``; a single positive class gives the one-hot
    ``q* = p``; ``gamma = 0`` returns ``p`` exactly (``lambda = 1``).

    Args:
        p: data distributions, shape [..., K]; non-negative rows with
            positive sum. Rows are normalised first (``q*`` is invariant to
            the scale of ``p``).
        gamma: focusing parameter, >= 0.
        return_multiplier: also return ``lambda`` (the tail ratio
            ``lim_{p_i -> 0} q*_i / p_i`` is ``1 / lambda``).

    Returns:
        ``q*``, shape [..., K]; with ``return_multiplier`` the pair
        ``(q*, lambda)``, lambda of shape [...] (NaN for one-hot rows, where
        the constraint is active at a vertex and no finite multiplier
        balances it).
    """
    gamma = _check_gamma(gamma)
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 0:
        raise ValueError('p must have a class axis (shape [..., K])')
    total = p.sum(axis=-1, keepdims=True)
    if not (np.all(p >= 0) and np.all(np.isfinite(total)) and
            np.all(total > 0)):
        raise ValueError('each row of p must be finite, non-negative, with '
                         'a positive sum')
    p = p / total
    if gamma == 0:
        q = p.copy()
        return (q, np.ones(p.shape[:-1])) if return_multiplier else q
    if p.shape[-1] == 1:
        q = np.ones_like(p)
        return (q, np.full(p.shape[:-1], np.nan)) if return_multiplier else q

    positive = p > 0
    one_hot = positive.sum(axis=-1, keepdims=True) == 1
    active = positive & ~one_hot
    # Zero classes (excluded from the sums) and one-hot rows (overwritten at
    # the end) get placeholders that keep every intermediate finite.
    log_p, log_1mp = _simplex_logs(p)
    log_p = np.where(active, log_p, np.log(0.5))
    log_1mp = np.where(active, log_1mp, np.log(0.5))
    log_tilt = log_p + _log_phi(log_p, log_1mp, gamma)
    log_lambda_lo = np.where(active, log_tilt, np.inf).min(-1, keepdims=True)
    log_lambda_hi = np.where(active, log_tilt, -np.inf).max(-1, keepdims=True)
    log_lambda_lo = np.where(one_hot, 0.0, log_lambda_lo)
    log_lambda_hi = np.where(one_hot, 0.0, log_lambda_hi)
    logit_p = log_p - log_1mp
    # The constraint sum q = 1 is imposed as 1 - q_m = sum_{i != m} q_i for
    # the largest class m, in logs: both sides keep their relative precision
    # when q_m rounds to 1 and the other classes are 1e-300.
    dominant = _largest_entry_mask(p)
    others = ~dominant & (active | one_hot)

    def coordinates(log_lambda):
        """Logits u_i with log phi(u_i) = log lambda - log p_i."""
        log_ratio = log_lambda - log_p

        def residual(u):
            log_phi, slope = _log_phi_of_logit(u, gamma)
            return log_ratio - log_phi, -slope

        return _solve_increasing(residual, logit_p, _U_MIN, _U_MAX,
                                 xtol=1e-12, rtol=1e-12)

    def mass_balance(log_lambda):
        """log(1 - q_m) - log(sum_{i != m} q_i): increasing in log lambda
        (every q_i decreases), zero at the solution. du_i/dlog lambda is
        1 / slope_i, so its derivative is
        -q_m / slope_m - sum_{i != m} w_i (1 - q_i) / slope_i with w the
        shares of the classes in sum_{i != m} q_i."""
        u = coordinates(log_lambda)
        _, slope = _log_phi_of_logit(u, gamma)
        log_q = np.where(others, -_softplus(-u), -np.inf)
        log_q_max = log_q.max(-1, keepdims=True)
        shares = np.exp(log_q - log_q_max)
        log_others = log_q_max + np.log(shares.sum(-1, keepdims=True))
        shares /= shares.sum(-1, keepdims=True)
        u_m = np.where(dominant, u, 0.0).sum(-1, keepdims=True)
        slope_m = np.where(dominant, slope, 0.0).sum(-1, keepdims=True)
        q_m = np.exp(-_softplus(-u_m))
        q_others = np.exp(log_q)
        balance = -_softplus(u_m) - log_others
        balance_slope = -q_m / slope_m - (shares * (1.0 - q_others) /
                                          slope).sum(-1, keepdims=True)
        return balance, balance_slope

    log_lambda = _solve_increasing(mass_balance,
                                   0.5 * (log_lambda_lo + log_lambda_hi),
                                   log_lambda_lo, log_lambda_hi, xtol=1e-13,
                                   rtol=1e-12)
    q = np.where(active, np.exp(-_softplus(-coordinates(log_lambda))), 0.0)
    # One-hot rows have no active class: they take p itself.
    mass = np.where(one_hot, 1.0, q.sum(-1, keepdims=True))
    q = np.where(one_hot, p, q / mass)
    if not return_multiplier:
        return q
    multiplier = np.where(one_hot, np.nan, np.exp(log_lambda))[..., 0]
    return q, multiplier


def sigmoid_minimiser(p, gamma: float,
                      alpha: Alpha = None) -> np.ndarray:
    """Exact minimiser ``q* = argmin_q SFE(p, q)`` of the sigmoid form.

    Root of ``alpha p phi(q) = (1 - alpha)(1 - p) phi(1 - q)``, i.e. of
    ``log A(q) - log B(q) = logit(p) - log((1 - alpha) / alpha)``, whose
    left side increases strictly in the logit ``u`` of ``q`` (see the module
    docstring); solved by safeguarded Newton in ``u`` to 1e-12, so ``q`` is
    exact to ~1e-13. ``p = 0`` or 1 gives ``q* = p``; ``gamma = 0`` gives
    ``q* = alpha p / (alpha p + (1 - alpha)(1 - p))`` (``p`` for
    ``alpha=None``).

    Args:
        p: Bernoulli target probabilities in [0, 1], any shape.
        gamma: focusing parameter, >= 0.
        alpha: weight of the positive term in (0, 1): a float, an array
            broadcastable with the probabilities (e.g. one per class), or
            None for no weighting.

    Returns:
        ``q*``, the broadcast shape of ``p`` and ``alpha``.
    """
    gamma = _check_gamma(gamma)
    log_alpha_ratio = _log_alpha_ratio(alpha)
    p = _as_probability(p, 'p')
    interior = (p > 0) & (p < 1)
    p_safe = np.where(interior, p, 0.5)
    target = np.log(p_safe) - np.log1p(-p_safe) - log_alpha_ratio

    def residual(u):
        log_a, slope_a = _log_phi_of_logit(-u, gamma)
        log_b, slope_b = _log_phi_of_logit(u, gamma)
        return log_a - log_b - target, -slope_a - slope_b

    u = _solve_increasing(residual, target, _U_MIN, _U_MAX, xtol=1e-12,
                          rtol=1e-12)
    return np.where(interior, np.exp(-_softplus(-u)), p)


def inverse_sigmoid_minimiser_log_odds(q, gamma: float,
                                       alpha: Alpha = None
                                       ) -> np.ndarray:
    """Log-odds of the ``p`` whose sigmoid minimiser is ``q`` (closed form).

    ``log(p / (1 - p)) = log((1 - alpha) / alpha) + log A(q) - log B(q)``
    with ``A(q) = phi(1 - q)`` and ``B(q) = phi(q)`` (module docstring). It is
    strictly increasing in ``q`` and, unlike the probability, does not
    saturate in float64 for ``q`` in (0, 1): the form to rank with.

    Args:
        q: minimiser values (e.g. detector scores) in [0, 1], any shape.
        gamma: focusing parameter, >= 0.
        alpha: weight of the positive term in (0, 1): a float, an array
            broadcastable with the probabilities (e.g. one per class), or
            None for no weighting.

    Returns:
        Log-odds of ``p``, the broadcast shape of ``q`` and ``alpha``;
        ``-inf`` at ``q = 0``, ``+inf`` at 1.
    """
    gamma = _check_gamma(gamma)
    log_alpha_ratio = _log_alpha_ratio(alpha)
    q = _as_probability(q, 'q')
    interior = (q > 0) & (q < 1)
    q_safe = np.where(interior, q, 0.5)
    log_q, log_1mq = np.log(q_safe), np.log1p(-q_safe)
    log_odds = (log_alpha_ratio + _log_phi(log_1mq, log_q, gamma) -
                _log_phi(log_q, log_1mq, gamma))
    return np.where(interior, log_odds, np.where(q == 0, -np.inf, np.inf))


def inverse_sigmoid_minimiser(q, gamma: float,
                              alpha: Alpha = None) -> np.ndarray:
    """The ``p`` whose sigmoid minimiser is ``q``, in closed form.

    ``p = (1 - alpha) A(q) / ((1 - alpha) A(q) + alpha B(q))`` with
    ``A(q) = q**gamma / (1 - q) - gamma q**(gamma - 1) log(1 - q)`` and
    ``B(q) = (1 - q)**gamma / q - gamma (1 - q)**(gamma - 1) log q``,
    evaluated as the logistic function of
    :func:`inverse_sigmoid_minimiser_log_odds`. Inverse of
    :func:`sigmoid_minimiser`; strictly increasing in ``q``, so it keeps the
    per-class ranking of scores. In float64 it saturates to exactly 1 (0)
    where ``1 - p`` (``p``) leaves double range, e.g. ``q > 0.99803`` for
    ``gamma = 5, alpha = 0.25``: ties, never a reversed order.

    Args:
        q, gamma, alpha: As for :func:`inverse_sigmoid_minimiser_log_odds`.

    Returns:
        ``p``, the broadcast shape of ``q`` and ``alpha``; ``q = 0`` and 1
        map to 0 and 1.
    """
    return logistic(inverse_sigmoid_minimiser_log_odds(q, gamma, alpha))


def logistic(log_odds) -> np.ndarray:
    """Probability from log-odds, written so that neither branch overflows."""
    log_odds = np.asarray(log_odds, dtype=np.float64)
    exp_neg_abs = np.exp(-np.abs(log_odds))
    return np.where(log_odds >= 0, 1.0 / (1.0 + exp_neg_abs),
                    exp_neg_abs / (1.0 + exp_neg_abs))


def inverse_simplex_minimiser(q, gamma: float) -> np.ndarray:
    """The ``p`` whose simplex minimiser is ``q``, in closed form.

    From ``p_i phi(q_i) = lambda``: ``p_i ∝ 1 / phi(q_i) = h(q_i)`` with
    ``h(q) = q (1 - q)**(1 - gamma) / ((1 - q) - gamma q log q)``, normalised
    over the last axis (in log space, so tiny ``h`` do not underflow the
    normalisation). ``q_i = 0`` gives ``p_i = 0``; a one-hot ``q`` is its
    own preimage; ``gamma = 0`` gives ``p = q``. Inverse of
    :func:`simplex_minimiser`; ``p_i`` increases with ``q_i`` within a row.

    Args:
        q: minimisers (e.g. softmax outputs), shape [..., K], entries in
            [0, 1], rows summing to 1 within 1e-5.
        gamma: focusing parameter, >= 0.

    Returns:
        ``p``, shape [..., K], rows summing to 1.
    """
    gamma = _check_gamma(gamma)
    q = _as_probability(q, 'q')
    if q.ndim == 0:
        raise ValueError('q must have a class axis (shape [..., K])')
    if not np.all(np.abs(q.sum(axis=-1) - 1.0) <= _SIMPLEX_SUM_ATOL):
        raise ValueError('each row of q must sum to 1 (within '
                         f'{_SIMPLEX_SUM_ATOL}); the inverse map is not '
                         'scale invariant')
    log_q, log_1mq = _simplex_logs(q)
    interior = np.isfinite(log_q) & np.isfinite(log_1mq)
    log_q = np.where(interior, log_q, np.log(0.5))
    log_1mq = np.where(interior, log_1mq, np.log(0.5))
    log_h = np.where(interior, -_log_phi(log_q, log_1mq, gamma), -np.inf)
    # A row whose other entries are all 0 is the one-hot vertex, its own
    # preimage (h is infinite there).
    vertex = ~interior.any(axis=-1, keepdims=True)
    log_h = np.where(vertex, 0.0, log_h)
    log_h_max = log_h.max(axis=-1, keepdims=True)
    weights = np.exp(log_h - log_h_max)
    p = weights / weights.sum(axis=-1, keepdims=True)
    return np.where(vertex, (q > 0).astype(np.float64), p)
