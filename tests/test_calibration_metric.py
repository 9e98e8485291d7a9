"""DetectionCalibrationMetric: D-ECE on detectors of known calibration.

The ground truth is a grid of 16 px boxes, each with a known class, on a
few 200 x 200 images; the right half of every image is empty. A detection
built on a grid box with the right class is a true positive, one in the
empty half a false positive, so every test chooses its outcomes and the
expected D-ECE follows by hand from

    D-ECE = sum_b (n_b / N) |precision_b - confidence_b|.
"""
import json
import logging
import math

import numpy as np
import pytest
import torch
from matplotlib import image as matplotlib_image
from mmdet.registry import METRICS

from focal_det.calibration import PlattCalibrator, save_calibrator
from focal_det.evaluation.calibration import (
    DIAGRAM_FILE_NAME, REPORT_FILE_NAME, DetectionCalibrationMetric,
    ReliabilityHistogram, calibration_bins, expected_calibration_error,
    match_detections)

CLASSES = ('cat', 'dog', 'bird')
# Listed in class order, as mmdet expects (label i is the i-th category of
# the file named in the classes), but with ids that are neither 0..n-1 nor
# sorted, so a wrong label -> category id mapping shows.
CATEGORIES = [dict(id=7, name='cat'), dict(id=3, name='dog'),
              dict(id=11, name='bird')]
IMAGE_IDS = (1, 2, 3)
IMAGE_SIZE = 200
GRID_CELLS_PER_ROW = 5  # 20 px cells: the grid fills x < 100
CELL = 20
BOX_SIZE = 16
NUM_CELLS = 30  # gt boxes per image, in 6 rows
CROWD_BOX = [150.0, 150.0, 200.0, 200.0]  # x1, y1, x2, y2, image 3 only
CROWD_LABEL = 0


def grid_box(cell):
    """x1, y1, x2, y2 of the ground-truth box in grid cell ``cell``.

    Five cells per row fill the left 100 px, so no gt box reaches the
    right half where false positives go.
    """
    row, column = divmod(cell, GRID_CELLS_PER_ROW)
    x1, y1 = column * CELL + 2, row * CELL + 2
    return [float(x1), float(y1), float(x1 + BOX_SIZE), float(y1 + BOX_SIZE)]


def empty_box(index):
    """A box in the right half (x >= 100, above the crowd box): no gt."""
    row, column = divmod(index, 2)
    x1, y1 = 100 + column * CELL + 2, (row % 7) * CELL + 2
    return [float(x1), float(y1), float(x1 + BOX_SIZE), float(y1 + BOX_SIZE)]


def cell_label(cell):
    """Class label of the gt box in ``cell``: classes take turns."""
    return cell % len(CLASSES)



def xyxy_to_xywh(box):
    """COCO files store boxes as x, y, width, height."""
    return [box[0], box[1], box[2] - box[0], box[3] - box[1]]


@pytest.fixture
def ann_file(tmp_path):
    """COCO ground truth: NUM_CELLS boxes per image, one crowd on image 3."""
    label_to_category = {
        label: next(c['id'] for c in CATEGORIES if c['name'] == name)
        for label, name in enumerate(CLASSES)
    }
    annotations = []
    for image_id in IMAGE_IDS:
        for cell in range(NUM_CELLS):
            box = grid_box(cell)
            annotations.append(
                dict(image_id=image_id,
                     category_id=label_to_category[cell_label(cell)],
                     bbox=xyxy_to_xywh(box), area=BOX_SIZE**2, iscrowd=0))
    annotations.append(
        dict(image_id=3, category_id=label_to_category[CROWD_LABEL],
             bbox=xyxy_to_xywh(CROWD_BOX), area=50 * 50, iscrowd=1))
    for ann_id, annotation in enumerate(annotations, start=1):
        annotation['id'] = ann_id
    dataset = dict(
        images=[
            dict(id=image_id, file_name=f'{image_id}.jpg', width=IMAGE_SIZE,
                 height=IMAGE_SIZE) for image_id in IMAGE_IDS
        ],
        categories=CATEGORIES,
        annotations=annotations)
    path = tmp_path / 'instances.json'
    path.write_text(json.dumps(dataset))
    return str(path)


