"""Class-balanced sigmoid and softmax cross-entropy (Cui et al., CVPR 2019)."""
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor

from .base import ClassBalancedRowsMixin, FocalFamilyLoss
from .class_balanced import ClassCountsMixin
from .utils import (check_target, compute_dtype, resolve_scale,
                    split_weight)


@MODELS.register_module()
class ClassBalancedCrossEntropyLoss(ClassBalancedRowsMixin, ClassCountsMixin,
                                    FocalFamilyLoss):
    r"""Cross-entropy re-weighted by the inverse effective number of samples.

    * ``use_sigmoid=True`` (dense heads, C outputs): CB sigmoid CE,
      :math:`w_y \sum_c \mathrm{BCE}(x_c, y_c)`; it is the focal kernel with
      ``gamma = 0`` and no alpha.
    * ``use_sigmoid=False`` (two-stage heads, C + 1 outputs, background
      last): CB softmax CE, :math:`-w_y \log \mathrm{softmax}(x)_y`.

    ``w_y`` is the normalised class-balanced weight of the ground-truth class
    (see :mod:`focal_det.losses.class_balanced`); background gets 1.

    Args:
        beta (float): In [0, 1).
        use_sigmoid (bool): Sigmoid (True) or softmax (False) form.
        class_counts (Sequence[int], optional): Instances per foreground
            class (length C in both forms).
        ann_file (str, optional): COCO/LVIS json to count them from.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplies the loss.
    """

    def __init__(self,
                 beta: float = 0.999,
                 use_sigmoid: bool = True,
                 class_counts: Optional[Sequence[int]] = None,
                 ann_file: Optional[str] = None,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(True, reduction, loss_weight)
        if not isinstance(use_sigmoid, bool):
            raise ValueError(f'{self._name}: use_sigmoid must be a bool, got '
                             f'{use_sigmoid!r}')
        self.use_sigmoid = use_sigmoid
        self._init_class_counts(self._name, beta, class_counts, ann_file)

    def gamma_tensor(self) -> Tensor:
        return torch.tensor(0.0, dtype=torch.float64)

    def forward(self,
                cls_score: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss; arguments as in :class:`FocalFamilyLoss`.

        In the softmax form ``cls_score`` is (N, C + 1), targets are labels
        (N,) in [0, C] or class probabilities (N, C + 1), and ``weight`` is
        per sample (N,).
        """
        if self.use_sigmoid:
            return super().forward(cls_score, target, weight, avg_factor,
                                   reduction_override)
        reduction = reduction_override or self.reduction
        num_classes = cls_score.shape[-1] - 1
        check_target(self._name, cls_score, target, num_classes)
        row_weight, elem_weight = split_weight(self._name, weight, cls_score)
        if elem_weight is not None:
            raise ValueError(f'{self._name}: the softmax form takes one '
                             f'weight per sample, shape ({len(cls_score)},)')
        dense = target.dim() == 2
        logits = cls_score.to(compute_dtype(cls_score))
        loss = F.cross_entropy(
            logits,
            target.to(logits.dtype) if dense else target,
            reduction='none')
        loss = loss * self.row_class_weight(target, num_classes,
                                            cls_score).to(loss.dtype)
        if row_weight is not None:
            loss = loss * row_weight.to(loss.dtype)
        scale, keep_elementwise = resolve_scale(self._name, reduction,
                                                avg_factor, len(loss),
                                                self.loss_weight)
        return loss * scale if keep_elementwise else loss.sum() * scale
