from .class_balanced import (class_counts_from_ann_file,
                             effective_number_weights)
from .class_balanced_ce_loss import ClassBalancedCrossEntropyLoss
from .class_balanced_focal_loss import ClassBalancedFocalLoss
from .dual_focal_loss import DualFocalLoss
from .kernel import focal_family_loss
from .sigmoid_focal_loss import SigmoidFocalLoss

__all__ = [
    'SigmoidFocalLoss', 'ClassBalancedFocalLoss',
    'ClassBalancedCrossEntropyLoss', 'DualFocalLoss', 'focal_family_loss',
    'effective_number_weights', 'class_counts_from_ann_file'
]
