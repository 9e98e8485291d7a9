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

The per-class numbers come from the precision array of the COCOeval /
LVISEval object the parent metric already ran, so the (slow) evaluation is
run once. The parents create that object inside ``compute_metrics`` and drop
it, so it is caught by swapping, only for the duration of that call, the
evaluator class the parent's module looks up for a subclass that records
every instance it creates (see :func:`recording_evaluators`).
"""
import contextlib
import json
import math
import os
import os.path as osp
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import numpy as np
from mmdet.evaluation.metrics import coco_metric as coco_metric_module
from mmdet.evaluation.metrics import lvis_metric as lvis_metric_module
from mmdet.evaluation.metrics.coco_metric import CocoMetric
from mmdet.evaluation.metrics.lvis_metric import LVISMetric
from mmdet.registry import METRICS
from mmengine import fileio
from mmengine.logging import MMLogger
from terminaltables import AsciiTable

from ..datasets.frequency import (COMMON_MAX_TRAIN_IMAGES,
                                  RARE_MAX_TRAIN_IMAGES, lvis_frequency)

REPORT_FILE_NAME = 'long_tail_metrics.json'

# LVIS' frequency buckets, by number of training images holding the class.
BUCKETS = ('r', 'c', 'f')
BUCKET_NAMES = {'r': 'rare', 'c': 'common', 'f': 'frequent'}

# ---------------------------------------------------------------------------
# Input files
# ---------------------------------------------------------------------------


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


def count_train_images_per_category(
        train_ann_file: str,
        backend_args: Optional[dict] = None) -> Dict[str, int]:
    """Count, per category name, the training images that contain it.

    Crowd annotations are not counted: mmdet's COCO datasets turn them into
    ignored boxes, so they never teach the model the class.

    Args:
        train_ann_file (str): COCO-format training annotation file.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        dict: Category name -> number of images (0 for a category with no
        annotation).
    """
    train = fileio.load(
        train_ann_file, file_format='json', backend_args=backend_args)
    if not isinstance(train, dict) or 'categories' not in train:
        raise ValueError(f'train_ann_file {train_ann_file!r} is not a COCO '
                         "annotation file: it has no 'categories' list.")
    images_by_category: Dict[int, Set[Any]] = defaultdict(set)
    for annotation in train.get('annotations', []):
        if not annotation.get('iscrowd', 0):
            images_by_category[annotation['category_id']].add(
                annotation['image_id'])
    return {
        category['name']: len(images_by_category[category['id']])
        for category in train['categories']
    }


# ---------------------------------------------------------------------------
# Frequency buckets
# ---------------------------------------------------------------------------


def buckets_from_frequency_field(
        categories: Sequence[dict], source: str) -> Optional[Dict[int, str]]:
    """Read the LVIS-style ``frequency`` field of every category.

    Args:
        categories (Sequence[dict]): COCO ``categories`` entries.
        source (str): Where they come from, for error messages.

    Returns:
        dict or None: Category id -> 'r' / 'c' / 'f'; None when at least one
        category has no ``frequency`` field.

    Raises:
        ValueError: A ``frequency`` value is not one of 'r', 'c', 'f'.
    """
    for category in categories:
        frequency = category.get('frequency')
        if frequency is not None and frequency not in BUCKETS:
            raise ValueError(
                f"Category {category.get('name')!r} (id {category.get('id')})"
                f' in {source} has frequency {frequency!r}; expected one of '
                "'r', 'c', 'f'.")
    if not all('frequency' in category for category in categories):
        return None
    return {category['id']: category['frequency'] for category in categories}


def buckets_from_train_counts(
        categories: Sequence[dict],
        train_image_counts: Dict[str, int]) -> Dict[int, str]:
    """Bucket categories by their number of training images.

    Args:
        categories (Sequence[dict]): COCO ``categories`` entries evaluated.
        train_image_counts (dict): Category name -> training image count.
            A name missing there counts 0 training images (rare).

    Returns:
        dict: Category id -> 'r' / 'c' / 'f'.
    """
    return {
        category['id']: lvis_frequency(
            train_image_counts.get(category['name'], 0))
        for category in categories
    }


def resolve_category_buckets(
        categories: Sequence[dict], categories_source: str,
        train_image_counts: Optional[Dict[str, int]],
        train_source: Optional[str]) -> Tuple[Dict[int, str], str]:
    """Choose each category's bucket: ``frequency`` field, else train counts.

    Args:
        categories (Sequence[dict]): COCO ``categories`` entries evaluated.
        categories_source (str): Where they come from, for messages.
        train_image_counts (dict, optional): Category name -> training image
            count, used when not every category has a ``frequency`` field.
        train_source (str, optional): Where those counts come from.

    Returns:
        tuple: (category id -> bucket, sentence saying where buckets came
        from).

    Raises:
        ValueError: A ``frequency`` value is invalid, or some category has
            none and no training counts were given.
    """
    buckets = buckets_from_frequency_field(categories, categories_source)
    if buckets is not None:
        return buckets, f"'frequency' field of the categories in " \
                        f'{categories_source}'
    if train_image_counts is None:
        missing = [c.get('name') for c in categories if 'frequency' not in c]
        raise ValueError(
            f"Categories {missing[:10]} in {categories_source} have no "
            "'frequency' field ('r'/'c'/'f'); add it to every category or "
            'pass train_ann_file= so that buckets come from training image '
            'counts.')
    return buckets_from_train_counts(categories, train_image_counts), (
        f'training image counts of {train_source} (rare <= '
        f'{RARE_MAX_TRAIN_IMAGES} images, common '
        f'{RARE_MAX_TRAIN_IMAGES + 1}..{COMMON_MAX_TRAIN_IMAGES}, frequent > '
        f'{COMMON_MAX_TRAIN_IMAGES})')


# ---------------------------------------------------------------------------
# Catching the evaluator the parent metric runs
# ---------------------------------------------------------------------------


# One list per active `recording_evaluators` block (innermost last).
_active_recordings: List[list] = []


class _RecordOnInit:
    """Mixin: a new evaluator adds itself to the innermost active recording.

    The recording subclasses below are defined at module level, not built on
    the fly, because COCOevalMP pickles its own bound methods to send them
    to worker processes, and pickle finds classes by module and name.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if _active_recordings:
            _active_recordings[-1].append(self)


