"""Percentile intervals for calibration numbers by resampling images.

Detections of one image are not independent (they share the image's
objects and the matching), so the resampling unit is the image: draw as
many images as there are, with replacement, keep every detection of each
draw (an image drawn twice counts twice, its objects too), and measure
again. The 2.5 and 97.5 percentiles of the repeats give a 95 % interval of
the number measured on these images.
"""
from typing import Callable, Dict, Sequence

import numpy as np


def image_resamples(image_ids: np.ndarray, images: Sequence[int],
                    num_resamples: int = 1000, seed: int = 0):
    """Yield resamples of the detections drawn image by image.

    Args:
        image_ids (np.ndarray): ``(n,)`` image id of each detection.
        images (Sequence[int]): All images measured (an image without
            detections can still be drawn: its objects count as missed).
        num_resamples (int): Number of resamples. Defaults to 1000.
        seed (int): Seed of the draws. Defaults to 0.

    Yields:
        tuple: ``(indices, drawn)``: the detections' indices (an index
        repeats when its image is drawn more than once) and the drawn
        image ids, both numpy arrays.
    """
    images = np.asarray(images, dtype=np.int64)
    image_ids = np.asarray(image_ids, dtype=np.int64)
    order = np.argsort(image_ids, kind='mergesort')
    starts = np.searchsorted(image_ids[order], images, side='left')
    ends = np.searchsorted(image_ids[order], images, side='right')
    rng = np.random.default_rng(seed)
    for _ in range(num_resamples):
        drawn = rng.integers(0, len(images), len(images))
        indices = np.concatenate([np.zeros(0, np.int64)] + [
            order[starts[i]:ends[i]] for i in drawn
        ])
        yield indices, images[drawn]


def bootstrap_interval(statistic: Callable[[np.ndarray, np.ndarray], float],
                       image_ids: np.ndarray, images: Sequence[int],
                       num_resamples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> Dict[str, float]:
    """Percentile interval of ``statistic`` over image resamples.

    Args:
        statistic (callable): ``statistic(indices, drawn_images)`` -> the
            number measured on the detections at ``indices`` of the drawn
            images (see :func:`image_resamples`).
        image_ids, images, num_resamples, seed: As for
            :func:`image_resamples`.
        level (float): Coverage of the interval. Defaults to 0.95.

    Returns:
        dict: ``low`` and ``high`` (NaN when every resample gave NaN) and
        ``num_resamples``.
    """
    values = np.array([
        statistic(indices, drawn) for indices, drawn in image_resamples(
            image_ids, images, num_resamples, seed)
    ], dtype=np.float64)
    values = values[~np.isnan(values)]
    if len(values) == 0:
        return dict(low=float('nan'), high=float('nan'),
                    num_resamples=num_resamples)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return dict(low=float(low), high=float(high),
                num_resamples=num_resamples)
