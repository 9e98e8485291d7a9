"""COCO / LVIS metrics that also report AP per frequency bucket and per class.

Long-tailed detection is judged on how rare classes fare, which the overall
mAP hides. The two metrics here keep everything their mmdet parents report
and add:

* ``<iou_type>_APr`` / ``_APc`` / ``_APf``: the mean, over the classes of a
  frequency bucket (rare / common / frequent), of each class's AP@[.5:.95].
  Classes without ground truth in the evaluated images have no AP and are
  left out of the mean; a bucket left with no class gives NaN (the key is
  kept so that configs naming it, e.g. ``save_best``, never hit a KeyError).
  ``LongTailLVISMetric`` keeps LVISEval's own APr/APc/APf, which are the same
  numbers (LVIS reports -1 for an empty bucket).
* A per-class table (AP, AP50, bucket, ground-truth count, training image
  count) written to the log.
* ``long_tail_metrics.json`` with the overall metrics, the buckets and the
  per-class table, written to ``save_dir`` or, by default, to the directory
  of the current mmengine log file (the run's folder inside the work dir).

Each metric overrides ``compute_metrics``: it runs its parent's, then gets
the per-class precision from a second evaluation over the 'all' area range
(:mod:`.evaluators`); mmdet itself is left untouched.
"""
import os.path as osp
import tempfile
from typing import Any, Dict, Optional, Sequence

from mmdet.evaluation.metrics.coco_metric import CocoMetric
from mmdet.evaluation.metrics.lvis_metric import LVISMetric
from mmdet.registry import METRICS
from mmengine import fileio
from mmengine.logging import MMLogger

from ..report_writing import report_dir_or_warn, write_json_report
from .buckets import count_train_images_per_category, resolve_category_buckets
from .evaluators import (PER_CLASS_IOU_TYPES, coco_class_precision,
                         lvis_class_precision)
from .per_class import (ClassPrecision, add_bucket_metrics, bucket_summary,
                        count_ground_truth_instances, format_bucket_table,
                        format_per_class_table, per_class_rows)

REPORT_FILE_NAME = 'long_tail_metrics.json'


def require_file(path: str, argument: str, owner: str,
                 backend_args: Optional[dict]) -> None:
    """Raise a FileNotFoundError naming ``path`` if it does not exist.

    Args:
        path (str): File to check (local path or any mmengine backend URI).
        argument (str): Constructor argument that named it, for the message.
        owner (str): Class name of the metric, for the message.
        backend_args (dict, optional): mmengine file backend arguments.
    """
    if not fileio.exists(path, backend_args=backend_args):
        raise FileNotFoundError(
            f'{owner}: {argument} {path!r} does not exist.')


