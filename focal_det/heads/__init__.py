from .iou_branch_atss_head import IoUBranchATSSHead, detection_logits
from .retina_head import ScoreMappingRetinaHead
from .score_mapping import (LOSS_INVERSE, ScoreMappingMixin,
                            requested_score_calibrator,
                            score_calibration_option)

__all__ = [
    'IoUBranchATSSHead', 'LOSS_INVERSE', 'ScoreMappingMixin',
    'ScoreMappingRetinaHead', 'detection_logits',
    'requested_score_calibrator', 'score_calibration_option'
]