class RecordingCOCOeval(_RecordOnInit, coco_metric_module.COCOeval):
    """pycocotools' COCOeval that records its instances (see above)."""


class RecordingCOCOevalMP(_RecordOnInit, coco_metric_module.COCOevalMP):
    """mmdet's multi-process COCOevalMP that records its instances."""


if lvis_metric_module.LVISEval is not None:

    class RecordingLVISEval(_RecordOnInit, lvis_metric_module.LVISEval):
        """lvis' LVISEval that records its instances."""
else:
    # lvis is not installed: mmdet's LVISMetric refuses to be built anyway.
    RecordingLVISEval = None


@contextlib.contextmanager
def recording_evaluators(module: Any,
                         replacements: Dict[str, Optional[type]]
                         ) -> Iterator[list]:
    """Within the block, record the evaluators that ``module`` creates.

    The parent metrics build their evaluator by the name they imported into
    their module (``COCOeval(...)`` in ``coco_metric``), then discard it.
    Rebinding those names to recording subclasses for the duration of one
    ``compute_metrics`` call hands the evaluators back without copying the
    parent's code or running the evaluation twice. The names are restored
    even on error. Evaluation runs on the main process only and metrics are
    computed one after the other, so nothing else sees the rebinding.

    Args:
        module: Module whose global evaluator classes are rebound.
        replacements (dict): Global name -> recording subclass to bind to it
            meanwhile; a None subclass (lvis not installed) leaves the name
            alone.

    Yields:
        list: Evaluators created inside the block, in creation order.
    """
    created: list = []
    originals = {name: getattr(module, name) for name in replacements}
    _active_recordings.append(created)
    try:
        for name, recording_class in replacements.items():
            if recording_class is not None:
                setattr(module, name, recording_class)
        yield created
    finally:
        for name, original in originals.items():
            setattr(module, name, original)
        _active_recordings.remove(created)


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


# ---------------------------------------------------------------------------
# Per-class and per-bucket AP
# ---------------------------------------------------------------------------


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


