"""The focal-entropy inverse map with gamma and alpha fitted to the data.

The theory (:mod:`focal_det.theory.focal`) says a focal-loss detector at the
population minimiser reports ``q = q*(p; gamma, alpha)``, and
:func:`~focal_det.theory.focal.inverse_sigmoid_minimiser_log_odds` maps a
score back to ``p``. ``model.test_cfg.score_calibration='loss'`` uses the
loss's own gamma and alpha (:mod:`.loss_inverse`, where the calibrator
lives); here the same family has its two parameters chosen by the data:
the pair that minimises the log-loss of the mapped scores against the
detections' outcomes (a grid, then L-BFGS-B inside the bounds).
One pair for all classes: it is the theory's claim that one pair explains
every class. The map is strictly increasing for every gamma >= 0 and alpha.
"""
from typing import Any, Optional, Tuple

import numpy as np

from ..theory.focal import inverse_sigmoid_minimiser_log_odds
from .base import SCORE_EPS
from .loss_inverse import FocalEntropyCalibrator

GAMMA_BOUNDS = (0.0, 8.0)
ALPHA_BOUNDS = (0.01, 0.99)
_GAMMA_GRID = np.linspace(0.0, 6.0, 13)
_ALPHA_GRID = np.linspace(0.05, 0.95, 19)


def _log_loss(scores: np.ndarray, outcomes: np.ndarray, gamma: float,
              alpha: float) -> float:
    """Mean log-loss of the mapped scores."""
    z = inverse_sigmoid_minimiser_log_odds(scores, gamma, alpha)
    return float(np.mean(np.logaddexp(0.0, z) - outcomes * z))


def fit_focal_entropy_parameters(scores, outcomes) -> Tuple[float, float]:
    """The ``(gamma, alpha)`` whose inverse map fits the outcomes best.

    Args:
        scores: ``(n,)`` detection scores.
        outcomes: ``(n,)`` 1 for a true positive, 0 otherwise.

    Returns:
        tuple: ``(gamma, alpha)`` within :data:`GAMMA_BOUNDS` and
        :data:`ALPHA_BOUNDS`; ``(0, 0.5)`` (the identity) without data.
    """
    scores = np.clip(np.asarray(scores, dtype=np.float64), SCORE_EPS,
                     1.0 - SCORE_EPS)
    outcomes = np.asarray(outcomes, dtype=np.float64)
    if len(scores) == 0:
        return 0.0, 0.5
    # scipy only here: applying a calibrator needs numpy alone (runtime).
    from scipy.optimize import minimize
    grid = [(_log_loss(scores, outcomes, g, a), g, a) for g in _GAMMA_GRID
            for a in _ALPHA_GRID]
    _, gamma, alpha = min(grid)
    result = minimize(lambda t: _log_loss(scores, outcomes, t[0], t[1]),
                      x0=[gamma, alpha], method='L-BFGS-B',
                      bounds=[GAMMA_BOUNDS, ALPHA_BOUNDS])
    if result.fun <= _log_loss(scores, outcomes, gamma, alpha):
        gamma, alpha = (float(v) for v in result.x)
    return float(gamma), float(alpha)


def fit_focal_entropy(scores, labels, outcomes, num_classes: int,
                      class_buckets: Optional[Any] = None
                      ) -> FocalEntropyCalibrator:
    """Fit gamma and alpha of the focal-entropy inverse map (one pair).

    Args:
        scores, labels, outcomes: ``(n,)`` detections; labels are unused
            (one pair for all classes), kept for the common signature.
        num_classes (int): Number of classes.
        class_buckets: Unused, for the common signature.

    Returns:
        FocalEntropyCalibrator: The fitted map.
    """
    gamma, alpha = fit_focal_entropy_parameters(scores, outcomes)
    return FocalEntropyCalibrator(num_classes, gamma, alpha)
