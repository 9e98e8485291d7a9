"""Label detections true positive, false positive or dropped, as COCO does.

The overlaps come from pycocotools (``pycocotools.mask.iou``), the function
COCOeval itself uses, so a detection counts as a hit here exactly when it
would in the AP evaluation: IoU for regular ground truth, intersection over
the detection's own area for crowd regions.
"""
from typing import Tuple

import numpy as np
from pycocotools import mask as mask_utils

# Outcome of one detection after matching.
TRUE_POSITIVE = 1
FALSE_POSITIVE = 0
DROPPED = -1


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """Convert ``(n, 4)`` boxes from ``x1, y1, x2, y2`` to COCO's x, y, w, h.

    Args:
        boxes (np.ndarray): Boxes as mmdet predicts them, shape ``(n, 4)``.

    Returns:
        np.ndarray: float64 boxes as COCO stores them, shape ``(n, 4)``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)


def detection_overlaps(boxes: np.ndarray, gt_boxes: np.ndarray,
                       gt_is_crowd: np.ndarray) -> np.ndarray:
    """COCO's overlap of every detection with every ground-truth box.

    A crowd region holds many objects under one box, so COCO divides the
    intersection by the detection's own area instead of the union: a small
    detection of one person inside a crowd box is fully covered.

    Args:
        boxes (np.ndarray): ``(n, 4)`` detection boxes, ``x1, y1, x2, y2``.
        gt_boxes (np.ndarray): ``(m, 4)`` ground-truth boxes,
            ``x1, y1, x2, y2``.
        gt_is_crowd (np.ndarray): ``(m,)`` bool, True for crowd boxes.

    Returns:
        np.ndarray: ``(n, m)`` float64: IoU with regular boxes, intersection
        over detection area with crowd boxes; 0 where boxes do not overlap.
    """
    if len(boxes) == 0 or len(gt_boxes) == 0:
        # pycocotools returns an empty list, not an (n, m) array, here.
        return np.zeros((len(boxes), len(gt_boxes)))
    return np.asarray(
        mask_utils.iou(xyxy_to_xywh(boxes), xyxy_to_xywh(gt_boxes),
                       np.asarray(gt_is_crowd, dtype=np.uint8)))


def match_detections(boxes: np.ndarray, scores: np.ndarray,
                     gt_boxes: np.ndarray, gt_is_crowd: np.ndarray,
                     iou_thr: float) -> Tuple[np.ndarray, np.ndarray]:
    """Label the detections of one class in one image, greedily by score.

    Detections are visited in descending score order (a stable sort, so
    ties keep their input order, as in COCO). Each takes the not yet matched
    regular ground-truth box with the highest IoU, if that IoU is
    ``>= iou_thr``, and is then a true positive. A detection that takes no
    regular box but covers a crowd box (intersection over its own area
    ``>= iou_thr``) is dropped; crowd boxes can absorb any number of
    detections. Every other detection, including a second detection of an
    already matched object, is a false positive.

    Args:
        boxes (np.ndarray): ``(n, 4)`` detection boxes, ``x1, y1, x2, y2``.
        scores (np.ndarray): ``(n,)`` detection scores.
        gt_boxes (np.ndarray): ``(m, 4)`` ground-truth boxes of the same
            class, ``x1, y1, x2, y2``.
        gt_is_crowd (np.ndarray): ``(m,)`` bool, True for crowd boxes.
        iou_thr (float): Minimum IoU of a true positive. A threshold of 0
            means any overlap: a true positive needs an IoU ``> 0`` (the
            ``tau = 0`` of LaECE_0), never a box it does not touch.

    Returns:
        tuple: ``(n,)`` int outcomes in the input order
        (:data:`TRUE_POSITIVE`, :data:`FALSE_POSITIVE` or
        :data:`DROPPED`) and ``(n,)`` float64 IoU of each true positive
        with the box it took (0 for the others).
    """
    gt_is_crowd = np.asarray(gt_is_crowd, dtype=bool)
    outcomes = np.full(len(boxes), FALSE_POSITIVE, dtype=np.int64)
    matched_ious = np.zeros(len(boxes))
    overlaps = detection_overlaps(boxes, gt_boxes, gt_is_crowd)
    ious = overlaps[:, ~gt_is_crowd]
    def enough(overlap):
        return overlap > 0 if iou_thr == 0 else overlap >= iou_thr

    covered_by_crowd = enough(overlaps[:, gt_is_crowd]).any(axis=1)
    taken = np.zeros(ious.shape[1], dtype=bool)
    for index in np.argsort(-scores, kind='mergesort'):
        candidate_ious = np.where(taken, -1.0, ious[index])
        if len(candidate_ious) and enough(candidate_ious.max()):
            taken[candidate_ious.argmax()] = True
            outcomes[index] = TRUE_POSITIVE
            matched_ious[index] = candidate_ious.max()
        elif covered_by_crowd[index]:
            outcomes[index] = DROPPED
    return outcomes, matched_ious


def match_image(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                gt_boxes: np.ndarray, gt_category_ids: np.ndarray,
                gt_is_crowd: np.ndarray, category_ids: np.ndarray,
                iou_thr: float) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`match_detections` of every class of one image.

    Args:
        boxes (np.ndarray): ``(n, 4)`` detection boxes, ``x1, y1, x2, y2``.
        scores (np.ndarray): ``(n,)`` detection scores.
        labels (np.ndarray): ``(n,)`` class indices.
        gt_boxes (np.ndarray): ``(m, 4)`` ground-truth boxes.
        gt_category_ids (np.ndarray): ``(m,)`` their category ids.
        gt_is_crowd (np.ndarray): ``(m,)`` bool crowd flags.
        category_ids (np.ndarray): ``(C,)`` category id of each label.
        iou_thr (float): Minimum IoU of a true positive (0: any overlap).

    Returns:
        tuple: ``(n,)`` outcomes and ``(n,)`` IoUs of the true positives,
        as :func:`match_detections` gives them.
    """
    outcomes = np.full(len(scores), FALSE_POSITIVE, dtype=np.int64)
    matched_ious = np.zeros(len(scores))
    for label in np.unique(labels):
        of_label = labels == label
        of_category = gt_category_ids == category_ids[label]
        outcomes[of_label], matched_ious[of_label] = match_detections(
            boxes[of_label], scores[of_label], gt_boxes[of_category],
            gt_is_crowd[of_category], iou_thr)
    return outcomes, matched_ious
