"""Class-balanced sigmoid focal loss (Cui et al., CVPR 2019)."""
from typing import Dict, Optional, Sequence

from mmdet.registry import MODELS
from torch import Tensor

from ..calibration.loss_inverse import FocalEntropyCalibrator
from ..theory.class_balanced import effective_alpha
from .class_balanced import ClassBalancing
from .sigmoid_focal_loss import SigmoidFocalLoss


@MODELS.register_module()
class ClassBalancedFocalLoss(SigmoidFocalLoss):
    r"""Sigmoid focal loss re-weighted by the inverse effective number.

    .. math::
        \mathrm{CB}_{FL}(x, y) = w_y
            \sum_{c=1}^{C} -\alpha_t (1 - p_t^c)^\gamma \log p_t^c,
        \qquad w_y \propto \left(\frac{1 - \beta}{1 - \beta^{n_y}}\right)^s

    As in the paper, the weight of the ground-truth class ``y`` multiplies
    all C sigmoid terms of its sample; background rows get 1. The weights,
    their normalisation and their strength schedule ``s`` are computed by
    the :class:`~focal_det.losses.class_balanced.ClassBalancing` module the
    loss holds as ``class_balancing`` (see that module for the choices).
    ``beta = 0`` reduces exactly to :class:`SigmoidFocalLoss`.

    Args:
        beta (float): In [0, 1); 0.999 or 0.9999 in the paper.
        gamma (float): Focusing parameter, >= 0.
        alpha (float, optional): As in :class:`SigmoidFocalLoss`.
        class_counts (Sequence[int], optional): Training instances per class.
        ann_file (str, optional): COCO/LVIS json to count them from.
            Without either, ``ClassCountsHook`` fills them before training;
            the forward pass raises while they are unknown.
        normalization (str): ``'instances'`` (positives keep their total
            weight) or ``'classes'`` (the paper: weights sum to C).
        schedule (str): ``'constant'``, ``'ramp'`` or ``'deferred'``
            strength of the weights over training (``LossScheduleHook``).
        schedule_start, schedule_end (float): Fractions of training.
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
                 normalization: str = 'classes',
                 schedule: str = 'constant',
                 schedule_start: float = 0.0,
                 schedule_end: float = 1.0,
                 use_sigmoid: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(gamma, alpha, use_sigmoid, reduction, loss_weight)
        self.class_balancing = ClassBalancing(self._name, beta, class_counts,
                                              ann_file, normalization,
                                              schedule, schedule_start,
                                              schedule_end)
        ClassBalancing.accept_legacy_counts(self)

    def row_weights(self, target: Tensor, num_classes: int,
                    logits: Tensor) -> Optional[Tensor]:
        return self.class_balancing.row_weights(target, num_classes,
                                                logits.device)

    def logged_parameters(self) -> Dict[str, float]:
        return self.class_balancing.schedule_log()

    def inverse_calibrator(self, num_classes: int) -> FocalEntropyCalibrator:
        """The focal loss's inverse map with one effective alpha per class
        (:func:`focal_det.theory.class_balanced.effective_alpha` of the
        current class weights).

        Args:
            num_classes (int): C.

        Returns:
            FocalEntropyCalibrator: gamma and C alphas.
        """
        weights = self.class_balancing.class_weights(num_classes, 'cpu')
        return FocalEntropyCalibrator(
            num_classes, self.gamma,
            effective_alpha(self.alpha, weights[:-1].tolist()))
