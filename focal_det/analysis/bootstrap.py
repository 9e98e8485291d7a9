"""Percentile intervals for calibration numbers by resampling images.

Detections of one image are not independent (they share the image's
objects and the matching), so the resampling unit is the image: draw as
many images as there are, with replacement, keep every detection of each
draw (an image drawn twice counts twice, its objects too), and measure
again. The 2.5 and 97.5 percentiles of the repeats give a 95 % interval of
the number measured on these images.

A binned calibration error is a function of per-bin sums (detections,
summed confidence, summed outcome), and a resample's sums are the images'
sums weighted by how often each image was drawn. So every resample is one
matrix product of the draw counts with per-image sums
(:func:`per_image_bin_sums`), not a new pass over the detections.
"""
from typing import Dict

import numpy as np


def image_draw_counts(num_images: int, num_resamples: int = 1000,
                      seed: int = 0) -> np.ndarray:
    """How often each image is drawn in each resample.

    Args:
        num_images (int): Images measured (an image without detections
            can be drawn too: its objects count as missed).
        num_resamples (int): Number of resamples. Defaults to 1000.
        seed (int): Seed of the draws. Defaults to 0.

    Returns:
        np.ndarray: ``(num_resamples, num_images)`` int64 counts, each row
        summing to ``num_images``.
    """
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, num_images, (num_resamples, num_images))
    counts = np.zeros((num_resamples, num_images), dtype=np.int64)
    np.add.at(counts, (np.arange(num_resamples)[:, None], drawn), 1)
    return counts


def per_image_bin_sums(image_index: np.ndarray, cell: np.ndarray,
                       confidences: np.ndarray, outcomes: np.ndarray,
                       num_images: int, num_cells: int) -> np.ndarray:
    """Per image and cell (a bin, or a class's bin): detections, summed
    confidence, summed outcome.

    Args:
        image_index (np.ndarray): ``(n,)`` each detection's image, in
            ``[0, num_images)``.
        cell (np.ndarray): ``(n,)`` each detection's cell, in
            ``[0, num_cells)``.
        confidences (np.ndarray): ``(n,)`` its confidence.
        outcomes (np.ndarray): ``(n,)`` its outcome (hit, or IoU).
        num_images (int): Images.
        num_cells (int): Cells.

    Returns:
        np.ndarray: ``(num_images, num_cells, 3)`` float64.
    """
    flat = np.asarray(image_index, np.int64) * num_cells + np.asarray(
        cell, np.int64)
    size = num_images * num_cells
    return np.stack([
        np.bincount(flat, minlength=size).astype(np.float64),
        np.bincount(flat, weights=confidences, minlength=size),
        np.bincount(flat, weights=outcomes, minlength=size)
    ], axis=-1).reshape(num_images, num_cells, 3)


def resampled_sums(draw_counts: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """``(R, ...)`` the sums of each resample: draw counts times the
    per-image sums ``(I, ...)``."""
    flat = sums.reshape(len(sums), -1)
    return (draw_counts @ flat).reshape((len(draw_counts), ) +
                                        sums.shape[1:])


def percentile_interval(values: np.ndarray,
                        level: float = 0.95) -> Dict[str, float]:
    """The central ``level`` percentile interval of resampled values.

    Args:
        values (np.ndarray): ``(R,)`` one value per resample; NaNs (a
            resample without any detection) are left out.
        level (float): Coverage. Defaults to 0.95.

    Returns:
        dict: ``low``, ``high`` (NaN when every value is NaN) and
        ``num_resamples``.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[~np.isnan(values)]
    if len(finite) == 0:
        return dict(low=float('nan'), high=float('nan'),
                    num_resamples=len(values))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return dict(low=float(low), high=float(high), num_resamples=len(values))
