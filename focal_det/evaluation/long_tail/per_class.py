"""AP per class and per frequency bucket, from an evaluator's precision.

COCOeval and LVISEval both accumulate an interpolated precision array
``[iou threshold, recall threshold, class, ...]``; a class's AP is the mean
of its valid entries, the same reduction their overall AP uses.
"""
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from terminaltables import AsciiTable

from ..report_writing import format_number
from .buckets import BUCKET_NAMES, BUCKETS


@dataclass
class ClassPrecision:
    """What an evaluator computed, reduced to what per-class AP needs.

    Attributes:
        iou_type (str): 'bbox' or 'segm'; prefixes the metric names.
        category_ids (list): Category id of each column of ``precision``.
        iou_thresholds (np.ndarray): IoU threshold of each row.
        precision (np.ndarray): [num_iou_thrs, num_recall_thrs, num_classes]
            interpolated precision, -1 where a class has no ground truth.
    """
    iou_type: str
    category_ids: List[int]
    iou_thresholds: np.ndarray
    precision: np.ndarray


def mean_valid_precision(precision: np.ndarray) -> float:
    """Average the precision entries that exist (COCO marks others -1).

    Args:
        precision (np.ndarray): Any slice of an evaluator's precision array.

    Returns:
        float: The AP, or NaN when nothing is valid (no ground truth).
    """
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else math.nan


def iou_threshold_index(iou_thresholds: np.ndarray,
                        threshold: float) -> Optional[int]:
    """Find ``threshold`` among the evaluated IoU thresholds.

    Args:
        iou_thresholds (np.ndarray): The evaluator's IoU thresholds.
        threshold (float): The one looked for (e.g. 0.5 for AP50).

    Returns:
        int or None: Its row index, None if it was not evaluated.
    """
    matches = np.flatnonzero(np.isclose(iou_thresholds, threshold))
    return int(matches[0]) if matches.size else None


def count_ground_truth_instances(dataset: dict,
                                 image_ids: Sequence[Any]) -> Counter:
    """Count the non-crowd ground-truth boxes per category in some images.

    Args:
        dataset (dict): COCO/LVIS annotation dict (``api.dataset``).
        image_ids (Sequence): The images evaluated.

    Returns:
        Counter: Category id -> number of instances.
    """
    evaluated = set(image_ids)
    return Counter(
        annotation['category_id']
        for annotation in dataset.get('annotations', [])
        if annotation['image_id'] in evaluated
        and not annotation.get('iscrowd', 0))


def per_class_rows(class_precision: ClassPrecision,
                   categories: Dict[int, dict], buckets: Dict[int, str],
                   instance_counts: Counter,
                   train_image_counts: Dict[int, Optional[int]]) -> List[dict]:
    """Build the per-class table, rare classes first.

    Args:
        class_precision (ClassPrecision): The evaluator's precision.
        categories (dict): Category id -> category entry.
        buckets (dict): Category id -> 'r' / 'c' / 'f'.
        instance_counts (Counter): Category id -> evaluated gt instances.
        train_image_counts (dict): Category id -> training images (or None).

    Returns:
        list[dict]: One row per class with keys ``category``,
        ``category_id``, ``bucket``, ``AP``, ``AP50`` (NaN when the class has
        no ground truth, or AP50 when IoU 0.5 was not evaluated),
        ``num_gt_instances`` and ``train_image_count``.
    """
    iou50 = iou_threshold_index(class_precision.iou_thresholds, 0.5)
    rows = []
    for column, category_id in enumerate(class_precision.category_ids):
        class_columns = class_precision.precision[:, :, column]
        rows.append(
            dict(
                category=categories[category_id]['name'],
                category_id=category_id,
                bucket=buckets[category_id],
                AP=mean_valid_precision(class_columns),
                AP50=(math.nan if iou50 is None else mean_valid_precision(
                    class_columns[iou50])),
                num_gt_instances=instance_counts.get(category_id, 0),
                train_image_count=train_image_counts.get(category_id)))
    rows.sort(key=lambda row: BUCKETS.index(row['bucket']))
    return rows


def bucket_summary(rows: Sequence[dict]) -> Dict[str, dict]:
    """Average per-class AP within each frequency bucket.

    Args:
        rows (Sequence[dict]): Output of :func:`per_class_rows`.

    Returns:
        dict: Bucket ('r'/'c'/'f') -> ``AP`` (NaN if no class of the bucket
        has ground truth), ``num_classes_evaluated`` and ``num_classes``.
    """
    summary = {}
    for bucket in BUCKETS:
        in_bucket = [row for row in rows if row['bucket'] == bucket]
        with_ap = [row['AP'] for row in in_bucket if not math.isnan(row['AP'])]
        summary[bucket] = dict(
            AP=float(np.mean(with_ap)) if with_ap else math.nan,
            num_classes_evaluated=len(with_ap),
            num_classes=len(in_bucket))
    return summary


def format_per_class_table(rows: Sequence[dict], iou_type: str) -> str:
    """Render the per-class rows as an ASCII table for the log.

    Args:
        rows (Sequence[dict]): Output of :func:`per_class_rows`.
        iou_type (str): 'bbox' or 'segm', for the AP column's title.

    Returns:
        str: The table; '-' where a value is unknown.
    """
    header = [
        'category', 'bucket', f'{iou_type} AP', 'AP50', 'gt instances',
        'train images'
    ]
    body = [[
        row['category'], row['bucket'],
        format_number(row['AP']),
        format_number(row['AP50']),
        format_number(row['num_gt_instances']),
        format_number(row['train_image_count'])
    ] for row in rows]
    return AsciiTable([header] + body).table


def format_bucket_table(summary: Dict[str, dict], iou_type: str) -> str:
    """Render the bucket summary as an ASCII table for the log.

    Args:
        summary (dict): Output of :func:`bucket_summary`.
        iou_type (str): 'bbox' or 'segm', for the AP column's title.

    Returns:
        str: One row per bucket; '-' for a bucket without AP.
    """
    header = ['bucket', f'{iou_type} AP', 'classes evaluated', 'classes']
    body = [[
        BUCKET_NAMES[bucket],
        format_number(values['AP']),
        str(values['num_classes_evaluated']),
        str(values['num_classes'])
    ] for bucket, values in summary.items()]
    return AsciiTable([header] + body).table


def add_bucket_metrics(eval_results: Dict[str, float],
                       buckets: Dict[str, Dict[str, dict]]) -> None:
    """Add ``<iou_type>_APr/_APc/_APf`` to the metrics a parent returned.

    Values are rounded to 3 decimals like the parent's. A key the parent
    already reports (LVISEval's own APr/APc/APf) is kept as it is.

    Args:
        eval_results (dict): The parent's metrics, updated in place.
        buckets (dict): iou type -> output of :func:`bucket_summary`.
    """
    for iou_type, summary in buckets.items():
        for bucket, values in summary.items():
            eval_results.setdefault(f'{iou_type}_AP{bucket}',
                                    round(values['AP'], 3))
