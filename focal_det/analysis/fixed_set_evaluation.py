"""Calibration of a score map on the raw model's own detections, with
intervals.

The raw detector runs once on val; every score map (a fitted calibrator,
the loss's inverse map) is applied to those detections' scores, so raw and
mapped scores are measured on exactly the same detections: fixed-set
D-ECE (raw score >= 0.3) and LaECE_0 (raw score >= the raw model's
LRP-optimal threshold of its class, fitted on calib), each with a 95 %
bootstrap interval over val images (:mod:`.bootstrap`, from per-image
bin sums with the bins of
:mod:`focal_det.evaluation.calibration.fixed_set` and ``.laece``).
"""
from typing import Dict, Optional

import numpy as np

from ..calibration import CALIBRATORS, ScoreCalibrator
from ..evaluation.calibration import (LAECE_NUM_BINS, ReliabilityHistogram,
                                      above_thresholds, continued_histogram)
from ..evaluation.calibration.matching import DROPPED, TRUE_POSITIVE
from .bootstrap import (image_draw_counts, per_image_bin_sums,
                        percentile_interval, resampled_sums)
from .calibration_fitting import (D_ECE_NUM_BINS, D_ECE_SCORE_THR,
                                  calibration_by_bucket, hits, labelled)


def calibrated_scores(detections: Dict,
                      calibrator: ScoreCalibrator) -> np.ndarray:
    """``(n,)`` the detections' scores through a fitted calibrator."""
    return calibrator.calibrate(detections['scores'], detections['labels'])


def recalibrated_scores(detections: Dict, loss_parameters: Dict,
                        num_classes: int) -> np.ndarray:
    """``(n,)`` the detections' scores through the loss's own inverse map
    (``model.test_cfg.score_calibration='loss'``), rebuilt from
    ``loss_parameters``: its ``method`` and parameters, as
    ``tools/calibrate.py`` records them in ``info.loss_parameters``."""
    params = dict(loss_parameters)
    calibrator = CALIBRATORS[params.pop('method')].from_params(
        num_classes, params)
    return calibrated_scores(detections, calibrator)


def _image_index(detections: Dict) -> np.ndarray:
    """``(n,)`` each detection's position in the sorted image ids of
    ``image_num_ground_truth`` (every image measured)."""
    images = np.array(sorted(detections['image_num_ground_truth']))
    return np.searchsorted(images, detections['image_ids'])


def _per_image_ground_truth(detections: Dict) -> np.ndarray:
    """``(I, C)`` objects per image (sorted ids) and class."""
    per_image = detections['image_num_ground_truth']
    return np.array([per_image[i] for i in sorted(per_image)],
                    dtype=np.float64)


def fixed_d_ece_resamples(detections: Dict, scores: np.ndarray,
                          draw_counts: np.ndarray) -> np.ndarray:
    """Fixed-set D-ECE of ``scores`` in each image resample.

    Args:
        detections (dict): The raw model's detections.
        scores (np.ndarray): ``(n,)`` their mapped scores.
        draw_counts (np.ndarray): ``(R, I)`` from
            :func:`.bootstrap.image_draw_counts`.

    Returns:
        np.ndarray: ``(R,)``; NaN for a resample without a detection in
        the set.
    """
    in_set = labelled(detections) & (np.asarray(detections['scores']) >=
                                     D_ECE_SCORE_THR)
    histogram = continued_histogram(D_ECE_SCORE_THR, D_ECE_NUM_BINS)
    sums = per_image_bin_sums(
        _image_index(detections)[in_set],
        histogram.bin_indices(scores[in_set]), scores[in_set],
        hits(detections)[in_set], draw_counts.shape[1], histogram.num_bins)
    totals = resampled_sums(draw_counts, sums)
    count = totals[..., 0].sum(axis=1)
    gap = np.abs(totals[..., 2] - totals[..., 1]).sum(axis=1)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(count > 0, gap / count, np.nan)


def laece_resamples(detections: Dict, scores: np.ndarray,
                    thresholds: Optional[np.ndarray],
                    draw_counts: np.ndarray) -> np.ndarray:
    """LaECE_0 of ``scores`` on the fixed set in each image resample.

    Args:
        detections (dict): The raw model's detections.
        scores (np.ndarray): ``(n,)`` their mapped scores.
        thresholds (np.ndarray, optional): ``(C,)`` raw-score thresholds.
        draw_counts (np.ndarray): ``(R, I)`` draw counts.

    Returns:
        np.ndarray: ``(R,)``; NaN when no class has both.
    """
    labels = np.asarray(detections['labels'], dtype=np.int64)
    hit = detections['laece_outcomes'] == TRUE_POSITIVE
    in_set = (detections['laece_outcomes'] != DROPPED) & above_thresholds(
        detections['scores'], labels, thresholds)
    histogram = ReliabilityHistogram(LAECE_NUM_BINS)
    num_classes = len(detections['num_ground_truth'])
    cells = labels[in_set] * LAECE_NUM_BINS + histogram.bin_indices(
        scores[in_set])
    accuracy = np.where(hit, detections['laece_ious'], 0.0)[in_set]
    sums = per_image_bin_sums(_image_index(detections)[in_set], cells,
                              scores[in_set], accuracy, draw_counts.shape[1],
                              num_classes * LAECE_NUM_BINS)
    totals = resampled_sums(draw_counts, sums).reshape(
        len(draw_counts), num_classes, LAECE_NUM_BINS, 3)
    objects = resampled_sums(draw_counts, _per_image_ground_truth(detections))
    count = totals[..., 0].sum(axis=2)
    gap = np.abs(totals[..., 2] - totals[..., 1]).sum(axis=2)
    valid = (count > 0) & (objects > 0)
    with np.errstate(invalid='ignore', divide='ignore'):
        per_class = np.where(valid, gap / count, 0.0)
        return per_class.sum(axis=1) / valid.sum(axis=1)


def fixed_set_evaluation(detections: Dict, scores: np.ndarray,
                         thresholds: Optional[np.ndarray],
                         num_resamples: int = 1000,
                         seed: int = 0) -> Dict[str, object]:
    """Fixed-set D-ECE (overall, per bucket) and LaECE_0 of ``scores``,
    the overall values with bootstrap intervals.

    Args:
        detections (dict): The raw model's detections on val
            (:func:`.calibration_fitting.collect_detections`).
        scores (np.ndarray): ``(n,)`` their mapped scores (the raw ones for
            the raw model).
        thresholds (np.ndarray, optional): ``(C,)`` LaECE_0's raw-score
            thresholds (NaN keeps a class whole; None keeps everything).
        num_resamples (int): Bootstrap resamples. Defaults to 1000.
        seed (int): Their seed (the same for every map, so the intervals
            of two maps come from the same draws). Defaults to 0.

    Returns:
        dict: ``by_bucket`` (:func:`.calibration_fitting.
        calibration_by_bucket`), ``d_ece_interval`` and
        ``laece0_interval`` (``low``, ``high``, ``num_resamples``).
    """
    scores = np.asarray(scores, dtype=np.float64)
    draw_counts = image_draw_counts(
        len(detections['image_num_ground_truth']), num_resamples,
        seed).astype(np.float64)
    return dict(
        by_bucket=calibration_by_bucket(detections, scores, thresholds),
        d_ece_interval=percentile_interval(
            fixed_d_ece_resamples(detections, scores, draw_counts)),
        laece0_interval=percentile_interval(
            laece_resamples(detections, scores, thresholds, draw_counts)))
