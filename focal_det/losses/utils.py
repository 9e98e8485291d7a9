"""mmdet's weighting/reduction rules and the loss-call checks, shared by every loss."""
from typing import Optional, Tuple, Union

import torch
from torch import Tensor

from ..validation import check_choice, check_range

REDUCTIONS = ('none', 'mean', 'sum')
# mmdet's weight_reduce_loss divides by (avg_factor + eps) with this eps.
_AVG_FACTOR_EPS = torch.finfo(torch.float32).eps


def compute_dtype(tensor: Tensor) -> torch.dtype:
    """fp16/bf16/fp32 are computed in fp32; float64 stays float64 (gradcheck)."""
    return torch.float64 if tensor.dtype == torch.float64 else torch.float32


def check_loss_args(owner: str, reduction: str, loss_weight) -> float:
    check_choice(owner, 'reduction', reduction, REDUCTIONS)
    return check_range(owner, 'loss_weight', loss_weight, 0.0)


def resolve_scale(owner: str, reduction: str, avg_factor: Optional[Union[
        float, Tensor]], numel: int, loss_weight: float) -> Tuple[float, bool]:
    """mmdet's ``weight_reduce_loss`` as one factor on the summed loss.

    Returns:
        tuple[float, bool]: The factor (``loss_weight`` divided by the
        normaliser) and whether the elementwise map is returned.
    """
    if reduction == 'none':
        return loss_weight, True
    if avg_factor is None:
        if reduction == 'sum':
            return loss_weight, False
        return loss_weight / max(numel, 1), False
    if reduction == 'sum':
        raise ValueError(f'{owner}: avg_factor can not be used with '
                         'reduction="sum"')
    if isinstance(avg_factor, Tensor) and avg_factor.numel() != 1:
        raise ValueError(f'{owner}: avg_factor must be a number or a '
                         f'one-element tensor, got shape '
                         f'{tuple(avg_factor.shape)}')
    return loss_weight / (float(avg_factor) + _AVG_FACTOR_EPS), False


def check_target(owner: str, logits: Tensor, target: Tensor,
                 num_classes: int) -> None:
    """Labels (N,) in [0, num_classes] or dense targets (N, C) in [0, 1]."""
    if logits.dim() != 2:
        raise ValueError(f'{owner}: cls_score must have shape (N, C), got '
                         f'{tuple(logits.shape)}')
    if target.dim() == 1:
        if target.shape[0] != logits.shape[0]:
            raise ValueError(f'{owner}: labels must have shape '
                             f'({logits.shape[0]},), got {tuple(target.shape)}')
        if target.dtype.is_floating_point or target.dtype == torch.bool:
            raise ValueError(f'{owner}: labels must be integers, got '
                             f'{target.dtype}')
        if target.numel() and bool(((target < 0) |
                                     (target > num_classes)).any()):
            raise ValueError(
                f'{owner}: labels must lie in [0, {num_classes}] '
                f'({num_classes} = background), got values in '
                f'[{int(target.min())}, {int(target.max())}]')
    elif target.shape == logits.shape:
        if not target.dtype.is_floating_point:
            target = target.float()
        if target.numel() and bool(((target < 0) | (target > 1)).any()):
            raise ValueError(f'{owner}: dense targets must lie in [0, 1]')
    else:
        raise ValueError(f'{owner}: target must be labels of shape (N,) or '
                         f'dense targets of shape {tuple(logits.shape)}, got '
                         f'{tuple(target.shape)}')


def split_weight(owner: str, weight: Optional[Tensor],
                 logits: Tensor) -> Tuple[Optional[Tensor], Optional[Tensor]]:
    """mmdet's accepted weight shapes as (row weight (N,), element weight (N, C))."""
    if weight is None:
        return None, None
    n, c = logits.shape
    if weight.dim() == 1 and weight.shape[0] == n:
        return weight, None
    if (weight.dim() == 1 and weight.numel() == n * c
            or tuple(weight.shape) == (n, c)):
        return None, weight.reshape(n, c)
    raise ValueError(f'{owner}: weight must have shape ({n},), ({n}, {c}) or '
                     f'({n * c},), got {tuple(weight.shape)}')


def rows_class(target: Tensor, num_classes: int) -> Tensor:
    """The ground-truth class of each row; ``num_classes`` for background.

    Labels are returned as they are; a dense (one-hot or soft) row belongs to
    its largest positive entry, an all-zero row to the background.
    """
    if target.dim() == 1:
        return target
    best, index = target.max(dim=1)
    return torch.where(best > 0, index, torch.full_like(index, num_classes))
