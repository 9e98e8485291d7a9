"""The calibration report's tables (focal_det.analysis.calibration_tables):
the targets are judged on the fixed-set numbers, with intervals and
counts."""
import numpy as np

from focal_det.analysis.calibration_fitting import compare_methods
from focal_det.analysis.calibration_tables import (candidate_table,
                                                   cross_fit_table,
                                                   summary_table)
from focal_det.analysis.fixed_set_evaluation import fixed_set_evaluation
from tests.test_calibration_measures import detections_of_images


def head_run(ap, apr):
    return dict(ap=dict(bbox_mAP=ap, bbox_APr=apr),
                d_ece={'all': dict(d_ece=0.1, num_detections=7)})


def test_summary_judges_the_fixed_set_and_the_ap_change():
    detections = detections_of_images()
    raw = detections['scores']
    thresholds = np.array([0.4, np.nan, 0.2])
    fixed = dict(
        raw=fixed_set_evaluation(detections, raw, thresholds, 50),
        # Scores replaced by each detection's own outcome: a perfect
        # fixed-set D-ECE (0) and a LaECE_0 of mean IoU gaps.
        perfect=fixed_set_evaluation(
            detections, detections['outcomes'].astype(float), thresholds,
            50))
    row = dict(name='m', method='perfect', fixed=fixed,
               raw=head_run(0.300, 0.200), calibrated=head_run(0.296, 0.196),
               candidates=dict(perfect=head_run(0.296, 0.196)))
    line = summary_table([row], 0.05).splitlines()[-1]
    cells = [c.strip() for c in line.strip('|').split('|')]
    count = fixed['raw']['by_bucket']['all']['fixed']['num_detections']
    assert cells[3] == f'0.000 [0.000, 0.000] ({count})'
    assert cells[4] == 'yes'
    assert cells[2].endswith(f'({count})') and cells[2] != cells[3]
    assert cells[9] == '30.0 -> 29.6 (-0.4)'
    assert cells[11] == 'no'  # AP fell by 0.4 > 0.3
    table = candidate_table([row], ['perfect'])
    assert '**perfect**' in table and '-0.4' in table


def test_cross_fit_table_shows_the_fixed_set_and_laece():
    detections = detections_of_images()
    detections['class_names'] = ['a', 'b', 'c']
    table = compare_methods(detections, ['isotonic_agnostic'], seeds=(0, ),
                            thresholds=np.array([0.4, np.nan, 0.2]))
    text = cross_fit_table([dict(name='m', method='isotonic_agnostic',
                                 cross_fitted=table)],
                           ['isotonic_agnostic'])
    count = table['uncalibrated']['all']['fixed']['num_detections']
    assert text.count(f'({count}); LaECE_0 ') == 2
