"""Plain float64 autograd formulas the fused kernel is checked against."""
import math

import torch
import torch.nn.functional as F


def one_hot_targets(labels, num_classes):
    return F.one_hot(labels, num_classes + 1)[:, :num_classes].double()


def focal_terms(x, y, gamma, alpha=0.25):
    """Published sigmoid focal loss per element (torchvision/fvcore form)."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction='none')
    one_minus_pt = (1 - p) * y + p * (1 - y)
    alpha_t = 1.0 if alpha is None else alpha * y + (1 - alpha) * (1 - y)
    return alpha_t * one_minus_pt**gamma * ce


def dual_focal_terms(x, y, gamma):
    """-log(1 - |y - p|**gamma), normalised to 1 at |y - p| = 1/2."""
    d = (y - torch.sigmoid(x)).abs()
    boundary = -torch.log(1 - 2.0**-torch.as_tensor(gamma, dtype=x.dtype))
    return -torch.log(1 - d**gamma) / boundary


def reduce(terms, weight=None, avg_factor=None, reduction='mean',
           loss_weight=1.0):
    """mmdet's weight_reduce_loss."""
    if weight is not None:
        terms = terms * (weight.view(-1, 1) if weight.dim() == 1 else weight)
    if reduction == 'none':
        return loss_weight * terms
    if avg_factor is None:
        total = terms.sum() if reduction == 'sum' else terms.mean()
    else:
        total = terms.sum() / (avg_factor + torch.finfo(torch.float32).eps)
    return loss_weight * total


def cb_weights_by_hand(counts, beta):
    raw = [(1 - beta) / (1 - beta**max(n, 1)) for n in counts]
    return [w * len(counts) / sum(raw) for w in raw]


def log_boundary(gamma):
    return -math.log(1 - 2.0**-gamma)
