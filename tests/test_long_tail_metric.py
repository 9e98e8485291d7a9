"""Long-tail metrics: bucket AP, per-class table, JSON report, errors, LVIS.

The ground truth is tiny and the detections are built so that each class's
AP is known by hand:

* a perfect box (IoU 1) alone -> AP 1.0;
* a wrong box scored above the right one, one gt -> precision 1/2 at every
  recall level -> AP 0.5;
* no detection at all -> AP 0.0;
* a class with no ground truth in the evaluated images -> no AP (excluded).
"""
import json
import logging
import math

import pytest
import torch
from mmdet.evaluation.metrics import coco_metric as coco_metric_module
from mmdet.registry import METRICS
from mmengine.logging import MMLogger
from pycocotools.cocoeval import COCOeval

import focal_det.evaluation  # noqa: F401  (registers the metrics)
from focal_det.datasets.frequency import lvis_frequency
from focal_det.evaluation import (REPORT_FILE_NAME, LongTailCocoMetric,
                                  count_train_images_per_category)

IMAGE_SIZE = 100
GT_BOX = [10.0, 10.0, 40.0, 40.0]  # x1, y1, x2, y2
MISSED_BOX = [60.0, 60.0, 90.0, 90.0]  # no overlap with GT_BOX

# name, frequency, image ids holding one gt box, expected AP.
# 'fork' has no gt in the evaluated images: excluded from its bucket.
CLASSES = [
    ('apple', 'f', [1, 2], 1.0),
    ('bus', 'f', [3], 0.5),
    ('cat', 'c', [1], 1.0),
    ('dog', 'c', [2], 0.0),
    ('egg', 'r', [3], 1.0),
    ('fork', 'r', [], None),
]
CLASS_NAMES = tuple(name for name, *_ in CLASSES)
EXPECTED_AP = {name: ap for name, _, _, ap in CLASSES}
# Bucket AP = mean of the class APs with gt: f (1 + .5)/2, c (1 + 0)/2, r 1.
EXPECTED_BUCKETS = {'f': 0.75, 'c': 0.5, 'r': 1.0}
EXPECTED_MAP = (1.0 + 0.5 + 1.0 + 0.0 + 1.0) / 5


# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------


def xyxy_to_xywh(box):
    """COCO files store boxes as x, y, width, height."""
    return [box[0], box[1], box[2] - box[0], box[3] - box[1]]


def ground_truth(with_frequency=True, lvis=False):
    """COCO (or LVIS) ground truth dict for CLASSES on images 1..3."""
    image_ids = [1, 2, 3]
    categories = []
    for class_id, (name, frequency, _, _) in enumerate(CLASSES, start=1):
        category = dict(id=class_id, name=name)
        if with_frequency:
            category['frequency'] = frequency
        categories.append(category)
    annotations = []
    for class_id, (_, _, images, _) in enumerate(CLASSES, start=1):
        for image_id in images:
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=image_id,
                    category_id=class_id,
                    bbox=xyxy_to_xywh(GT_BOX),
                    area=30.0 * 30.0,
                    iscrowd=0))
    images = [
        dict(
            id=image_id,
            width=IMAGE_SIZE,
            height=IMAGE_SIZE,
            file_name=f'{image_id}.jpg') for image_id in image_ids
    ]
    if lvis:
        for image in images:
            # Every class is verified absent or present in every image, so
            # LVIS counts every wrong detection as a false positive.
            present = {
                a['category_id']
                for a in annotations if a['image_id'] == image['id']
            }
            image['neg_category_ids'] = [
                c['id'] for c in categories if c['id'] not in present
            ]
            image['not_exhaustive_category_ids'] = []
        for annotation in annotations:
            del annotation['iscrowd']  # not an LVIS field
    return dict(images=images, annotations=annotations, categories=categories)


