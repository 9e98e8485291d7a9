"""Evaluation: AP per frequency bucket and per class, detection calibration.

Importing this package registers ``LongTailCocoMetric``,
``LongTailLVISMetric`` and ``DetectionCalibrationMetric`` in
``mmdet.registry.METRICS`` and lets the ``lvis`` 0.5.3 evaluation API (used
by mmdet's ``LVISMetric``) run on numpy >= 1.24 (see :mod:`.lvis_compat`).

``long_tail/`` and ``calibration/`` hold the two metrics, ``report_writing``
what their reports share (finished runs' reports are read back by
:mod:`focal_det.analysis.finished_runs`).
"""
from .calibration import DetectionCalibrationMetric
from .long_tail import (REPORT_FILE_NAME, LongTailCocoMetric,
                        LongTailLVISMetric, count_train_images_per_category)
from .lvis_compat import patch_lvis_numpy_aliases

# lvis looks np.float up when an evaluation accumulates, so patching at
# import time covers every LVIS evaluation run after `import focal_det`,
# mmdet's own LVISMetric included.
patch_lvis_numpy_aliases()

__all__ = [
    'DetectionCalibrationMetric', 'LongTailCocoMetric', 'LongTailLVISMetric',
    'REPORT_FILE_NAME', 'count_train_images_per_category',
    'patch_lvis_numpy_aliases'
]
