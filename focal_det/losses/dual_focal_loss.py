r"""Dual Focal Loss with a fixed or learnable focusing parameter.

Per class, with :math:`p = \sigma(x)`, target :math:`y` and error
:math:`d = |y - p|`, true and false classes go through the same function

.. math::
    u_\gamma(d) = -\log(1 - d^\gamma).

Why the loss is normalised
--------------------------
For every :math:`d < 1`, :math:`d^\gamma` falls as :math:`\gamma` grows, so
:math:`\partial u / \partial\gamma < 0` everywhere: minimising :math:`u` over
a learnable :math:`\gamma` drives it to its upper bound whatever the data.
focal_det divides by the loss at the decision boundary :math:`d = 1/2`,

.. math::
    \ell_\gamma(d) = \frac{u_\gamma(d)}{c(\gamma)}, \qquad
    c(\gamma) = -\log(1 - 2^{-\gamma}),

so that :math:`\ell_\gamma(1/2) = 1` for every :math:`\gamma`. For small
errors :math:`\ell_\gamma(d) \approx (2d)^\gamma`, whose derivative
:math:`(2d)^\gamma \log(2d)` is negative for :math:`d < 1/2` and positive
for :math:`d > 1/2`: easy (well-classified) terms pull :math:`\gamma` up,
hard (misclassified) terms pull it down, and :math:`\gamma` settles where
the two balance, inside its bounds whenever the data hold both kinds. For a
fixed :math:`\gamma` the normaliser is a constant, so the fixed and the
learnable loss share one scale. The exact derivative used is

.. math::
    \frac{\partial \ell}{\partial \gamma}
      = \frac{u_\gamma'}{c} - \ell \frac{c'}{c},\quad
    u_\gamma' = \frac{-\log(1/d)}{d^{-\gamma} - 1},\quad
    c' = \frac{-\log 2}{2^\gamma - 1}.

The learnable :math:`\gamma` is kept inside ``gamma_bounds`` by the
parametrisation :math:`\gamma = lo + (hi - lo)\,\sigma(\theta)`, with
:math:`\theta` the module parameter ``gamma_logit``; it is saved in
checkpoints with the model.
"""
import math
from typing import Dict, Sequence

import torch
from mmdet.registry import MODELS
from torch import Tensor, nn

from ..calibration.loss_inverse import DualFocalCalibrator
from ..loss_names import DUAL_FOCAL_TERM
from ..validation import check_range
from .base import FocalFamilyLoss


@MODELS.register_module()
class DualFocalLoss(FocalFamilyLoss):
    """Dual focal loss: one focal function of ``|y - p|`` for every class.

    Args:
        gamma (float): Focusing parameter (the initial value if learnable).
        learnable_gamma (bool): Learn gamma by backpropagation.
        gamma_bounds (Sequence[float]): ``(low, high)`` with
            ``0 < low < gamma < high`` when learnable.
        use_sigmoid (bool): Must be True.
        reduction (str): ``'none'``, ``'mean'`` or ``'sum'``.
        loss_weight (float): Multiplies the loss.
    """

    term_kind = DUAL_FOCAL_TERM
    normalize_at_boundary = True

    def __init__(self,
                 gamma: float = 2.0,
                 learnable_gamma: bool = False,
                 gamma_bounds: Sequence[float] = (0.5, 8.0),
                 use_sigmoid: bool = True,
                 reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(use_sigmoid, reduction, loss_weight)
        name = self._name
        if len(gamma_bounds) != 2:
            raise ValueError(f'{name}: gamma_bounds must be (low, high), got '
                             f'{gamma_bounds!r}')
        low = check_range(name, 'gamma_bounds[0]', gamma_bounds[0], 0.0,
                          low_open=True)
        high = check_range(name, 'gamma_bounds[1]', gamma_bounds[1], low,
                           low_open=True)
        gamma = check_range(name, 'gamma', gamma, 0.0, low_open=True)
        self.learnable_gamma = bool(learnable_gamma)
        self.gamma_bounds = (low, high)
        if self.learnable_gamma:
            if not low < gamma < high:
                raise ValueError(f'{name}: gamma must lie strictly inside '
                                 f'gamma_bounds {self.gamma_bounds}, got '
                                 f'{gamma}')
            fraction = (gamma - low) / (high - low)
            self.gamma_logit = nn.Parameter(
                torch.tensor(math.log(fraction / (1 - fraction))))
        else:
            self.fixed_gamma = gamma

    @property
    def gamma(self) -> float:
        """The current gamma as a float (for logging)."""
        return float(self.gamma_tensor().detach())

    def gamma_tensor(self) -> Tensor:
        if not self.learnable_gamma:
            return torch.tensor(self.fixed_gamma, dtype=torch.float64)
        low, high = self.gamma_bounds
        return low + (high - low) * torch.sigmoid(self.gamma_logit)

    def inverse_calibrator(self, num_classes: int) -> DualFocalCalibrator:
        """The inverse of this loss's population minimiser, as a score
        calibrator (``model.test_cfg.score_calibration='loss'``; the
        formula is in :mod:`focal_det.theory.dual_focal`).

        Args:
            num_classes (int): C (the map is the same for every class).

        Returns:
            DualFocalCalibrator: With the current (possibly learnt) gamma.
        """
        return DualFocalCalibrator(num_classes, self.gamma)

    def logged_parameters(self) -> Dict[str, float]:
        """The learnable gamma, for the training log line."""
        return dict(gamma=self.gamma) if self.learnable_gamma else {}

    def extra_repr(self) -> str:
        return (f'gamma={self.gamma:.4f}, learnable_gamma='
                f'{self.learnable_gamma}, gamma_bounds={self.gamma_bounds}')
