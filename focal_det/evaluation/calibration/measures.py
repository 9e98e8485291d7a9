"""What the calibration metric reports beside the thresholded D-ECE.

From per-detection arrays (what a matching hands over: score, label,
image, outcome at the D-ECE's IoU threshold, outcome and IoU at LaECE's
``tau = 0``) and, optionally, the same detections' calibrated scores:
LaECE_0 at LRP-optimal thresholds (:mod:`.laece`, :mod:`.lrp`) and the
fixed-set D-ECE and LaECE_0 before and after calibration
(:mod:`.fixed_set`), with the counts they rest on.
"""
import json
from typing import Dict, List, Optional, Tuple

import numpy as np

from .binning import calibration_bins, expected_calibration_error
from .fixed_set import fixed_set_d_ece, fixed_set_laece
from .laece import LAECE_NUM_BINS
from .lrp import lrp_optimal_thresholds
from .matching import DROPPED, TRUE_POSITIVE

#: LRP-optimal thresholds of each class (as the reference) or one for all.
LRP_THRESHOLD_MODES = ('per_class', 'detector')
#: Per-detection arrays of :func:`gather_detections` and their dtypes.
DETECTION_ARRAYS = (('scores', np.float64), ('labels', np.int64),
                    ('outcomes', np.int64), ('laece_outcomes', np.int64),
                    ('laece_ious', np.float64))


def gather_detections(results: List[dict], num_classes: int
                      ) -> Tuple[Dict[str, np.ndarray], np.ndarray]:
    """Concatenate the per-image results of the metric's ``process``.

    Args:
        results (list[dict]): Per image, the arrays of
            :data:`DETECTION_ARRAYS` and ``num_ground_truth`` ``(C,)``.
        num_classes (int): ``C``.

    Returns:
        tuple: the concatenated arrays (dict) and ``(C,)`` objects per
        class over all the images.
    """
    detections = {
        key: np.concatenate([np.zeros(0, dtype)] +
                            [np.asarray(r[key], dtype) for r in results])
        for key, dtype in DETECTION_ARRAYS
    }
    num_ground_truth = np.sum([np.zeros(num_classes, np.int64)] +
                              [r['num_ground_truth'] for r in results],
                              axis=0)
    return detections, num_ground_truth


def stored_lrp_thresholds(path: str, mode: str) -> Optional[np.ndarray]:
    """The raw model's LRP-optimal thresholds that ``tools/calibrate.py``
    stored in a calibration file (``info.lrp_thresholds[mode]``), measured
    on its held-out data; None when the file has none."""
    with open(path, encoding='utf-8') as file:
        stored = json.load(file).get('info', {}).get('lrp_thresholds',
                                                     {}).get(mode)
    return None if stored is None else np.array(
        [np.nan if t is None else t for t in stored], dtype=np.float64)


def laece_thresholds(detections: Dict[str, np.ndarray],
                     num_ground_truth: np.ndarray,
                     mode: str = 'per_class') -> np.ndarray:
    """The raw model's LRP-optimal thresholds on these detections.

    Args:
        detections (dict): ``scores``, ``labels``, ``laece_outcomes``,
            ``laece_ious`` (``(n,)`` each; see :func:`calibration_measures`).
        num_ground_truth (np.ndarray): ``(C,)`` objects per class.
        mode (str): ``'per_class'`` or ``'detector'`` (one threshold).

    Returns:
        np.ndarray: ``(C,)`` thresholds (NaN: keep the class whole).
    """
    if mode not in LRP_THRESHOLD_MODES:
        raise ValueError(f'LRP threshold mode must be one of '
                         f'{LRP_THRESHOLD_MODES}, got {mode!r}')
    labelled = detections['laece_outcomes'] != DROPPED
    return lrp_optimal_thresholds(
        detections['scores'][labelled], detections['labels'][labelled],
        detections['laece_ious'][labelled],
        detections['laece_outcomes'][labelled] == TRUE_POSITIVE,
        num_ground_truth, class_agnostic=mode == 'detector')


