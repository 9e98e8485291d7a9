"""Calibration before and after a score map, on one fixed set of detections.

D-ECE counts the detections scored ``>= score_thr``. Measured after a
calibrator, that set is the calibrator's own choice: a map that pushes
uncertain detections under the threshold removes them from its own exam
(Kuzucu, Oksuz et al., ECCV 2024, make this point). Here the set is fixed
by the *raw* model: the detections whose raw score is ``>= score_thr``
(D-ECE) or ``>=`` their class's LRP-optimal threshold of the raw model
(LaECE_0, :mod:`.lrp`), and both the raw and the calibrated scores of
exactly those detections are measured.

The D-ECE bins are those of the thresholded D-ECE (``num_bins`` equal
bins over ``[score_thr, 1]``), continued below ``score_thr`` with the same
width down to 0, so that a calibrated score pushed under the threshold
lands in a bin of the same resolution and the raw scores are binned
exactly as by the thresholded D-ECE (their fixed-set D-ECE is today's
D-ECE).
"""
import math
from typing import Dict, List, Optional

import numpy as np

from .binning import ReliabilityHistogram
from .laece import LAECE_NUM_BINS, localisation_aware_ece
from .lrp import above_thresholds


def continued_histogram(score_thr: float,
                        num_bins: int) -> ReliabilityHistogram:
    """Empty histogram of the D-ECE grid over ``[score_thr, 1]`` continued
    down to 0 (module docstring).

    Args:
        score_thr (float): Lower edge of the D-ECE bins, in ``[0, 1)``.
        num_bins (int): D-ECE bins above ``score_thr``.

    Returns:
        ReliabilityHistogram: ``num_bins + k`` bins of width
        ``(1 - score_thr) / num_bins``, ``k`` the fewest that reach 0.
    """
    width = (1.0 - score_thr) / num_bins
    # The small slack keeps float error (0.3 / 0.07 = 4.2857...) from
    # adding a bin wholly below 0.
    below = math.ceil(score_thr / width - 1e-9)
    return ReliabilityHistogram(num_bins + below,
                                lower=score_thr - below * width)


def fixed_set_d_ece(raw_scores: np.ndarray, calibrated_scores: np.ndarray,
                    is_true_positive: np.ndarray, score_thr: float = 0.3,
                    num_bins: int = 10) -> Dict[str, object]:
    """D-ECE of raw and calibrated scores over the raw model's detections.

    Args:
        raw_scores (np.ndarray): ``(n,)`` raw scores of labelled (not
            dropped) detections, any scores (the set is chosen here).
        calibrated_scores (np.ndarray): ``(n,)`` the same detections'
            calibrated scores.
        is_true_positive (np.ndarray): ``(n,)`` bool outcomes (matching at
            the D-ECE's IoU threshold).
        score_thr (float): The raw score a detection needs to be in the
            set. Defaults to 0.3.
        num_bins (int): D-ECE bins over ``[score_thr, 1]``. Defaults to 10.

    Returns:
        dict: ``num_detections`` (int, the fixed set), ``d_ece_raw``,
        ``d_ece_calibrated`` (floats, NaN for an empty set) and
        ``bins_raw``, ``bins_calibrated``
        (:meth:`.binning.ReliabilityHistogram.bins`).
    """
    raw_scores = np.asarray(raw_scores, dtype=np.float64)
    in_set = raw_scores >= score_thr
    hits = np.asarray(is_true_positive, dtype=bool)[in_set]
    result: Dict[str, object] = dict(num_detections=int(in_set.sum()))
    for name, scores in (('raw', raw_scores),
                         ('calibrated', np.asarray(calibrated_scores,
                                                   dtype=np.float64))):
        histogram = continued_histogram(score_thr, num_bins)
        histogram.add(scores[in_set], hits)
        bins: List[dict] = histogram.bins()
        result[f'd_ece_{name}'] = histogram.ece()
        result[f'bins_{name}'] = bins
    return result


def fixed_set_laece(raw_scores: np.ndarray, calibrated_scores: np.ndarray,
                    labels: np.ndarray, ious: np.ndarray,
                    is_true_positive: np.ndarray,
                    num_ground_truth: np.ndarray,
                    thresholds: Optional[np.ndarray],
                    num_bins: int = LAECE_NUM_BINS) -> Dict[str, float]:
    """LaECE_0 of raw and calibrated scores over the detections whose raw
    score reaches their class's threshold.

    Args:
        raw_scores, calibrated_scores (np.ndarray): ``(n,)`` scores of the
            same detections (not ignored at LaECE's matching).
        labels (np.ndarray): ``(n,)`` class indices.
        ious, is_true_positive (np.ndarray): ``(n,)`` LaECE's matching
            (``tau = 0``), see :func:`.laece.localisation_aware_ece`.
        num_ground_truth (np.ndarray): ``(C,)`` objects per class.
        thresholds (np.ndarray, optional): ``(C,)`` raw-score thresholds,
            e.g. the raw model's LRP-optimal ones (:mod:`.lrp`); NaN keeps
            a class whole, None keeps every detection.
        num_bins (int): LaECE bins. Defaults to 25.

    Returns:
        dict: ``num_detections`` (the set, classes without objects left
        out), ``laece_raw`` and ``laece_calibrated``.
    """
    in_set = above_thresholds(raw_scores, labels, thresholds)
    labels = np.asarray(labels)[in_set]
    ious = np.asarray(ious)[in_set]
    hits = np.asarray(is_true_positive)[in_set]
    result = {}
    for name, scores in (('raw', raw_scores),
                         ('calibrated', calibrated_scores)):
        laece = localisation_aware_ece(np.asarray(scores)[in_set], labels,
                                       ious, hits, num_ground_truth,
                                       num_bins)
        result[f'laece_{name}'] = laece['laece']
    result['num_detections'] = laece['num_detections']
    return result
