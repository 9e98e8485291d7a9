r"""Theory of the class-balanced focal loss: its effective alpha (numpy).

The class-balanced focal loss multiplies every term of a sample of class
``y`` by the class weight ``w_y`` (:mod:`focal_det.losses.class_balanced`
computes the weights). For the sigmoid of class ``c`` this re-weights its
positive term by ``w_c``; its negatives are nearly all background rows,
which carry weight 1. Only the ratio of the positive to the negative weight
moves the minimiser of the expected loss, so class ``c`` behaves as a focal
loss with the effective alpha::

    alpha_c = alpha w_c / (alpha w_c + (1 - alpha)),

and its scores are recalibrated by the focal loss's inverse map
(:func:`focal_det.theory.focal.inverse_sigmoid_minimiser_log_odds`) with
``alpha_c``. ``alpha = None`` (no alpha weighting) is ``alpha = 1/2``.
"""
from typing import Optional

import numpy as np


def effective_alpha(alpha: Optional[float], class_weights) -> np.ndarray:
    """Per-class alpha of a focal loss re-weighted by class weights.

    Args:
        alpha (float, optional): The loss's alpha in (0, 1); None for no
            alpha weighting.
        class_weights: Weight of each foreground class, shape (C,), > 0.

    Returns:
        np.ndarray: ``alpha_c``, shape (C,), in (0, 1).
    """
    alpha = 0.5 if alpha is None else float(alpha)
    weighted = alpha * np.asarray(class_weights, dtype=np.float64)
    return weighted / (weighted + 1.0 - alpha)
