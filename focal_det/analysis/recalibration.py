r"""Map the scores of a focal-family detector back to probabilities.

A sigmoid classifier trained with a focal-family loss does not estimate
``p = P(class | anchor)``: its expected loss is minimised by a distorted
``q*(p)`` (:mod:`focal_det.analysis.focal_entropy`). Because ``q*`` is
strictly increasing, its inverse maps a score ``q`` back to the ``p`` it
stands for without changing the per-class ranking. This module applies the
inverse in log-odds, which is strictly increasing and never saturates:

* focal loss (``SigmoidFocalLoss``), gamma and alpha:
  :func:`~focal_det.analysis.focal_entropy.inverse_sigmoid_minimiser_log_odds`;
* class-balanced focal loss: the positives of class ``c`` carry the class
  weight ``w_c``; its negatives are nearly all background rows, which
  carry 1. That is an effective alpha per class,
  ``alpha_c = alpha w_c / (alpha w_c + 1 - alpha)``;
* dual focal loss, ``u(d) = -log(1 - d**gamma)`` for both classes: the
  expected loss ``p u(1 - q) + (1 - p) u(q)`` is stationary where
  ``p / (1 - p) = u'(q) / u'(1 - q)``, with
  ``log u'(d) = log gamma + (gamma - 1) log d - log(1 - d**gamma)``; the
  normaliser at ``d = 1/2`` does not move the minimiser. The log-odds
  ``(gamma - 1) logit(q) - log(1 - q**gamma) + log(1 - (1 - q)**gamma)``
  increase strictly in ``q`` for ``gamma >= 1`` (each term does); for
  ``gamma < 1`` monotonicity is checked numerically by the tests on a grid.

The numpy functions need numpy only (deployment runtimes use them);
:func:`recalibrate_logits` and :func:`install_score_recalibration` are the
torch/mmdet side.
"""
from typing import Dict, Optional, Sequence

import numpy as np

from .focal_entropy import inverse_sigmoid_minimiser_log_odds, logistic

RECALIBRATION_KINDS = ('focal', 'dual_focal')


def inverse_dual_focal_log_odds(q, gamma: float) -> np.ndarray:
    """Log-odds of the ``p`` whose dual-focal minimiser is ``q``.

    Args:
        q: scores in [0, 1], any shape.
        gamma (float): DFL focusing parameter, > 0.

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


def recalibrated_log_odds(scores, params: Dict) -> np.ndarray:
    """Recalibrated log-odds of class scores.

    Args:
        scores: Sigmoid scores with classes on the last axis, shape (..., C).
        params (dict): From :func:`recalibration_params`: ``kind``,
            ``gamma`` and, for ``'focal'``, ``alpha`` (C values or None).

    Returns:
        np.ndarray: Log-odds of the recalibrated probabilities, (..., C).
    """
    kind, gamma = params['kind'], float(params['gamma'])
    if kind == 'dual_focal':
        return inverse_dual_focal_log_odds(scores, gamma)
    if kind != 'focal':
        raise ValueError(f'recalibration kind must be one of '
                         f'{RECALIBRATION_KINDS}, got {kind!r}')
    alpha = params.get('alpha')
    return inverse_sigmoid_minimiser_log_odds(
        scores, gamma, None if alpha is None else np.asarray(alpha))


def recalibration_params(loss_module, num_classes: int) -> Dict:
    """What the inverse map needs from a trained loss module.

    Args:
        loss_module: A ``SigmoidFocalLoss``, ``ClassBalancedFocalLoss`` or
            ``DualFocalLoss`` (mmdet's ``FocalLoss`` also works).
        num_classes (int): C.

    Returns:
        dict: ``kind`` ('focal' / 'dual_focal'), ``gamma`` (float) and
        ``alpha`` (list of C floats, or None when the loss has no alpha).
    """
    name = type(loss_module).__name__
    if name == 'DualFocalLoss':
        return dict(kind='dual_focal', gamma=loss_module.gamma, alpha=None)
    if not hasattr(loss_module, 'gamma') or not hasattr(loss_module, 'alpha'):
        raise ValueError(f'score recalibration needs a sigmoid focal-family '
                         f'loss, got {name}')
    alpha: Optional[Sequence[float]] = loss_module.alpha
    if alpha is None and not hasattr(loss_module, 'class_weights'):
        return dict(kind='focal', gamma=float(loss_module.gamma), alpha=None)
    alpha = [0.5 if alpha is None else float(alpha)] * num_classes
    if hasattr(loss_module, 'class_weights'):
        weights = loss_module.class_weights(num_classes, 'cpu')[:-1].tolist()
        alpha = [a * w / (a * w + 1 - a) for a, w in zip(alpha, weights)]
    return dict(kind='focal', gamma=float(loss_module.gamma), alpha=alpha)


def recalibrate_logits(logits, params: Dict, class_axis: int = -1):
    """Logits whose sigmoid is the recalibrated probability (torch).

    Args:
        logits (Tensor): Class logits with C classes along ``class_axis``
            (a dense head's (B, A * C, H, W) maps: see
            :func:`install_score_recalibration`).
        params (dict): From :func:`recalibration_params`.
        class_axis (int): Axis of the classes.

    Returns:
        Tensor: Same shape, dtype and device as ``logits``.
    """
    import torch
    moved = logits.detach().movedim(class_axis, -1)
    scores = torch.sigmoid(moved.double()).cpu().numpy()
    log_odds = recalibrated_log_odds(scores, params)
    out = torch.from_numpy(log_odds).to(device=logits.device,
                                        dtype=logits.dtype)
    return out.movedim(-1, class_axis)


def install_score_recalibration(model) -> bool:
    """Recalibrate a dense head's scores before NMS and top-k, if enabled.

    Enabled by ``model.test_cfg.recalibrate_scores=True`` (default off).
    Wraps ``bbox_head.predict_by_feat`` so that each level's class logits
    (B, A * C, H, W) are replaced by recalibrated logits; thresholds, top-k
    and NMS then act on the recalibrated probabilities. Idempotent.

    Returns:
        bool: Whether recalibration is active.
    """
    head = model.bbox_head
    if not (head.test_cfg or {}).get('recalibrate_scores', False):
        return False
    if getattr(head, '_focal_det_recalibration', None) is not None:
        return True
    num_classes = head.cls_out_channels
    params = recalibration_params(head.loss_cls, num_classes)
    predict_by_feat = head.predict_by_feat

    def recalibrated_predict_by_feat(cls_scores, *args, **kwargs):
        recalibrated = []
        for level in cls_scores:
            batch, channels, height, width = level.shape
            # channels are anchor-major: (A, C)
            per_class = level.reshape(batch, channels // num_classes,
                                      num_classes, height, width)
            recalibrated.append(
                recalibrate_logits(per_class, params, class_axis=2).reshape(
                    level.shape))
        return predict_by_feat(recalibrated, *args, **kwargs)

    head.predict_by_feat = recalibrated_predict_by_feat
    head._focal_det_recalibration = params
    return True


__all__ = [
    'inverse_dual_focal_log_odds', 'recalibrated_log_odds',
    'recalibration_params', 'recalibrate_logits',
    'install_score_recalibration', 'logistic'
]
