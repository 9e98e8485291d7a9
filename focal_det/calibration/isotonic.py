"""Isotonic regression of hits on scores, per frequency bucket.

Isotonic regression (scipy's pool-adjacent-violators,
``scipy.optimize.isotonic_regression``; only fitting needs scipy,
applying a map is numpy) fits the non-decreasing step function of the
score that is closest, in squared error, to the detections' outcomes (1
hit, 0 false positive). Its blocks become knots:
``x`` the mean raw log-odds of a block, ``y`` the log-odds of its hit rate
(Laplace-smoothed). Between knots the map is linear in log-odds, beyond
the outer knots it continues with slope :data:`MIN_SLOPE`, and the knots
are raised so that no segment is flatter than that: the map is strictly
increasing everywhere. A slope of 0.05 keeps two scores of a class apart
in float32 (where the head and the runtime compare them) unless their raw
logits are nearly tied already; a flat step of PAV over two logits rises
by 0.1 in log-odds (about 2.5 % in probability near 1/2).

Maps are fitted per frequency bucket (classes of a bucket share one map), a
bucket with fewer than ``min_detections`` detections uses the map of all
detections: per class, the tail would have a handful of points.
"""
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .base import (ScoreCalibrator, detection_arrays, parameter_array,
                   require)

MIN_SLOPE = 0.05
#: Laplace smoothing of a block's hit rate: (hits + 1/2) / (count + 1).
PSEUDO_COUNT = 0.5


def isotonic_blocks(values: np.ndarray,
                    weights: np.ndarray) -> Tuple[np.ndarray, ...]:
    """Weighted isotonic (non-decreasing) regression of ordered values.

    Args:
        values (np.ndarray): ``(n,)`` values in the order of the regressor.
        weights (np.ndarray): ``(n,)`` positive weights.

    Returns:
        tuple: ``(block_means, block_weights, block_starts)``: the fitted
        value, summed weight and first index of each block, increasing.
    """
    # Imported here: the exported runtime applies maps with numpy alone.
    from scipy.optimize import isotonic_regression
    fit = isotonic_regression(np.asarray(values, dtype=np.float64),
                              weights=np.asarray(weights, dtype=np.float64))
    starts = np.asarray(fit.blocks[:-1], dtype=np.int64)
    return fit.x[starts], np.asarray(fit.weights), starts


