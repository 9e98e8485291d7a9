"""Per-class Platt scaling, then one isotonic map over all classes.

Platt (:mod:`.platt`) removes each class's own over- or under-confidence
with two shrunk parameters; what is left is a shape no line in log-odds
fits (a plateau or a knee shared by the classes), which one isotonic map
(:mod:`.isotonic`) fitted on the Platt-calibrated scores of all detections
removes. Both maps are strictly increasing, so their composition is too.
"""
from typing import Any, Dict, Optional, Sequence

from .base import ScoreCalibrator
from .isotonic import IsotonicCalibrator, fit_isotonic
from .platt import PlattCalibrator, fit_platt


class PlattIsotonicCalibrator(ScoreCalibrator):
    """``isotonic(platt_c(logit))``.

    Args:
        platt (PlattCalibrator): The per-class maps.
        isotonic (IsotonicCalibrator): The map applied after them, for the
            same number of classes.
    """
    method = 'platt_isotonic'

    def __init__(self, platt: PlattCalibrator,
                 isotonic: IsotonicCalibrator) -> None:
        super().__init__(platt.num_classes)
        if isotonic.num_classes != platt.num_classes:
            raise ValueError(
                f'platt_isotonic calibrator: {platt.num_classes} Platt '
                f'classes but {isotonic.num_classes} isotonic classes')
        self.platt, self.isotonic = platt, isotonic

    def _map_log_odds(self, logits, labels):
        return self.isotonic._map_log_odds(
            self.platt._map_log_odds(logits, labels), labels)

    def params(self) -> Dict[str, Any]:
        return dict(platt=self.platt.params(),
                    isotonic=self.isotonic.params())

    @classmethod
    def from_params(cls, num_classes, params):
        return cls(PlattCalibrator.from_params(num_classes, params['platt']),
                   IsotonicCalibrator.from_params(num_classes,
                                                  params['isotonic']))


def fit_platt_isotonic(scores, labels, outcomes, num_classes: int,
                       class_buckets: Optional[Sequence[str]] = None
                       ) -> PlattIsotonicCalibrator:
    """Fit the Platt maps (shrunk by bucket), then one isotonic map on
    their output.

    Args:
        scores, labels, outcomes: ``(n,)`` detections, as for
            :func:`focal_det.calibration.platt.fit_platt`.
        num_classes (int): Number of classes.
        class_buckets (Sequence[str], optional): Bucket of each class, for
            the Platt shrinkage.

    Returns:
        PlattIsotonicCalibrator: The fitted composition.
    """
    platt = fit_platt(scores, labels, outcomes, num_classes, class_buckets)
    isotonic = fit_isotonic(platt.calibrate(scores, labels), labels,
                            outcomes, num_classes)
    return PlattIsotonicCalibrator(platt, isotonic)
