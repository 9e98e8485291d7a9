"""Detection calibration: D-ECE and a reliability diagram.

A detector is calibrated when its confidence can be read as the probability
that a detection is correct: of all boxes scored 0.8, 80 % should be true
positives. Focal-style losses change how confident a detector is, so this
metric measures that beside the COCO AP.

The metric implemented is the detection expected calibration error (D-ECE)
of

    F. Küppers, J. Kronenberger, A. Shantia, A. Haselhoff. "Multivariate
    Confidence Calibration for Object Detection". CVPR Workshops, 2020.
    https://arxiv.org/abs/2004.13546

restricted to the confidence dimension (the paper can also bin by box
position and size; those extra dimensions are not used here). Because a
detector's output has no fixed number of predictions to compare with the
ground truth, calibration is measured by *precision*, not accuracy: missed
objects (false negatives) do not enter D-ECE.

Definition, as implemented by :func:`detection_expected_calibration_error`:

1. Keep the detections whose score is ``>= score_thr``.
2. Label each kept detection, per image and per class, in descending score
   order (greedy, like COCO): a *true positive* if some ground-truth box of
   the same class that no higher-scored detection took has IoU
   ``>= iou_thr`` with it (it takes the unmatched box of highest IoU),
   otherwise, if it covers a crowd region of that class (intersection over
   the detection's own area ``>= iou_thr``, COCO's crowd rule), it is
   *dropped* (neither true nor false positive), otherwise a *false positive*.
3. Split ``[score_thr, 1]`` into ``num_bins`` equal-width bins
   ``[e_b, e_{b+1})`` (the last one also holds ``1``).
4. With ``n_b`` the number of labelled detections in bin ``b``, ``N`` their
   total, ``precision_b`` the fraction of true positives in the bin and
   ``confidence_b`` the mean score in the bin::

       D-ECE = sum_{b: n_b > 0} (n_b / N) * |precision_b - confidence_b|

   With no labelled detection at all (``N = 0``) calibration is undefined
   and D-ECE is NaN rather than 0, which would wrongly claim a perfectly
   calibrated detector.

With ``classwise=True`` the same quantity is also computed for the
detections of each class alone and averaged over the classes that have at
least one labelled detection.
"""
import json
import math
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from pycocotools.coco import COCO
from terminaltables import AsciiTable

REPORT_FILE_NAME = 'calibration_metrics.json'
DIAGRAM_FILE_NAME = 'reliability_diagram.png'

# Outcome of one detection after matching.
TRUE_POSITIVE = 1
FALSE_POSITIVE = 0
DROPPED = -1

# ---------------------------------------------------------------------------
# Matching detections to ground truth
# ---------------------------------------------------------------------------


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of ``(n, 4)`` boxes in ``x1, y1, x2, y2`` order.

    Args:
        boxes (np.ndarray): Boxes, shape ``(n, 4)``.

    Returns:
        np.ndarray: Areas, shape ``(n,)``; degenerate boxes give 0.
    """
    widths = np.clip(boxes[:, 2] - boxes[:, 0], 0, None)
    heights = np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    return widths * heights


def pairwise_intersections(boxes: np.ndarray,
                           other_boxes: np.ndarray) -> np.ndarray:
    """Intersection areas of every box with every other box.

    Args:
        boxes (np.ndarray): ``(n, 4)`` boxes, ``x1, y1, x2, y2``.
        other_boxes (np.ndarray): ``(m, 4)`` boxes, ``x1, y1, x2, y2``.

    Returns:
        np.ndarray: ``(n, m)`` intersection areas.
    """
    top_left = np.maximum(boxes[:, None, :2], other_boxes[None, :, :2])
    bottom_right = np.minimum(boxes[:, None, 2:], other_boxes[None, :, 2:])
    sizes = np.clip(bottom_right - top_left, 0, None)
    return sizes[..., 0] * sizes[..., 1]


def pairwise_iou(boxes: np.ndarray, other_boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of every box with every other box.

    Areas are ``width * height`` without COCO's legacy ``+ 1``, as in
    pycocotools' evaluation.

    Args:
        boxes (np.ndarray): ``(n, 4)`` boxes, ``x1, y1, x2, y2``.
        other_boxes (np.ndarray): ``(m, 4)`` boxes, ``x1, y1, x2, y2``.

    Returns:
        np.ndarray: ``(n, m)`` IoUs; 0 where the union is empty.
    """
    intersections = pairwise_intersections(boxes, other_boxes)
    unions = (box_areas(boxes)[:, None] + box_areas(other_boxes)[None, :] -
              intersections)
    return np.divide(intersections, unions,
                     out=np.zeros_like(intersections), where=unions > 0)