def detections():
    """Per image: list of (label index, box, score) giving EXPECTED_AP."""
    label = {name: index for index, name in enumerate(CLASS_NAMES)}
    return {
        1: [(label['apple'], GT_BOX, 0.9), (label['cat'], GT_BOX, 0.8)],
        2: [(label['apple'], GT_BOX, 0.9)],  # 'dog' missed: AP 0
        3: [
            # 'bus': a miss scored above the hit -> precision 1/2 -> AP .5
            (label['bus'], MISSED_BOX, 0.95),
            (label['bus'], GT_BOX, 0.6),
            (label['egg'], GT_BOX, 0.7),
            # 'fork' has no gt: its detection must not create an AP.
            (label['fork'], MISSED_BOX, 0.5),
        ],
    }


def data_samples(with_instances=False):
    """Data samples as mmdet's test loop hands them to ``metric.process``."""
    samples = []
    gt = ground_truth()
    for image_id, dets in detections().items():
        sample = dict(
            img_id=image_id,
            ori_shape=(IMAGE_SIZE, IMAGE_SIZE),
            pred_instances=dict(
                bboxes=torch.tensor([box for _, box, _ in dets]),
                scores=torch.tensor([score for _, _, score in dets]),
                labels=torch.tensor([lab for lab, _, _ in dets])))
        if with_instances:
            # Ground truth carried by the sample (used when ann_file=None).
            sample['instances'] = [
                dict(
                    bbox=GT_BOX,
                    bbox_label=a['category_id'] - 1,
                    ignore_flag=0) for a in gt['annotations']
                if a['image_id'] == image_id
            ]
        samples.append(sample)
    return samples


def write_json(path, content):
    path.write_text(json.dumps(content))
    return str(path)


def evaluate(metric, with_instances=False):
    """Feed all detections to ``metric`` and return ``evaluate``'s dict."""
    metric.dataset_meta = dict(classes=CLASS_NAMES)
    samples = data_samples(with_instances)
    metric.process({}, samples)
    return metric.evaluate(size=len(samples))


def read_report(directory):
    return json.loads((directory / REPORT_FILE_NAME).read_text())


def per_class_by_name(report, iou_type='bbox'):
    return {row['category']: row for row in report['per_class'][iou_type]}


@pytest.fixture
def ann_file(tmp_path):
    return write_json(tmp_path / 'val.json', ground_truth())


@pytest.fixture
def report_dir(tmp_path):
    return tmp_path / 'report'


# ---------------------------------------------------------------------------
# LongTailCocoMetric
# ---------------------------------------------------------------------------


def test_registered_and_built_from_config(ann_file, report_dir):
    metric = METRICS.build(
        dict(
            type='LongTailCocoMetric',
            ann_file=ann_file,
            save_dir=str(report_dir)))
    assert isinstance(metric, LongTailCocoMetric)
    assert METRICS.get('LongTailLVISMetric') is not None


def test_bucket_ap_from_frequency_field(ann_file, report_dir):
    results = evaluate(LongTailCocoMetric(ann_file, save_dir=str(report_dir)))

    for bucket, expected in EXPECTED_BUCKETS.items():
        assert results[f'coco/bbox_AP{bucket}'] == pytest.approx(expected)
    # The parent's metrics are all still there, and agree.
    assert results['coco/bbox_mAP'] == pytest.approx(EXPECTED_MAP, abs=1e-3)
    assert 'coco/bbox_mAP_50' in results


