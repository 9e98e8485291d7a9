"""Evaluate a detector on val with raw, recalibrated and calibrated scores.

What ``tools/analysis/calibration_report.py`` measures per trained model:
box AP (with APr/APc/APf) and the thresholded D-ECE overall and per
frequency bucket, with the number of detections each D-ECE rests on, for
each way of scoring (``model.test_cfg`` options, applied in the head before
threshold, top-k and NMS), plus the reliability bins for the diagrams; the
raw run also hands its detections over for the fixed-set numbers
(:mod:`.fixed_set_evaluation`). The markdown tables of the report are here
too.
"""
import copy
import os
import os.path as osp
from typing import Any, Dict, Optional

import numpy as np
from mmengine.config import Config

from ..engine.detector_loading import load_detector
from ..evaluation.calibration import calibration_bins
from ..evaluation.long_tail import LongTailCocoMetric
from .calibration_fitting import (D_ECE_NUM_BINS, D_ECE_SCORE_THR,
                                  collect_detections, d_ece, d_ece_by_bucket,
                                  hits, labelled, point_dataset_to)

#: AP entries kept from the COCO metric (its keys without 'coco/').
AP_KEYS = ('bbox_mAP', 'bbox_APr', 'bbox_APc', 'bbox_APf')


def evaluate_scores(cfg: Config, checkpoint: str, data_root: str,
                    work_dir: str,
                    test_cfg: Optional[Dict[str, Any]] = None,
                    keep_detections: bool = False) -> dict:
    """AP and D-ECE (overall, per bucket) on the val split.

    Args:
        cfg (Config): The detector's config.
        checkpoint (str): Its weights.
        data_root (str): The embedded dataset (``annotations/val.json``).
        work_dir (str): Where the COCO metric writes its report.
        test_cfg (dict, optional): ``model.test_cfg`` entries to set, e.g.
            ``score_calibration=PATH`` or ``score_calibration='loss'``.
        keep_detections (bool): Also return the labelled detections.

    Returns:
        dict: ``ap`` (bbox_mAP, APr, APc, APf as fractions), ``d_ece``
        (``{'all'|'rare'|'common'|'frequent': {d_ece, num_detections}}``),
        ``bins`` (the overall reliability bins) and, with
        ``keep_detections``, ``detections``
        (:func:`.calibration_fitting.collect_detections`).
    """
    cfg = point_dataset_to(cfg, 'annotations/val.json', 'val/', data_root)
    cfg.model.test_cfg = dict(copy.deepcopy(cfg.model.get('test_cfg', {})),
                              **(test_cfg or {}))
    model, _ = load_detector(cfg, checkpoint)
    os.makedirs(work_dir, exist_ok=True)
    coco = LongTailCocoMetric(
        ann_file=osp.join(data_root, 'annotations', 'val.json'),
        metric='bbox', save_dir=work_dir, log_per_class_table=False)
    detections = collect_detections(cfg, model, metrics=[coco])
    keep = labelled(detections)
    scores, outcomes = detections['scores'][keep], hits(detections)[keep]
    kept = scores >= D_ECE_SCORE_THR
    result = dict(
        # A run without any detection (every score mapped under the
        # threshold) gets no COCO results at all: its AP is 0.
        ap={key: float(detections['metrics'].get(f'coco/{key}', 0.0))
            for key in AP_KEYS},
        d_ece=d_ece_by_bucket(scores, detections['labels'][keep], outcomes,
                              detections['class_buckets']),
        bins=calibration_bins(scores[kept], outcomes[kept] > 0.5,
                              D_ECE_SCORE_THR, D_ECE_NUM_BINS))
    if keep_detections:
        result['detections'] = detections
    return result


def sampling_d_ece(num_detections: int, repeats: int = 300,
                   seed: int = 0) -> float:
    """Mean D-ECE of a perfectly calibrated detector measured on
    ``num_detections`` detections (scores uniform on [0.3, 1], each a hit
    with probability equal to its score): what sampling alone gives."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(repeats):
        scores = rng.uniform(D_ECE_SCORE_THR, 1.0, num_detections)
        hits = rng.uniform(size=num_detections) < scores
        values.append(d_ece(scores, hits)['d_ece'])
    return float(np.mean(values))


def describe_loss_parameters(loss_parameters: Optional[dict]) -> str:
    """'gamma 2, alpha 0.25' (alpha per class as its range), or 'n/a'."""
    if not loss_parameters:
        return 'n/a (no inverse map)'
    text = f"gamma {loss_parameters['gamma']:.2f}"
    alpha = loss_parameters.get('alpha')
    if alpha is None:
        return text + ', no alpha'
    low, high = float(np.min(alpha)), float(np.max(alpha))
    if abs(high - low) < 1e-9:
        return text + f', alpha {low:.2f}'
    return text + f', alpha {low:.2f}-{high:.2f} (per class)'


