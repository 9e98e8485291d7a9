"""Score calibrators for detections, in numpy (no torch, no mmdet).

Each calibrator maps a class score to a probability through an increasing
per-class map of its log-odds; all but the baseline are strictly
increasing, so the ranking within a class, and its AP, cannot change:

* :mod:`.platt`: per-class slope and bias on the logit, shrunk toward a
  per-frequency-bucket and a global fit;
* :mod:`.isotonic`: isotonic regression per frequency bucket;
* :mod:`.platt_isotonic`: Platt per class, then one isotonic map;
* :mod:`.focal_entropy_fit`: the focal-entropy inverse map
  (:mod:`focal_det.theory.focal`) with gamma and alpha fitted to the data;
* :mod:`.agnostic_isotonic`: one isotonic map of the score for all classes
  (Kuzucu, Oksuz et al., ECCV 2024), the baseline the others must beat;
  only non-decreasing (flat steps), unlike the maps above;
* :mod:`.loss_inverse`: each loss's own inverse map with the trained
  loss's parameters (``loss.inverse_calibrator(C)``).

:mod:`.io` writes and reads them as JSON, checking every number. They are
fitted by ``tools/calibrate.py`` (on detections labelled by
:mod:`focal_det.analysis.calibration_fitting`) and applied, fitted or the
loss's own, by every head with
:class:`~focal_det.heads.ScoreMappingMixin`
(``model.test_cfg.score_calibration=PATH`` or ``'loss'``) and by the
exported-model runtime.
"""
from .agnostic_isotonic import (AgnosticIsotonicCalibrator,
                                fit_agnostic_isotonic)
from .base import ScoreCalibrator
from .focal_entropy_fit import fit_focal_entropy
from .io import (CALIBRATORS, calibrator_from_dict, calibrator_to_dict,
                 load_calibrator, save_calibrator)
from .isotonic import IsotonicCalibrator, fit_isotonic
from .loss_inverse import DualFocalCalibrator, FocalEntropyCalibrator
from .platt import PlattCalibrator, fit_platt
from .platt_isotonic import PlattIsotonicCalibrator, fit_platt_isotonic

#: method name -> fit function(scores, labels, outcomes, num_classes,
#: class_buckets).
FITTERS = {
    PlattCalibrator.method: fit_platt,
    IsotonicCalibrator.method: fit_isotonic,
    PlattIsotonicCalibrator.method: fit_platt_isotonic,
    FocalEntropyCalibrator.method: fit_focal_entropy,
    AgnosticIsotonicCalibrator.method: fit_agnostic_isotonic,
}

__all__ = [
    'AgnosticIsotonicCalibrator', 'CALIBRATORS', 'DualFocalCalibrator',
    'FITTERS', 'FocalEntropyCalibrator', 'IsotonicCalibrator',
    'PlattCalibrator', 'PlattIsotonicCalibrator', 'ScoreCalibrator',
    'calibrator_from_dict', 'calibrator_to_dict', 'fit_agnostic_isotonic',
    'fit_focal_entropy', 'fit_isotonic', 'fit_platt', 'fit_platt_isotonic',
    'load_calibrator', 'save_calibrator'
]
