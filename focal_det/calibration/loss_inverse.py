"""The inverse map of each loss's population minimiser, as a calibrator.

A sigmoid classifier trained with a focal-family loss reports, at the
minimiser of its expected loss, a distorted score ``q*(p)`` of the
probability ``p``; ``q*`` is strictly increasing, so its inverse maps a
score back to the ``p`` it stands for without changing any class's ranking.
Each loss's inverse is one of these calibrators, which the loss itself
builds with its trained parameters (``loss.inverse_calibrator(C)``), and
which ``model.test_cfg.score_calibration='loss'`` applies:

* ``SigmoidFocalLoss``: :class:`FocalEntropyCalibrator` with the loss's
  gamma and alpha; the formula is
  :func:`focal_det.theory.focal.inverse_sigmoid_minimiser_log_odds`;
* ``ClassBalancedFocalLoss``: the same with one effective alpha per class,
  :func:`focal_det.theory.class_balanced.effective_alpha` of the class
  weights;
* ``DualFocalLoss``: :class:`DualFocalCalibrator` with the loss's (learnt)
  gamma; the formula is
  :func:`focal_det.theory.dual_focal.inverse_dual_focal_log_odds`;
* ``EqualizedFocalLoss``: none (the method is missing: no inverse map).

The same focal-entropy family with gamma and alpha fitted to held-out
detections instead of taken from the loss is the ``focal_entropy`` method
of ``tools/calibrate.py`` (:mod:`.focal_entropy_fit`). Numpy only, like
every calibrator: the exported-model runtime applies them.
"""
from typing import Any, Dict, Sequence, Union

import numpy as np

from ..theory.dual_focal import inverse_dual_focal_log_odds
from ..theory.focal import inverse_sigmoid_minimiser_log_odds, logistic
from .base import SCORE_EPS, ScoreCalibrator, parameter_array, require


def _scores(logits: np.ndarray) -> np.ndarray:
    """Sigmoid scores of float64 logits, clipped away from 0 and 1 (where
    the inverse maps are infinite)."""
    return np.clip(logistic(logits), SCORE_EPS, 1.0 - SCORE_EPS)


class FocalEntropyCalibrator(ScoreCalibrator):
    """``p = inverse_sigmoid_minimiser(s, gamma, alpha_c)`` for class ``c``.

    Args:
        num_classes (int): Number of classes.
        gamma (float): Focusing parameter, >= 0.
        alpha (float or Sequence[float]): Positive-term weight in (0, 1):
            one for every class (a focal loss, or a fit), or one per class
            (the class-balanced focal loss's effective alpha). A loss without
            alpha weighting is ``alpha = 0.5``.
    """
    method = 'focal_entropy'

    def __init__(self, num_classes: int, gamma: float,
                 alpha: Union[float, Sequence[float]]) -> None:
        super().__init__(num_classes)
        gamma = parameter_array(self.method, 'gamma', gamma, ())
        require(self.method, 'gamma', gamma, gamma >= 0, '>= 0')
        per_class = np.ndim(alpha) > 0
        alpha = parameter_array(self.method, 'alpha', alpha,
                                (num_classes, ) if per_class else ())
        require(self.method, 'alpha', alpha, (alpha > 0) & (alpha < 1),
                'in (0, 1)')
        self.gamma = float(gamma)
        self.alpha = alpha if per_class else float(alpha)

    def _map_log_odds(self, logits, labels):
        alpha = self.alpha[labels] if np.ndim(self.alpha) else self.alpha
        return inverse_sigmoid_minimiser_log_odds(_scores(logits),
                                                  self.gamma, alpha)

    def params(self) -> Dict[str, Any]:
        alpha = self.alpha.tolist() if np.ndim(self.alpha) else self.alpha
        return dict(gamma=self.gamma, alpha=alpha)

    @classmethod
    def from_params(cls, num_classes, params):
        return cls(num_classes, params['gamma'], params['alpha'])


class DualFocalCalibrator(ScoreCalibrator):
    """The dual focal loss's inverse map, the same for every class.

    Args:
        num_classes (int): Number of classes.
        gamma (float): The loss's focusing parameter, > 0.
    """
    method = 'dual_focal'

    def __init__(self, num_classes: int, gamma: float) -> None:
        super().__init__(num_classes)
        gamma = parameter_array(self.method, 'gamma', gamma, ())
        require(self.method, 'gamma', gamma, gamma > 0, '> 0')
        self.gamma = float(gamma)

    def _map_log_odds(self, logits, labels):
        return inverse_dual_focal_log_odds(_scores(logits), self.gamma)

    def params(self) -> Dict[str, Any]:
        return dict(gamma=self.gamma)

    @classmethod
    def from_params(cls, num_classes, params):
        return cls(num_classes, params['gamma'])