def calibration_measures(detections: Dict[str, np.ndarray],
                         num_ground_truth: np.ndarray, score_thr: float,
                         num_bins: int, calibrator=None,
                         mode: str = 'per_class',
                         thresholds: Optional[np.ndarray] = None
                         ) -> Tuple[Dict[str, float], Dict[str, object]]:
    """LaECE_0 and, with a calibrator, the fixed-set numbers.

    Args:
        detections (dict): ``(n,)`` arrays of every detection (down to the
            model's own score threshold): ``scores`` (as received, raw
            when a calibrator is given), ``labels``, ``outcomes``
            (:data:`.matching.TRUE_POSITIVE` / ``FALSE_POSITIVE`` /
            ``DROPPED`` at the D-ECE's IoU threshold), ``laece_outcomes``
            and ``laece_ious`` (the same at ``tau = 0``).
        num_ground_truth (np.ndarray): ``(C,)`` objects per class.
        score_thr (float): D-ECE's threshold.
        num_bins (int): D-ECE's bins.
        calibrator (ScoreCalibrator, optional): Applied to ``scores`` for
            the calibrated numbers.
        mode (str): LRP-optimal thresholds ``'per_class'`` or
            ``'detector'``, measured on these (raw) detections unless
            ``thresholds`` are given.
        thresholds (np.ndarray, optional): ``(C,)`` LaECE_0's raw-score
            thresholds from elsewhere (held-out data).

    Returns:
        tuple: the metric values (``laece0``, ``num_detections_laece0``;
        with a calibrator also ``laece0_calibrated``,
        ``d_ece_calibrated_fixed``, ``d_ece_calibrated_thresholded``,
        ``num_detections_calibrated_thresholded``) and a report dict with
        the thresholds and the fixed-set bins.

    Raises:
        ValueError: The calibrator or ``thresholds`` are for another number
            of classes.
    """
    num_classes = len(num_ground_truth)
    scores = detections['scores']
    calibrated_scores = None
    if calibrator is not None:
        if calibrator.num_classes != num_classes:
            raise ValueError(
                f'score_calibration was fitted for {calibrator.num_classes} '
                f'classes, the dataset has {num_classes}')
        calibrated_scores = calibrator.calibrate(scores,
                                                 detections['labels'])
    source = 'held-out (calibration file)'
    if thresholds is None:
        thresholds = laece_thresholds(detections, num_ground_truth, mode)
        source = 'the evaluated detections'
    if len(thresholds) != num_classes:
        raise ValueError(f'{len(thresholds)} LRP thresholds for '
                         f'{num_classes} classes')
    labelled = detections['laece_outcomes'] != DROPPED
    laece = fixed_set_laece(
        scores[labelled],
        (scores if calibrated_scores is None else calibrated_scores)[
            labelled], detections['labels'][labelled],
        detections['laece_ious'][labelled],
        detections['laece_outcomes'][labelled] == TRUE_POSITIVE,
        num_ground_truth, thresholds)
    metrics: Dict[str, float] = dict(
        laece0=laece['laece_raw'],
        num_detections_laece0=laece['num_detections'])
    report: Dict[str, object] = dict(
        laece0=dict(value=laece['laece_raw'],
                    num_detections=laece['num_detections'],
                    num_bins=LAECE_NUM_BINS, iou_thr=0.0,
                    threshold_mode=mode, threshold_source=source,
                    thresholds=np.asarray(thresholds).tolist()))
    if calibrated_scores is None:
        return metrics, report
    metrics['laece0_calibrated'] = laece['laece_calibrated']
    report['laece0']['calibrated'] = laece['laece_calibrated']
    labelled = detections['outcomes'] != DROPPED
    hits = detections['outcomes'][labelled] == TRUE_POSITIVE
    fixed = fixed_set_d_ece(scores[labelled], calibrated_scores[labelled],
                            hits, score_thr, num_bins)
    kept = calibrated_scores[labelled] >= score_thr
    metrics.update(
        d_ece_calibrated_fixed=fixed['d_ece_calibrated'],
        d_ece_calibrated_thresholded=expected_calibration_error(
            calibration_bins(calibrated_scores[labelled][kept], hits[kept],
                             score_thr, num_bins)),
        num_detections_calibrated_thresholded=int(kept.sum()))
    report['fixed_set'] = dict(
        num_detections=fixed['num_detections'],
        d_ece_raw=fixed['d_ece_raw'],
        d_ece_calibrated=fixed['d_ece_calibrated'],
        bins_raw=fixed['bins_raw'], bins_calibrated=fixed['bins_calibrated'])
    return metrics, report