class Detections:
    """Builds data samples, as a detector's test step returns them.

    ``add_true_positives`` and ``add_false_positives`` spread detections
    over the images in turn and use each grid cell (empty-half slot) once,
    so true positives never share a gt box unless a test asks for it with
    ``add``.
    """

    def __init__(self):
        self.per_image = {image_id: [] for image_id in IMAGE_IDS}
        self.next_cell = {image_id: 0 for image_id in IMAGE_IDS}
        self.next_empty = {image_id: 0 for image_id in IMAGE_IDS}

    def _image(self, index):
        return IMAGE_IDS[index % len(IMAGE_IDS)]

    def add(self, image_id, box, label, score):
        """One detection."""
        self.per_image[image_id].append((box, label, score))

    def add_true_positives(self, count, score):
        """``count`` detections exactly on unused gt boxes of their class."""
        for index in range(count):
            image_id = self._image(index)
            cell = self.next_cell[image_id]
            self.next_cell[image_id] += 1
            self.add(image_id, grid_box(cell), cell_label(cell), score)

    def add_false_positives(self, count, score):
        """``count`` class-0 detections in the empty half of the images."""
        for index in range(count):
            image_id = self._image(index)
            box = empty_box(self.next_empty[image_id])
            self.next_empty[image_id] += 1
            self.add(image_id, box, 0, score)

    def add_calibrated_bin(self, confidence, true_positives, total):
        """``total`` detections at ``confidence``, ``true_positives`` right."""
        self.add_true_positives(true_positives, confidence)
        self.add_false_positives(total - true_positives, confidence)

    def data_samples(self):
        """Data samples with tensors, one per image (also empty images).

        Scores are float64 so that a constructed confidence such as 0.4
        equals the precision 2 / 5 exactly (float32 would be off by 6e-9).
        """
        samples = []
        for image_id, detections in self.per_image.items():
            boxes = [box for box, _, _ in detections]
            samples.append(
                dict(img_id=image_id, ori_shape=(IMAGE_SIZE, IMAGE_SIZE),
                     pred_instances=dict(
                         bboxes=torch.tensor(boxes,
                                             dtype=torch.float32).reshape(
                                                 -1, 4),
                         labels=torch.tensor(
                             [label for _, label, _ in detections],
                             dtype=torch.int64),
                         scores=torch.tensor(
                             [score for _, _, score in detections],
                             dtype=torch.float64))))
        return samples


def evaluate(metric, detections, classes=CLASSES):
    """Run the metric as mmengine's Evaluator does, one image per batch."""
    metric.dataset_meta = dict(classes=classes)
    samples = detections.data_samples()
    for sample in samples:
        metric.process({}, [sample])
    return metric.evaluate(len(samples))


def make_metric(ann_file, tmp_path, **kwargs):
    """A metric writing its report into ``tmp_path / 'report'``."""
    kwargs.setdefault('save_dir', str(tmp_path / 'report'))
    return DetectionCalibrationMetric(ann_file, **kwargs)


def read_report(directory):
    with open(directory / REPORT_FILE_NAME) as file:
        return json.load(file)


# ---------------------------------------------------------------------------
# Known calibration
# ---------------------------------------------------------------------------


def test_perfectly_calibrated_detector_has_zero_d_ece(ann_file, tmp_path):
    detections = Detections()
    # In every bin the fraction of true positives equals the confidence.
    for confidence, true_positives, total in [(0.4, 2, 5), (0.5, 1, 2),
                                              (0.75, 3, 4), (0.9, 9, 10),
                                              (1.0, 2, 2)]:
        detections.add_calibrated_bin(confidence, true_positives, total)

    results = evaluate(make_metric(ann_file, tmp_path), detections)

    assert results['calib/d_ece'] < 1e-9
    assert results['calib/num_detections'] == 23
    bins = read_report(tmp_path / 'report')['bins']
    filled = [b for b in bins if b['count']]
    assert [b['count'] for b in filled] == [5, 2, 4, 10, 2]
    assert [b['precision'] for b in filled] == pytest.approx(
        [b['confidence'] for b in filled], abs=1e-9)


def test_over_confident_detector(ann_file, tmp_path):
    detections = Detections()
    detections.add_true_positives(5, 0.95)
    detections.add_false_positives(5, 0.95)

    results = evaluate(make_metric(ann_file, tmp_path), detections)

    assert results['calib/d_ece'] == pytest.approx(0.45)
    assert results['calib/num_detections'] == 10


