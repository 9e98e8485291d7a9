r"""Theory of the dual focal loss: value, normaliser and inverse map (numpy).

Per class, with score ``q = sigmoid(x)``, target ``y`` and error
``d = |y - q|``, true and false classes go through the same function::

    u(d) = -log(1 - d**gamma),        loss(d) = u(d) / c(gamma),
    c(gamma) = u(1/2) = -log(1 - 2**-gamma).

Dividing by the value at the decision boundary ``d = 1/2`` is what makes a
learnable gamma well posed (the derivation is in
:mod:`focal_det.losses.dual_focal_loss`, which also holds the bounded
parametrisation of gamma). The fused torch kernel computes the same value
with its gradients in :mod:`focal_det.losses.kernel` (the dual focal term
``_binary_dual_focal`` / ``_soft_dual_focal`` and the normaliser
``dual_focal_boundary``); the paper form the kernel is tested against is
:func:`focal_det.losses.reference.dual_focal_terms`.

Inverse map (score recalibration). For a Bernoulli target ``p`` the
expected loss ``p u(1 - q) + (1 - p) u(q)`` is stationary where
``p / (1 - p) = u'(q) / u'(1 - q)``, with
``log u'(d) = log gamma + (gamma - 1) log d - log(1 - d**gamma)``; the
normaliser ``c(gamma)`` scales both sides and does not move the minimiser.
The log-odds ``(gamma - 1) logit(q) - log(1 - q**gamma) + log(1 - (1 -
q)**gamma)`` increase strictly in ``q`` for ``gamma >= 1`` (each term does);
for ``gamma < 1`` monotonicity is checked numerically by the tests on a
grid.
"""
import numpy as np


def boundary_normaliser(gamma) -> np.ndarray:
    """``c(gamma) = -log(1 - 2**-gamma)``, the unnormalised loss at d = 1/2.

    Args:
        gamma: Focusing parameter(s), > 0.

    Returns:
        np.ndarray: ``c(gamma)``, the shape of ``gamma``.
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    return -np.log(-np.expm1(-gamma * np.log(2.0)))


def dual_focal_loss(d, gamma: float) -> np.ndarray:
    """The dual focal loss of errors ``d``, normalised to 1 at ``d = 1/2``.

    Args:
        d: Errors ``|y - q|`` in [0, 1], any shape.
        gamma (float): Focusing parameter, > 0.

    Returns:
        np.ndarray: ``-log(1 - d**gamma) / c(gamma)``, the shape of ``d``;
        ``+inf`` at ``d = 1``.
    """
    d = np.asarray(d, dtype=np.float64)
    with np.errstate(divide='ignore'):
        return -np.log1p(-d**gamma) / boundary_normaliser(gamma)


def inverse_dual_focal_log_odds(q, gamma: float) -> np.ndarray:
    """Log-odds of the ``p`` whose dual-focal minimiser is ``q``.

    Args:
        q: Scores in [0, 1], any shape.
        gamma (float): Focusing parameter, > 0.

    Returns:
        np.ndarray: Log-odds, same shape; -inf at 0 and +inf at 1.
    """
    q = np.asarray(q, dtype=np.float64)
    interior = (q > 0) & (q < 1)
    q_safe = np.where(interior, q, 0.5)
    log_q, log_1mq = np.log(q_safe), np.log1p(-q_safe)
    log_odds = ((gamma - 1) * (log_q - log_1mq) -
                np.log(-np.expm1(gamma * log_q)) +
                np.log(-np.expm1(gamma * log_1mq)))
    return np.where(interior, log_odds, np.where(q == 0, -np.inf, np.inf))
