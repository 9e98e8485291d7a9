"""Per-class Platt scaling on the logit, shrunk toward its bucket's fit.

Class ``c`` maps the raw log-odds ``x`` of a score to ``slope_c * x +
bias_c`` (``1 / slope_c`` is a temperature). Rare classes have few
detections, so their two parameters are fitted hierarchically: one global
fit, one fit per frequency bucket (rare / common / frequent) and one per
class, each a logistic regression whose Gaussian prior is centred on the
level above it::

    minimise  sum_i log-loss(y_i, slope * x_i + bias)
              + prior_strength / 2 * |(slope, bias) - (slope, bias)_parent|^2

A class without detections gets its bucket's map exactly; a class with many
gets nearly its own. The global fit's prior is the identity map (slope 1,
bias 0) with a tiny strength, which only matters when there is no data.
The slope is kept >= :data:`MIN_SLOPE`, so every map is strictly increasing.
"""
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .base import (ScoreCalibrator, detection_arrays, parameter_array,
                   require)

MIN_SLOPE = 1e-3
IDENTITY = (1.0, 0.0)
#: Prior strength of the global fit toward the identity map.
GLOBAL_PRIOR_STRENGTH = 1e-3
_NEWTON_STEPS = 100
_TOLERANCE = 1e-10


def fit_penalised_logistic(x: np.ndarray, y: np.ndarray,
                           prior_mean: Sequence[float],
                           prior_strength: float) -> Tuple[float, float]:
    """``(slope, bias)`` of a 1-D logistic regression with a Gaussian prior.

    Damped Newton on the penalised log-loss (convex), from the prior mean.

    Args:
        x (np.ndarray): ``(n,)`` raw log-odds.
        y (np.ndarray): ``(n,)`` outcomes in {0, 1}.
        prior_mean (Sequence[float]): ``(slope, bias)`` the fit shrinks to.
        prior_strength (float): Precision of the prior, > 0.

    Returns:
        tuple: ``(slope, bias)``, slope ``>= MIN_SLOPE``.
    """
    if prior_strength <= 0:
        raise ValueError(f'prior_strength must be > 0, got {prior_strength}')
    features = np.stack([x, np.ones_like(x)], axis=1)
    prior = np.asarray(prior_mean, dtype=np.float64)
    theta = prior.copy()

    def objective(theta):
        z = features @ theta
        # log(1 + exp(z)) - y z, overflow-free.
        loss = np.logaddexp(0.0, z) - y * z
        return loss.sum() + 0.5 * prior_strength * np.sum((theta - prior)**2)

    value = objective(theta)
    for _ in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(features @ theta, -500, 500)))
        gradient = features.T @ (p - y) + prior_strength * (theta - prior)
        hessian = (features.T * (p * (1 - p))) @ features + \
            prior_strength * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        scale = 1.0
        while True:
            candidate = theta - scale * step
            candidate_value = objective(candidate)
            if candidate_value <= value or scale < 1e-8:
                break
            scale /= 2
        converged = abs(value - candidate_value) <= _TOLERANCE * (1 +
                                                                 abs(value))
        theta, value = candidate, candidate_value
        if converged:
            break
    return max(float(theta[0]), MIN_SLOPE), float(theta[1])


class PlattCalibrator(ScoreCalibrator):
    """Per-class ``slope_c * logit(s) + bias_c``.

    Args:
        slopes (Sequence[float]): One slope per class, > 0.
        biases (Sequence[float]): One bias per class.
    """
    method = 'platt'

    def __init__(self, slopes: Sequence[float],
                 biases: Sequence[float]) -> None:
        self.slopes = parameter_array(self.method, 'slopes', slopes)
        super().__init__(len(self.slopes))
        self.biases = parameter_array(self.method, 'biases', biases,
                                      (self.num_classes, ))
        # A decreasing map would reverse the ranking.
        require(self.method, 'slopes', self.slopes, self.slopes > 0, '> 0')

    def _map_log_odds(self, logits, labels):
        return self.slopes[labels] * logits + self.biases[labels]

    def params(self) -> Dict[str, Any]:
        return dict(slopes=self.slopes.tolist(), biases=self.biases.tolist())

    @classmethod
    def from_params(cls, num_classes, params):
        return cls(params['slopes'], params['biases'])


def fit_platt(scores, labels, outcomes, num_classes: int,
              class_buckets: Optional[Sequence[str]] = None,
              prior_strength: float = 10.0) -> PlattCalibrator:
    """Fit per-class Platt maps shrunk toward their bucket's and the global
    fit (module docstring).

    Args:
        scores: ``(n,)`` detection scores.
        labels: ``(n,)`` class indices.
        outcomes: ``(n,)`` 1 for a true positive, 0 for a false positive.
        num_classes (int): Number of classes.
        class_buckets (Sequence[str], optional): Frequency bucket of each
            class (e.g. 'r', 'c', 'f'); None puts all classes in one.
        prior_strength (float): Precision of each level's prior on the one
            above; larger shrinks more. Defaults to 10.

    Returns:
        PlattCalibrator: The fitted maps.
    """
    x, labels, y, class_buckets = detection_arrays(
        scores, labels, outcomes, num_classes, class_buckets)
    global_fit = fit_penalised_logistic(x, y, IDENTITY, GLOBAL_PRIOR_STRENGTH)
    bucket_of_detection = np.asarray(class_buckets, dtype=object)[labels] \
        if len(labels) else np.zeros(0, dtype=object)
    bucket_fits = {
        bucket: fit_penalised_logistic(x[bucket_of_detection == bucket],
                                       y[bucket_of_detection == bucket],
                                       global_fit, prior_strength)
        for bucket in sorted(set(class_buckets))
    }
    slopes, biases = [], []
    for label, bucket in enumerate(class_buckets):
        of_class = labels == label
        slope, bias = fit_penalised_logistic(x[of_class], y[of_class],
                                             bucket_fits[bucket],
                                             prior_strength)
        slopes.append(slope)
        biases.append(bias)
    return PlattCalibrator(slopes, biases)
