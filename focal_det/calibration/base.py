"""What every score calibrator shares: per-class maps of the log-odds.

A calibrator maps a detector's sigmoid score ``s`` of class ``c`` to a
calibrated probability through a map of the log-odds,
``logit(s) -> m_c(logit(s))``, strictly increasing in ``s`` for every class:
the ranking of one class's detections, and so its AP, cannot change.
Working on log-odds keeps scores near 0 and 1 apart (no saturation) and
hands the detector head and the exported runtime logits, which is what
they threshold and rank.
"""
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..theory.focal import logistic

#: Scores are clipped to [SCORE_EPS, 1 - SCORE_EPS] before the logit.
SCORE_EPS = 1e-12


def parameter_array(method: str, name: str, values,
                    shape: Tuple[Optional[int], ...] = (None, )
                    ) -> np.ndarray:
    """A calibrator parameter as a float64 array, every entry finite.

    What every calibrator checks first when it is built (from a fit, a
    file or an export sidecar), so that a tampered number is refused
    where it is read instead of silently removing detections.

    Args:
        method (str): The calibrator's method, named in errors.
        name (str): The parameter, named in errors (``'biases'``,
            ``'maps[1].x'``).
        values: Numbers (not strings, not booleans).
        shape (tuple): The shape required; ``None`` lets an axis have any
            length, ``()`` asks for one number. Defaults to any 1-D array.

    Returns:
        np.ndarray: float64, of that shape.

    Raises:
        ValueError: Not numbers, another shape, or an entry that is NaN or
            infinite (named with its index).
    """
    raw = np.asarray(values)
    if raw.dtype.kind not in 'iuf':
        raise ValueError(f'{method} calibrator: {name} must be numbers, '
                         f'got {values!r:.80}')
    if raw.ndim != len(shape) or any(
            want is not None and have != want
            for have, want in zip(raw.shape, shape)):
        wanted = 'one number' if not shape else 'shape (' + ', '.join(
            'any' if want is None else str(want) for want in shape) + ')'
        raise ValueError(f'{method} calibrator: {name} must be {wanted}, '
                         f'got shape {raw.shape}')
    array = raw.astype(np.float64)
    require(method, name, array, np.isfinite(array), 'finite')
    return array


def require(method: str, name: str, array: np.ndarray, ok,
            what: str) -> None:
    """Raise naming the first entry of ``array`` where ``ok`` is False.

    Args:
        method (str): The calibrator's method, named in errors.
        name (str): The parameter, named in errors.
        array (np.ndarray): Its values.
        ok: Boolean array of ``array``'s shape.
        what (str): What each entry must be, e.g. ``'> 0'``.

    Raises:
        ValueError: ``'<method> calibrator: <name>[<index>] = <value>, must
            be <what>'``.
    """
    bad = np.flatnonzero(~np.asarray(ok, dtype=bool))
    if bad.size:
        index = np.unravel_index(bad[0], array.shape)
        entry = name + ''.join(f'[{i}]' for i in index)
        raise ValueError(f'{method} calibrator: {entry} = '
                         f'{array[index].item()!r}, must be {what}')


def detection_arrays(scores, labels, outcomes, num_classes: int,
                     class_buckets: Optional[Sequence[str]]) -> tuple:
    """What every fit starts from: ``(logits, labels, outcomes, buckets)``.

    Args:
        scores, labels, outcomes: ``(n,)`` detections: scores, class
            indices, 1 for a true positive and 0 for a false positive.
        num_classes (int): Number of classes.
        class_buckets (Sequence[str], optional): Frequency bucket of each
            class; None puts all classes in one bucket, ``'all'``.

    Returns:
        tuple: float64 raw log-odds, int64 labels, float64 outcomes and
        the list of buckets.

    Raises:
        ValueError: ``class_buckets`` is not one entry per class.
    """
    if class_buckets is None:
        class_buckets = ['all'] * num_classes
    if len(class_buckets) != num_classes:
        raise ValueError(f'class_buckets has {len(class_buckets)} entries '
                         f'for {num_classes} classes')
    return (score_logits(scores), np.asarray(labels, dtype=np.int64),
            np.asarray(outcomes, dtype=np.float64), list(class_buckets))


def score_logits(scores) -> np.ndarray:
    """``log(s / (1 - s))`` in float64, scores clipped away from 0 and 1."""
    scores = np.clip(np.asarray(scores, dtype=np.float64), SCORE_EPS,
                     1.0 - SCORE_EPS)
    return np.log(scores) - np.log1p(-scores)


class ScoreCalibrator:
    """Base class: a per-class, strictly increasing map of score log-odds.

    Subclasses set :attr:`method` and implement :meth:`_map_log_odds`,
    :meth:`params` and :meth:`from_params`.

    Args:
        num_classes (int): Number of classes the map was fitted for.
    """
    method = ''

    def __init__(self, num_classes: int) -> None:
        if isinstance(num_classes, bool) or not isinstance(
                num_classes, (int, np.integer)) or num_classes < 1:
            raise ValueError(f'num_classes must be an integer >= 1, got '
                             f'{num_classes!r}')
        self.num_classes = int(num_classes)

    def _map_log_odds(self, logits: np.ndarray,
                      labels: np.ndarray) -> np.ndarray:
        """Calibrated log-odds of raw log-odds ``logits`` whose class
        indices are ``labels`` (same shape, already broadcast)."""
        raise NotImplementedError

    def params(self) -> Dict[str, Any]:
        """The fitted parameters, JSON-serialisable."""
        raise NotImplementedError

    @classmethod
    def from_params(cls, num_classes: int,
                    params: Dict[str, Any]) -> 'ScoreCalibrator':
        """Rebuild a calibrator from :meth:`params`."""
        raise NotImplementedError

    def log_odds(self, scores) -> np.ndarray:
        """Calibrated log-odds of sigmoid scores ``(..., num_classes)``:
        :meth:`map_logits` of their logits."""
        return self.map_logits(score_logits(scores))

    def map_logits(self, logits) -> np.ndarray:
        """Calibrated log-odds of raw class logits with classes last (what
        the detector head and the exported runtime hand over).

        Args:
            logits: Raw logits, shape ``(..., num_classes)``.

        Returns:
            np.ndarray: float64, same shape.

        Raises:
            ValueError: The last axis is not ``num_classes`` long.
        """
        logits = np.asarray(logits, dtype=np.float64)
        if logits.ndim == 0 or logits.shape[-1] != self.num_classes:
            raise ValueError(
                f'{self.method} calibrator was fitted for '
                f'{self.num_classes} classes, got scores of shape '
                f'{logits.shape}')
        labels = np.broadcast_to(np.arange(self.num_classes), logits.shape)
        return self._map_log_odds(logits, labels)

    def calibrate(self, scores, labels) -> np.ndarray:
        """Calibrated scores of detections.

        Args:
            scores: ``(n,)`` detection scores.
            labels: ``(n,)`` class indices in ``[0, num_classes)``.

        Returns:
            np.ndarray: ``(n,)`` calibrated probabilities.
        """
        labels = np.asarray(labels, dtype=np.int64)
        if labels.size and (labels.min() < 0
                            or labels.max() >= self.num_classes):
            raise ValueError(f'labels must be in [0, {self.num_classes}), '
                             f'got {labels.min()}..{labels.max()}')
        return logistic(self._map_log_odds(score_logits(scores), labels))
