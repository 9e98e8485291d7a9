"""Class-balanced sigmoid focal loss (Cui et al., CVPR 2019)."""
from typing import Optional, Sequence

from mmdet.registry import MODELS

from .base import ClassBalancedRowsMixin
from .class_balanced import ClassCountsMixin
from .sigmoid_focal_loss import SigmoidFocalLoss


@MODELS.register_module()
class ClassBalancedFocalLoss(ClassBalancedRowsMixin, ClassCountsMixin,
                             SigmoidFocalLoss):
    r"""Sigmoid focal loss re-weighted by the inverse effective number.

    .. math::
        \mathrm{CB}_{FL}(x, y) = \frac{1 - \beta}{1 - \beta^{n_y}}
            \sum_{c=1}^{C} -\alpha_t (1 - p_t^c)^\gamma \log p_t^c

    As in the paper, the weight of the ground-truth class ``y`` multiplies
    all C sigmoid terms of its sample. Weights are normalised to sum to C
    (see :mod:`focal_det.losses.class_balanced`); background rows get 1 and
    a class with zero instances counts as one instance. ``beta = 0``
    reduces exactly to :class:`SigmoidFocalLoss`.

    Args:
        beta (float): In [0, 1); 0.999 or 0.9999 in the paper.
        gamma (float): Focusing parameter, >= 0.
        alpha (float, optional): As in :class:`SigmoidFocalLoss`.
        class_counts (Sequence[int], optional): Training instances per class.
        ann_file (str, optional): COCO/LVIS json to count them from.
            Without either, ``ClassCountsHook`` fills them before training;
            the forward pass raises while they are unknown.
        use_sigmoid (bool): Must be True.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplies the loss.
    """

    def __init__(self,
                 beta: float = 0.999,
                 gamma: float = 2.0,
                 alpha: Optional[float] = 0.25,
                 class_counts: Optional[Sequence[int]] = None,
                 ann_file: Optional[str] = None,
                 use_sigmoid: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(gamma, alpha, use_sigmoid, reduction, loss_weight)
        self._init_class_counts(self._name, beta, class_counts, ann_file)
