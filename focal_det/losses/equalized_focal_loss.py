r"""Equalized Focal Loss (Li et al., CVPR 2022) on the fused kernel.

Per class ``j`` the focal term gets its own focusing parameter and weight

.. math::
    \gamma_j = \gamma_b + s\,(1 - g_j), \qquad
    \ell_j = -\alpha_t \frac{\gamma_j}{\gamma_b} (1 - p_t)^{\gamma_j}
        \log p_t,

where :math:`g_j \in [0, 1]` is the ratio of the accumulated magnitudes of
the gradient the loss sends to class ``j``'s logits from its positive and
from its negative terms, clamped to [0, 1]. A rare class, whose positives
are swamped by negatives, has a small :math:`g_j`, so a larger focusing
parameter (easy negatives are down-weighted harder) and a larger weight;
a class with balanced gradients gets the plain focal loss. As in the paper,
:math:`\gamma_j` and the weight are constants for the gradient.

The reference implementation collects the gradients with a backward hook
on the classification conv. Here the fused kernel already computes the
gradient of the loss with respect to the logits in its forward pass; it
sums ``|dloss/dx|`` per class over positive and negative terms in the same
pass (fp32, float64 accumulators). Each training call adds its sums, summed
over processes when training is distributed, to the buffer
``gradient_sums`` (2, C): row 0 positive, row 1 negative. The buffer is
saved in checkpoints, so ``--resume`` continues with the same statistics.
Before any statistics exist :math:`g_j = 1` (the reference initialises the
ratio to one), so training starts as the focal loss.

The statistics are those of the loss as returned (its sum, with
``avg_factor`` and ``loss_weight``), which is what backward receives when
the detector sums its losses; like the reference they are updated in
training mode only.
"""
from typing import Dict, Optional

import torch
from mmdet.registry import MODELS
from mmengine.dist import all_reduce
from torch import Tensor

from ..validation import check_range
from .base import FocalFamilyLoss

# The reference's guard against a class without negative gradient.
_RATIO_EPS = 1e-10


def equalized_gamma(gradient_sums: Tensor, gamma_b: float,
                    scale_factor: float) -> Tensor:
    """Per-class focusing parameters from accumulated gradient sums.

    Args:
        gradient_sums (Tensor): (2, C) sums of |dloss/dlogit|, positive
            terms in row 0, negative terms in row 1.
        gamma_b (float): Base focusing parameter.
        scale_factor (float): ``s``, the largest addition to ``gamma_b``.

    Returns:
        Tensor: (C,) ``gamma_b + s (1 - g)`` with ``g = clamp(pos / neg,
        0, 1)``, and ``g = 1`` for a class without statistics yet.
    """
    positive, negative = gradient_sums[0], gradient_sums[1]
    ratio = (positive / (negative + _RATIO_EPS)).clamp(0.0, 1.0)
    seen = (positive + negative) > 0
    ratio = torch.where(seen, ratio, torch.ones_like(ratio))
    return gamma_b + scale_factor * (1.0 - ratio)


@MODELS.register_module()
class EqualizedFocalLoss(FocalFamilyLoss):
    """Equalized focal loss: per-class gamma from gradient statistics.

    Args:
        gamma (float): Base focusing parameter ``gamma_b`` > 0 (paper: 2).
        scale_factor (float): ``s`` >= 0 (paper: 8); 0 is the focal loss.
        alpha (float, optional): Positive/negative balance (paper: 0.25).
        use_sigmoid (bool): Must be True.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplies the loss.
    """

    def __init__(self,
                 gamma: float = 2.0,
                 scale_factor: float = 8.0,
                 alpha: Optional[float] = 0.25,
                 use_sigmoid: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(use_sigmoid, reduction, loss_weight)
        self.gamma = check_range(self._name, 'gamma', gamma, 0.0,
                                 low_open=True)
        self.scale_factor = check_range(self._name, 'scale_factor',
                                        scale_factor, 0.0)
        self.alpha = None if alpha is None else check_range(
            self._name, 'alpha', alpha, 0.0, 1.0)
        # Sized on the first call (the config does not know C) or by a
        # checkpoint, whatever its C.
        self.register_buffer('gradient_sums',
                             torch.zeros(2, 0, dtype=torch.float64))
        self._register_load_state_dict_pre_hook(self._resize_statistics)
        self._pending: Optional[Tensor] = None
        self._class_gamma: Optional[Tensor] = None

    def class_gamma(self) -> Tensor:
        """The per-class focusing parameters now, (C,) float64."""
        return equalized_gamma(self.gradient_sums, self.gamma,
                               self.scale_factor)

    def _prepare(self, num_classes: int, device) -> None:
        if self.gradient_sums.shape[1] == 0:
            self.gradient_sums = torch.zeros(2, num_classes,
                                             dtype=torch.float64,
                                             device=device)
        elif self.gradient_sums.shape[1] != num_classes:
            raise ValueError(
                f'{self._name}: its gradient statistics are for '
                f'{self.gradient_sums.shape[1]} classes but the head predicts '
                f'{num_classes}')
        self._class_gamma = self.class_gamma().to(device)

    def gamma_tensor(self) -> Tensor:
        return self._class_gamma

    def class_term_weights(self, num_classes: int,
                           logits: Tensor) -> Optional[Tensor]:
        return self._class_gamma / self.gamma

    def gradient_statistics(self) -> Optional[Tensor]:
        return self._pending

    def forward(self, cls_score: Tensor, target: Tensor, *args,
                **kwargs) -> Tensor:
        """Compute the loss; arguments as in :class:`FocalFamilyLoss`.

        In training mode, with gradients enabled, the call also adds its
        per-class gradient sums (over all processes) to ``gradient_sums``.
        """
        self._prepare(cls_score.shape[-1], cls_score.device)
        collect = (self.training and torch.is_grad_enabled()
                   and cls_score.requires_grad)
        self._pending = torch.zeros_like(
            self.gradient_sums) if collect else None
        try:
            loss = super().forward(cls_score, target, *args, **kwargs)
            if collect:
                all_reduce(self._pending, op='sum')
                self.gradient_sums += self._pending
        finally:
            self._pending = None
        return loss

    def logged_parameters(self) -> Dict[str, float]:
        if self.gradient_sums.shape[1] == 0:
            return {}
        gamma = self.class_gamma()
        return dict(efl_gamma_mean=float(gamma.mean()),
                    efl_gamma_max=float(gamma.max()))

    def _resize_statistics(self, state_dict, prefix, *args) -> None:
        key = prefix + 'gradient_sums'
        if key in state_dict:
            self.gradient_sums = torch.empty_like(
                state_dict[key], device=self.gradient_sums.device)

    def extra_repr(self) -> str:
        return (f'gamma={self.gamma}, scale_factor={self.scale_factor}, '
                f'alpha={self.alpha}, classes={self.gradient_sums.shape[1]}')
