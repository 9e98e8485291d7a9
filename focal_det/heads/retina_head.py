"""RetinaNet's head with score mapping."""
from mmdet.models.dense_heads import RetinaHead
from mmdet.registry import MODELS

from .score_mapping import ScoreMappingMixin


@MODELS.register_module()
class ScoreMappingRetinaHead(ScoreMappingMixin, RetinaHead):
    """mmdet's ``RetinaHead`` whose class scores
    ``model.test_cfg.score_calibration`` can map before threshold, top-k
    and NMS: a fitted calibrator file, or ``'loss'`` for the inverse map of
    its own loss (:class:`~focal_det.heads.ScoreMappingMixin`). Training,
    weights, checkpoints and, with the option unset, predictions are
    ``RetinaHead``'s.

    Args:
        Those of ``RetinaHead``.
    """
