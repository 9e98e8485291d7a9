"""RetinaHead whose scores can go through the inverse map of its loss."""
from typing import Any, Dict, List, Optional

import torch
from mmdet.models.dense_heads import RetinaHead
from mmdet.registry import MODELS
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData
from torch import Tensor

from ..theory.recalibration import recalibrated_log_odds
from .score_calibration import (calibrate_level_logits,
                                requested_score_calibrator)


def recalibrate_logits(logits: Tensor, params: Dict[str, Any],
                       class_axis: int = -1) -> Tensor:
    """Logits whose sigmoid is the recalibrated probability.

    The scores are mapped in float64 by the numpy inverse map
    (:func:`focal_det.theory.recalibration.recalibrated_log_odds`), as the
    exported-model runtime does, so that both keep and rank the same
    detections.

    Args:
        logits (Tensor): Class logits with C classes along ``class_axis``.
        params (dict): A loss's ``recalibration_params(C)``.
        class_axis (int): Axis of the classes.

    Returns:
        Tensor: Same shape, dtype and device as ``logits``.
    """
    moved = logits.detach().movedim(class_axis, -1)
    scores = torch.sigmoid(moved.double()).cpu().numpy()
    log_odds = recalibrated_log_odds(scores, params)
    out = torch.from_numpy(log_odds).to(device=logits.device,
                                        dtype=logits.dtype)
    return out.movedim(-1, class_axis)


@MODELS.register_module()
class RecalibratingRetinaHead(RetinaHead):
    """mmdet's ``RetinaHead`` with optional score recalibration.

    With ``test_cfg.recalibrate_scores=True`` (default off) each class
    logit is replaced, before thresholding, top-k and NMS, by the log-odds
    of the probability it stands for under the trained classification loss
    (the inverse of the loss's focal-entropy minimiser; see
    :mod:`focal_det.theory.recalibration`). The parameters are read from
    the loss at prediction time, so they follow the loaded state (class
    counts, a learnt gamma). With ``test_cfg.score_calibration=PATH`` the
    logits go through a fitted calibrator instead
    (:mod:`focal_det.heads.score_calibration`). Training, weights and
    checkpoints are those of
    ``RetinaHead``; with the option off, predictions are too.

    Args:
        Those of ``RetinaHead``.
    """

    def score_recalibration_params(self) -> Dict[str, Any]:
        """The classification loss's ``recalibration_params``.

        Returns:
            dict: ``kind``, ``gamma`` and ``alpha`` (see
            :func:`~focal_det.theory.recalibration.recalibrated_log_odds`).

        Raises:
            ValueError: The loss has no inverse map.
        """
        if not hasattr(self.loss_cls, 'recalibration_params'):
            raise ValueError(
                'score recalibration needs a sigmoid focal-family loss of '
                'focal_det (SigmoidFocalLoss, ClassBalancedFocalLoss, '
                f'DualFocalLoss), got {type(self.loss_cls).__name__}')
        return self.loss_cls.recalibration_params(self.cls_out_channels)

    def _predict_by_feat_single(self,
                                cls_score_list: List[Tensor],
                                bbox_pred_list: List[Tensor],
                                score_factor_list: List[Tensor],
                                mlvl_priors: List[Tensor],
                                img_meta: dict,
                                cfg: Optional[ConfigDict] = None,
                                rescale: bool = False,
                                with_nms: bool = True) -> InstanceData:
        """``RetinaHead``'s post-processing of one image, on recalibrated
        logits when the test config asks for it.

        Args and Returns: as ``BaseDenseHead._predict_by_feat_single``;
        each level's ``cls_score`` is (A * C, H, W), anchor-major.
        """
        cfg = self.test_cfg if cfg is None else cfg
        if cfg.get('recalibrate_scores', False):
            params = self.score_recalibration_params()
            num_classes = self.cls_out_channels
            cls_score_list = [
                recalibrate_logits(
                    level.reshape(-1, num_classes, *level.shape[-2:]),
                    params, class_axis=1).reshape(level.shape)
                for level in cls_score_list
            ]
        calibrator = requested_score_calibrator(cfg, self.cls_out_channels)
        if calibrator is not None:
            cls_score_list = calibrate_level_logits(cls_score_list,
                                                    calibrator)
        return super()._predict_by_feat_single(cls_score_list, bbox_pred_list,
                                               score_factor_list, mlvl_priors,
                                               img_meta, cfg, rescale,
                                               with_nms)


def recalibration_requested(head) -> bool:
    """Whether a head's test config asks for score recalibration.

    A head other than :class:`RecalibratingRetinaHead` would silently
    ignore ``recalibrate_scores``; asking one is an error.

    Args:
        head: A built dense head (``model.bbox_head``).

    Returns:
        bool: ``test_cfg.recalibrate_scores`` (default False).

    Raises:
        ValueError: It is set on a head that cannot recalibrate.
    """
    if not (head.test_cfg or {}).get('recalibrate_scores', False):
        return False
    if not isinstance(head, RecalibratingRetinaHead):
        raise ValueError(
            'test_cfg.recalibrate_scores=True needs '
            "bbox_head=dict(type='RecalibratingRetinaHead', ...); the model "
            f'has {type(head).__name__}')
    return True