def test_json_report_has_overall_buckets_and_per_class(ann_file, report_dir):
    metric = LongTailCocoMetric(ann_file, save_dir=str(report_dir))
    evaluate(metric)

    assert metric.report_path == str(report_dir / REPORT_FILE_NAME)
    report = read_report(report_dir)
    assert report['metric'] == 'LongTailCocoMetric'
    assert 'frequency' in report['bucket_source']
    assert report['overall']['bbox_mAP'] == pytest.approx(
        EXPECTED_MAP, abs=1e-3)
    assert report['overall']['bbox_APr'] == pytest.approx(1.0)
    for bucket, expected in EXPECTED_BUCKETS.items():
        assert report['buckets']['bbox'][bucket]['AP'] == pytest.approx(
            expected)
    # 'fork' (rare) has no gt: counted in the bucket, not in its mean.
    assert report['buckets']['bbox']['r']['num_classes_evaluated'] == 1
    assert report['buckets']['bbox']['r']['num_classes'] == 2

    rows = per_class_by_name(report)
    for name, expected in EXPECTED_AP.items():
        if expected is None:
            assert rows[name]['AP'] is None and rows[name]['AP50'] is None
        else:
            assert rows[name]['AP'] == pytest.approx(expected)
            assert rows[name]['AP50'] == pytest.approx(expected)
    assert rows['apple']['num_gt_instances'] == 2
    assert rows['fork']['num_gt_instances'] == 0
    assert rows['egg']['bucket'] == 'r'
    assert rows['apple']['train_image_count'] is None  # nothing known
    # Rare first, then common, then frequent.
    assert [row['bucket'] for row in report['per_class']['bbox']] == \
        ['r', 'r', 'c', 'c', 'f', 'f']


def test_per_class_table_is_logged(ann_file, report_dir):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        evaluate(LongTailCocoMetric(ann_file, save_dir=str(report_dir)))
    finally:
        logger.removeHandler(handler)
    text = '\n'.join(record.getMessage() for record in records)
    assert 'Per-class bbox AP' in text
    assert 'train images' in text and 'dog' in text
    assert 'AP per frequency bucket' in text and 'frequent' in text


def test_empty_bucket_gives_nan_and_json_null(tmp_path, report_dir):
    gt = ground_truth()
    for category in gt['categories']:
        if category['frequency'] == 'r':
            category['frequency'] = 'c'
    metric = LongTailCocoMetric(
        write_json(tmp_path / 'val.json', gt), save_dir=str(report_dir))

    results = evaluate(metric)

    assert math.isnan(results['coco/bbox_APr'])
    report = read_report(report_dir)
    assert report['buckets']['bbox']['r'] == dict(
        AP=None, num_classes_evaluated=0, num_classes=0)
    assert report['overall']['bbox_APr'] is None
    # c now holds cat (1), dog (0), egg (1) and the gt-less fork.
    assert results['coco/bbox_APc'] == pytest.approx(2 / 3, abs=1e-3)


def test_train_ann_file_buckets_when_frequency_missing(tmp_path, report_dir):
    val_file = write_json(tmp_path / 'val.json',
                          ground_truth(with_frequency=False))
    # apple/bus in 101 images -> frequent (> 100); cat in 100 and dog in 11
    # -> common; egg in 10 -> rare (<= 10); fork absent -> 0 -> rare.
    train_images = {'apple': 101, 'bus': 150, 'cat': 100, 'dog': 11, 'egg': 10}
    train = ground_truth(with_frequency=False)
    train['annotations'] = []
    train['images'] = [dict(id=i) for i in range(200)]
    for class_id, name in enumerate(CLASS_NAMES, start=1):
        for image_id in range(train_images.get(name, 0)):
            # Two boxes in one image count that image once.
            for _ in range(2):
                train['annotations'].append(
                    dict(
                        id=len(train['annotations']) + 1,
                        image_id=image_id,
                        category_id=class_id,
                        iscrowd=0))
    # A crowd region does not make 'fork' seen in training.
    train['annotations'].append(
        dict(id=10**6, image_id=0, category_id=6, iscrowd=1))
    train_file = write_json(tmp_path / 'train.json', train)

    metric = LongTailCocoMetric(
        val_file, train_ann_file=train_file, save_dir=str(report_dir))
    results = evaluate(metric)

    for bucket, expected in EXPECTED_BUCKETS.items():
        assert results[f'coco/bbox_AP{bucket}'] == pytest.approx(expected)
    report = read_report(report_dir)
    assert 'train.json' in report['bucket_source']
    rows = per_class_by_name(report)
    assert rows['dog']['train_image_count'] == 11
    assert rows['fork']['train_image_count'] == 0
    assert {name: row['bucket'] for name, row in rows.items()} == {
        name: frequency
        for name, frequency, _, _ in CLASSES
    }