def crowd_overlap(boxes: np.ndarray, crowd_boxes: np.ndarray) -> np.ndarray:
    """How much of each box a crowd region covers (COCO's crowd IoU).

    A crowd region holds many objects under one box, so COCO divides the
    intersection by the detection's own area instead of the union: a small
    detection of one person inside a crowd box is fully covered.

    Args:
        boxes (np.ndarray): ``(n, 4)`` detection boxes, ``x1, y1, x2, y2``.
        crowd_boxes (np.ndarray): ``(m, 4)`` crowd boxes, ``x1, y1, x2, y2``.

    Returns:
        np.ndarray: ``(n, m)`` intersection over detection area; 0 for
        detections of zero area.
    """
    intersections = pairwise_intersections(boxes, crowd_boxes)
    areas = np.broadcast_to(box_areas(boxes)[:, None], intersections.shape)
    return np.divide(intersections, areas,
                     out=np.zeros_like(intersections), where=areas > 0)


def match_detections(boxes: np.ndarray, scores: np.ndarray,
                     gt_boxes: np.ndarray, gt_is_crowd: np.ndarray,
                     iou_thr: float) -> np.ndarray:
    """Label the detections of one class in one image, greedily by score.

    Detections are visited in descending score order (a stable sort, so
    ties keep their input order, as in COCO). Each takes the not yet matched
    regular ground-truth box with the highest IoU, if that IoU is
    ``>= iou_thr``, and is then a true positive. A detection that takes no
    regular box but covers a crowd box (:func:`crowd_overlap`
    ``>= iou_thr``) is dropped; crowd boxes can absorb any number of
    detections. Every other detection, including a second detection of an
    already matched object, is a false positive.

    Args:
        boxes (np.ndarray): ``(n, 4)`` detection boxes, ``x1, y1, x2, y2``.
        scores (np.ndarray): ``(n,)`` detection scores.
        gt_boxes (np.ndarray): ``(m, 4)`` ground-truth boxes of the same
            class, ``x1, y1, x2, y2``.
        gt_is_crowd (np.ndarray): ``(m,)`` bool, True for crowd boxes.
        iou_thr (float): Minimum IoU of a true positive.

    Returns:
        np.ndarray: ``(n,)`` int outcomes in the input order:
        :data:`TRUE_POSITIVE`, :data:`FALSE_POSITIVE` or :data:`DROPPED`.
    """
    outcomes = np.full(len(boxes), FALSE_POSITIVE, dtype=np.int64)
    regular_boxes = gt_boxes[~gt_is_crowd]
    crowd_boxes = gt_boxes[gt_is_crowd]
    ious = pairwise_iou(boxes, regular_boxes)
    covered_by_crowd = (crowd_overlap(boxes, crowd_boxes) >= iou_thr).any(
        axis=1)
    taken = np.zeros(len(regular_boxes), dtype=bool)
    for index in np.argsort(-scores, kind='mergesort'):
        candidate_ious = np.where(taken, -1.0, ious[index])
        if len(candidate_ious) and candidate_ious.max() >= iou_thr:
            taken[candidate_ious.argmax()] = True
            outcomes[index] = TRUE_POSITIVE
        elif covered_by_crowd[index]:
            outcomes[index] = DROPPED
    return outcomes


