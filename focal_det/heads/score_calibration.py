"""Fitted score calibrators in the detector head
(``model.test_cfg.score_calibration=PATH``).

The calibrator (:mod:`focal_det.calibration`, a JSON file written by
``tools/calibrate.py``) maps each class logit to calibrated log-odds before
the head's score threshold, top-k and NMS, in float64 numpy, as the
exported-model runtime does, so both keep and rank the same detections.
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from ..calibration import ScoreCalibrator, load_calibrator


def calibrate_logits(logits: Tensor, calibrator: ScoreCalibrator,
                     class_axis: int = -1) -> Tensor:
    """Logits whose sigmoid is the calibrated probability.

    Args:
        logits (Tensor): Class logits with C classes along ``class_axis``.
        calibrator (ScoreCalibrator): Fitted for C classes.
        class_axis (int): Axis of the classes.

    Returns:
        Tensor: Same shape, dtype and device as ``logits``.
    """
    moved = logits.detach().movedim(class_axis, -1)
    log_odds = calibrator.map_logits(moved.double().cpu().numpy())
    out = torch.from_numpy(log_odds).to(device=logits.device,
                                        dtype=logits.dtype)
    return out.movedim(-1, class_axis)


_LOADED: Dict[str, Tuple[float, ScoreCalibrator]] = {}


def score_calibrator(path: str, num_classes: int) -> ScoreCalibrator:
    """The calibrator in ``path``, read once per file version.

    Raises:
        FileNotFoundError, ValueError: See
            :func:`focal_det.calibration.load_calibrator` (a file fitted for
            another number of classes is refused).
    """
    path = osp.abspath(str(path))
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'model.test_cfg.score_calibration: no such file {path}')
    modified = osp.getmtime(path)
    cached = _LOADED.get(path)
    if cached is None or cached[0] != modified:
        _LOADED[path] = (modified, load_calibrator(path))
    calibrator = _LOADED[path][1]
    if calibrator.num_classes != num_classes:
        raise ValueError(
            f'score calibration file {path} was fitted for '
            f'{calibrator.num_classes} classes, the model has {num_classes}')
    return calibrator


def requested_score_calibrator(test_cfg,
                               num_classes: int) -> Optional[ScoreCalibrator]:
    """The calibrator ``test_cfg.score_calibration`` names, or None.

    Raises:
        ValueError: ``recalibrate_scores`` is on too (a calibrator is fitted
            on raw scores), or the file does not fit the model.
    """
    path = (test_cfg or {}).get('score_calibration')
    if not path:
        return None
    if (test_cfg or {}).get('recalibrate_scores', False):
        raise ValueError(
            'model.test_cfg: score_calibration is fitted on raw scores; '
            'turn recalibrate_scores off to use it')
    return score_calibrator(path, num_classes)


def calibrate_level_logits(cls_score_list: List[Tensor],
                           calibrator: ScoreCalibrator) -> List[Tensor]:
    """Calibrate one image's per-level class logits, each (A * C, H, W),
    anchor-major (RetinaHead's layout)."""
    num_classes = calibrator.num_classes
    return [
        calibrate_logits(level.reshape(-1, num_classes, *level.shape[-2:]),
                         calibrator, class_axis=1).reshape(level.shape)
        for level in cls_score_list
    ]
