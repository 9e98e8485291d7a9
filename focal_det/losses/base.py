"""The mmdet-facing module shared by every sigmoid loss of the family."""
from typing import Optional, Union

from torch import Tensor, nn

from .kernel import focal_family_loss
from .utils import (check_loss_args, check_target, resolve_scale, rows_class,
                    split_weight)


class FocalFamilyLoss(nn.Module):
    """Base of the sigmoid losses: mmdet's loss call on top of the fused kernel.

    Subclasses set ``loss_kind`` and implement :meth:`gamma_tensor`; they may
    override :meth:`row_class_weight` (class balancing) and ``alpha``.

    Args:
        use_sigmoid (bool): Must be True: these are per-class sigmoid losses,
            and mmdet's heads read this flag to size their classifier.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplies the loss.
    """

    loss_kind = 'focal'
    alpha: Optional[float] = None
    normalize_at_boundary = False

    def __init__(self,
                 use_sigmoid: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if use_sigmoid is not True:
            raise ValueError(f'{self._name}: use_sigmoid must be True (a '
                             f'sigmoid loss), got {use_sigmoid!r}')
        self.use_sigmoid = True
        self.loss_weight = check_loss_args(self._name, reduction, loss_weight)
        self.reduction = reduction

    @property
    def _name(self) -> str:
        return type(self).__name__

    def gamma_tensor(self) -> Tensor:
        raise NotImplementedError

    def row_class_weight(self, target: Tensor, num_classes: int,
                         logits: Tensor) -> Optional[Tensor]:
        """Extra weight per row (N,), or None."""
        return None

    def forward(self,
                cls_score: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None,
                reduction_override: Optional[str] = None) -> Tensor:
        """Compute the loss.

        Args:
            cls_score (Tensor): Logits of shape (N, C).
            target (Tensor): Labels of shape (N,) in [0, C] (C is background)
                or one-hot / soft targets of shape (N, C) in [0, 1].
            weight (Tensor, optional): Label weights of shape (N,), (N, C) or
                (N * C,).
            avg_factor (float, optional): Normaliser of the summed loss.
            reduction_override (str, optional): Overrides ``reduction``.

        Returns:
            Tensor: The loss, a scalar, or (N, C) for ``reduction='none'``.
        """
        reduction = reduction_override or self.reduction
        check_loss_args(self._name, reduction, self.loss_weight)
        num_classes = cls_score.shape[-1]
        check_target(self._name, cls_score, target, num_classes)
        row_weight, elem_weight = split_weight(self._name, weight, cls_score)
        class_weight = self.row_class_weight(target, num_classes, cls_score)
        if class_weight is not None:
            row_weight = (class_weight if row_weight is None else
                          class_weight * row_weight)
        scale, keep_elementwise = resolve_scale(self._name, reduction,
                                                avg_factor, cls_score.numel(),
                                                self.loss_weight)
        return focal_family_loss(
            cls_score,
            target,
            self.gamma_tensor(),
            loss_kind=self.loss_kind,
            alpha=self.alpha,
            row_weight=row_weight,
            elem_weight=elem_weight,
            scale=scale,
            normalize_at_boundary=self.normalize_at_boundary,
            keep_elementwise=keep_elementwise)


class ClassBalancedRowsMixin:
    """Row weight = class-balanced weight of each row's ground-truth class."""

    def row_class_weight(self, target: Tensor, num_classes: int,
                         logits: Tensor) -> Optional[Tensor]:
        weights = self.class_weights(num_classes, logits.device)
        if self.beta == 0.0:
            return None  # every weight is exactly 1: the plain loss, exactly
        return weights[rows_class(target, num_classes)]
