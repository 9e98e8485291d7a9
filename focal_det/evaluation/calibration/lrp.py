"""Localisation-Recall-Precision (LRP) error and its optimal score threshold.

LRP (Oksuz et al., "One Metric to Measure them All: Localisation Recall
Precision (LRP) for Evaluating Visual Detection Tasks", TPAMI 2022) of a
set of detections of one class with ``N_TP`` true positives of IoUs
``u_i``, ``N_FP`` false positives and ``N_FN = G - N_TP`` missed objects
(``G`` ground-truth objects)::

    LRP = (sum_i (1 - u_i) / (1 - tau) + N_FP + N_FN) / (N_TP + N_FP + N_FN)

where ``tau`` is the IoU threshold of a true positive. Keeping the
detections scored ``>= t`` and sweeping ``t`` over the scores gives an LRP
per threshold; the *LRP-optimal threshold* is the score where it is
lowest (the minimum is oLRP). Kuzucu, Oksuz et al. (ECCV 2024, "On
calibration of object detectors: pitfalls, evaluation and baselines")
threshold each class of a detector there before measuring LaECE_0, as a
detector is used at an operating point, not at score 0.

This follows the accumulation of their reference code
(fiveai/detection_calibration, ``pycocotools_lrp/cocoeval.py``,
``COCOeval.accumulate``: ``lrps = (total_loc / (1 - iouThrs[0]) + fp_num +
fn_num) / (tp_num + fp_num + fn_num)``, ``lrp_opt_thr =
dtScoresSorted[argmin(lrps)]``): detections sorted by descending score
(stable), cumulative counts, the first minimum. A class without a true
positive has LRP 1 at every threshold and no optimum; its threshold is NaN,
which keeps every detection of the class (the reference's
``threshold_detections`` compares with NaN, which is never true).
"""
from typing import Dict, Optional

import numpy as np


def lrp_curve(scores: np.ndarray, ious: np.ndarray,
              is_true_positive: np.ndarray, num_ground_truth: int,
              iou_thr: float = 0.0) -> Dict[str, np.ndarray]:
    """LRP of every prefix of the detections in descending score order.

    Args:
        scores (np.ndarray): ``(n,)`` scores of one class's detections
            (ignored ones already left out).
        ious (np.ndarray): ``(n,)`` IoU of each true positive with its
            object; values of false positives are not read.
        is_true_positive (np.ndarray): ``(n,)`` bool.
        num_ground_truth (int): Objects of the class (not ignored).
        iou_thr (float): ``tau`` of the true positives, in ``[0, 1)``.
            Defaults to 0 (LaECE_0's matching).

    Returns:
        dict: ``scores`` ``(n,)`` sorted descending and ``lrp`` ``(n,)``,
        the LRP of the detections scored ``>=`` each (ties kept in input
        order).
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64),
                       kind='mergesort')
    scores = np.asarray(scores, dtype=np.float64)[order]
    hits = np.asarray(is_true_positive, dtype=bool)[order]
    localisation = np.where(hits, 1.0 - np.asarray(ious, np.float64)[order],
                            0.0)
    num_tp = np.cumsum(hits)
    num_fp = np.cumsum(~hits)
    num_fn = num_ground_truth - num_tp
    total = num_tp + num_fp + num_fn
    lrp = (np.cumsum(localisation) / (1.0 - iou_thr) + num_fp + num_fn) / \
        np.maximum(total, 1)
    return dict(scores=scores, lrp=lrp)


def lrp_optimal_threshold(scores: np.ndarray, ious: np.ndarray,
                          is_true_positive: np.ndarray,
                          num_ground_truth: int,
                          iou_thr: float = 0.0) -> Dict[str, float]:
    """The score threshold of lowest LRP (module docstring).

    Args:
        scores, ious, is_true_positive, num_ground_truth, iou_thr: As for
            :func:`lrp_curve`.

    Returns:
        dict: ``threshold`` (keep detections scored ``>=`` it; NaN without
        a true positive: keep all) and ``olrp`` (the LRP there; 1 without
        a true positive).
    """
    if not np.any(is_true_positive):
        return dict(threshold=float('nan'), olrp=1.0)
    curve = lrp_curve(scores, ious, is_true_positive, num_ground_truth,
                      iou_thr)
    best = int(np.argmin(curve['lrp']))
    return dict(threshold=float(curve['scores'][best]),
                olrp=float(curve['lrp'][best]))


def lrp_optimal_thresholds(scores: np.ndarray, labels: np.ndarray,
                           ious: np.ndarray, is_true_positive: np.ndarray,
                           num_ground_truth: np.ndarray,
                           iou_thr: float = 0.0,
                           class_agnostic: bool = False) -> np.ndarray:
    """LRP-optimal threshold of each class, or one for the whole detector.

    Args:
        scores, ious, is_true_positive: ``(n,)`` detections of all classes
            (see :func:`lrp_curve`).
        labels (np.ndarray): ``(n,)`` class indices.
        num_ground_truth (np.ndarray): ``(C,)`` objects per class.
        iou_thr (float): ``tau``. Defaults to 0.
        class_agnostic (bool): One threshold from all detections pooled
            (``G`` = all objects) for every class, instead of one per
            class. Defaults to False (per class, as the reference does).

    Returns:
        np.ndarray: ``(C,)`` float64 thresholds, NaN where a class (or the
        detector) has no true positive.
    """
    num_ground_truth = np.asarray(num_ground_truth, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if class_agnostic:
        best = lrp_optimal_threshold(scores, ious, is_true_positive,
                                     int(num_ground_truth.sum()), iou_thr)
        return np.full(len(num_ground_truth), best['threshold'])
    thresholds = np.full(len(num_ground_truth), np.nan)
    for label in range(len(num_ground_truth)):
        of_class = labels == label
        thresholds[label] = lrp_optimal_threshold(
            np.asarray(scores)[of_class], np.asarray(ious)[of_class],
            np.asarray(is_true_positive)[of_class],
            int(num_ground_truth[label]), iou_thr)['threshold']
    return thresholds


def above_thresholds(scores: np.ndarray, labels: np.ndarray,
                     thresholds: Optional[np.ndarray]) -> np.ndarray:
    """Which detections a per-class threshold keeps (NaN keeps all).

    Args:
        scores (np.ndarray): ``(n,)`` scores.
        labels (np.ndarray): ``(n,)`` class indices.
        thresholds (np.ndarray, optional): ``(C,)`` per-class thresholds;
            None keeps everything.

    Returns:
        np.ndarray: ``(n,)`` bool.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if thresholds is None:
        return np.ones(len(scores), dtype=bool)
    per_detection = np.asarray(thresholds, dtype=np.float64)[
        np.asarray(labels, dtype=np.int64)]
    return np.isnan(per_detection) | (scores >= per_detection)