def _format_number(value: Optional[float]) -> str:
    """Format an AP or count for the text tables ('-' when unknown)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.3f}' if isinstance(value, float) else str(value)


def format_per_class_table(rows: Sequence[dict], iou_type: str) -> str:
    """Render the per-class rows as an ASCII table for the log."""
    header = [
        'category', 'bucket', f'{iou_type} AP', 'AP50', 'gt instances',
        'train images'
    ]
    body = [[
        row['category'], row['bucket'],
        _format_number(row['AP']),
        _format_number(row['AP50']),
        _format_number(row['num_gt_instances']),
        _format_number(row['train_image_count'])
    ] for row in rows]
    return AsciiTable([header] + body).table


def format_bucket_table(summary: Dict[str, dict], iou_type: str) -> str:
    """Render the bucket summary as an ASCII table for the log."""
    header = ['bucket', f'{iou_type} AP', 'classes evaluated', 'classes']
    body = [[
        BUCKET_NAMES[bucket],
        _format_number(values['AP']),
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


# ---------------------------------------------------------------------------
# Report file
# ---------------------------------------------------------------------------


def resolve_report_dir(save_dir: Optional[str]) -> Optional[str]:
    """Pick the directory of ``long_tail_metrics.json``.

    Args:
        save_dir (str, optional): Explicit directory; wins when given.

    Returns:
        str or None: ``save_dir``, else the directory of the current mmengine
        logger's log file (mmengine's Runner puts it in
        ``<work_dir>/<timestamp>/``), else None when that logger writes no
        file (e.g. the metric is used outside a Runner).
    """
    if save_dir is not None:
        return save_dir
    log_file = MMLogger.get_current_instance().log_file
    return osp.dirname(osp.abspath(log_file)) if log_file else None


def json_safe(value: Any) -> Any:
    """Turn NaN into None and numpy scalars into Python ones, recursively.

    Strict JSON has no NaN; None (null) reads as "no value" everywhere.
    """
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_report(report: dict, directory: str) -> str:
    """Write ``report`` as ``long_tail_metrics.json`` in ``directory``.

    Returns:
        str: Path of the file written.
    """
    os.makedirs(directory, exist_ok=True)
    path = osp.join(directory, REPORT_FILE_NAME)
    with open(path, 'w', encoding='utf-8') as report_file:
        json.dump(json_safe(report), report_file, indent=2, allow_nan=False)
    return path


# ---------------------------------------------------------------------------
# Shared metric behaviour
# ---------------------------------------------------------------------------


class LongTailReportMixin:
    """Adds bucket AP, the per-class table and the JSON report to a metric.

    Put it before a CocoMetric-like parent in the bases. Subclasses set
    ``evaluator_module`` (the parent's module) and ``recording_classes``
    (name of each evaluator class the parent looks up there -> recording
    subclass) and implement the four ``_`` hooks below.
    """

    evaluator_module: Any = None
    recording_classes: Dict[str, Optional[type]] = {}

    def _setup_long_tail_report(self, save_dir: Optional[str],
                                log_per_class_table: bool) -> None:
        """Store the report options (called by the subclass ``__init__``)."""
        self.save_dir = save_dir
        self.log_per_class_table = log_per_class_table
        self.report_path: Optional[str] = None

    # Hooks ------------------------------------------------------------------

    def _ground_truth_api(self) -> Any:
        """Return the COCO / LVIS ground-truth API the parent evaluated."""
        raise NotImplementedError

    def _class_precision(self, evaluator: Any) -> Optional[ClassPrecision]:
        """Reduce an evaluator to :class:`ClassPrecision`.

        Returns None for evaluators without per-class results (class-agnostic
        proposal evaluation, or one that never accumulated).
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
        with recording_evaluators(self.evaluator_module,
                                  self.recording_classes) as evaluators:
            eval_results = super().compute_metrics(results)
        class_precisions = [
            view for view in map(self._class_precision, evaluators)
            if view is not None
        ]
        if not class_precisions:
            # format_only, proposal-only or empty results: nothing per class.
            return eval_results
        report = self._build_report(class_precisions)
        add_bucket_metrics(eval_results, report['buckets'])
        report['overall'] = dict(eval_results)
        self._save_report(report)
        return eval_results

    def _build_report(self,
                      class_precisions: Sequence[ClassPrecision]) -> dict:
        """Compute and log the per-class rows and buckets of each iou type.

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
        """Log the per-class table (if enabled) and the bucket table."""
        logger = MMLogger.get_current_instance()
        if self.log_per_class_table:
            logger.info(f'Per-class {iou_type} AP:\n' +
                        format_per_class_table(rows, iou_type))
        logger.info(f'{iou_type} AP per frequency bucket (from '
                    f'{self._bucket_source}):\n' +
                    format_bucket_table(summary, iou_type))

    def _save_report(self, report: dict) -> None:
        """Write the report where :func:`resolve_report_dir` says, if any."""
        logger = MMLogger.get_current_instance()
        directory = resolve_report_dir(self.save_dir)
        if directory is None:
            logger.warning(
                f'{type(self).__name__}: {REPORT_FILE_NAME} not written: '
                'save_dir is None and the current logger has no log file '
                'to put it beside. Pass save_dir= to write it.')
            self.report_path = None
            return
        self.report_path = write_report(report, directory)
        logger.info(f'Long-tail metrics saved to {self.report_path}')


# ---------------------------------------------------------------------------
# The registered metrics
# ---------------------------------------------------------------------------


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

    evaluator_module = coco_metric_module
    recording_classes = dict(
        COCOeval=RecordingCOCOeval, COCOevalMP=RecordingCOCOevalMP)

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
        self._setup_long_tail_report(save_dir, log_per_class_table)
        self.ann_file = ann_file
        self.train_ann_file = train_ann_file
        self._train_image_counts_by_name = (
            None if train_ann_file is None else
            count_train_images_per_category(train_ann_file, backend_args))
        self._bucket_source = ''
        if self._coco_api is not None:
            # Fail at construction, not after a whole epoch of inference.
            self._category_buckets(self._coco_api.dataset['categories'])

    def _ground_truth_api(self) -> Any:
        """Return the COCO API the parent evaluated against."""
        return self._coco_api

    def _class_precision(self, evaluator: Any) -> Optional[ClassPrecision]:
        """Reduce a COCOeval to [iou, recall, class] precision.

        COCOeval's precision is [iou, recall, class, area, max_dets]; the
        parent reports mAP on area 'all' (index 0) and the largest max_dets
        (index -1), so the same slice is used here.
        """
        params = evaluator.params
        if not params.useCats or 'precision' not in evaluator.eval:
            return None
        return ClassPrecision(
            iou_type=params.iouType,
            category_ids=list(params.catIds),
            iou_thresholds=np.atleast_1d(params.iouThrs),
            precision=evaluator.eval['precision'][:, :, :, 0, -1])

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
    :mod:`focal_det.evaluation` makes lvis 0.5.3 work on numpy >= 1.24.

    Args:
        ann_file (str, optional): LVIS-format ground truth of the evaluated
            set (categories need ``frequency``).
        save_dir (str, optional): Directory for ``long_tail_metrics.json``;
            defaults as in :class:`LongTailCocoMetric`.
        log_per_class_table (bool): Log the per-class table (1203 rows on
            LVIS). Defaults to True.
        **kwargs: Passed to :class:`mmdet.evaluation.LVISMetric`.
    """

    evaluator_module = lvis_metric_module
    recording_classes = dict(LVISEval=RecordingLVISEval)

    def __init__(self,
                 ann_file: Optional[str] = None,
                 save_dir: Optional[str] = None,
                 log_per_class_table: bool = True,
                 **kwargs) -> None:
        if ann_file is not None:
            require_file(ann_file, 'ann_file', type(self).__name__,
                         kwargs.get('backend_args'))
        super().__init__(ann_file=ann_file, **kwargs)
        self._setup_long_tail_report(save_dir, log_per_class_table)
        self.ann_file = ann_file
        self._bucket_source = ''
        if self._lvis_api is not None:
            # Fail at construction on a bad 'frequency' value.
            self._category_buckets(self._lvis_api.dataset['categories'])

    def _ground_truth_api(self) -> Any:
        """Return the LVIS API the parent evaluated against."""
        return self._lvis_api

    def _class_precision(self, evaluator: Any) -> Optional[ClassPrecision]:
        """Reduce an LVISEval to [iou, recall, class] precision.

        LVISEval's precision is [iou, recall, class, area]; area index 0 is
        'all', the one its AP uses.
        """
        params = evaluator.params
        if not params.use_cats or 'precision' not in evaluator.eval:
            return None
        return ClassPrecision(
            iou_type=params.iou_type,
            category_ids=list(params.cat_ids),
            iou_thresholds=np.atleast_1d(params.iou_thrs),
            precision=evaluator.eval['precision'][:, :, :, 0])

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
