"""Calibration of a score map on the raw model's own detections, with
intervals.

The raw detector runs once on val; every score map (a fitted calibrator,
the loss's inverse map) is applied to those detections' scores, so raw and
mapped scores are measured on exactly the same detections: fixed-set
D-ECE (raw score >= 0.3) and LaECE_0 (raw score >= the raw model's
LRP-optimal threshold of its class, fitted on calib), each with a 95 %
bootstrap interval over val images (:mod:`.bootstrap`).
"""
from typing import Dict, Optional

import numpy as np

from ..calibration import ScoreCalibrator
from ..evaluation.calibration import fixed_set_d_ece, fixed_set_laece
from ..evaluation.calibration.matching import DROPPED, TRUE_POSITIVE
from ..theory.focal import logistic
from ..theory.recalibration import recalibrated_log_odds
from .bootstrap import bootstrap_interval
from .calibration_fitting import (D_ECE_NUM_BINS, D_ECE_SCORE_THR,
                                  calibration_by_bucket, hits, labelled)


def calibrated_scores(detections: Dict,
                      calibrator: ScoreCalibrator) -> np.ndarray:
    """``(n,)`` the detections' scores through a fitted calibrator."""
    return calibrator.calibrate(detections['scores'], detections['labels'])


def recalibrated_scores(detections: Dict, loss_parameters: Dict,
                        num_classes: int) -> np.ndarray:
    """``(n,)`` the detections' scores through the loss's own inverse map
    (``model.test_cfg.recalibrate_scores``), each in its class's column."""
    labels = np.asarray(detections['labels'], dtype=np.int64)
    matrix = np.full((len(labels), num_classes), 0.5)
    matrix[np.arange(len(labels)), labels] = detections['scores']
    log_odds = recalibrated_log_odds(matrix, loss_parameters)
    return logistic(log_odds[np.arange(len(labels)), labels])


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
    raw = np.asarray(detections['scores'])
    scores = np.asarray(scores, dtype=np.float64)
    keep, hit = labelled(detections), hits(detections) > 0.5
    laece_keep = detections['laece_outcomes'] != DROPPED
    laece_hit = detections['laece_outcomes'] == TRUE_POSITIVE
    per_image = detections['image_num_ground_truth']
    images = sorted(per_image)

    def d_ece(indices, drawn):
        selected = indices[keep[indices]]
        return fixed_set_d_ece(raw[selected], scores[selected],
                               hit[selected], D_ECE_SCORE_THR,
                               D_ECE_NUM_BINS)['d_ece_calibrated']

    def laece(indices, drawn):
        selected = indices[laece_keep[indices]]
        num_ground_truth = np.sum([per_image[int(i)] for i in drawn],
                                  axis=0)
        return fixed_set_laece(raw[selected], scores[selected],
                               detections['labels'][selected],
                               detections['laece_ious'][selected],
                               laece_hit[selected], num_ground_truth,
                               thresholds)['laece_calibrated']

    result = dict(by_bucket=calibration_by_bucket(detections, scores,
                                                  thresholds))
    for name, statistic in (('d_ece', d_ece), ('laece0', laece)):
        result[f'{name}_interval'] = bootstrap_interval(
            statistic, detections['image_ids'], images, num_resamples,
            seed)
    return result
