"""Localisation-aware ECE, LaECE_0 (Kuzucu, Oksuz et al., ECCV 2024).

A detector's confidence should be the IoU it can expect: of all boxes of a
class scored 0.8, the mean IoU with their objects (0 for a box on no
object) should be 0.8. Kuzucu, Oksuz, Sadeghi and Dokania, "On calibration
of object detectors: pitfalls, evaluation and baselines" (ECCV 2024; the
LaECE of Oksuz et al., CVPR 2023, with ``tau = 0``) measure, per class
``c`` with ``J`` equal-width bins over ``[0, 1]``::

    LaECE_c = sum_{j: n_j > 0} (n_j / N_c) * |mean score_j - mean IoU_j|
    LaECE_0 = mean over the classes of LaECE_c

where ``n_j`` counts the class's detections in bin ``j``, ``N_c`` all of
them, and ``mean IoU_j`` averages the IoU of the bin's true positives with
their objects and 0 for its false positives (so it is precision times the
true positives' mean IoU). ``tau = 0``: a detection is a true positive
when it overlaps an object of its class not taken by a higher-scored
detection (:func:`.matching.match_detections` with ``iou_thr=0``).

Reference lines (fiveai/detection_calibration, ``coco_calibration.py``):
``compute_single_errors`` (per class and bin ``prec_iou = sum of the bin's
TP IoUs / num_det``, ``errors = |prec_iou - mean_score|``,
``weights_per_bin = num_det / total_det``; ``bin_count = 25``) and
``accumulate_errors`` (``nansum`` over bins, ``nanmean`` over classes).
Classes enter the mean when they have at least one detection and at least
one object (``prepare_input`` skips a class without objects,
``npig == 0``). Two deliberate differences, both at measure-zero edges:
bins are closed on the left as everywhere in this package
(:class:`.binning.ReliabilityHistogram`; the reference closes them on the
right), and a class whose error is exactly 0 stays in the mean (the
reference's ``bin_sum == 0 -> NaN`` also drops it).
"""
from typing import Dict

import numpy as np

from .binning import ReliabilityHistogram

#: Bins of LaECE_0 (the reference's ``bin_count``).
LAECE_NUM_BINS = 25


def localisation_aware_ece(scores: np.ndarray, labels: np.ndarray,
                           ious: np.ndarray, is_true_positive: np.ndarray,
                           num_ground_truth: np.ndarray,
                           num_bins: int = LAECE_NUM_BINS
                           ) -> Dict[str, object]:
    """LaECE of a set of detections (module docstring).

    Args:
        scores (np.ndarray): ``(n,)`` confidences in ``[0, 1]`` of the
            detections measured (already thresholded; ignored ones left
            out).
        labels (np.ndarray): ``(n,)`` class indices in ``[0, C)``.
        ious (np.ndarray): ``(n,)`` IoU of each true positive with its
            object; false positives' values are not read.
        is_true_positive (np.ndarray): ``(n,)`` bool, from the matching at
            ``tau`` (0 for LaECE_0).
        num_ground_truth (np.ndarray): ``(C,)`` objects per class in the
            images measured; a class without any is left out.
        num_bins (int): Equal-width bins over ``[0, 1]``. Defaults to 25.

    Returns:
        dict: ``laece`` (float; NaN when no class qualifies),
        ``per_class`` (``(C,)`` float64, NaN for classes left out),
        ``num_detections`` (int, detections of the classes averaged) and
        ``num_classes`` (int, classes averaged).
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    accuracy = np.where(np.asarray(is_true_positive, dtype=bool),
                        np.asarray(ious, dtype=np.float64), 0.0)
    num_ground_truth = np.asarray(num_ground_truth, dtype=np.int64)
    per_class = np.full(len(num_ground_truth), np.nan)
    counted = 0
    for label in np.flatnonzero(num_ground_truth > 0):
        of_class = labels == label
        if not of_class.any():
            continue
        histogram = ReliabilityHistogram(num_bins)
        histogram.add(scores[of_class], accuracy[of_class])
        per_class[label] = histogram.ece()
        counted += int(of_class.sum())
    averaged = ~np.isnan(per_class)
    return dict(
        laece=float(per_class[averaged].mean()) if averaged.any() else
        float('nan'),
        per_class=per_class, num_detections=counted,
        num_classes=int(averaged.sum()))