def isotonic_knots(x: np.ndarray,
                   outcomes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Knots of the strictly increasing log-odds map (module docstring).

    Args:
        x (np.ndarray): ``(n,)`` raw log-odds.
        outcomes (np.ndarray): ``(n,)`` outcomes in {0, 1}.

    Returns:
        tuple: ``(knot_x, knot_y)``, both strictly increasing; empty input
        gives the identity's two knots.
    """
    if len(x) == 0:
        return np.array([-1.0, 1.0]), np.array([-1.0, 1.0])
    order = np.argsort(x, kind='mergesort')
    x, outcomes = x[order], np.asarray(outcomes, dtype=np.float64)[order]
    _, block_weights, starts = isotonic_blocks(outcomes, np.ones(len(x)))
    ends = np.append(starts[1:], len(x))
    knot_x = np.array([x[s:e].mean() for s, e in zip(starts, ends)])
    hits = np.array([outcomes[s:e].sum() for s, e in zip(starts, ends)])
    rate = (hits + PSEUDO_COUNT) / (block_weights + 2 * PSEUDO_COUNT)
    knot_y = np.log(rate) - np.log1p(-rate)
    # Blocks with equal mean log-odds (tied scores) cannot both be knots.
    keep = np.append(np.diff(knot_x) > 0, True)
    knot_x, knot_y = knot_x[keep], knot_y[keep]
    if len(knot_x) == 1:
        knot_x = np.array([knot_x[0] - 1.0, knot_x[0] + 1.0])
        knot_y = np.array([knot_y[0], knot_y[0]])
    # Each segment at least MIN_SLOPE steep: y - MIN_SLOPE x non-decreasing.
    knot_y = np.maximum.accumulate(knot_y - MIN_SLOPE * knot_x) + \
        MIN_SLOPE * knot_x
    return knot_x, knot_y


def evaluate_knots(x: np.ndarray, knot_x: np.ndarray,
                   knot_y: np.ndarray) -> np.ndarray:
    """The piecewise-linear map through the knots, tails of slope
    :data:`MIN_SLOPE`."""
    inside = np.interp(x, knot_x, knot_y)
    below = knot_y[0] + MIN_SLOPE * (x - knot_x[0])
    above = knot_y[-1] + MIN_SLOPE * (x - knot_x[-1])
    return np.where(x < knot_x[0], below,
                    np.where(x > knot_x[-1], above, inside))


class IsotonicCalibrator(ScoreCalibrator):
    """Monotone piecewise-linear log-odds maps shared by groups of classes.

    Args:
        maps (Sequence[dict]): Each ``dict(x=[...], y=[...])``, knots
            strictly increasing in both.
        class_map (Sequence[int]): Index into ``maps`` of each class.
    """
    method = 'isotonic'

    def __init__(self, maps: Sequence[Dict[str, Sequence[float]]],
                 class_map: Sequence[int]) -> None:
        self.maps = [self._knots(index, knots)
                     for index, knots in enumerate(maps)]
        raw_map = np.asarray(class_map)
        if raw_map.dtype.kind not in 'iu' or raw_map.ndim != 1:
            raise ValueError(f'isotonic calibrator: class_map must be a list '
                             f'of map indices, got {class_map!r:.80}')
        super().__init__(len(raw_map))
        self.class_map = raw_map.astype(np.int64)
        require(self.method, 'class_map', self.class_map,
                (self.class_map >= 0) & (self.class_map < len(self.maps)),
                f'the index of one of the {len(self.maps)} maps')

    @classmethod
    def _knots(cls, index: int, knots: Dict[str, Sequence[float]]
               ) -> Tuple[np.ndarray, np.ndarray]:
        """One map's knots, checked: >= 2, finite, strictly increasing in
        both coordinates (else the map would not be strictly increasing)."""
        knot_x = parameter_array(cls.method, f'maps[{index}].x', knots['x'])
        knot_y = parameter_array(cls.method, f'maps[{index}].y', knots['y'],
                                 knot_x.shape)
        if len(knot_x) < 2:
            raise ValueError(f'isotonic calibrator: maps[{index}] needs at '
                             f'least 2 knots, has {len(knot_x)}')
        for axis, values in (('x', knot_x), ('y', knot_y)):
            require(cls.method, f'maps[{index}].{axis}', values,
                    np.append(True, np.diff(values) > 0),
                    'larger than the knot before it')
        return knot_x, knot_y

    def _map_log_odds(self, logits, labels):
        out = np.empty_like(logits)
        map_of = self.class_map[labels]
        for index, (knot_x, knot_y) in enumerate(self.maps):
            selected = map_of == index
            out[selected] = evaluate_knots(logits[selected], knot_x, knot_y)
        return out

    def params(self) -> Dict[str, Any]:
        return dict(maps=[dict(x=x.tolist(), y=y.tolist())
                          for x, y in self.maps],
                    class_map=self.class_map.tolist())

    @classmethod
    def from_params(cls, num_classes, params):
        return cls(params['maps'], params['class_map'])


def fit_isotonic(scores, labels, outcomes, num_classes: int,
                 class_buckets: Optional[Sequence[str]] = None,
                 min_detections: int = 50) -> IsotonicCalibrator:
    """Fit one isotonic map per frequency bucket (module docstring).

    Args:
        scores, labels, outcomes: ``(n,)`` detections, as for
            :func:`focal_det.calibration.platt.fit_platt`.
        num_classes (int): Number of classes.
        class_buckets (Sequence[str], optional): Bucket of each class; None
            fits one map for all.
        min_detections (int): A bucket with fewer detections uses the map of
            all detections. Defaults to 50.

    Returns:
        IsotonicCalibrator: The fitted maps.
    """
    x, labels, outcomes, class_buckets = detection_arrays(
        scores, labels, outcomes, num_classes, class_buckets)
    global_knots = isotonic_knots(x, outcomes)
    maps = [dict(x=global_knots[0], y=global_knots[1])]
    map_of_bucket = {}
    for bucket in sorted(set(class_buckets)):
        classes = [c for c, b in enumerate(class_buckets) if b == bucket]
        selected = np.isin(labels, classes)
        if selected.sum() < min_detections:
            map_of_bucket[bucket] = 0
            continue
        knot_x, knot_y = isotonic_knots(x[selected], outcomes[selected])
        map_of_bucket[bucket] = len(maps)
        maps.append(dict(x=knot_x, y=knot_y))
    return IsotonicCalibrator(maps,
                              [map_of_bucket[b] for b in class_buckets])
