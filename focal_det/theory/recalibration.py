"""Map the scores of a focal-family detector back to probabilities (numpy).

A sigmoid classifier trained with a focal-family loss does not estimate
``p = P(class | anchor)``: its expected loss is minimised by a distorted
``q*(p)``. Because ``q*`` is strictly increasing, its inverse maps a score
``q`` back to the ``p`` it stands for without changing the per-class
ranking. The inverse is applied in log-odds, which never saturate. Each
loss owns its map:

* focal and class-balanced focal loss (``kind`` ``'fl'``):
  :func:`focal_det.theory.focal.inverse_sigmoid_minimiser_log_odds`, with
  one alpha per class (:mod:`focal_det.theory.class_balanced`);
* dual focal loss (``kind`` ``'dfl'``):
  :func:`focal_det.theory.dual_focal.inverse_dual_focal_log_odds`.

The parameters come from the trained loss module's
``recalibration_params(num_classes)``. This module needs numpy only: the
exported-model runtime uses it, and so does
:class:`focal_det.heads.RecalibratingRetinaHead` in mmdet.
"""
from typing import Dict

import numpy as np

from ..loss_names import DUAL_FOCAL_TERM, FOCAL_TERM, TERM_KINDS
from .dual_focal import inverse_dual_focal_log_odds
from .focal import inverse_sigmoid_minimiser_log_odds


def recalibrated_log_odds(scores, params: Dict) -> np.ndarray:
    """Recalibrated log-odds of class scores.

    Args:
        scores: Sigmoid scores with classes on the last axis, shape (..., C).
        params (dict): ``kind`` (``'fl'`` or ``'dfl'``,
            :data:`focal_det.loss_names.TERM_KINDS`), ``gamma`` and, for
            ``'fl'``, ``alpha`` (C values or None), as returned by a loss's
            ``recalibration_params``.

    Returns:
        np.ndarray: Log-odds of the recalibrated probabilities, (..., C).

    Raises:
        ValueError: ``kind`` is not one of the term kinds.
    """
    kind, gamma = params['kind'], float(params['gamma'])
    if kind == DUAL_FOCAL_TERM:
        return inverse_dual_focal_log_odds(scores, gamma)
    if kind != FOCAL_TERM:
        raise ValueError(f'recalibration kind must be one of {TERM_KINDS}, '
                         f'got {kind!r}')
    alpha = params.get('alpha')
    return inverse_sigmoid_minimiser_log_odds(
        scores, gamma, None if alpha is None else np.asarray(alpha))