# ---------------------------------------------------------------------------
# Binning and D-ECE
# ---------------------------------------------------------------------------


def calibration_bins(confidences: np.ndarray, is_true_positive: np.ndarray,
                     score_thr: float, num_bins: int) -> List[dict]:
    """Split detections into equal-width confidence bins over [score_thr, 1].

    Bin ``b`` is ``[lower, upper)``; the last bin also holds confidence 1
    (and, defensively, anything above it).

    Args:
        confidences (np.ndarray): ``(n,)`` scores, all ``>= score_thr``.
        is_true_positive (np.ndarray): ``(n,)`` bool outcomes.
        score_thr (float): Lower edge of the first bin.
        num_bins (int): Number of bins.

    Returns:
        list[dict]: One dict per bin, in increasing confidence: ``lower``,
        ``upper``, ``count``, ``confidence`` (mean score), ``precision``
        (fraction of true positives) and ``gap``
        (``|precision - confidence|``); the last three are None for an
        empty bin.
    """
    edges = np.linspace(score_thr, 1.0, num_bins + 1)
    bin_indices = np.clip(
        np.searchsorted(edges, confidences, side='right') - 1, 0,
        num_bins - 1)
    bins = []
    for index in range(num_bins):
        in_bin = bin_indices == index
        count = int(in_bin.sum())
        confidence = precision = gap = None
        if count:
            confidence = float(confidences[in_bin].mean())
            precision = float(is_true_positive[in_bin].mean())
            gap = abs(precision - confidence)
        bins.append(
            dict(lower=float(edges[index]), upper=float(edges[index + 1]),
                 count=count, confidence=confidence, precision=precision,
                 gap=gap))
    return bins


def detection_expected_calibration_error(bins: Sequence[dict]) -> float:
    """D-ECE: the count-weighted mean of the bins' precision-confidence gap.

    Args:
        bins (Sequence[dict]): Bins from :func:`calibration_bins`.

    Returns:
        float: ``sum_b (n_b / N) |precision_b - confidence_b|`` over the
        non-empty bins; NaN when no bin holds a detection (calibration is
        undefined without detections).
    """
    total = sum(bin_['count'] for bin_ in bins)
    if total == 0:
        return math.nan
    return sum(bin_['count'] / total * bin_['gap'] for bin_ in bins
               if bin_['count'])


# ---------------------------------------------------------------------------
# Report: table, JSON, reliability diagram
# ---------------------------------------------------------------------------


def _format_optional(value: Optional[float]) -> str:
    """Three decimals, or '-' for a missing value (empty bin, NaN)."""
    if value is None or math.isnan(value):
        return '-'
    return f'{value:.3f}'


def format_bin_table(bins: Sequence[dict]) -> str:
    """An ASCII table of the bins for the log.

    Args:
        bins (Sequence[dict]): Bins from :func:`calibration_bins`.

    Returns:
        str: One row per bin: range, count, mean confidence, precision, gap.
    """
    rows = [['confidence bin', 'count', 'mean conf.', 'precision', 'gap']]
    for bin_ in bins:
        rows.append([
            f"[{bin_['lower']:.3f}, {bin_['upper']:.3f})",
            str(bin_['count']),
            _format_optional(bin_['confidence']),
            _format_optional(bin_['precision']),
            _format_optional(bin_['gap']),
        ])
    return AsciiTable(rows).table