class LongTailReportMixin:
    """Adds bucket AP, the per-class table and the JSON report to a metric.

    Put it before a CocoMetric-like parent in the bases: it uses the
    parent's ``metrics``, ``format_only``, ``img_ids``, ``prefix`` and
    ``results2json``. Subclasses implement the four ``_`` hooks below.
    """

    def _setup_long_tail_report(self, ann_file: Optional[str],
                                save_dir: Optional[str],
                                log_per_class_table: bool) -> None:
        """Store the report options and check the buckets of the categories.

        Called by the subclass ``__init__`` after the parent's, once what
        :meth:`_category_buckets` needs is set: a bad or missing
        ``frequency`` then fails at construction, not after a whole epoch of
        inference.

        Args:
            ann_file (str, optional): The evaluated set's ground truth.
            save_dir (str, optional): See :class:`LongTailCocoMetric`.
            log_per_class_table (bool): See :class:`LongTailCocoMetric`.
        """
        self.ann_file = ann_file
        self.save_dir = save_dir
        self.log_per_class_table = log_per_class_table
        self.report_path: Optional[str] = None
        self._bucket_source = ''
        api = self._ground_truth_api()
        if api is not None:
            self._category_buckets(api.dataset['categories'])

    # Hooks ------------------------------------------------------------------

    def _ground_truth_api(self) -> Any:
        """Return the COCO / LVIS ground-truth API the parent evaluated."""
        raise NotImplementedError

    def _class_precision(self, iou_type: str,
                         result_file: str) -> Optional[ClassPrecision]:
        """Evaluate ``result_file`` as the parent did, per class.

        Args:
            iou_type (str): 'bbox' or 'segm'.
            result_file (str): Detections in the parent's result format.

        Returns:
            ClassPrecision or None: None when there is no detection.
        """
        raise NotImplementedError

    def _category_buckets(self, categories: Sequence[dict]) -> Dict[int, str]:
        """Return category id -> bucket and set ``self._bucket_source``."""
        raise NotImplementedError

    def _train_image_count(self, category: dict) -> Optional[int]:
        """Return the category's number of training images, if known."""
        raise NotImplementedError

    # Main -------------------------------------------------------------------

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Run the parent's evaluation, then add the long-tail report.

        Args:
            results (list): The processed results of each batch.

        Returns:
            dict: The parent's metrics plus ``<iou_type>_APr/_APc/_APf``
            (rounded to 3 decimals like the parent's; NaN for a bucket with
            no evaluated class) where the parent did not report them.
        """
        eval_results = super().compute_metrics(results)
        class_precisions = self._class_precisions(results)
        if not class_precisions:
            # format_only, proposal-only or empty results: nothing per class.
            return eval_results
        report = self._build_report(class_precisions)
        add_bucket_metrics(eval_results, report['buckets'])
        report['overall'] = dict(eval_results)
        self._save_report(report)
        return eval_results

    def _class_precisions(self, results: list) -> list:
        """Per-class precision of each class-aware iou type evaluated.

        Args:
            results (list): The processed results of each batch.

        Returns:
            list[ClassPrecision]: One per iou type in ``self.metrics`` that
            is evaluated per class and has detections.
        """
        iou_types = [
            metric for metric in self.metrics if metric in PER_CLASS_IOU_TYPES
        ]
        if self.format_only or not iou_types:
            return []
        _, predictions = zip(*results)
        with tempfile.TemporaryDirectory() as tmp_dir:
            result_files = self.results2json(predictions,
                                             osp.join(tmp_dir, 'results'))
            class_precisions = [
                self._class_precision(iou_type, result_files[iou_type])
                for iou_type in iou_types
            ]
        return [view for view in class_precisions if view is not None]

    def _build_report(self,
                      class_precisions: Sequence[ClassPrecision]) -> dict:
        """Compute and log the per-class rows and buckets of each iou type.

        Args:
            class_precisions (Sequence[ClassPrecision]): One per iou type.

        Returns:
            dict: ``metric``, ``prefix``, ``bucket_source``, ``num_images``,
            ``overall`` (left empty for the caller), and ``buckets`` /
            ``per_class`` keyed by iou type.
        """
        api = self._ground_truth_api()
        categories = {
            category['id']: category
            for category in api.dataset['categories']
        }
        evaluated_ids = {
            category_id
            for view in class_precisions for category_id in view.category_ids
        }
        buckets = self._category_buckets(
            [categories[category_id] for category_id in sorted(evaluated_ids)])
        instance_counts = count_ground_truth_instances(api.dataset,
                                                       self.img_ids)
        train_counts = {
            category_id: self._train_image_count(category)
            for category_id, category in categories.items()
        }
        report = dict(
            metric=type(self).__name__,
            prefix=self.prefix,
            bucket_source=self._bucket_source,
            num_images=len(self.img_ids),
            overall={},
            buckets={},
            per_class={})
        for view in class_precisions:
            rows = per_class_rows(view, categories, buckets, instance_counts,
                                  train_counts)
            report['per_class'][view.iou_type] = rows
            report['buckets'][view.iou_type] = bucket_summary(rows)
            self._log_tables(view.iou_type, rows,
                             report['buckets'][view.iou_type])
        return report

    def _log_tables(self, iou_type: str, rows: Sequence[dict],
                    summary: Dict[str, dict]) -> None:
        """Log the per-class table (if enabled) and the bucket table.

        Args:
            iou_type (str): 'bbox' or 'segm'.
            rows (Sequence[dict]): Per-class rows of that iou type.
            summary (dict): Its bucket summary.
        """
        logger = MMLogger.get_current_instance()
        if self.log_per_class_table:
            logger.info(f'Per-class {iou_type} AP:\n' +
                        format_per_class_table(rows, iou_type))
        logger.info(f'{iou_type} AP per frequency bucket (from '
                    f'{self._bucket_source}):\n' +
                    format_bucket_table(summary, iou_type))

    def _save_report(self, report: dict) -> None:
        """Write the report to the report directory, if there is one.

        Args:
            report (dict): The report from :meth:`_build_report`.
        """
        directory = report_dir_or_warn(self.save_dir, type(self).__name__,
                                       (REPORT_FILE_NAME, ))
        if directory is None:
            self.report_path = None
            return
        self.report_path = write_json_report(report, directory,
                                             REPORT_FILE_NAME)
        MMLogger.get_current_instance().info(
            f'Long-tail metrics saved to {self.report_path}')


@METRICS.register_module()
class LongTailCocoMetric(LongTailReportMixin, CocoMetric):
    """CocoMetric plus AP per frequency bucket, per class, and a JSON report.

    Buckets come from the ``frequency`` field ('r'/'c'/'f', as in LVIS) of
    the categories in ``ann_file`` when every category has one; otherwise
    from ``train_ann_file``: a class held by <= 10 training images is rare,
    by 11..100 common, by more frequent.

    Args:
        ann_file (str, optional): COCO-format ground truth of the evaluated
            set. If None, the parent converts the ground truth carried by the
            data samples and ``train_ann_file`` is then required.
        train_ann_file (str, optional): COCO-format training annotations,
            used to bucket classes when ``ann_file``'s categories lack
            ``frequency``, and for the "train images" column.
        save_dir (str, optional): Directory for ``long_tail_metrics.json``.
            Defaults to the directory of the current mmengine log file
            (inside the work dir); if there is none, the file is not written
            and a warning is logged.
        log_per_class_table (bool): Log the per-class table (the bucket table
            is always logged). Defaults to True.
        **kwargs: Passed to :class:`mmdet.evaluation.CocoMetric` (metric,
            iou_thrs, classwise, outfile_prefix, backend_args, prefix, ...).

    Example:
        >>> val_evaluator = dict(
        ...     type='LongTailCocoMetric',
        ...     ann_file='data/lvis_style/val.json',
        ...     train_ann_file='data/lvis_style/train.json',
        ...     metric='bbox')
    """

    def __init__(self,
                 ann_file: Optional[str] = None,
                 train_ann_file: Optional[str] = None,
                 save_dir: Optional[str] = None,
                 log_per_class_table: bool = True,
                 **kwargs) -> None:
        owner = type(self).__name__
        backend_args = kwargs.get('backend_args')
        if ann_file is not None:
            require_file(ann_file, 'ann_file', owner, backend_args)
        if train_ann_file is not None:
            require_file(train_ann_file, 'train_ann_file', owner,
                         backend_args)
        elif ann_file is None:
            raise ValueError(
                f'{owner}: without ann_file the categories carry no '
                "'frequency' field, so train_ann_file= is required to put "
                'classes into frequency buckets.')
        super().__init__(ann_file=ann_file, **kwargs)
        self.train_ann_file = train_ann_file
        self._train_image_counts_by_name = (
            None if train_ann_file is None else
            count_train_images_per_category(train_ann_file, backend_args))
        self._setup_long_tail_report(ann_file, save_dir, log_per_class_table)

    def _ground_truth_api(self) -> Any:
        """Return the COCO API the parent evaluated against."""
        return self._coco_api

    def _class_precision(self, iou_type: str,
                         result_file: str) -> Optional[ClassPrecision]:
        """Evaluate as the parent did, with its parameters (see the mixin)."""
        return coco_class_precision(
            self._coco_api, result_file, iou_type, self.cat_ids, self.img_ids,
            self.proposal_nums, self.iou_thrs, self.use_mp_eval)

    def _category_buckets(self, categories: Sequence[dict]) -> Dict[int, str]:
        """Bucket by ``frequency`` field, else by training image count."""
        buckets, self._bucket_source = resolve_category_buckets(
            categories,
            categories_source=repr(self.ann_file)
            if self.ann_file else 'the dataset classes',
            train_image_counts=self._train_image_counts_by_name,
            train_source=repr(self.train_ann_file))
        return buckets

    def _train_image_count(self, category: dict) -> Optional[int]:
        """Training images of the category: from train_ann_file, else from an
        LVIS-style ``image_count`` field, else unknown."""
        if self._train_image_counts_by_name is not None:
            return self._train_image_counts_by_name.get(category['name'], 0)
        return category.get('image_count')


@METRICS.register_module()
class LongTailLVISMetric(LongTailReportMixin, LVISMetric):
    """LVISMetric plus the per-class AP table and the JSON report.

    LVISEval already reports APr/APc/APf from the categories' ``frequency``
    field; this class adds the per-class AP / AP50 table (logged and saved)
    and ``long_tail_metrics.json``. Needs the ``lvis`` package; importing
    :mod:`focal_det.evaluation` makes lvis 0.5.3 work on numpy >= 1.24
    (:mod:`focal_det.evaluation.lvis_compat`).

    Args:
        ann_file (str, optional): LVIS-format ground truth of the evaluated
            set (categories need ``frequency``).
        save_dir (str, optional): Directory for ``long_tail_metrics.json``;
            defaults as in :class:`LongTailCocoMetric`.
        log_per_class_table (bool): Log the per-class table (1203 rows on
            LVIS). Defaults to True.
        **kwargs: Passed to :class:`mmdet.evaluation.LVISMetric`.
    """

    def __init__(self,
                 ann_file: Optional[str] = None,
                 save_dir: Optional[str] = None,
                 log_per_class_table: bool = True,
                 **kwargs) -> None:
        if ann_file is not None:
            require_file(ann_file, 'ann_file', type(self).__name__,
                         kwargs.get('backend_args'))
        super().__init__(ann_file=ann_file, **kwargs)
        self._setup_long_tail_report(ann_file, save_dir, log_per_class_table)

    def _ground_truth_api(self) -> Any:
        """Return the LVIS API the parent evaluated against."""
        return self._lvis_api

    def _class_precision(self, iou_type: str,
                         result_file: str) -> Optional[ClassPrecision]:
        """Evaluate as the parent did (see the mixin)."""
        return lvis_class_precision(self._lvis_api, result_file, iou_type)

    def _category_buckets(self, categories: Sequence[dict]) -> Dict[int, str]:
        """Bucket by the ``frequency`` field, which LVIS requires."""
        buckets, self._bucket_source = resolve_category_buckets(
            categories,
            categories_source=repr(self.ann_file),
            train_image_counts=None,
            train_source=None)
        return buckets

    def _train_image_count(self, category: dict) -> Optional[int]:
        """Training images of the category from LVIS' ``image_count``."""
        return category.get('image_count')
