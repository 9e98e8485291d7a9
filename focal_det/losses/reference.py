"""The losses in their paper form: the readable definitions the fused kernel
is tested against.

Plain float64 autograd, elementwise over (N, C) logits and targets, as the
papers (and torchvision's ``sigmoid_focal_loss``, mmdet's
``py_sigmoid_focal_loss``) write them; every loss class of
:mod:`focal_det.losses` computes one of these, weighted and reduced by
mmdet's rules (:func:`reduce`), with :mod:`focal_det.losses.kernel`. Slow
and memory-hungry (several N x C temporaries): for reading and testing,
not for training. The numpy theory of each loss (minimisers, inverse
maps) is in :mod:`focal_det.theory`.
"""
import torch
import torch.nn.functional as F
from torch import Tensor


def one_hot_targets(labels: Tensor, num_classes: int) -> Tensor:
    """mmdet's labels (N,), C meaning background, as float64 targets (N, C).

    Args:
        labels (Tensor): Class indices in [0, C].
        num_classes (int): C.

    Returns:
        Tensor: One-hot rows; background rows are all zero.
    """
    return F.one_hot(labels, num_classes + 1)[:, :num_classes].double()


def focal_terms(x: Tensor, y: Tensor, gamma: float,
                alpha=0.25) -> Tensor:
    """Sigmoid focal loss per element (Lin et al.; torchvision's form).

    ``alpha_t (1 - p_t)**gamma BCE(x, y)`` with ``1 - p_t = (1 - p) y +
    p (1 - y)`` and ``alpha_t = alpha y + (1 - alpha)(1 - y)``.

    Args:
        x (Tensor): Logits.
        y (Tensor): Targets in [0, 1], the shape of ``x``.
        gamma (float): Focusing parameter.
        alpha (float, optional): Positive weight; None for none.

    Returns:
        Tensor: The loss of each element.
    """
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction='none')
    one_minus_pt = (1 - p) * y + p * (1 - y)
    alpha_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return alpha_t * one_minus_pt**gamma * ce


def dual_focal_terms(x: Tensor, y: Tensor, gamma) -> Tensor:
    """Dual focal loss per element, ``-log(1 - |y - p|**gamma)``, normalised
    to 1 at ``|y - p| = 1/2``.

    Args:
        x (Tensor): Logits.
        y (Tensor): Targets in [0, 1], the shape of ``x``.
        gamma (float or Tensor): Focusing parameter, > 0.

    Returns:
        Tensor: The loss of each element.
    """
    d = (y - torch.sigmoid(x)).abs()
    boundary = -torch.log(1 - 2.0**-torch.as_tensor(gamma, dtype=x.dtype))
    return -torch.log(1 - d**gamma) / boundary


def reduce(terms: Tensor, weight=None, avg_factor=None, reduction='mean',
           loss_weight=1.0) -> Tensor:
    """mmdet's ``weight_reduce_loss`` applied to elementwise terms.

    Args:
        terms (Tensor): (N, C) losses.
        weight (Tensor, optional): (N,) or (N, C) label weights.
        avg_factor (float, optional): Divides the sum (plus float32 eps).
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplies the result.

    Returns:
        Tensor: The reduced loss.
    """
    if weight is not None:
        terms = terms * (weight.view(-1, 1) if weight.dim() == 1 else weight)
    if reduction == 'none':
        return loss_weight * terms
    if avg_factor is None:
        total = terms.sum() if reduction == 'sum' else terms.mean()
    else:
        total = terms.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    return loss_weight * total


def class_balanced_weights(counts, beta: float) -> list:
    """Cui et al.'s ``(1 - beta) / (1 - beta**n_c)``, normalised to sum to C.

    A class with zero instances counts as one, as in
    :class:`~focal_det.losses.ClassBalancedFocalLoss`.

    Args:
        counts: Training instances per class.
        beta (float): In [0, 1).

    Returns:
        list: C weights.
    """
    raw = [(1 - beta) / (1 - beta**max(n, 1)) for n in counts]
    return [w * len(counts) / sum(raw) for w in raw]


def equalized_focal_terms(x: Tensor, y: Tensor, class_gamma: Tensor,
                          gamma_b: float, alpha=0.25) -> Tensor:
    """Equalized focal loss per element (Li et al., CVPR 2022).

    ``(gamma_j / gamma_b) alpha_t (1 - p_t)**gamma_j BCE(x, y)`` with the
    per-class ``gamma_j`` held constant for the gradient, as in the paper.

    Args:
        x (Tensor): Logits (N, C).
        y (Tensor): Targets in [0, 1], (N, C).
        class_gamma (Tensor): ``gamma_j``, (C,).
        gamma_b (float): Base focusing parameter.
        alpha (float, optional): Positive weight; None for none.

    Returns:
        Tensor: The loss of each element.
    """
    gamma = class_gamma.detach().to(x.dtype)
    return gamma / gamma_b * focal_terms(x, y, gamma, alpha)