def test_under_confident_detector(ann_file, tmp_path):
    detections = Detections()
    detections.add_true_positives(6, 0.35)

    results = evaluate(make_metric(ann_file, tmp_path), detections)

    assert results['calib/d_ece'] == pytest.approx(0.65)


def test_bins_are_weighted_by_their_detection_count(ann_file, tmp_path):
    detections = Detections()
    detections.add_true_positives(2, 0.95)  # 4 at 0.95, half right: 0.45
    detections.add_false_positives(2, 0.95)
    detections.add_true_positives(12, 0.35)  # 12 at 0.35, all right: 0.65

    results = evaluate(make_metric(ann_file, tmp_path), detections)

    assert results['calib/d_ece'] == pytest.approx((4 * 0.45 + 12 * 0.65) /
                                                   16)


# ---------------------------------------------------------------------------
# Matching rules
# ---------------------------------------------------------------------------


def shifted(box, dx):
    return [box[0] + dx, box[1], box[2] + dx, box[3]]


@pytest.mark.parametrize('iou_thr, expected_d_ece', [(0.5, 0.05),
                                                     (0.7, 0.95)])
def test_iou_threshold_decides_true_positive(ann_file, tmp_path, iou_thr,
                                             expected_d_ece):
    # A 16 px box shifted by 4 px: intersection 12 * 16 = 192, union
    # 2 * 256 - 192 = 320, IoU 0.6.
    detections = Detections()
    detections.add(1, shifted(grid_box(0), 4.0), cell_label(0), 0.95)

    results = evaluate(make_metric(ann_file, tmp_path, iou_thr=iou_thr),
                       detections)

    assert results['calib/d_ece'] == pytest.approx(expected_d_ece)


def test_right_box_with_wrong_class_is_false_positive(ann_file, tmp_path):
    detections = Detections()
    wrong_label = (cell_label(0) + 1) % len(CLASSES)
    detections.add(1, grid_box(0), wrong_label, 0.95)

    results = evaluate(make_metric(ann_file, tmp_path), detections)

    assert results['calib/d_ece'] == pytest.approx(0.95)
    assert results['calib/num_detections'] == 1


def test_second_detection_of_one_object_is_false_positive(ann_file,
                                                          tmp_path):
    # Lower score listed first: matching must follow the score, not the
    # input order. 0.9 -> true positive (gap 0.1), 0.8 -> duplicate (0.8).
    detections = Detections()
    detections.add(1, grid_box(0), cell_label(0), 0.8)
    detections.add(1, grid_box(0), cell_label(0), 0.9)

    results = evaluate(make_metric(ann_file, tmp_path), detections)

    assert results['calib/d_ece'] == pytest.approx(0.5 * 0.1 + 0.5 * 0.8)
    bins = read_report(tmp_path / 'report')['bins']
    precision_by_confidence = {
        round(b['confidence'], 6): b['precision']
        for b in bins if b['count']
    }
    assert precision_by_confidence == {0.9: 1.0, 0.8: 0.0}


def test_detections_covering_a_crowd_region_are_dropped(ann_file, tmp_path):
    detections = Detections()
    # Inside the crowd box, right class: neither true nor false positive.
    detections.add(3, [160.0, 160.0, 180.0, 180.0], CROWD_LABEL, 0.95)
    detections.add(3, [170.0, 170.0, 190.0, 190.0], CROWD_LABEL, 0.9)
    # Inside the crowd box, other class: a plain false positive.
    detections.add(3, [160.0, 160.0, 180.0, 180.0], CROWD_LABEL + 1, 0.95)

    results = evaluate(make_metric(ann_file, tmp_path), detections)

    assert results['calib/num_detections'] == 1
    assert results['calib/d_ece'] == pytest.approx(0.95)


def test_score_threshold_filters_and_sets_bin_range(ann_file, tmp_path):
    detections = Detections()
    detections.add_true_positives(4, 0.95)
    detections.add_false_positives(6, 0.2)  # below the default 0.3

    default = evaluate(make_metric(ann_file, tmp_path), detections)
    assert default['calib/num_detections'] == 4
    assert default['calib/d_ece'] == pytest.approx(0.05)
    assert read_report(tmp_path / 'report')['bins'][0]['lower'] == \
        pytest.approx(0.3)

    lower = evaluate(make_metric(ann_file, tmp_path, score_thr=0.1),
                     detections)
    assert lower['calib/num_detections'] == 10
    assert lower['calib/d_ece'] == pytest.approx(0.4 * 0.05 + 0.6 * 0.2)
    assert read_report(tmp_path / 'report')['bins'][0]['lower'] == \
        pytest.approx(0.1)


