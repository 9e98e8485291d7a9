"""Detection calibration: D-ECE, LaECE_0, fixed-set calibration
(``DetectionCalibrationMetric``).

``matching`` labels detections as COCO would, ``binning`` holds the one
confidence binner and the ECE, ``laece`` the localisation-aware ECE,
``lrp`` the LRP error and its optimal threshold, ``fixed_set`` calibration
before and after a score map on the same detections, ``measures`` what the
metric reports beside D-ECE, ``diagram`` shows the bins, ``metric`` is the
registered mmengine metric.
"""
from .binning import (ReliabilityHistogram, calibration_bins,
                      expected_calibration_error)
from .fixed_set import continued_histogram, fixed_set_d_ece, fixed_set_laece
from .laece import LAECE_NUM_BINS, localisation_aware_ece
from .lrp import (above_thresholds, lrp_curve, lrp_optimal_threshold,
                  lrp_optimal_thresholds)
from .matching import match_detections, match_image
from .metric import (DIAGRAM_FILE_NAME, REPORT_FILE_NAME,
                     DetectionCalibrationMetric)

__all__ = [
    'DIAGRAM_FILE_NAME', 'LAECE_NUM_BINS', 'REPORT_FILE_NAME',
    'DetectionCalibrationMetric', 'ReliabilityHistogram', 'above_thresholds',
    'calibration_bins', 'continued_histogram', 'expected_calibration_error',
    'fixed_set_d_ece', 'fixed_set_laece', 'localisation_aware_ece',
    'lrp_curve', 'lrp_optimal_threshold', 'lrp_optimal_thresholds',
    'match_detections', 'match_image'
]
