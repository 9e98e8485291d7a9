"""Detection calibration: D-ECE (``DetectionCalibrationMetric``).

``matching`` labels detections as COCO would, ``binning`` holds the one
confidence binner and the ECE, ``diagram`` shows the bins, ``metric`` is the
registered mmengine metric.
"""
from .binning import (ReliabilityHistogram, calibration_bins,
                      expected_calibration_error)
from .matching import match_detections
from .metric import (DIAGRAM_FILE_NAME, REPORT_FILE_NAME,
                     DetectionCalibrationMetric)

__all__ = [
    'DIAGRAM_FILE_NAME', 'REPORT_FILE_NAME', 'DetectionCalibrationMetric',
    'ReliabilityHistogram', 'calibration_bins', 'expected_calibration_error',
    'match_detections'
]
