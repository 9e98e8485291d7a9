"""Per-class precision from COCOeval / LVISEval, run over the 'all' area only.

mmdet's ``CocoMetric`` and ``LVISMetric`` build their evaluator inside
``compute_metrics`` and drop it, and mmdet offers no hook to reach it. So
the long-tail metrics evaluate once more, with the parent's parameters,
through mmdet's own evaluator classes. The per-class AP needs only the
'all' area range, so the small / medium / large ranges are left out: the
second evaluation computes the same IoUs but does a quarter of the parent's
per-image matching, and its precision for 'all' is the array the parent
computed.
"""
import contextlib
import io
from typing import Any, ContextManager, List, Optional, Sequence, Tuple

import numpy as np
from mmdet.datasets.api_wrappers import COCOeval, COCOevalMP
from mmengine import fileio

from .per_class import ClassPrecision

# The iou types whose evaluation is per class ('proposal' is class-agnostic).
PER_CLASS_IOU_TYPES = ('bbox', 'segm')
ALL_AREAS = 'all'


def _without_progress_prints() -> ContextManager:
    """A block in which pycocotools' progress prints are dropped.

    The parent metric already printed the same lines for its evaluation;
    twice would read as two different evaluations in the log.

    Returns:
        A context manager redirecting stdout.
    """
    return contextlib.redirect_stdout(io.StringIO())


def _all_areas_only(area_ranges: List[list],
                    area_labels: List[str]) -> Tuple[List[list], List[str]]:
    """Keep only the 'all' entry of an evaluator's area ranges.

    Args:
        area_ranges (list): The evaluator's area ranges.
        area_labels (list[str]): Their labels ('all', 'small', ...).

    Returns:
        tuple: The 'all' range and its label, each in a list of one.
    """
    return [area_ranges[area_labels.index(ALL_AREAS)]], [ALL_AREAS]


def _accumulated_precision(evaluator: Any) -> np.ndarray:
    """Run a COCOeval-like evaluator and return its precision array.

    Args:
        evaluator: A COCOeval, COCOevalMP or LVISEval, parameters set.

    Returns:
        np.ndarray: ``evaluator.eval['precision']``, -1 where a class has
        no ground truth.
    """
    evaluator.evaluate()
    evaluator.accumulate()
    return evaluator.eval['precision']


def coco_class_precision(coco_api: Any, result_file: str, iou_type: str,
                         category_ids: Sequence[int],
                         image_ids: Sequence[int], max_dets: Sequence[int],
                         iou_thresholds: Sequence[float],
                         multiprocess: bool) -> Optional[ClassPrecision]:
    """Evaluate detections as ``CocoMetric`` does; keep per-class precision.

    Args:
        coco_api: The ground truth (``CocoMetric._coco_api``).
        result_file (str): Detections as ``CocoMetric.results2json`` wrote
            them.
        iou_type (str): 'bbox' or 'segm'.
        category_ids (Sequence[int]): ``CocoMetric.cat_ids``.
        image_ids (Sequence[int]): ``CocoMetric.img_ids``.
        max_dets (Sequence[int]): ``CocoMetric.proposal_nums``.
        iou_thresholds (Sequence[float]): ``CocoMetric.iou_thrs``.
        multiprocess (bool): ``CocoMetric.use_mp_eval``: use mmdet's
            multi-process COCOevalMP.

    Returns:
        ClassPrecision or None: Precision at area 'all' and the largest
        ``max_dets`` (the slice the parent's mAP uses); None when there is
        no detection at all (the parent then reports nothing either).
    """
    predictions = fileio.load(result_file)
    if not predictions:
        return None
    if iou_type == 'segm':
        # As CocoMetric does: with a box present, pycocotools would take
        # the box's area for the mask's.
        for prediction in predictions:
            prediction.pop('bbox')
    evaluator_class = COCOevalMP if multiprocess else COCOeval
    with _without_progress_prints():
        evaluator = evaluator_class(coco_api, coco_api.loadRes(predictions),
                                    iou_type)
        params = evaluator.params
        params.catIds = category_ids
        params.imgIds = image_ids
        params.maxDets = list(max_dets)
        params.iouThrs = iou_thresholds
        params.areaRng, params.areaRngLbl = _all_areas_only(
            params.areaRng, params.areaRngLbl)
        precision = _accumulated_precision(evaluator)
    # precision: [iou, recall, class, area, max_dets]
    return ClassPrecision(iou_type, list(params.catIds),
                          np.atleast_1d(params.iouThrs),
                          precision[:, :, :, 0, -1])


def lvis_class_precision(lvis_api: Any, result_file: str,
                         iou_type: str) -> Optional[ClassPrecision]:
    """Evaluate detections as ``LVISMetric`` does; keep per-class precision.

    Args:
        lvis_api: The ground truth (``LVISMetric._lvis_api``).
        result_file (str): Detections as ``LVISMetric.results2json`` wrote
            them.
        iou_type (str): 'bbox' or 'segm'.

    Returns:
        ClassPrecision or None: Precision at area 'all'; None when there is
        no detection at all.
    """
    # lvis is optional: mmdet's LVISMetric refuses to be built without it.
    from lvis import LVISEval, LVISResults
    try:
        detections = LVISResults(lvis_api, result_file)
    except IndexError:
        # What LVISResults raises for an empty result list.
        return None
    evaluator = LVISEval(lvis_api, detections, iou_type)
    params = evaluator.params
    params.area_rng, params.area_rng_lbl = _all_areas_only(
        params.area_rng, params.area_rng_lbl)
    precision = _accumulated_precision(evaluator)
    # precision: [iou, recall, class, area]
    return ClassPrecision(iou_type, list(params.cat_ids),
                          np.atleast_1d(params.iou_thrs),
                          precision[:, :, :, 0])
