from .class_balanced import (ClassBalancing, class_counts_from_ann_file,
                             effective_number_weights)
from .class_balanced_ce_loss import (ClassBalancedCrossEntropyLoss,
                                     ClassBalancedSigmoidCrossEntropyLoss,
                                     ClassBalancedSoftmaxCrossEntropyLoss)
from .class_balanced_focal_loss import ClassBalancedFocalLoss
from .dual_focal_loss import DualFocalLoss
from .equalized_focal_loss import EqualizedFocalLoss, equalized_gamma
from .kernel import focal_family_loss
from .sigmoid_focal_loss import SigmoidFocalLoss

__all__ = [
    'SigmoidFocalLoss', 'ClassBalancedFocalLoss',
    'ClassBalancedCrossEntropyLoss', 'ClassBalancedSigmoidCrossEntropyLoss',
    'ClassBalancedSoftmaxCrossEntropyLoss', 'DualFocalLoss',
    'EqualizedFocalLoss', 'ClassBalancing', 'equalized_gamma',
    'focal_family_loss', 'effective_number_weights',
    'class_counts_from_ann_file'
]
