"""The mmdet-facing module shared by every sigmoid loss of the family."""
from typing import Dict, Optional, Union

from torch import Tensor, nn

from ..loss_names import FOCAL_TERM
from .kernel import focal_family_loss
from .utils import check_loss_args, check_target, resolve_scale, split_weight


class FocalFamilyLoss(nn.Module):
    """Base of the sigmoid losses: mmdet's loss call on top of the fused kernel.

    Subclasses set ``term_kind`` (:mod:`focal_det.loss_names`) and implement
    :meth:`gamma_tensor`; they may override ``alpha``, :meth:`row_weights`
    (class balancing), :meth:`class_term_weights` and :meth:`gradient_statistics`
    (Equalized Focal Loss).

    Args:
        use_sigmoid (bool): Must be True: these are per-class sigmoid losses,
            and mmdet's heads read this flag to size their classifier.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplies the loss.
    """

    term_kind = FOCAL_TERM
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
        """Focusing parameter: 0-dim, or one per class (C,)."""
        raise NotImplementedError

    def row_weights(self, target: Tensor, num_classes: int,
                    logits: Tensor) -> Optional[Tensor]:
        """Extra weight per row (N,), or None."""
        return None

    def class_term_weights(self, num_classes: int,
                           logits: Tensor) -> Optional[Tensor]:
        """Extra weight per class (C,), or None."""
        return None

    def gradient_statistics(self) -> Optional[Tensor]:
        """A (2, C) accumulator for per-class gradient sums, or None."""
        return None

    def logged_parameters(self) -> Dict[str, float]:
        """Values for the training log line (LossParameterLoggerHook)."""
        return {}

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
        balance = self.row_weights(target, num_classes, cls_score)
        if balance is not None:
            row_weight = balance if row_weight is None else balance * row_weight
        scale, keep_elementwise = resolve_scale(self._name, reduction,
                                                avg_factor, cls_score.numel(),
                                                self.loss_weight)
        return focal_family_loss(
            cls_score,
            target,
            self.gamma_tensor(),
            term_kind=self.term_kind,
            alpha=self.alpha,
            row_weight=row_weight,
            elem_weight=elem_weight,
            scale=scale,
            normalize_at_boundary=self.normalize_at_boundary,
            keep_elementwise=keep_elementwise,
            class_weight=self.class_term_weights(num_classes, cls_score),
            class_gradient_sums=self.gradient_statistics())
