"""Sigmoid focal loss, a fused drop-in for mmdet's ``FocalLoss``."""
from typing import Any, Dict, Optional

import torch
from mmdet.registry import MODELS
from torch import Tensor

from ..loss_names import FOCAL_TERM
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

    def recalibration_params(self, num_classes: int) -> Dict[str, Any]:
        """What the inverse of this loss's minimiser needs (score
        recalibration; :mod:`focal_det.theory.focal`).

        Args:
            num_classes (int): C.

        Returns:
            dict: ``kind`` (``'fl'``), ``gamma`` (float) and ``alpha`` (C
            floats, or None when the loss has no alpha).
        """
        alpha = None if self.alpha is None else [float(self.alpha)
                                                 ] * num_classes
        return dict(kind=FOCAL_TERM, gamma=float(self.gamma), alpha=alpha)
