"""Calibration measures on per-detection arrays: fixed-set D-ECE, LaECE_0,
LRP-optimal thresholds, matching at tau = 0, the image bootstrap's
resampled values.

Every expected value is worked out by hand in the test (the bins and gaps
are written next to it), or, for LaECE_0 on random detections, comes from
a transcription of the reference code's loops (fiveai/detection_calibration,
``coco_calibration.py``: ``compute_single_errors`` and
``accumulate_errors``).
"""
import math

import numpy as np
import pytest

from focal_det.analysis.bootstrap import (image_draw_counts,
                                         percentile_interval)
from focal_det.analysis.fixed_set_evaluation import (fixed_d_ece_resamples,
                                                     laece_resamples)
from focal_det.evaluation.calibration import (calibration_bins,
                                              expected_calibration_error,
                                              fixed_set_d_ece,
                                              fixed_set_laece,
                                              localisation_aware_ece,
                                              lrp_optimal_threshold,
                                              lrp_optimal_thresholds,
                                              match_detections)


def test_fixed_set_is_the_raw_models_and_ignores_where_scores_move():
    # Detections 0 and 1 are pushed under 0.3 by the "calibrator",
    # detection 4 is lifted over it from a raw 0.25.
    raw = np.array([0.35, 0.45, 0.75, 0.95, 0.25])
    calibrated = np.array([0.10, 0.20, 0.70, 0.90, 0.50])
    hits = np.array([True, False, True, True, True])
    result = fixed_set_d_ece(raw, calibrated, hits, 0.3, 10)
    # The set is the raw model's: raw >= 0.3, four detections, whatever
    # the calibrated scores do.
    assert result['num_detections'] == 4
    # Raw, bins of width 0.07 from 0.3, one detection each:
    # |1-.35| + |0-.45| + |1-.75| + |1-.95| = 1.4, over 4.
    assert result['d_ece_raw'] == pytest.approx(0.35, abs=1e-12)
    # Calibrated, the same grid continued below 0.3 (edges ..., 0.09, 0.16,
    # 0.23, 0.30, ...), one detection each: |1-.1| + |0-.2| + |1-.7| +
    # |1-.9| = 1.5, over 4.
    assert result['d_ece_calibrated'] == pytest.approx(0.375, abs=1e-12)
    # The thresholded D-ECE of the calibrated scores would grade another
    # set (0.5, 0.7, 0.9: three detections, 0.3): what the fixed set
    # prevents.
    kept = calibrated >= 0.3
    assert kept.sum() == 3
    thresholded = expected_calibration_error(
        calibration_bins(calibrated[kept], hits[kept], 0.3, 10))
    assert thresholded == pytest.approx(0.3, abs=1e-12)


def test_fixed_set_raw_value_is_the_thresholded_d_ece():
    rng = np.random.default_rng(3)
    raw = rng.uniform(0, 1, 2000)
    hits = rng.uniform(size=2000) < raw
    kept = raw >= 0.3
    thresholded = expected_calibration_error(
        calibration_bins(raw[kept], hits[kept], 0.3, 10))
    result = fixed_set_d_ece(raw, raw * 0.5, hits, 0.3, 10)
    assert result['d_ece_raw'] == pytest.approx(thresholded, abs=1e-12)
    assert result['num_detections'] == kept.sum()


def laece_example():
    """Class 0: 0.9 (TP, IoU 0.8) and 0.3 (FP); class 1: 0.49 (TP, IoU
    0.7) and 0.51 (FP), one bin [0.48, 0.52); class 2: a detection but no
    object (left out)."""
    scores = np.array([0.9, 0.3, 0.49, 0.51, 0.6])
    labels = np.array([0, 0, 1, 1, 2])
    ious = np.array([0.8, 0.0, 0.7, 0.0, 0.0])
    hits = np.array([True, False, True, False, False])
    return scores, labels, ious, hits, np.array([2, 3, 0])


def test_laece_on_a_hand_example():
    scores, labels, ious, hits, num_gt = laece_example()
    result = localisation_aware_ece(scores, labels, ious, hits, num_gt)
    # Class 0: two bins, |0.9 - 0.8| / 2 + |0.3 - 0| / 2 = 0.2.
    # Class 1: one bin, mean score 0.5, mean IoU 0.35: 0.15.
    assert result['per_class'][0] == pytest.approx(0.2, abs=1e-12)
    assert result['per_class'][1] == pytest.approx(0.15, abs=1e-12)
    assert math.isnan(result['per_class'][2])
    assert result['laece'] == pytest.approx(0.175, abs=1e-12)
    assert result['num_detections'] == 4 and result['num_classes'] == 2


