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

Both override ``compute_metrics`` (:mod:`.report_mixin`): it runs the
parent's, then gets the per-class precision from a second evaluation over
the 'all' area range (:mod:`.evaluators`); mmdet itself is left untouched.
"""
from typing import Any, Dict, Optional, Sequence

from mmdet.evaluation.metrics.coco_metric import CocoMetric
from mmdet.evaluation.metrics.lvis_metric import LVISMetric
from mmdet.registry import METRICS
from mmengine import fileio

from .buckets import count_train_images_per_category, resolve_category_buckets
from .evaluators import coco_class_precision, lvis_class_precision
from .per_class import ClassPrecision
from .report_mixin import LongTailReportMixin


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
