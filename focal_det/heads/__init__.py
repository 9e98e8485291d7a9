from .iou_branch_atss_head import IoUBranchATSSHead, detection_logits
from .recalibrating_retina_head import (RecalibratingRetinaHead,
                                        recalibrate_logits,
                                        recalibration_requested)

__all__ = [
    'IoUBranchATSSHead', 'RecalibratingRetinaHead', 'detection_logits',
    'recalibrate_logits', 'recalibration_requested'
]