@pytest.mark.parametrize('low_scores', [False, True])
def test_no_detection_gives_nan(ann_file, tmp_path, low_scores):
    # NaN, not 0: without detections nothing says the detector is
    # calibrated.
    detections = Detections()
    if low_scores:
        detections.add_true_positives(3, 0.1)

    results = evaluate(make_metric(ann_file, tmp_path, classwise=True),
                       detections)

    assert math.isnan(results['calib/d_ece'])
    assert math.isnan(results['calib/d_ece_classwise'])
    assert results['calib/num_detections'] == 0
    report = read_report(tmp_path / 'report')
    assert report['d_ece'] is None  # NaN is written as JSON null
    assert all(b['count'] == 0 for b in report['bins'])
    assert (tmp_path / 'report' / DIAGRAM_FILE_NAME).stat().st_size > 0


def test_classwise_mean_over_classes_with_detections(ann_file, tmp_path):
    detections = Detections()
    # cat: 3 of 4 right at 0.75 -> 0; dog: 1 of 2 right at 0.95 -> 0.45;
    # bird: no detection -> excluded from the mean.
    detections.add(1, grid_box(0), 0, 0.75)
    detections.add(1, grid_box(3), 0, 0.75)
    detections.add(1, grid_box(6), 0, 0.75)
    detections.add(1, empty_box(0), 0, 0.75)
    detections.add(1, grid_box(1), 1, 0.95)
    detections.add(1, empty_box(1), 1, 0.95)

    results = evaluate(make_metric(ann_file, tmp_path, classwise=True),
                       detections)

    assert results['calib/d_ece'] == pytest.approx(2 / 6 * 0.45)
    assert results['calib/d_ece_classwise'] == pytest.approx(0.225)
    per_class = read_report(tmp_path / 'report')['per_class']
    assert per_class['cat'] == dict(d_ece=pytest.approx(0.0),
                                    num_detections=4)
    assert per_class['dog']['d_ece'] == pytest.approx(0.45)
    assert per_class['bird'] == dict(d_ece=None, num_detections=0)


def test_labels_without_classes_follow_sorted_category_ids(
        ann_file, tmp_path):
    # Sorted ids 3 (dog), 7 (cat), 11 (bird): label 0 is dog here.
    metric = make_metric(ann_file, tmp_path)
    detections = Detections()
    detections.add(1, grid_box(1), 0, 0.95)  # a dog box
    samples = detections.data_samples()
    for sample in samples:
        metric.process({}, [sample])

    results = metric.evaluate(len(samples))

    assert results['calib/d_ece'] == pytest.approx(0.05)


# ---------------------------------------------------------------------------
# Pure functions
# ---------------------------------------------------------------------------


def test_match_detections_prefers_highest_iou_unmatched_box():
    # The first detection overlaps both gt boxes (IoU 0.54 and 1): taking
    # the first one instead of the best would leave the second detection,
    # which only overlaps gt 0 enough (IoU 0.54 vs 0.25), unmatched.
    gt_boxes = np.array([[0, 0, 10, 10], [3, 0, 13, 10]], dtype=float)
    boxes = np.array([[3, 0, 13, 10], [-3, 0, 7, 10], [50, 50, 60, 60]],
                     dtype=float)
    outcomes, _ = match_detections(boxes, np.array([0.9, 0.8, 0.7]),
                                   gt_boxes, np.zeros(2, dtype=bool),
                                   iou_thr=0.5)
    assert outcomes.tolist() == [1, 1, 0]


def test_bin_edges_and_last_bin_holds_one():
    bins = calibration_bins(np.array([0.5, 0.999, 1.0]),
                            np.array([True, True, False]), 0.5, 5)
    assert [b['count'] for b in bins] == [1, 0, 0, 0, 2]
    assert bins[-1]['upper'] == pytest.approx(1.0)
    assert expected_calibration_error(bins) == pytest.approx(
        (1 * 0.5 + 2 * abs(0.5 - 0.9995)) / 3)