def nan_to_none(value: Any) -> Any:
    """Replace NaN floats, also inside dicts and lists, by None.

    JSON has no NaN; ``json.dump`` would write the non-standard ``NaN``
    token that strict parsers reject.

    Args:
        value: A JSON-like structure.

    Returns:
        The same structure with NaN replaced by None.
    """
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: nan_to_none(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [nan_to_none(item) for item in value]
    return value


def plot_reliability_diagram(bins: Sequence[dict], d_ece: float,
                             score_thr: float, path: str) -> None:
    """Save a reliability diagram: precision per confidence bin.

    Each non-empty bin is a bar as wide as the bin and as high as its
    precision, labelled with its detection count; the dashed diagonal is
    perfect calibration (precision = confidence) and a dot marks the mean
    confidence of each bin on it, so the vertical distance from dot to bar
    top is the bin's gap.

    Args:
        bins (Sequence[dict]): Bins from :func:`calibration_bins`.
        d_ece (float): D-ECE, shown in the title.
        score_thr (float): Lower end of the confidence axis.
        path (str): Output PNG path.
    """
    # Figure without pyplot: no global backend or figure state is touched,
    # which matters inside a training process.
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 5.4), dpi=100)
    axes = figure.add_subplot()
    filled = [bin_ for bin_ in bins if bin_['count']]
    axes.bar([bin_['lower'] for bin_ in filled],
             [bin_['precision'] for bin_ in filled],
             width=[bin_['upper'] - bin_['lower'] for bin_ in filled],
             align='edge', color='tab:blue', edgecolor='black', alpha=0.8,
             label='precision')
    axes.plot([score_thr, 1.0], [score_thr, 1.0], linestyle='--',
              color='gray', label='perfect calibration')
    axes.plot([bin_['confidence'] for bin_ in filled],
              [bin_['confidence'] for bin_ in filled], 'o', color='tab:red',
              markersize=4, label='mean confidence')
    for bin_ in filled:
        axes.text((bin_['lower'] + bin_['upper']) / 2,
                  bin_['precision'] + 0.01, str(bin_['count']),
                  ha='center', va='bottom', fontsize=7)
    axes.set_xlim(score_thr, 1.0)
    axes.set_ylim(0.0, 1.08)
    axes.set_xlabel('confidence')
    axes.set_ylabel('precision')
    axes.set_title(f'Reliability diagram (D-ECE = '
                   f'{_format_optional(d_ece)})')
    # Below the axes: inside, it would hide the bars and counts of some bin.
    axes.legend(loc='upper center', bbox_to_anchor=(0.5, -0.12), ncol=3,
                fontsize=8, frameon=False)
    figure.tight_layout()
    figure.savefig(path)


# ---------------------------------------------------------------------------
# The registered metric
# ---------------------------------------------------------------------------


def _to_numpy(array: Any) -> np.ndarray:
    """A tensor (any device) or array-like as a numpy array."""
    if hasattr(array, 'detach'):
        return array.detach().cpu().numpy()
    return np.asarray(array)


