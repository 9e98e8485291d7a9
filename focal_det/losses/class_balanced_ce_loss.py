"""Class-balanced sigmoid and softmax cross-entropy (Cui et al., CVPR 2019).

Configs name ``ClassBalancedCrossEntropyLoss`` with ``use_sigmoid`` as they
do mmdet's ``CrossEntropyLoss``; the flag picks one of two classes:

* :class:`ClassBalancedSigmoidCrossEntropyLoss` (dense heads, C outputs):
  :math:`w_y \\sum_c \\mathrm{BCE}(x_c, y_c)`, the focal kernel with
  ``gamma = 0`` and no alpha;
* :class:`ClassBalancedSoftmaxCrossEntropyLoss` (two-stage heads, C + 1
  outputs, background last): :math:`-w_y \\log \\mathrm{softmax}(x)_y`.

``w_y`` is the class-balanced weight of the ground-truth class
(:mod:`focal_det.losses.class_balanced`); background gets 1.
"""
from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn

from .base import FocalFamilyLoss
from .class_balanced import ClassBalancing
from .utils import (check_loss_args, check_target, compute_dtype,
                    resolve_scale, split_weight)


@MODELS.register_module()
class ClassBalancedSigmoidCrossEntropyLoss(FocalFamilyLoss):
    """Class-balanced sigmoid cross-entropy for dense heads (C outputs).

    Args:
        beta (float): In [0, 1).
        class_counts (Sequence[int], optional): Instances per class.
        ann_file (str, optional): COCO/LVIS json to count them from.
        use_sigmoid (bool): Must be True.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplies the loss.
        **balancing: ``normalization`` and the strength ``schedule`` of
            :class:`~focal_det.losses.class_balanced.ClassBalancing`.
    """

    def __init__(self,
                 beta: float = 0.999,
                 class_counts: Optional[Sequence[int]] = None,
                 ann_file: Optional[str] = None,
                 use_sigmoid: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 **balancing) -> None:
        super().__init__(use_sigmoid, reduction, loss_weight)
        self.class_balancing = ClassBalancing(self._name, beta, class_counts,
                                              ann_file, **balancing)
        ClassBalancing.accept_legacy_counts(self)

    def gamma_tensor(self) -> Tensor:
        return torch.tensor(0.0, dtype=torch.float64)

    def row_weights(self, target: Tensor, num_classes: int,
                    logits: Tensor) -> Optional[Tensor]:
        return self.class_balancing.row_weights(target, num_classes,
                                                logits.device)

    def logged_parameters(self) -> Dict[str, float]:
        return self.class_balancing.schedule_log()


@MODELS.register_module()
class ClassBalancedSoftmaxCrossEntropyLoss(nn.Module):
    """Class-balanced softmax cross-entropy for two-stage heads (C + 1 outputs).

    Args:
        beta (float): In [0, 1).
        class_counts (Sequence[int], optional): Instances per foreground
            class (length C).
        ann_file (str, optional): COCO/LVIS json to count them from.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplies the loss.
        **balancing: ``normalization`` and the strength ``schedule`` of
            :class:`~focal_det.losses.class_balanced.ClassBalancing`.
    """

    use_sigmoid = False

    def __init__(self,
                 beta: float = 0.999,
                 class_counts: Optional[Sequence[int]] = None,
                 ann_file: Optional[str] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 **balancing) -> None:
        super().__init__()
        name = type(self).__name__
        self.loss_weight = check_loss_args(name, reduction, loss_weight)
        self.reduction = reduction
        self.class_balancing = ClassBalancing(name, beta, class_counts,
                                              ann_file, **balancing)
        ClassBalancing.accept_legacy_counts(self)

    def forward(self,
                cls_score: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            cls_score (Tensor): Logits (N, C + 1), background last.
            target (Tensor): Labels (N,) in [0, C] or class probabilities
                (N, C + 1).
            weight (Tensor, optional): Weight per sample, shape (N,).
            avg_factor (float, optional): Normaliser of the summed loss.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The loss, a scalar, or (N,) for ``reduction='none'``.
        """
        name = type(self).__name__
        reduction = reduction_override or self.reduction
        check_loss_args(name, reduction, self.loss_weight)
        num_classes = cls_score.shape[-1] - 1
        check_target(name, cls_score, target, num_classes)
        row_weight, elem_weight = split_weight(name, weight, cls_score)
        if elem_weight is not None:
            raise ValueError(f'{name}: the softmax form takes one weight per '
                             f'sample, shape ({len(cls_score)},)')
        logits = cls_score.to(compute_dtype(cls_score))
        loss = F.cross_entropy(
            logits,
            target.to(logits.dtype) if target.dim() == 2 else target,
            reduction='none')
        for factor in (self.class_balancing.row_weights(
                target, num_classes, cls_score.device), row_weight):
            if factor is not None:
                loss = loss * factor.to(loss.dtype)
        scale, keep_elementwise = resolve_scale(name, reduction, avg_factor,
                                                len(loss), self.loss_weight)
        return loss * scale if keep_elementwise else loss.sum() * scale


@MODELS.register_module()
def ClassBalancedCrossEntropyLoss(use_sigmoid: bool = True,
                                  **kwargs) -> nn.Module:  # noqa: N802
    """The config entry point: the sigmoid or the softmax class.

    Named like a class so that configs read as mmdet's
    ``CrossEntropyLoss(use_sigmoid=...)`` does; mmdet's heads read
    ``use_sigmoid`` from the config to size their classifier.

    Args:
        use_sigmoid (bool): Sigmoid (dense heads) or softmax (two-stage).
        **kwargs: The chosen class's arguments.

    Returns:
        nn.Module: A :class:`ClassBalancedSigmoidCrossEntropyLoss` or
        :class:`ClassBalancedSoftmaxCrossEntropyLoss`.
    """
    if not isinstance(use_sigmoid, bool):
        raise ValueError('ClassBalancedCrossEntropyLoss: use_sigmoid must be '
                         f'a bool, got {use_sigmoid!r}')
    if use_sigmoid:
        return ClassBalancedSigmoidCrossEntropyLoss(**kwargs)
    return ClassBalancedSoftmaxCrossEntropyLoss(**kwargs)
