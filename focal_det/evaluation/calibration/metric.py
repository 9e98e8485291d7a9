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

Definition, as implemented by :func:`.matching.match_detections` (step 2)
and :func:`.binning.expected_calibration_error` (steps 3 and 4):

1. Keep the detections whose score is ``>= score_thr``.
2. Label each kept detection, per image and per class, in descending score
   order (greedy, like COCO): a *true positive* if some ground-truth box of
   the same class that no higher-scored detection took has IoU
   ``>= iou_thr`` with it (it takes the unmatched box of highest IoU),
   otherwise, if it covers a crowd region of that class (intersection over
   the detection's own area ``>= iou_thr``, COCO's crowd rule), it is
   *dropped* (neither true nor false positive), otherwise a *false positive*.
   The overlaps are pycocotools' own, so a hit here is a hit for COCO's AP.
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

Beside it, LaECE_0 and, given a calibrator, D-ECE and LaECE_0 on a fixed
detection set before and after calibration (:mod:`.measures`).
"""
import math
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmdet.registry import METRICS
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from pycocotools.coco import COCO

from ...calibration import load_calibrator
from ...validation import check_choice, check_int, check_range
from ..report_writing import (format_number, report_dir_or_warn,
                              write_json_report)
from .binning import calibration_bins, expected_calibration_error
from .diagram import format_bin_table, plot_reliability_diagram
from .matching import DROPPED, TRUE_POSITIVE, match_image
from .measures import (LRP_THRESHOLD_MODES, calibration_measures,
                       gather_detections, stored_lrp_thresholds)

REPORT_FILE_NAME = 'calibration_metrics.json'
DIAGRAM_FILE_NAME = 'reliability_diagram.png'


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
        score_calibration (str, optional): Calibration file to apply to the
            received (then raw: no ``test_cfg.score_calibration``) scores,
            for the fixed-set numbers (:mod:`.measures`); its stored
            LRP-optimal thresholds, if any, set LaECE_0's detections.
            Defaults to None.
        lrp_threshold (str): LaECE_0's LRP-optimal thresholds:
            ``'per_class'`` (as Kuzucu, Oksuz et al.) or ``'detector'``.
            Defaults to ``'per_class'``.
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
                 score_calibration: Optional[str] = None,
                 lrp_threshold: str = 'per_class',
                 save_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        owner = type(self).__name__
        score_thr = check_range(owner, 'score_thr', score_thr, 0.0, 1.0,
                                high_open=True)
        iou_thr = check_range(owner, 'iou_thr', iou_thr, 0.0, 1.0,
                              low_open=True)
        num_bins = check_int(owner, 'num_bins', num_bins, 1)
        check_choice(owner, 'lrp_threshold', lrp_threshold,
                     LRP_THRESHOLD_MODES)
        if not osp.isfile(ann_file):
            raise FileNotFoundError(
                f'{type(self).__name__}: ann_file {ann_file!r} does not '
                'exist.')
        self.score_thr = score_thr
        self.iou_thr = iou_thr
        self.num_bins = num_bins
        self.classwise = classwise
        self.lrp_threshold = lrp_threshold
        self.calibrator = self.stored_thresholds = None
        if score_calibration is not None:
            self.calibrator = load_calibrator(score_calibration)
            self.stored_thresholds = stored_lrp_thresholds(
                score_calibration, lrp_threshold)
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
            # All detections are matched (LaECE_0's thresholds and a
            # calibrator reach below score_thr); greedy matching by score
            # keeps lower ones from changing the outcome of higher ones.
            if len(labels) and (labels.min() < 0
                                or labels.max() >= len(category_ids)):
                raise ValueError(
                    f'{type(self).__name__}: predicted labels must be in '
                    f'[0, {len(category_ids)}), got {labels.min()}..'
                    f'{labels.max()}.')
            gt_boxes, gt_category_ids, gt_is_crowd = self._ground_truth(
                data_sample['img_id'])
            # LaECE_0 matches with tau = 0 (any overlap), D-ECE at iou_thr.
            image = (boxes, scores, labels, gt_boxes, gt_category_ids,
                     gt_is_crowd, category_ids)
            outcomes = match_image(*image, self.iou_thr)[0]
            laece_outcomes, laece_ious = match_image(*image, 0.0)
            regular = gt_category_ids[~gt_is_crowd]
            self.results.append(
                dict(img_id=data_sample['img_id'], scores=scores,
                     labels=labels, outcomes=outcomes,
                     laece_outcomes=laece_outcomes, laece_ious=laece_ious,
                     num_ground_truth=np.array(
                         [(regular == c).sum() for c in category_ids])))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """D-ECE of all processed detections; logs and saves the report.

        Args:
            results (list): What :meth:`process` stored, from all ranks.

        Returns:
            dict: ``d_ece`` (float, NaN without detections),
            ``num_detections`` (int, labelled detections with score
            ``>= score_thr``), with ``classwise`` ``d_ece_classwise``
            (float, NaN when no class has a detection), and those of
            :func:`.measures.calibration_measures`.
        """
        logger = MMLogger.get_current_instance()
        detections, num_ground_truth = gather_detections(
            results, len(self.label_to_category_id()))
        kept = (detections['outcomes'] != DROPPED) & (
            detections['scores'] >= self.score_thr)
        scores, labels = detections['scores'][kept], detections['labels'][
            kept]
        is_true_positive = detections['outcomes'][kept] == TRUE_POSITIVE

        bins = calibration_bins(scores, is_true_positive, self.score_thr,
                                self.num_bins)
        d_ece = expected_calibration_error(bins)
        metrics: Dict[str, Any] = dict(d_ece=d_ece,
                                       num_detections=int(len(scores)))
        report: Dict[str, Any] = dict(
            d_ece=d_ece, num_detections=int(len(scores)),
            score_thr=self.score_thr, iou_thr=self.iou_thr,
            num_bins=self.num_bins, bins=bins)
        extra_metrics, extra_report = calibration_measures(
            detections, num_ground_truth, self.score_thr, self.num_bins,
            self.calibrator, self.lrp_threshold, self.stored_thresholds)
        metrics.update(extra_metrics)
        report.update(extra_report)
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

        logger.info(f'D-ECE = {format_number(d_ece)} over '
                    f'{len(scores)} detections (score >= {self.score_thr}, '
                    f'IoU >= {self.iou_thr}):\n' + format_bin_table(bins) +
                    '\n' + ', '.join(f'{key} = {format_number(value)}'
                                     for key, value in extra_metrics.items()))
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
                d_ece=expected_calibration_error(class_bins),
                num_detections=int(of_label.sum()))
        return per_class

    def _save_report(self, report: dict, bins: Sequence[dict],
                     d_ece: float) -> None:
        """Write the JSON report and the reliability diagram, if possible.

        Args:
            report (dict): Everything to put in the JSON file.
            bins (Sequence[dict]): Bins for the diagram.
            d_ece (float): D-ECE for the diagram's title.
        """
        directory = report_dir_or_warn(self.save_dir, type(self).__name__,
                                       (REPORT_FILE_NAME, DIAGRAM_FILE_NAME))
        if directory is None:
            self.report_path = self.diagram_path = None
            return
        self.report_path = write_json_report(report, directory,
                                             REPORT_FILE_NAME)
        self.diagram_path = osp.join(directory, DIAGRAM_FILE_NAME)
        plot_reliability_diagram(bins, d_ece, self.score_thr,
                                 self.diagram_path)
        MMLogger.get_current_instance().info(
            f'Calibration report saved to {self.report_path} and '
            f'{self.diagram_path}')