@METRICS.register_module()
class DetectionCalibrationMetric(BaseMetric):
    """Detection expected calibration error (D-ECE, Küppers et al. 2020).

    See the module docstring for the exact definition. Meant to run beside
    the COCO metric on the same data::

        val_evaluator = [
            dict(type='CocoMetric', ann_file=ann_file, metric='bbox'),
            dict(type='DetectionCalibrationMetric', ann_file=ann_file),
        ]

    Predictions are read as :class:`mmdet.evaluation.CocoMetric` reads them:
    ``data_sample['img_id']`` and ``data_sample['pred_instances']`` with
    ``bboxes`` (``x1, y1, x2, y2`` in original image coordinates),
    ``scores`` and ``labels``. Ground truth comes from the COCO annotation
    file. Label ``i`` is the category
    ``COCO.getCatIds(catNms=dataset_meta['classes'])[i]``, exactly the
    mapping of mmdet's ``CocoDataset`` and ``CocoMetric`` (the named
    categories in the annotation file's order); without ``classes`` in
    ``dataset_meta`` it is the ``i``-th smallest category id.

    Matching happens in :meth:`process`, so only scores, labels and outcomes
    are gathered across ranks. :meth:`compute_metrics` logs the per-bin table
    and writes ``calibration_metrics.json`` and ``reliability_diagram.png``
    to the report directory (see ``save_dir``).

    Args:
        ann_file (str): Local path of the COCO-format annotation file.
        score_thr (float): Detections scored below it are ignored; also the
            lower end of the binned confidence range. In ``[0, 1)``.
            Defaults to 0.3, the threshold of Küppers et al.'s detection
            experiments.
        iou_thr (float): Minimum IoU for a true positive, in ``(0, 1]``.
            Defaults to 0.5.
        num_bins (int): Number of equal-width confidence bins, ``>= 1``.
            Defaults to 10.
        classwise (bool): Also report the mean over classes of the per-class
            D-ECE (``d_ece_classwise``) and list the per-class values in the
            JSON report. Defaults to False.
        save_dir (str, optional): Directory of the JSON report and the
            diagram. If None, the directory of the current
            :class:`~mmengine.logging.MMLogger`'s log file (the run folder
            inside the work dir); if that logger has no log file either,
            nothing is written and a warning is logged. Defaults to None.
        collect_device (str): Device used to gather results across ranks,
            'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the metric names. Defaults to
            None, which uses ``'calib'`` (``calib/d_ece``).

    Raises:
        FileNotFoundError: If ``ann_file`` does not exist.
        ValueError: If ``score_thr``, ``iou_thr`` or ``num_bins`` is out of
            range.
    """
    default_prefix: Optional[str] = 'calib'

    def __init__(self,
                 ann_file: str,
                 score_thr: float = 0.3,
                 iou_thr: float = 0.5,
                 num_bins: int = 10,
                 classwise: bool = False,
                 save_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0.0 <= score_thr < 1.0:
            raise ValueError(
                f'{type(self).__name__}: score_thr must be in [0, 1), got '
                f'{score_thr!r}.')
        if not 0.0 < iou_thr <= 1.0:
            raise ValueError(
                f'{type(self).__name__}: iou_thr must be in (0, 1], got '
                f'{iou_thr!r}.')
        if (isinstance(num_bins, bool) or not isinstance(num_bins, int)
                or num_bins < 1):
            raise ValueError(
                f'{type(self).__name__}: num_bins must be an integer >= 1, '
                f'got {num_bins!r}.')
        if not osp.isfile(ann_file):
            raise FileNotFoundError(
                f'{type(self).__name__}: ann_file {ann_file!r} does not '
                'exist.')
        self.score_thr = score_thr
        self.iou_thr = iou_thr
        self.num_bins = num_bins
        self.classwise = classwise
        self.save_dir = save_dir
        self._coco = COCO(ann_file)
        # Label -> category id, and the classes it was derived from: the
        # mapping is recomputed if dataset_meta changes after first use.
        self._category_ids: Optional[List[int]] = None
        self._category_ids_for: Optional[Tuple[str, ...]] = None
        # Paths of the last written report, None when nothing was written.
        self.report_path: Optional[str] = None
        self.diagram_path: Optional[str] = None

    # -- labels and ground truth ---------------------------------------------

    def _class_names(self) -> Optional[Tuple[str, ...]]:
        """The dataset's class names, or None when dataset_meta has none."""
        if self.dataset_meta and self.dataset_meta.get('classes'):
            return tuple(self.dataset_meta['classes'])
        return None

    def label_to_category_id(self) -> List[int]:
        """Category id of each label (see the class docstring).

        Returns:
            list[int]: ``category_ids[label]``.

        Raises:
            ValueError: If a class of ``dataset_meta`` is not a category of
                the annotation file.
        """
        classes = self._class_names()
        if self._category_ids is None or self._category_ids_for != classes:
            if classes is None:
                category_ids = sorted(self._coco.getCatIds())
            else:
                category_ids = self._coco.getCatIds(catNms=list(classes))
                known = {cat['name'] for cat in self._coco.loadCats(
                    category_ids)}
                missing = [name for name in classes if name not in known]
                if missing:
                    raise ValueError(
                        f'{type(self).__name__}: classes {missing} of '
                        'dataset_meta are not categories of the annotation '
                        'file.')
            self._category_ids = category_ids
            self._category_ids_for = classes
        return self._category_ids

    def label_names(self) -> List[str]:
        """Name of each label: ``dataset_meta['classes']`` or COCO's names.

        Returns:
            list[str]: ``names[label]``.
        """
        return [
            cat['name']
            for cat in self._coco.loadCats(self.label_to_category_id())
        ]

    def _ground_truth(self, image_id: int) -> Tuple[np.ndarray, np.ndarray,
                                                    np.ndarray]:
        """Boxes, category ids and crowd flags of one image's annotations.

        Args:
            image_id (int): COCO image id.

        Returns:
            tuple: ``(m, 4)`` float boxes ``x1, y1, x2, y2``, ``(m,)``
            category ids, ``(m,)`` bool crowd flags.

        Raises:
            ValueError: If the image is not in the annotation file.
        """
        if image_id not in self._coco.imgs:
            raise ValueError(
                f'{type(self).__name__}: image id {image_id!r} of a '
                'prediction is not in the annotation file.')
        annotations = self._coco.imgToAnns[image_id]
        # COCO stores x, y, width, height.
        boxes = np.array([ann['bbox'] for ann in annotations],
                         dtype=np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        category_ids = np.array([ann['category_id'] for ann in annotations],
                                dtype=np.int64)
        is_crowd = np.array(
            [bool(ann.get('iscrowd', 0)) for ann in annotations], dtype=bool)
        return boxes, category_ids, is_crowd

    # -- BaseMetric interface -------------------------------------------------

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Match one batch's detections and store their outcomes.

        Args:
            data_batch (Any): The batch from the dataloader (unused: the
                ground truth comes from ``ann_file``).
            data_samples (Sequence[dict]): Per image, ``img_id`` and
                ``pred_instances`` with ``bboxes``, ``scores``, ``labels``
                (tensors or arrays).

        Raises:
            ValueError: If a predicted label has no category or an image id
                is not in the annotation file.
        """
        category_ids = np.asarray(self.label_to_category_id(), dtype=np.int64)
        for data_sample in data_samples:
            predictions = data_sample['pred_instances']
            scores = _to_numpy(predictions['scores']).astype(np.float64)
            labels = _to_numpy(predictions['labels']).astype(np.int64)
            boxes = _to_numpy(predictions['bboxes']).astype(
                np.float64).reshape(-1, 4)
            # Greedy matching visits higher scores first, so detections
            # under the threshold can never change the outcome of kept ones.
            kept = scores >= self.score_thr
            scores, labels, boxes = scores[kept], labels[kept], boxes[kept]
            if len(labels) and (labels.min() < 0
                                or labels.max() >= len(category_ids)):
                raise ValueError(
                    f'{type(self).__name__}: predicted labels must be in '
                    f'[0, {len(category_ids)}), got {labels.min()}..'
                    f'{labels.max()}.')
            gt_boxes, gt_category_ids, gt_is_crowd = self._ground_truth(
                data_sample['img_id'])
            outcomes = np.full(len(scores), FALSE_POSITIVE, dtype=np.int64)
            for label in np.unique(labels):
                of_label = labels == label
                of_category = gt_category_ids == category_ids[label]
                outcomes[of_label] = match_detections(
                    boxes[of_label], scores[of_label], gt_boxes[of_category],
                    gt_is_crowd[of_category], self.iou_thr)
            labelled = outcomes != DROPPED
            self.results.append(
                dict(
                    img_id=data_sample['img_id'],
                    scores=scores[labelled],
                    labels=labels[labelled],
                    is_true_positive=outcomes[labelled] == TRUE_POSITIVE))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """D-ECE of all processed detections; logs and saves the report.

        Args:
            results (list): What :meth:`process` stored, from all ranks.

        Returns:
            dict: ``d_ece`` (float, NaN without detections),
            ``num_detections`` (int, labelled detections with score
            ``>= score_thr``) and, with ``classwise``, ``d_ece_classwise``
            (float, NaN when no class has a detection).
        """
        logger = MMLogger.get_current_instance()
        scores = np.concatenate(
            [np.zeros(0)] + [result['scores'] for result in results])
        labels = np.concatenate([np.zeros(0, dtype=np.int64)] +
                                [result['labels'] for result in results])
        is_true_positive = np.concatenate(
            [np.zeros(0, dtype=bool)] +
            [result['is_true_positive'] for result in results])

        bins = calibration_bins(scores, is_true_positive, self.score_thr,
                                self.num_bins)
        d_ece = detection_expected_calibration_error(bins)
        metrics: Dict[str, Any] = dict(d_ece=d_ece,
                                       num_detections=int(len(scores)))
        report: Dict[str, Any] = dict(
            d_ece=d_ece, num_detections=int(len(scores)),
            score_thr=self.score_thr, iou_thr=self.iou_thr,
            num_bins=self.num_bins, bins=bins)
        if len(scores) == 0:
            logger.warning(
                f'{type(self).__name__}: no detection scored >= '
                f'{self.score_thr}; D-ECE is undefined (NaN).')

        if self.classwise:
            per_class = self._per_class(scores, labels, is_true_positive)
            class_values = [
                entry['d_ece'] for entry in per_class.values()
                if not math.isnan(entry['d_ece'])
            ]
            metrics['d_ece_classwise'] = (float(np.mean(class_values))
                                          if class_values else math.nan)
            report['d_ece_classwise'] = metrics['d_ece_classwise']
            report['per_class'] = per_class

        logger.info(f'D-ECE = {_format_optional(d_ece)} over '
                    f'{len(scores)} detections (score >= {self.score_thr}, '
                    f'IoU >= {self.iou_thr}):\n' + format_bin_table(bins))
        self._save_report(report, bins, d_ece)
        return metrics

    def _per_class(self, scores: np.ndarray, labels: np.ndarray,
                   is_true_positive: np.ndarray) -> Dict[str, dict]:
        """D-ECE of each class's detections alone.

        Args:
            scores (np.ndarray): Scores of all labelled detections.
            labels (np.ndarray): Their labels.
            is_true_positive (np.ndarray): Their outcomes.

        Returns:
            dict: Class name -> ``{'d_ece', 'num_detections'}``; D-ECE is
            NaN for a class without detections.
        """
        per_class = {}
        for label, name in enumerate(self.label_names()):
            of_label = labels == label
            class_bins = calibration_bins(scores[of_label],
                                          is_true_positive[of_label],
                                          self.score_thr, self.num_bins)
            per_class[name] = dict(
                d_ece=detection_expected_calibration_error(class_bins),
                num_detections=int(of_label.sum()))
        return per_class

    def _report_dir(self) -> Optional[str]:
        """``save_dir``, else the current log file's directory, else None."""
        if self.save_dir is not None:
            return self.save_dir
        log_file = MMLogger.get_current_instance().log_file
        return osp.dirname(osp.abspath(log_file)) if log_file else None

    def _save_report(self, report: dict, bins: Sequence[dict],
                     d_ece: float) -> None:
        """Write the JSON report and the reliability diagram, if possible.

        Args:
            report (dict): Everything to put in the JSON file.
            bins (Sequence[dict]): Bins for the diagram.
            d_ece (float): D-ECE for the diagram's title.
        """
        logger = MMLogger.get_current_instance()
        directory = self._report_dir()
        if directory is None:
            logger.warning(
                f'{type(self).__name__}: {REPORT_FILE_NAME} and '
                f'{DIAGRAM_FILE_NAME} not written: save_dir is None and the '
                'current logger has no log file to put them beside. Pass '
                'save_dir= to write them.')
            self.report_path = self.diagram_path = None
            return
        os.makedirs(directory, exist_ok=True)
        self.report_path = osp.join(directory, REPORT_FILE_NAME)
        with open(self.report_path, 'w') as file:
            json.dump(nan_to_none(report), file, indent=2)
        self.diagram_path = osp.join(directory, DIAGRAM_FILE_NAME)
        plot_reliability_diagram(bins, d_ece, self.score_thr,
                                 self.diagram_path)
        logger.info(f'Calibration report saved to {self.report_path} and '
                    f'{self.diagram_path}')
