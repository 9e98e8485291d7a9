"""Equal-width confidence bins and the expected calibration error.

One binner serves both calibration measurements: the D-ECE of detections
(:class:`~focal_det.evaluation.calibration.metric.DetectionCalibrationMetric`,
bins over ``[score_thr, 1]``) and the per-anchor ECE of a dense head
(:mod:`focal_det.analysis.anchor_calibration`, bins over ``[0, 1]``, fed
batch by batch because there are millions of anchor-class pairs).
"""
import math
from typing import List, Optional, Sequence

import numpy as np

# Bin edges come from np.linspace, so an edge meant to be 0.1 may be a few
# ulps off; lower edges are compared with this slack.
EDGE_TOLERANCE = 1e-12


class ReliabilityHistogram:
    """Equal-width bins over ``[lower, 1]`` accumulating counts, summed
    confidence and hits.

    Bin ``b`` is ``[edge_b, edge_{b+1})``; the last bin also holds
    confidence 1 (and, defensively, anything above it), the first anything
    below ``lower``.

    Args:
        num_bins (int): Number of bins, ``>= 1``. Defaults to 10.
        lower (float): Lower edge of the first bin. Defaults to 0.

    Raises:
        ValueError: If ``num_bins < 1``.
    """

    def __init__(self, num_bins: int = 10, lower: float = 0.0) -> None:
        if num_bins < 1:
            raise ValueError(f'num_bins must be >= 1, got {num_bins}')
        self.num_bins = num_bins
        self.edges = np.linspace(lower, 1.0, num_bins + 1)
        self.count = np.zeros(num_bins, dtype=np.int64)
        self.confidence_sum = np.zeros(num_bins)
        self.hits = np.zeros(num_bins)

    def add(self, confidences: np.ndarray, outcomes: np.ndarray) -> None:
        """Add scored events to their bins.

        Args:
            confidences (np.ndarray): Scores of any shape.
            outcomes (np.ndarray): Same shape: 1 / True where the event
                happened (true positive, positive anchor), else 0 / False.
        """
        confidences = np.asarray(confidences, dtype=np.float64).ravel()
        outcomes = np.asarray(outcomes, dtype=np.float64).ravel()
        bin_indices = self.bin_indices(confidences)
        counts = np.bincount(bin_indices, minlength=self.num_bins)
        self.count += counts
        # Summed per bin with numpy's pairwise sum, as np.mean would, so a
        # single batch gives exactly the bin means computed directly.
        for index in np.flatnonzero(counts):
            in_bin = bin_indices == index
            self.confidence_sum[index] += confidences[in_bin].sum()
            self.hits[index] += outcomes[in_bin].sum()

    def bin_indices(self, confidences: np.ndarray) -> np.ndarray:
        """The bin of each confidence (see the class docstring).

        Args:
            confidences (np.ndarray): Scores of any shape.

        Returns:
            np.ndarray: int64 bin indices in ``[0, num_bins)``, flattened.
        """
        confidences = np.asarray(confidences, dtype=np.float64).ravel()
        return np.clip(
            np.searchsorted(self.edges, confidences, side='right') - 1, 0,
            self.num_bins - 1)

    def bins(self) -> List[dict]:
        """The bins, in increasing confidence.

        Returns:
            list[dict]: Per bin ``lower``, ``upper``, ``count``,
            ``confidence`` (mean score), ``precision`` (fraction of events
            that happened: true positives among detections, positives among
            anchors) and ``gap`` (``|precision - confidence|``); the last
            three are None for an empty bin.
        """
        bins = []
        for index in range(self.num_bins):
            count = int(self.count[index])
            confidence = precision = gap = None
            if count:
                confidence = float(self.confidence_sum[index] / count)
                precision = float(self.hits[index] / count)
                gap = abs(precision - confidence)
            bins.append(
                dict(lower=float(self.edges[index]),
                     upper=float(self.edges[index + 1]), count=count,
                     confidence=confidence, precision=precision, gap=gap))
        return bins

    def ece(self, min_confidence: Optional[float] = None) -> float:
        """Expected calibration error of the bins, optionally of the upper
        ones only.

        Args:
            min_confidence (float, optional): Keep only the bins whose lower
                edge is ``>= min_confidence``. Defaults to all bins.

        Returns:
            float: See :func:`expected_calibration_error`.
        """
        bins = self.bins()
        if min_confidence is not None:
            bins = [
                bin_ for bin_ in bins
                if bin_['lower'] >= min_confidence - EDGE_TOLERANCE
            ]
        return expected_calibration_error(bins)


def calibration_bins(confidences: np.ndarray, is_true_positive: np.ndarray,
                     score_thr: float, num_bins: int) -> List[dict]:
    """Split detections into equal-width confidence bins over [score_thr, 1].

    Args:
        confidences (np.ndarray): ``(n,)`` scores, all ``>= score_thr``.
        is_true_positive (np.ndarray): ``(n,)`` bool outcomes.
        score_thr (float): Lower edge of the first bin.
        num_bins (int): Number of bins.

    Returns:
        list[dict]: :meth:`ReliabilityHistogram.bins` of the detections.
    """
    histogram = ReliabilityHistogram(num_bins, lower=score_thr)
    histogram.add(confidences, is_true_positive)
    return histogram.bins()


def expected_calibration_error(bins: Sequence[dict]) -> float:
    """The count-weighted mean of the bins' precision-confidence gap.

    Over detections this is the D-ECE of Küppers et al. (2020)::

        sum_{b: n_b > 0} (n_b / N) * |precision_b - confidence_b|

    Args:
        bins (Sequence[dict]): Bins as :meth:`ReliabilityHistogram.bins`
            returns them.

    Returns:
        float: The error; NaN when no bin holds anything (calibration is
        undefined without events; 0 would wrongly claim perfect
        calibration).
    """
    total = sum(bin_['count'] for bin_ in bins)
    if total == 0:
        return math.nan
    return sum(bin_['count'] / total * bin_['gap'] for bin_ in bins
               if bin_['count'])
