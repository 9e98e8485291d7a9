"""AP per frequency bucket and per class (``LongTailCocoMetric``,
``LongTailLVISMetric``).

``buckets`` puts categories into rare / common / frequent, ``per_class``
turns an evaluator's precision into per-class and per-bucket AP,
``evaluators`` gets that precision from COCOeval / LVISEval,
``report_mixin`` adds all that to an mmdet metric and ``metric`` holds the
registered metrics.
"""
from .buckets import count_train_images_per_category
from .metric import LongTailCocoMetric, LongTailLVISMetric
from .report_mixin import REPORT_FILE_NAME

__all__ = [
    'REPORT_FILE_NAME', 'LongTailCocoMetric', 'LongTailLVISMetric',
    'count_train_images_per_category'
]