def reference_laece(scores, labels, ious, hits, num_gt, bin_count=25):
    """The reference's loops: per class with objects, right-closed bins
    (the first also holds 0), ``prec_iou = sum TP IoU / n``, weight
    ``n / N``; ``nansum`` over bins, classes with a zero sum dropped,
    ``nanmean`` over classes."""
    bins = np.linspace(0.0, 1.0, bin_count + 1)
    sums = []
    for cl in range(len(num_gt)):
        if num_gt[cl] == 0:
            continue
        cl_scores, cl_hits = scores[labels == cl], hits[labels == cl]
        cl_ious = ious[labels == cl]
        total = len(cl_scores)
        if total == 0:
            continue
        errors, weights = np.zeros(bin_count), np.zeros(bin_count)
        for i in range(bin_count):
            if i == 0:
                in_bin = (bins[i] <= cl_scores) & (cl_scores <= bins[i + 1])
            else:
                in_bin = (bins[i] < cl_scores) & (cl_scores <= bins[i + 1])
            if in_bin.sum() == 0:
                errors[i] = np.nan
                continue
            prec_iou = cl_ious[in_bin & cl_hits].sum() / in_bin.sum()
            errors[i] = abs(prec_iou - cl_scores[in_bin].mean())
            weights[i] = in_bin.sum() / total
        class_sum = np.nansum(weights * errors)
        if class_sum != 0:
            sums.append(class_sum)
    return float(np.mean(sums))


def test_laece_equals_the_reference_definition():
    rng = np.random.default_rng(0)
    n = 3000
    labels = rng.integers(0, 6, n)
    scores = rng.uniform(0, 1, n)
    hits = rng.uniform(size=n) < scores
    ious = np.where(hits, rng.uniform(0.05, 1.0, n), 0.0)
    num_gt = np.array([40, 0, 35, 50, 10, 60])
    ours = localisation_aware_ece(scores, labels, ious, hits, num_gt)
    assert ours['laece'] == pytest.approx(
        reference_laece(scores, labels, ious, hits, num_gt), abs=1e-12)
    assert ours['num_classes'] == 5  # class 1 has no object


def test_fixed_set_laece_keeps_the_raw_thresholds_set():
    scores, labels, ious, hits, num_gt = laece_example()
    # Class 0 keeps >= 0.5 (only the 0.9), class 1 everything (NaN).
    thresholds = np.array([0.5, np.nan, 0.0])
    calibrated = scores.copy()
    calibrated[0] = 0.8  # exactly the IoU of the kept class-0 detection
    result = fixed_set_laece(scores, calibrated, labels, ious, hits, num_gt,
                             thresholds)
    assert result['num_detections'] == 3  # 0.9, 0.49, 0.51 (class 2 out)
    # Raw: class 0 |0.9 - 0.8| = 0.1, class 1 0.15: mean 0.125.
    assert result['laece_raw'] == pytest.approx(0.125, abs=1e-12)
    # Calibrated: class 0 exact (0), class 1 0.15: mean 0.075.
    assert result['laece_calibrated'] == pytest.approx(0.075, abs=1e-12)


def lrp_example():
    """Three objects; by score: TP (IoU 0.9), FP, TP (IoU 0.6), FP, TP
    (IoU 0.2)."""
    scores = np.array([0.6, 0.9, 0.5, 0.7, 0.8])
    hits = np.array([False, True, True, True, False])
    ious = np.array([0.0, 0.9, 0.2, 0.6, 0.0])
    return scores, ious, hits


def test_lrp_optimal_threshold_on_a_hand_example():
    scores, ious, hits = lrp_example()
    # tau = 0: LRP = (sum (1 - IoU) + FP + FN) / (TP + FP + FN) of the
    # detections scored >= t:
    #   t = 0.9: (0.1 + 0 + 2) / 3 = 0.700
    #   t = 0.8: (0.1 + 1 + 2) / 4 = 0.775
    #   t = 0.7: (0.5 + 1 + 1) / 4 = 0.625   <- lowest
    #   t = 0.6: (0.5 + 2 + 1) / 5 = 0.700
    #   t = 0.5: (1.3 + 2 + 0) / 5 = 0.660
    best = lrp_optimal_threshold(scores, ious, hits, 3)
    assert best['threshold'] == 0.7
    assert best['olrp'] == pytest.approx(0.625, abs=1e-12)
    # tau = 0.5 doubles the localisation term: t = 0.9 gives
    # (0.2 + 2) / 3 = 0.733, t = 0.7 (1.0 + 2) / 4 = 0.75: 0.9 wins.
    assert lrp_optimal_threshold(scores, ious, hits, 3,
                                 iou_thr=0.5)['threshold'] == 0.9


