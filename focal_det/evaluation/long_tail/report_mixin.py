"""What both long-tail metrics add to their mmdet parent's evaluation.

:class:`LongTailReportMixin` overrides ``compute_metrics``: the parent
evaluates as usual, then the mixin evaluates the same detections per class
(:mod:`.evaluators`), buckets the classes (:mod:`.buckets`), adds the bucket
APs to the parent's metrics, logs the tables and writes
``long_tail_metrics.json``.
"""
import os.path as osp
import tempfile
from typing import Any, Dict, Optional, Sequence

from mmengine.logging import MMLogger

from ..report_writing import report_dir_or_warn, write_json_report
from .evaluators import PER_CLASS_IOU_TYPES
from .per_class import (ClassPrecision, add_bucket_metrics, bucket_summary,
                        count_ground_truth_instances, format_bucket_table,
                        format_per_class_table, per_class_rows)

REPORT_FILE_NAME = 'long_tail_metrics.json'


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
        """The parent's ground truth.

        Returns:
            The COCO / LVIS API the parent evaluates against; None before a
            parent without ``ann_file`` has converted its data samples.
        """
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
        """Bucket the categories; also sets ``self._bucket_source``.

        Args:
            categories (Sequence[dict]): COCO ``categories`` entries.

        Returns:
            dict: Category id -> 'r' / 'c' / 'f'.

        Raises:
            ValueError: A bucket cannot be decided (see
                :func:`.buckets.resolve_category_buckets`).
        """
        raise NotImplementedError

    def _train_image_count(self, category: dict) -> Optional[int]:
        """The category's number of training images.

        Args:
            category (dict): A COCO ``categories`` entry.

        Returns:
            int or None: The count, None if unknown.
        """
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
