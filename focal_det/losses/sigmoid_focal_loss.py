"""Sigmoid focal loss, a fused drop-in for mmdet's ``FocalLoss``."""
from typing import Optional

import torch
from mmdet.registry import MODELS
from torch import Tensor

from ..calibration.loss_inverse import FocalEntropyCalibrator
from ..validation import check_range
from .base import FocalFamilyLoss


@MODELS.register_module()
class SigmoidFocalLoss(FocalFamilyLoss):
    r"""Sigmoid focal loss (Lin et al., ICCV 2017).

    Per class, with :math:`p = \sigma(x)` and a target :math:`y \in [0, 1]`:

    .. math::
        \ell = -\alpha_t (1 - p_t)^\gamma \log p_t

    where :math:`p_t = p` for :math:`y = 1` and :math:`1 - p` for
    :math:`y = 0`, :math:`\alpha_t = \alpha y + (1 - \alpha)(1 - y)`. Soft
    targets follow mmdet's form: :math:`(1 - p_t) = (1 - p) y + p (1 - y)`
    times the binary cross-entropy. Numerically equal to mmdet's
    ``FocalLoss`` (weights, ``avg_factor`` and reductions included), computed
    by the fused kernel without a one-hot target.

    Args:
        gamma (float): Focusing parameter, >= 0.
        alpha (float, optional): Positive/negative balance in [0, 1];
            ``None`` disables it.
        use_sigmoid (bool): Must be True.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplies the loss.
    """

    def __init__(self,
                 gamma: float = 2.0,
                 alpha: Optional[float] = 0.25,
                 use_sigmoid: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(use_sigmoid, reduction, loss_weight)
        self.gamma = check_range(self._name, 'gamma', gamma, 0.0)
        self.alpha = None if alpha is None else check_range(
            self._name, 'alpha', alpha, 0.0, 1.0)

    def gamma_tensor(self) -> Tensor:
        return torch.tensor(self.gamma, dtype=torch.float64)

    def inverse_calibrator(self, num_classes: int) -> FocalEntropyCalibrator:
        """The inverse of this loss's population minimiser, as a score
        calibrator (``model.test_cfg.score_calibration='loss'``; the
        formula is in :mod:`focal_det.theory.focal`).

        Args:
            num_classes (int): C.

        Returns:
            FocalEntropyCalibrator: The loss's gamma and alpha (0.5 for a
            loss without alpha weighting, which is the same map).

        Raises:
            ValueError: alpha is 0 or 1, which has no inverse.
        """
        return FocalEntropyCalibrator(
            num_classes, self.gamma, 0.5 if self.alpha is None else self.alpha)
