"""RetinaNet's test-time post-processing in numpy.

From the network's per-level outputs to detections in original image
coordinates, step for step as mmdet 3.3 does it for RetinaNet
(``BaseDenseHead._predict_by_feat_single`` and ``_bbox_post_process``):

1. per level: sigmoid scores (of the calibrated logits, when the model
   calibrates its scores), keep those above ``score_thr``, then the
   ``nms_pre`` best (anchor, class) pairs;
2. decode the kept deltas against their anchors (``DeltaXYWHBBoxCoder``),
   clipped to the resized image;
3. rescale to the original image, drop boxes not wider and taller than
   ``min_bbox_size``;
4. class-wise NMS (``mmcv.ops.batched_nms``), best ``max_per_img`` kept.

Everything is computed in float32, like the PyTorch model on the CPU.
"""
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .preprocess import PreparedImage

#: Maps (N, C) class logits to (N, C) logits before the sigmoid, e.g. the
#: calibrated log-odds.
LogitTransform = Callable[[np.ndarray], np.ndarray]


@dataclass
class Detections:
    """The detections of one image, best score first.

    Attributes:
        boxes: (N, 4) float32, (x1, y1, x2, y2) in original image pixels.
        scores: (N,) float32.
        labels: (N,) int64 class indices.
    """
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    def to_json(self, class_names: Sequence[str]) -> Dict[str, list]:
        """A JSON-serialisable dict with ``class_names`` resolved.

        Args:
            class_names: Name of each class index.

        Returns:
            ``dict(boxes=[[x1, y1, x2, y2], ...], labels=[...],
            class_names=[...], scores=[...])``.
        """
        return dict(boxes=self.boxes.astype(float).round(3).tolist(),
                    labels=self.labels.tolist(),
                    class_names=[class_names[i] for i in self.labels],
                    scores=self.scores.astype(float).round(6).tolist())


def base_anchors(anchors: Dict[str, Any]) -> List[np.ndarray]:
    """The anchors of one feature-map cell at each level.

    Args:
        anchors: The sidecar's ``anchor_generator`` section: ``strides``,
            ``ratios``, either ``scales`` or ``octave_base_scale`` with
            ``scales_per_octave``, ``base_sizes`` (``null``: the smaller
            stride of each level), ``scale_major`` and ``center_offset``.

    Returns:
        One (A, 4) float32 array per level, A = ratios x scales, centred on
        ``center_offset`` x base size, in mmdet's order.
    """
    if anchors.get('scales') is not None:
        scales = np.asarray(anchors['scales'], dtype=np.float32)
    else:
        per_octave = anchors['scales_per_octave']
        scales = (np.array([2**(i / per_octave) for i in range(per_octave)]) *
                  anchors['octave_base_scale']).astype(np.float32)
    ratios = np.asarray(anchors['ratios'], dtype=np.float32)
    height_ratios = np.sqrt(ratios)
    width_ratios = 1 / height_ratios
    base_sizes = anchors.get('base_sizes') or [
        min(stride) for stride in anchors['strides']
    ]
    per_level = []
    for base_size in base_sizes:
        if anchors['scale_major']:
            widths = (base_size * width_ratios[:, None] *
                      scales[None, :]).reshape(-1)
            heights = (base_size * height_ratios[:, None] *
                       scales[None, :]).reshape(-1)
        else:
            widths = (base_size * scales[:, None] *
                      width_ratios[None, :]).reshape(-1)
            heights = (base_size * scales[:, None] *
                       height_ratios[None, :]).reshape(-1)
        center = anchors['center_offset'] * base_size
        per_level.append(
            np.stack([
                center - 0.5 * widths, center - 0.5 * heights,
                center + 0.5 * widths, center + 0.5 * heights
            ], axis=-1).astype(np.float32))
    return per_level


def grid_anchors(featmap_sizes: Sequence[Tuple[int, int]],
                 anchors: Dict[str, Any]) -> List[np.ndarray]:
    """All anchors of each level, in the order of the head's outputs.

    Args:
        featmap_sizes: (H_l, W_l) of each level's output.
        anchors: The sidecar's ``anchor_generator`` section.

    Returns:
        One (H_l * W_l * A, 4) float32 array per level, ordered by row,
        then column, then anchor — the order of ``output.transpose(1, 2,
        0).reshape(-1, ...)``.
    """
    per_level = []
    for (height, width), stride, cell_anchors in zip(
            featmap_sizes, anchors['strides'], base_anchors(anchors)):
        stride_w, stride_h = stride
        shift_x = np.arange(width, dtype=np.float32) * stride_w
        shift_y = np.arange(height, dtype=np.float32) * stride_h
        xx = np.tile(shift_x, height)
        yy = np.repeat(shift_y, width)
        shifts = np.stack([xx, yy, xx, yy], axis=-1)
        per_level.append(
            (cell_anchors[None, :, :] + shifts[:, None, :]).reshape(-1, 4))
    return per_level


