"""Calibration of a dense head's per-anchor scores, raw and recalibrated.

The focal-entropy argument is about the per-(anchor, class) sigmoid: at the
minimiser of the expected focal loss, the score of an anchor is ``q*(p)``
where ``p`` is the probability that the head's assigner labels that anchor
positive for that class. This module measures exactly that event: it runs
the head, labels every anchor with the head's own assigner (the training
targets; ignored anchors are left out) and accumulates a reliability
histogram of (score, target) over all anchor-class pairs, once for the raw
scores and once through the loss's own inverse map
(``loss_cls.inverse_calibrator``, :mod:`focal_det.calibration.loss_inverse`).
"""
from typing import Dict, Iterable

import numpy as np

from ..calibration import ScoreCalibrator
from ..evaluation.calibration.binning import ReliabilityHistogram
from ..theory.focal import logistic


def anchor_scores_and_targets(model, batch: dict):
    """Sigmoid scores and assigner targets of every non-ignored anchor.

    Args:
        model: An mmdet dense detector with an anchor head (RetinaNet).
        batch (dict): A data loader batch with ground truth.

    Returns:
        tuple[np.ndarray, np.ndarray]: Scores and 0/1 targets, (M, C) each.
    """
    import torch
    from mmdet.models.utils import unpack_gt_instances
    head = model.bbox_head
    with torch.no_grad():
        data = model.data_preprocessor(batch, training=False)
        cls_scores, _ = head(model.extract_feat(data['inputs']))
        gt_instances, gt_ignore, img_metas = unpack_gt_instances(
            data['data_samples'])
        anchors, valid_flags = head.get_anchors(
            [score.shape[-2:] for score in cls_scores], img_metas,
            device=cls_scores[0].device)
        labels, label_weights = head.get_targets(anchors, valid_flags,
                                                 gt_instances, img_metas,
                                                 gt_ignore)[:2]
    num_classes = head.cls_out_channels
    scores, targets = [], []
    for level, level_labels, level_weights in zip(cls_scores, labels,
                                                  label_weights):
        logits = level.permute(0, 2, 3, 1).reshape(-1, num_classes)
        keep = level_weights.reshape(-1) > 0
        level_labels = level_labels.reshape(-1)[keep]
        one_hot = torch.nn.functional.one_hot(level_labels, num_classes + 1)
        scores.append(torch.sigmoid(logits[keep].double()).numpy())
        targets.append(one_hot[:, :num_classes].numpy())
    return np.concatenate(scores), np.concatenate(targets)


def anchor_calibration(model, batches: Iterable[dict],
                       inverse_map: ScoreCalibrator,
                       num_bins: int = 20) -> Dict[str, ReliabilityHistogram]:
    """Reliability histograms of raw and recalibrated anchor scores.

    Args:
        model: A trained dense detector (put in eval mode here).
        batches (Iterable[dict]): Data loader batches with ground truth.
        inverse_map (ScoreCalibrator): The trained loss's
            ``inverse_calibrator(C)``.
        num_bins (int): Equal-width bins over [0, 1].

    Returns:
        dict: ``'raw'`` and ``'recalibrated'`` histograms.
    """
    model.eval()
    histograms = dict(raw=ReliabilityHistogram(num_bins),
                      recalibrated=ReliabilityHistogram(num_bins))
    for batch in batches:
        scores, targets = anchor_scores_and_targets(model, batch)
        histograms['raw'].add(scores, targets)
        histograms['recalibrated'].add(
            logistic(inverse_map.log_odds(scores)), targets)
    return histograms