def test_ground_truth_from_data_samples_with_train_ann_file(
        tmp_path, report_dir):
    train = ground_truth(with_frequency=False)
    train_file = write_json(tmp_path / 'train.json', train)
    # Without ann_file mmdet converts the samples' instances itself; every
    # class is then seen in <= 10 training images: all rare.
    metric = LongTailCocoMetric(
        train_ann_file=train_file, save_dir=str(report_dir))

    results = evaluate(metric, with_instances=True)

    assert results['coco/bbox_APr'] == pytest.approx(EXPECTED_MAP, abs=1e-3)
    assert math.isnan(results['coco/bbox_APf'])


def test_count_train_images_per_category(tmp_path):
    train = dict(
        categories=[dict(id=7, name='a'),
                    dict(id=8, name='b')],
        annotations=[
            dict(image_id=1, category_id=7),
            dict(image_id=1, category_id=7),
            dict(image_id=2, category_id=7),
            dict(image_id=2, category_id=8, iscrowd=1),
        ])
    counts = count_train_images_per_category(
        write_json(tmp_path / 'train.json', train))
    assert counts == {'a': 2, 'b': 0}


@pytest.mark.parametrize('count, bucket', [(0, 'r'), (10, 'r'), (11, 'c'),
                                           (100, 'c'), (101, 'f')])
def test_lvis_thresholds(count, bucket):
    assert lvis_frequency(count) == bucket


def test_report_goes_to_log_file_directory_by_default(ann_file, tmp_path,
                                                      current_logger):
    # mmengine's Runner logs to <work_dir>/<timestamp>/<timestamp>.log.
    log_dir = tmp_path / 'work_dir' / '20240101_000000'
    log_dir.mkdir(parents=True)
    current_logger('long_tail_with_file', log_file=str(log_dir / 'run.log'))

    metric = LongTailCocoMetric(ann_file)
    evaluate(metric)

    assert metric.report_path == str(log_dir / REPORT_FILE_NAME)
    assert read_report(log_dir)['buckets']['bbox']['c']['AP'] == \
        pytest.approx(0.5)


def test_report_skipped_with_warning_without_log_file(ann_file,
                                                      current_logger):
    logger = current_logger('long_tail_without_file')
    records = []
    handler = logging.Handler(level=logging.WARNING)
    handler.emit = records.append
    logger.addHandler(handler)

    metric = LongTailCocoMetric(ann_file)
    results = evaluate(metric)

    assert metric.report_path is None
    assert results['coco/bbox_APf'] == pytest.approx(0.75)
    assert any(REPORT_FILE_NAME in record.getMessage() for record in records)


def test_multiprocess_evaluation_and_proposal_metric(ann_file, report_dir):
    # The per-class evaluation runs mmdet's multi-process COCOevalMP, as the
    # parent does. Class-agnostic proposal recall adds no buckets.
    metric = LongTailCocoMetric(
        ann_file,
        save_dir=str(report_dir),
        use_mp_eval=True,
        metric=['bbox', 'proposal'])

    results = evaluate(metric)

    for bucket, expected in EXPECTED_BUCKETS.items():
        assert results[f'coco/bbox_AP{bucket}'] == pytest.approx(expected)
    assert 'coco/AR@100' in results
    assert list(read_report(report_dir)['per_class']) == ['bbox']


def test_without_iou_50_ap50_is_unknown(ann_file, report_dir):
    evaluate(
        LongTailCocoMetric(
            ann_file, save_dir=str(report_dir), iou_thrs=[0.75, 0.9]))
    rows = per_class_by_name(read_report(report_dir))
    assert rows['bus']['AP'] == pytest.approx(0.5)
    assert rows['bus']['AP50'] is None