def test_histogram_fed_in_batches_equals_one_pass():
    # The per-anchor analysis feeds millions of scores batch by batch; the
    # bins must be those of all scores binned at once.
    rng = np.random.default_rng(0)
    scores = rng.random(5000) ** 3
    outcomes = rng.random(5000) < scores
    histogram = ReliabilityHistogram(20)
    for chunk in np.array_split(np.arange(5000), 7):
        histogram.add(scores[chunk], outcomes[chunk])
    at_once = calibration_bins(scores, outcomes, 0.0, 20)

    in_batches = histogram.bins()
    assert [b['count'] for b in in_batches] == [b['count'] for b in at_once]
    for batched, direct in zip(in_batches, at_once):
        if direct['count']:
            assert batched['confidence'] == pytest.approx(
                direct['confidence'], rel=1e-12)
            assert batched['precision'] == pytest.approx(direct['precision'])
    assert histogram.ece() == pytest.approx(
        expected_calibration_error(at_once))
    assert histogram.ece(0.5) == pytest.approx(
        expected_calibration_error(
            [b for b in at_once if b['lower'] >= 0.5 - 1e-12]))
    assert histogram.ece(0.5) != pytest.approx(histogram.ece())


# ---------------------------------------------------------------------------
# Files, registry, logging
# ---------------------------------------------------------------------------


def test_json_and_png_are_written(ann_file, tmp_path):
    detections = Detections()
    detections.add_calibrated_bin(0.75, 3, 4)
    detections.add_false_positives(2, 0.5)

    metric = make_metric(ann_file, tmp_path, num_bins=7)
    evaluate(metric, detections)

    report_dir = tmp_path / 'report'
    assert metric.report_path == str(report_dir / REPORT_FILE_NAME)
    report = read_report(report_dir)
    assert report['d_ece'] == pytest.approx(2 / 6 * 0.5)
    assert report['num_detections'] == 6
    assert report['num_bins'] == len(report['bins']) == 7
    assert set(report['bins'][0]) == {'lower', 'upper', 'count',
                                      'confidence', 'precision', 'gap'}
    pixels = matplotlib_image.imread(str(report_dir / DIAGRAM_FILE_NAME))
    height, width = pixels.shape[:2]
    assert 300 <= height <= 1000 and 300 <= width <= 1000
    assert pixels.std() > 0  # not a blank image


def test_built_from_registry_with_prefix(ann_file, tmp_path):
    metric = METRICS.build(
        dict(type='DetectionCalibrationMetric', ann_file=ann_file,
             save_dir=str(tmp_path / 'report'), prefix='val_calib'))
    detections = Detections()
    detections.add_true_positives(2, 0.95)

    results = evaluate(metric, detections)

    assert set(results) == {
        'val_calib/d_ece', 'val_calib/num_detections', 'val_calib/laece0',
        'val_calib/num_detections_laece0'
    }


def test_report_goes_beside_log_file_by_default(ann_file, tmp_path,
                                                current_logger):
    log_dir = tmp_path / 'work_dir' / '20240101_000000'
    log_dir.mkdir(parents=True)
    current_logger('calibration_with_file', log_file=str(log_dir / 'run.log'))
    detections = Detections()
    detections.add_true_positives(2, 0.95)

    evaluate(DetectionCalibrationMetric(ann_file), detections)

    assert read_report(log_dir)['d_ece'] == pytest.approx(0.05)
    assert (log_dir / DIAGRAM_FILE_NAME).is_file()
    assert 'D-ECE' in (log_dir / 'run.log').read_text()


def test_report_skipped_with_warning_without_log_file(ann_file,
                                                      current_logger):
    logger = current_logger('calibration_without_file')
    records = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = records.append
    logger.addHandler(handler)
    detections = Detections()
    detections.add_true_positives(2, 0.95)

    metric = DetectionCalibrationMetric(ann_file)
    results = evaluate(metric, detections)

    assert results['calib/d_ece'] == pytest.approx(0.05)
    assert metric.report_path is None and metric.diagram_path is None
    assert any(REPORT_FILE_NAME in record.getMessage() for record in records)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_missing_ann_file_names_the_path(tmp_path):
    missing = str(tmp_path / 'nowhere' / 'instances.json')
    with pytest.raises(FileNotFoundError, match='nowhere'):
        DetectionCalibrationMetric(missing)