def decode_deltas(anchors: np.ndarray, deltas: np.ndarray,
                  coder: Dict[str, Any],
                  max_shape: Tuple[int, int]) -> np.ndarray:
    """Apply (dx, dy, dw, dh) deltas to anchors (``DeltaXYWHBBoxCoder``).

    Args:
        anchors: (N, 4) float32 xyxy.
        deltas: (N, 4) float32 network outputs.
        coder: The sidecar's ``bbox_coder`` section: ``means``, ``stds``,
            ``wh_ratio_clip``, ``clip_border``, ``add_ctr_clamp``,
            ``ctr_clamp``.
        max_shape: (h, w) the boxes are clipped to when ``clip_border``.

    Returns:
        (N, 4) float32 xyxy boxes.
    """
    if len(deltas) == 0:
        return deltas
    means = np.asarray(coder['means'], dtype=np.float32)
    stds = np.asarray(coder['stds'], dtype=np.float32)
    denormalised = deltas * stds + means
    center_shift, log_size_change = denormalised[:, :2], denormalised[:, 2:]
    anchor_centers = (anchors[:, :2] + anchors[:, 2:]) * np.float32(0.5)
    anchor_sizes = anchors[:, 2:] - anchors[:, :2]
    shift = anchor_sizes * center_shift
    max_log_ratio = np.float32(abs(np.log(coder['wh_ratio_clip'])))
    if coder['add_ctr_clamp']:
        shift = np.clip(shift, -coder['ctr_clamp'], coder['ctr_clamp'])
        log_size_change = np.minimum(log_size_change, max_log_ratio)
    else:
        log_size_change = np.clip(log_size_change, -max_log_ratio,
                                  max_log_ratio)
    centers = anchor_centers + shift
    sizes = anchor_sizes * np.exp(log_size_change)
    boxes = np.concatenate([centers - sizes * np.float32(0.5),
                            centers + sizes * np.float32(0.5)], axis=-1)
    if coder['clip_border']:
        boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, max_shape[1])
        boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, max_shape[0])
    return boxes.astype(np.float32)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray,
               iou_threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression (``mmcv.ops.nms`` with offset 0).

    Args:
        boxes: (N, 4) float32 xyxy.
        scores: (N,) float32.
        iou_threshold: A box is dropped when its IoU with a kept, better
            box is strictly greater than this.

    Returns:
        (K,) int64 indices of the kept boxes, best score first.
    """
    order = np.argsort(-scores, kind='stable')
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(boxes), dtype=bool)
    kept = []
    for position, index in enumerate(order):
        if suppressed[index]:
            continue
        kept.append(index)
        rest = order[position + 1:]
        overlap_w = np.maximum(
            np.float32(0),
            np.minimum(x2[index], x2[rest]) - np.maximum(x1[index], x1[rest]))
        overlap_h = np.maximum(
            np.float32(0),
            np.minimum(y2[index], y2[rest]) - np.maximum(y1[index], y1[rest]))
        intersection = overlap_w * overlap_h
        # Two empty boxes give 0 / 0 = nan, which suppresses nothing: the
        # same outcome as mmcv's C++ loop.
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = intersection / (areas[index] + areas[rest] - intersection)
        suppressed[rest[iou > iou_threshold]] = True
    return np.asarray(kept, dtype=np.int64)


def classwise_nms(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                  iou_threshold: float,
                  class_agnostic: bool = False) -> np.ndarray:
    """NMS within each class, in one pass (``mmcv.ops.batched_nms``).

    Args:
        boxes: (N, 4) float32 xyxy.
        scores: (N,) float32.
        labels: (N,) int64.
        iou_threshold: See :func:`greedy_nms`.
        class_agnostic: Suppress across classes too.

    Returns:
        (K,) int64 indices of the kept boxes, best score first.
    """
    if class_agnostic:
        return greedy_nms(boxes, scores, iou_threshold)
    # Moving each class's boxes to their own far-away region keeps boxes of
    # different classes from overlapping. Shifting by the same float32
    # amounts as mmcv keeps the IoUs, and so the decisions at the
    # threshold, identical to mmdet's.
    class_offsets = labels.astype(np.float32) * (boxes.max() + np.float32(1))
    return greedy_nms(boxes + class_offsets[:, None], scores, iou_threshold)


def _level_candidates(logits: np.ndarray, score_thr: float, nms_pre: int,
                      transform: Optional[LogitTransform]
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores above the threshold, the ``nms_pre`` best, of one level.

    Args:
        logits: (N_anchors, C) class logits of one level.
        score_thr: Keep scores strictly above it.
        nms_pre: Keep at most this many (anchor, class) pairs.
        transform: Optional map of the logits applied before the sigmoid.

    Returns:
        scores (K,), labels (K,), anchor indices (K,), best score first.
    """
    if transform is not None:
        logits = transform(logits).astype(np.float32)
    with np.errstate(over='ignore'):  # logits below -88: exp = inf, score 0
        scores = 1 / (1 + np.exp(-logits))
    anchor_idxs, labels = np.nonzero(scores > score_thr)
    kept_scores = scores[anchor_idxs, labels]
    # The slice of mmdet's filter_scores_and_topk, so that a negative
    # nms_pre means there what it means here.
    order = np.argsort(-kept_scores, kind='stable')[:min(nms_pre, len(labels))]
    return kept_scores[order], labels[order], anchor_idxs[order]


