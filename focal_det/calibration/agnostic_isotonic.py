"""Class-agnostic isotonic regression: the baseline of Kuzucu, Oksuz et al.

Kuzucu, Oksuz, Sadeghi and Dokania ("On calibration of object detectors:
pitfalls, evaluation and baselines", ECCV 2024) find that one isotonic
regression of the detections' outcomes on their scores, fitted on held-out
detections of all classes pooled, beats train-time calibration methods by
a wide margin. Every other calibrator here has to beat it on held-out data.

As in their reference code (fiveai/detection_calibration, ``utils.py``,
``isotonic_regression`` with ``classagnostic=True``:
``IsotonicRegression(y_min=0., y_max=1., out_of_bounds='clip')`` fitted on
all classes' scores and targets, applied with ``predict``): the fit is the
non-decreasing least-squares fit of the outcomes on the raw scores (tied
scores pooled first), and a score maps by linear interpolation between the
fitted points, clipped to the end values outside them. The fit comes from
``scipy.optimize.isotonic_regression``; the map is stored as its knots
and applied with ``np.interp`` (numpy only).

Unlike the other calibrators this map is only non-decreasing: its flat
steps give detections of one class the same calibrated score, so their
order, and AP, can change slightly (the reference accepts this), and its
ends can reach 0 and 1 (kept as log-odds of ``SCORE_EPS`` and ``1 -
SCORE_EPS``).
"""
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..theory.focal import logistic
from .base import (ScoreCalibrator, parameter_array, require,
                   score_logits)


def isotonic_points(scores: np.ndarray, outcomes: np.ndarray
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Knots of the isotonic fit of ``outcomes`` on ``scores``.

    Args:
        scores (np.ndarray): ``(n,)`` raw scores in ``[0, 1]``.
        outcomes (np.ndarray): ``(n,)`` targets in ``[0, 1]`` (1 hit, 0
            false positive; an IoU for a localisation-aware target).

    Returns:
        tuple: ``(x, y)``: ``x`` strictly increasing scores, ``y`` the
        non-decreasing fitted values there; only the first and last point
        of each flat block is kept (the interpolation is the same). Empty
        input gives the identity ``([0, 1], [0, 1])``.
    """
    if len(scores) == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 1.0])
    # Imported here: the exported runtime applies maps with numpy alone.
    from scipy.optimize import isotonic_regression
    x, inverse, counts = np.unique(np.asarray(scores, dtype=np.float64),
                                   return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=np.asarray(outcomes, np.float64),
                        minlength=len(x)) / counts
    y = np.clip(isotonic_regression(means, weights=counts).x, 0.0, 1.0)
    # A point is redundant when its value equals both neighbours'.
    interior = np.zeros(len(x), dtype=bool)
    interior[1:-1] = (y[1:-1] == y[:-2]) & (y[1:-1] == y[2:])
    return x[~interior], y[~interior]


class AgnosticIsotonicCalibrator(ScoreCalibrator):
    """One piecewise-linear, non-decreasing map of the score for all
    classes.

    Args:
        num_classes (int): Number of classes (all share the map).
        x (Sequence[float]): Knot scores, strictly increasing in
            ``[0, 1]``.
        y (Sequence[float]): Knot values, non-decreasing in ``[0, 1]``.
    """
    method = 'isotonic_agnostic'

    def __init__(self, num_classes: int, x: Sequence[float],
                 y: Sequence[float]) -> None:
        super().__init__(num_classes)
        self.x = parameter_array(self.method, 'x', x)
        self.y = parameter_array(self.method, 'y', y, self.x.shape)
        if len(self.x) < 1:
            raise ValueError(f'{self.method} calibrator: needs at least one '
                             'knot')
        for name, values in (('x', self.x), ('y', self.y)):
            require(self.method, name, values, (values >= 0) & (values <= 1),
                    'in [0, 1]')
        require(self.method, 'x', self.x,
                np.append(True, np.diff(self.x) > 0),
                'larger than the knot before it')
        require(self.method, 'y', self.y,
                np.append(True, np.diff(self.y) >= 0),
                'at least the knot before it')

    def _map_log_odds(self, logits, labels):
        return score_logits(np.interp(logistic(logits), self.x, self.y))

    def params(self) -> Dict[str, Any]:
        return dict(x=self.x.tolist(), y=self.y.tolist())

    @classmethod
    def from_params(cls, num_classes, params):
        return cls(num_classes, params['x'], params['y'])


def fit_agnostic_isotonic(scores, labels, outcomes, num_classes: int,
                          class_buckets: Optional[Any] = None
                          ) -> AgnosticIsotonicCalibrator:
    """Fit the class-agnostic isotonic map (module docstring).

    Args:
        scores, labels, outcomes: ``(n,)`` detections; labels are unused
            (one map for all classes), kept for the common signature.
        num_classes (int): Number of classes.
        class_buckets: Unused, for the common signature.

    Returns:
        AgnosticIsotonicCalibrator: The fitted map.
    """
    x, y = isotonic_points(scores, outcomes)
    return AgnosticIsotonicCalibrator(num_classes, x, y)