def test_lrp_thresholds_per_class_or_for_the_detector():
    scores, ious, hits = lrp_example()
    # Class 0: the example; class 1: one false positive, no true positive.
    all_scores = np.append(scores, 0.95)
    all_ious, all_hits = np.append(ious, 0.0), np.append(hits, False)
    labels = np.array([0, 0, 0, 0, 0, 1])
    per_class = lrp_optimal_thresholds(all_scores, labels, all_ious,
                                       all_hits, np.array([3, 1]))
    assert per_class[0] == 0.7
    assert math.isnan(per_class[1])  # no true positive: keep all
    # One threshold from the pooled detections (4 objects): its FP at
    # 0.95 comes first, t = 0.7 gives (0.5 + 2 + 2) / 6 = 0.75, t = 0.5
    # (1.3 + 3 + 1) / 7 = 0.757, t = 0.9 (0.1 + 1 + 3) / 5 = 0.82.
    detector = lrp_optimal_thresholds(all_scores, labels, all_ious, all_hits,
                                      np.array([3, 1]), class_agnostic=True)
    assert detector.tolist() == [0.7, 0.7]


def test_matching_at_tau_zero_needs_an_overlap_and_reports_the_iou():
    gt_boxes = np.array([[0, 0, 10, 10]], dtype=float)
    # The higher-scored box does not touch the object; the lower one
    # overlaps it a little (IoU 20 / 180). At tau = 0 the first must not
    # take the object (COCOeval with iouThrs=[0] would let it).
    boxes = np.array([[50, 50, 60, 60], [8, 0, 18, 10]], dtype=float)
    outcomes, ious = match_detections(boxes, np.array([0.9, 0.5]), gt_boxes,
                                      np.zeros(1, dtype=bool), iou_thr=0.0)
    assert outcomes.tolist() == [0, 1]
    assert ious[0] == 0 and ious[1] == pytest.approx(20 / 180)
    outcomes, _ = match_detections(boxes, np.array([0.9, 0.5]), gt_boxes,
                                   np.zeros(1, dtype=bool), iou_thr=0.5)
    assert outcomes.tolist() == [0, 0]


def test_image_draws_are_whole_images_and_the_interval_is_central():
    counts = image_draw_counts(4, 50, seed=1)
    assert counts.shape == (50, 4) and np.all(counts.sum(axis=1) == 4)
    # The mean of per-image values 0 and 1, 50 images each: a 95 %
    # interval around 0.5 of half-width about 2 * 0.5 / sqrt(100).
    values = np.repeat([0.0, 1.0], 50)
    draws = image_draw_counts(100, 2000, seed=0)
    interval = percentile_interval(draws @ values / 100)
    assert 0.38 < interval['low'] < 0.44 and 0.56 < interval['high'] < 0.62


def detections_of_images():
    """Three images of a made-up detector: scores, labels, outcomes at
    IoU 0.5 and at tau = 0 with IoUs, per-image objects."""
    rng = np.random.default_rng(5)
    n = 600
    image_ids = rng.choice([4, 8, 15], n)
    scores = rng.uniform(0.01, 1.0, n)
    hit = rng.uniform(size=n) < scores
    return dict(
        scores=scores, labels=rng.integers(0, 3, n), image_ids=image_ids,
        outcomes=hit.astype(np.int64),
        laece_outcomes=(hit | (rng.uniform(size=n) < 0.2)).astype(np.int64),
        laece_ious=rng.uniform(0.05, 1.0, n), class_buckets=None,
        num_ground_truth=np.array([90, 80, 0]),
        image_num_ground_truth={4: np.array([30, 20, 0]),
                                8: np.array([30, 30, 0]),
                                15: np.array([30, 30, 0])})


@pytest.mark.parametrize('draws', [[1, 1, 1], [2, 0, 1], [0, 3, 0]])
def test_resampled_sums_give_the_functions_values(draws):
    # A resample drawing image 4 twice is the detections of image 4
    # twice: the interval's values must be the metric functions' values
    # on exactly those detections.
    detections = detections_of_images()
    calibrated = np.clip(detections['scores'] * 0.7 + 0.05, 0, 1)
    thresholds = np.array([0.4, np.nan, 0.2])
    images = sorted(detections['image_num_ground_truth'])
    copies = [np.flatnonzero(detections['image_ids'] == image)
              for image, count in zip(images, draws) for _ in range(count)]
    chosen = np.concatenate(copies)
    tp0 = detections['laece_outcomes'][chosen] == 1
    expected_d_ece = fixed_set_d_ece(
        detections['scores'][chosen], calibrated[chosen],
        detections['outcomes'][chosen] == 1)['d_ece_calibrated']
    num_gt = sum(count * detections['image_num_ground_truth'][image]
                 for image, count in zip(images, draws))
    expected_laece = fixed_set_laece(
        detections['scores'][chosen], calibrated[chosen],
        detections['labels'][chosen], detections['laece_ious'][chosen], tp0,
        num_gt, thresholds)['laece_calibrated']
    counts = np.array([draws], dtype=np.float64)
    assert fixed_d_ece_resamples(detections, calibrated, counts)[0] == \
        pytest.approx(expected_d_ece, abs=1e-12)
    assert laece_resamples(detections, calibrated, thresholds, counts)[0] \
        == pytest.approx(expected_laece, abs=1e-12)