@pytest.mark.parametrize('argument, value', [
    ('num_bins', 0), ('num_bins', 2.5), ('iou_thr', 0.0), ('iou_thr', 1.5),
    ('score_thr', 1.0), ('score_thr', -0.1)
])
def test_invalid_arguments_name_the_parameter(ann_file, argument, value):
    with pytest.raises(ValueError, match=argument):
        DetectionCalibrationMetric(ann_file, **{argument: value})


def test_unknown_class_and_label_are_reported(ann_file, tmp_path):
    detections = Detections()
    detections.add_true_positives(1, 0.95)
    with pytest.raises(ValueError, match='horse'):
        evaluate(make_metric(ann_file, tmp_path), detections,
                 classes=('cat', 'horse'))

    out_of_range = Detections()
    out_of_range.add(1, grid_box(0), len(CLASSES), 0.95)
    with pytest.raises(ValueError, match='labels'):
        evaluate(make_metric(ann_file, tmp_path), out_of_range)


# ---------------------------------------------------------------------------
# Beside D-ECE: LaECE_0 and the fixed set of a calibrator
# ---------------------------------------------------------------------------


def test_fixed_set_of_a_calibrator_that_pushes_scores_down(ann_file,
                                                          tmp_path):
    # Platt with bias -2 moves every score down in log-odds: 0.35 -> 0.068
    # and 0.5 -> 0.119 fall under 0.3, 0.9 -> 0.549 stays above.
    path = str(tmp_path / 'shift.json')
    save_calibrator(PlattCalibrator([1.0] * 3, [-2.0] * 3), path,
                    list(CLASSES),
                    dict(lrp_thresholds=dict(per_class=[0.4, None, 0.4])))
    detections = Detections()
    detections.add_true_positives(5, 0.35)
    detections.add_false_positives(10, 0.5)
    detections.add_true_positives(10, 0.9)
    metric = make_metric(ann_file, tmp_path, score_calibration=path,
                         prefix='c')
    results = evaluate(metric, detections)

    # Raw: bins [0.3, 0.37), [0.44, 0.51), [0.86, 0.93).
    assert results['c/d_ece'] == pytest.approx(
        (5 * 0.65 + 10 * 0.5 + 10 * 0.1) / 25, abs=1e-9)
    assert results['c/num_detections'] == 25
    low, mid, high = (1 / (1 + math.exp(-(math.log(s / (1 - s)) - 2)))
                      for s in (0.35, 0.5, 0.9))
    # The same 25 detections, calibrated: bins [0.02, 0.09), [0.09,
    # 0.16), [0.51, 0.58) of the grid continued below 0.3.
    assert results['c/d_ece_calibrated_fixed'] == pytest.approx(
        (5 * (1 - low) + 10 * mid + 10 * (1 - high)) / 25, abs=1e-9)
    # Thresholded after calibration, only the 0.9s are left.
    assert results['c/num_detections_calibrated_thresholded'] == 10
    assert results['c/d_ece_calibrated_thresholded'] == pytest.approx(
        1 - high, abs=1e-9)
    # LaECE_0 on the file's thresholds (held out): classes 0 and 2 keep
    # raw scores >= 0.4, class 1 everything.
    report = read_report(tmp_path / 'report')
    assert report['laece0']['threshold_source'].startswith('held-out')
    assert report['laece0']['thresholds'][0] == 0.4
    assert report['laece0']['thresholds'][1] is None  # NaN: keep all
    assert report['fixed_set']['num_detections'] == 25
    assert not math.isnan(results['c/laece0_calibrated'])


def test_laece0_of_exact_boxes_is_their_score_gap(ann_file, tmp_path):
    # Exact boxes have IoU 1: a perfect LaECE_0 needs score 1. Nine true
    # positives at 0.8 over three classes: every class's gap is 0.2, and
    # with no false positive the LRP-optimal threshold keeps them all.
    detections = Detections()
    detections.add_true_positives(9, 0.8)
    results = evaluate(make_metric(ann_file, tmp_path, prefix='c'),
                       detections)
    assert results['c/laece0'] == pytest.approx(0.2, abs=1e-9)
    assert results['c/num_detections_laece0'] == 9