def test_mmdet_evaluator_class_is_untouched(ann_file, report_dir):
    # The metric subclasses CocoMetric; nothing in mmdet is rebound.
    evaluate(LongTailCocoMetric(ann_file, save_dir=str(report_dir)))
    assert coco_metric_module.COCOeval is COCOeval


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_missing_ann_file_is_named(tmp_path):
    missing = str(tmp_path / 'nowhere' / 'val.json')
    with pytest.raises(FileNotFoundError, match='nowhere/val.json'):
        LongTailCocoMetric(missing)


def test_missing_train_ann_file_is_named(ann_file, tmp_path):
    missing = str(tmp_path / 'no_train.json')
    with pytest.raises(FileNotFoundError, match='train_ann_file.*no_train'):
        LongTailCocoMetric(ann_file, train_ann_file=missing)


def test_bad_frequency_names_the_category(tmp_path):
    gt = ground_truth()
    gt['categories'][3]['frequency'] = 'x'
    bad_file = write_json(tmp_path / 'val.json', gt)
    with pytest.raises(ValueError, match="'dog'.*'x'"):
        LongTailCocoMetric(bad_file)


def test_no_frequency_and_no_train_file(tmp_path):
    val_file = write_json(tmp_path / 'val.json',
                          ground_truth(with_frequency=False))
    with pytest.raises(ValueError, match='train_ann_file'):
        LongTailCocoMetric(val_file)
    with pytest.raises(ValueError, match='train_ann_file'):
        LongTailCocoMetric()


# ---------------------------------------------------------------------------
# LVIS (needs the lvis package)
# ---------------------------------------------------------------------------


@pytest.fixture
def lvis_ann_file(tmp_path):
    pytest.importorskip('lvis')
    return write_json(tmp_path / 'lvis_val.json', ground_truth(lvis=True))


@pytest.mark.parametrize('metric_type', ['LVISMetric', 'LongTailLVISMetric'])
def test_lvis_metric_runs_on_numpy_1_24_plus(lvis_ann_file, report_dir,
                                             metric_type):
    metric = METRICS.build(
        dict(type=metric_type, ann_file=lvis_ann_file,
             save_dir=str(report_dir)) if metric_type.startswith('LongTail')
        else dict(type=metric_type, ann_file=lvis_ann_file))

    results = evaluate(metric)

    for bucket, expected in EXPECTED_BUCKETS.items():
        assert results[f'lvis/bbox_AP{bucket}'] == pytest.approx(expected)
    assert results['lvis/bbox_AP'] == pytest.approx(EXPECTED_MAP, abs=1e-3)


def test_long_tail_lvis_report(lvis_ann_file, report_dir):
    evaluate(
        METRICS.build(
            dict(
                type='LongTailLVISMetric',
                ann_file=lvis_ann_file,
                save_dir=str(report_dir))))

    report = read_report(report_dir)
    assert report['metric'] == 'LongTailLVISMetric'
    assert report['overall']['bbox_APc'] == pytest.approx(0.5)
    for bucket, expected in EXPECTED_BUCKETS.items():
        assert report['buckets']['bbox'][bucket]['AP'] == pytest.approx(
            expected)
    rows = per_class_by_name(report)
    for name, expected in EXPECTED_AP.items():
        if expected is None:
            assert rows[name]['AP'] is None
        else:
            assert rows[name]['AP'] == pytest.approx(expected)
            assert rows[name]['AP50'] == pytest.approx(expected)


def test_lvis_bad_frequency_names_the_category(tmp_path):
    pytest.importorskip('lvis')
    gt = ground_truth(lvis=True)
    gt['categories'][0]['frequency'] = 'rare'
    bad_file = write_json(tmp_path / 'lvis_val.json', gt)
    with pytest.raises(ValueError, match="'apple'.*'rare'"):
        METRICS.build(dict(type='LongTailLVISMetric', ann_file=bad_file))