def postprocess(cls_scores: Sequence[np.ndarray],
                bbox_preds: Sequence[np.ndarray], prepared: PreparedImage,
                metadata: Dict[str, Any],
                logit_transform: Optional[LogitTransform] = None
                ) -> Detections:
    """Turn one image's network outputs into detections.

    Args:
        cls_scores: Per level, (1, A * C, H_l, W_l) class logits.
        bbox_preds: Per level, (1, A * 4, H_l, W_l) box deltas.
        prepared: The image the outputs were computed from.
        metadata: The sidecar: ``anchor_generator``, ``bbox_coder``,
            ``test_cfg`` and ``class_names`` are read.
        logit_transform: Optional map of the (N, C) class logits applied
            before the sigmoid, so that thresholds, top-k and NMS act on the
            mapped scores (score calibration).

    Returns:
        :class:`Detections` in original image coordinates, at most
        ``test_cfg.max_per_img``, best first.
    """
    test_cfg = metadata['test_cfg']
    num_classes = len(metadata['class_names'])
    featmap_sizes = [output.shape[-2:] for output in cls_scores]
    level_anchors = grid_anchors(featmap_sizes, metadata['anchor_generator'])
    scores, labels, anchors, deltas = [], [], [], []
    for logits, box_deltas, anchors_of_level in zip(cls_scores, bbox_preds,
                                                    level_anchors):
        level_scores, level_labels, anchor_idxs = _level_candidates(
            logits[0].transpose(1, 2, 0).reshape(-1, num_classes),
            test_cfg['score_thr'], test_cfg['nms_pre'], logit_transform)
        scores.append(level_scores)
        labels.append(level_labels)
        anchors.append(anchors_of_level[anchor_idxs])
        deltas.append(box_deltas[0].transpose(1, 2, 0).reshape(-1,
                                                               4)[anchor_idxs])
    scores = np.concatenate(scores).astype(np.float32)
    labels = np.concatenate(labels).astype(np.int64)
    boxes = decode_deltas(np.concatenate(anchors), np.concatenate(deltas),
                          metadata['bbox_coder'], prepared.image_shape)
    width_scale, height_scale = prepared.scale_factor
    boxes = boxes * np.array(
        [1 / width_scale, 1 / height_scale] * 2, dtype=np.float32)

    min_size = test_cfg['min_bbox_size']
    if min_size >= 0:
        large_enough = ((boxes[:, 2] - boxes[:, 0] > min_size) &
                        (boxes[:, 3] - boxes[:, 1] > min_size))
        boxes, scores, labels = (boxes[large_enough], scores[large_enough],
                                 labels[large_enough])
    if len(scores):
        keep = classwise_nms(boxes, scores, labels,
                             test_cfg['iou_threshold'],
                             test_cfg['class_agnostic'])
        keep = keep[:test_cfg['max_per_img']]
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    return Detections(boxes=boxes.astype(np.float32),
                      scores=scores.astype(np.float32),
                      labels=labels.astype(np.int64))
