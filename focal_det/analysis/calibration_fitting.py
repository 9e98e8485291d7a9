"""Held-out detections for score calibration: collect, fit, choose, judge.

The detector runs over a dataset (the embedded ``calib`` split, a held-out
part of train, or val for cross-fitting) and every detection, down to the
model's own score threshold, is labelled by
:class:`~focal_det.evaluation.calibration.DetectionCalibrationMetric`'s
matching: at IoU 0.5 for D-ECE (greedy by score, crowd-covered detections
dropped) and at ``tau = 0`` with the matched IoU for LaECE_0. The greedy
order within a class is unchanged by a monotone map, so each detection's
outcome is the one the metric gives it after calibration.

The calibrators are compared by cross-fitting on image halves: fitted on one
half of the images and applied to the other half's detections, both ways,
averaged over several random halvings. They are judged on a *fixed*
detection set, the detections whose raw score is ``>= 0.3`` (fixed-set
D-ECE, :mod:`focal_det.evaluation.calibration.fixed_set`): a candidate that
pushed detections under 0.3 would otherwise remove them from its own exam.
The thresholded D-ECE of the calibrated scores (over the detections the
candidate keeps) is reported beside it. The chosen one is refitted on all
images.
"""
import copy
import json
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config

from ..calibration import FITTERS, ScoreCalibrator
from ..evaluation.calibration import (DetectionCalibrationMetric,
                                      calibration_bins,
                                      expected_calibration_error,
                                      fixed_set_d_ece, fixed_set_laece)
from ..evaluation.calibration.matching import DROPPED, TRUE_POSITIVE
from ..evaluation.calibration.measures import (gather_detections,
                                               laece_thresholds)
from ..evaluation.long_tail.buckets import BUCKET_NAMES, BUCKETS

#: The D-ECE rule the calibrators are judged by (the metric's defaults).
D_ECE_SCORE_THR = 0.3
D_ECE_NUM_BINS = 10


def point_dataset_to(cfg: Config, ann_file: str, img_prefix: str,
                     data_root: Optional[str] = None) -> Config:
    """A copy of ``cfg`` whose test dataloader reads ``ann_file`` and
    ``img_prefix`` (relative to ``data_root``, the config's when None),
    one process, no workers."""
    cfg = copy.deepcopy(cfg)
    dataset = cfg.test_dataloader.dataset
    if data_root is not None:
        dataset.data_root = data_root
    dataset.ann_file = ann_file
    dataset.data_prefix = dict(img=img_prefix)
    cfg.test_dataloader.num_workers = 0
    cfg.test_dataloader.persistent_workers = False
    return cfg


def collect_detections(cfg: Config, model: torch.nn.Module,
                       metrics: Sequence = ()) -> Dict[str, object]:
    """Run the detector on the config's test dataset and label detections.

    Args:
        cfg (Config): Its test dataloader names the data (see
            :func:`point_dataset_to`); ``model.test_cfg`` applies, so a
            ``score_calibration`` there gives calibrated detections.
        model (nn.Module): The detector, from
            :func:`focal_det.engine.load_detector` with the same config.
        metrics (Sequence): Further mmengine metrics fed the same
            predictions (e.g. the COCO metric for AP); evaluated here.

    Returns:
        dict: ``(n,)`` arrays of every detection: ``scores``, ``labels``,
        ``image_ids``, ``outcomes`` (1 hit, 0 false positive, -1 dropped
        at IoU 0.5), ``laece_outcomes`` and ``laece_ious`` (the matching
        at ``tau = 0``); ``num_ground_truth`` ``(C,)`` objects per class
        and ``image_num_ground_truth`` (image id -> ``(C,)``);
        ``class_names``; ``class_buckets`` (from the categories' frequency
        field, None without it); ``metrics`` (the merged results of
        ``metrics``); ``ann_file``.
    """
    from mmengine.runner import Runner
    loader = Runner.build_dataloader(cfg.test_dataloader)
    dataset = loader.dataset
    ann_file = dataset.ann_file
    labeller = DetectionCalibrationMetric(ann_file=ann_file)
    for metric in (labeller, *metrics):
        metric.dataset_meta = dataset.metainfo
    with torch.no_grad():
        for batch in loader:
            samples = [s.to_dict() for s in model.test_step(batch)]
            for metric in (labeller, *metrics):
                metric.process(batch, samples)
    results = labeller.results
    merged = {}
    for metric in metrics:
        merged.update(metric.evaluate(len(dataset)))
    class_names = list(dataset.metainfo['classes'])
    detections, num_ground_truth = gather_detections(results,
                                                     len(class_names))
    return dict(
        detections,
        image_ids=np.concatenate([np.zeros(0, np.int64)] + [
            np.full(len(r['scores']), r['img_id'], np.int64) for r in results
        ]),
        num_ground_truth=num_ground_truth,
        image_num_ground_truth={
            int(r['img_id']): np.asarray(r['num_ground_truth'])
            for r in results
        },
        class_names=class_names,
        class_buckets=class_buckets(ann_file, class_names),
        metrics=merged, ann_file=ann_file)


def labelled(detections: Dict) -> np.ndarray:
    """``(n,)`` bool: the detections D-ECE's matching did not drop."""
    return np.asarray(detections['outcomes']) != DROPPED


def hits(detections: Dict) -> np.ndarray:
    """``(n,)`` float: 1 for a true positive at IoU 0.5, else 0."""
    return (np.asarray(detections['outcomes']) == TRUE_POSITIVE).astype(
        np.float64)


def class_buckets(ann_file: str,
                  class_names: Sequence[str]) -> Optional[List[str]]:
    """Each class's frequency bucket from its category's ``frequency``
    field in ``ann_file``; None when a class has none."""
    with open(ann_file, encoding='utf-8') as file:
        categories = json.load(file)['categories']
    frequency = {c['name']: c.get('frequency') for c in categories}
    buckets = [frequency.get(name) for name in class_names]
    return buckets if all(b in BUCKETS for b in buckets) else None


def d_ece(scores: np.ndarray, outcomes: np.ndarray) -> Dict[str, float]:
    """D-ECE (score >= 0.3, 10 bins) and the detections it rests on."""
    kept = np.asarray(scores) >= D_ECE_SCORE_THR
    bins = calibration_bins(np.asarray(scores)[kept],
                            np.asarray(outcomes)[kept] > 0.5,
                            D_ECE_SCORE_THR, D_ECE_NUM_BINS)
    return dict(d_ece=expected_calibration_error(bins),
                num_detections=int(kept.sum()))


def bucket_masks(labels: np.ndarray, buckets: Optional[Sequence[str]]
                 ) -> Dict[str, np.ndarray]:
    """``'all'`` and, with buckets, ``'rare'``/``'common'``/``'frequent'``:
    which detections each covers."""
    labels = np.asarray(labels, dtype=np.int64)
    masks = dict(all=np.ones(len(labels), dtype=bool))
    if buckets is not None:
        bucket_of = np.asarray(buckets, dtype=object)[labels] if len(
            labels) else np.zeros(0, dtype=object)
        for bucket in BUCKETS:
            masks[BUCKET_NAMES[bucket]] = bucket_of == bucket
    return masks


def d_ece_by_bucket(scores: np.ndarray, labels: np.ndarray,
                    outcomes: np.ndarray,
                    buckets: Optional[Sequence[str]]) -> Dict[str, dict]:
    """:func:`d_ece` of all detections and of each frequency bucket's
    (labelled detections; ``outcomes`` 1 or 0)."""
    return {name: d_ece(np.asarray(scores)[mask], np.asarray(outcomes)[mask])
            for name, mask in bucket_masks(labels, buckets).items()}


def calibration_by_bucket(detections: Dict, calibrated: np.ndarray,
                          thresholds: Optional[np.ndarray] = None
                          ) -> Dict[str, dict]:
    """Fixed-set and thresholded D-ECE of ``calibrated`` scores of the
    detections, overall and per bucket, and (overall) fixed-set LaECE_0.

    Args:
        detections (dict): See :func:`collect_detections`.
        calibrated (np.ndarray): ``(n,)`` the detections' calibrated
            scores (the raw ones for the uncalibrated model).
        thresholds (np.ndarray, optional): ``(C,)`` LaECE_0's raw-score
            thresholds; None measures no LaECE_0.

    Returns:
        dict: bucket -> ``fixed`` (``d_ece``, ``num_detections``: the raw
        model's detections scored ``>= 0.3``), ``thresholded`` (the same
        over the calibrated scores ``>= 0.3``); ``all`` also ``laece0``
        (``laece``, ``num_detections``) when ``thresholds`` are given.
    """
    keep = labelled(detections)
    table = {}
    for name, mask in bucket_masks(detections['labels'],
                                   detections['class_buckets']).items():
        mask = mask & keep
        fixed = fixed_set_d_ece(detections['scores'][mask], calibrated[mask],
                                hits(detections)[mask] > 0.5,
                                D_ECE_SCORE_THR, D_ECE_NUM_BINS)
        table[name] = dict(
            fixed=dict(d_ece=fixed['d_ece_calibrated'],
                       num_detections=fixed['num_detections']),
            thresholded=d_ece(calibrated[mask], hits(detections)[mask]))
    if thresholds is not None:
        keep = detections['laece_outcomes'] != DROPPED
        laece = fixed_set_laece(
            detections['scores'][keep], calibrated[keep],
            detections['labels'][keep], detections['laece_ious'][keep],
            detections['laece_outcomes'][keep] == TRUE_POSITIVE,
            detections['num_ground_truth'], thresholds)
        table['all']['laece0'] = dict(laece=laece['laece_calibrated'],
                                      num_detections=laece['num_detections'])
    return table


def raw_lrp_thresholds(detections: Dict) -> Dict[str, List]:
    """The raw model's LRP-optimal thresholds (per class and one for the
    detector), JSON-ready (None where a class has no true positive)."""
    return {
        mode: [None if np.isnan(t) else float(t) for t in laece_thresholds(
            detections, detections['num_ground_truth'], mode)]
        for mode in ('per_class', 'detector')
    }


def fit_calibrator(method: str, detections: Dict,
                   selected: Optional[np.ndarray] = None) -> ScoreCalibrator:
    """Fit ``method`` on the (selected) labelled detections."""
    if method not in FITTERS:
        raise ValueError(f'unknown calibration method {method!r}; known: '
                         f'{sorted(FITTERS)}')
    keep = labelled(detections)
    if selected is not None:
        keep = keep & selected
    return FITTERS[method](detections['scores'][keep],
                           detections['labels'][keep],
                           hits(detections)[keep],
                           len(detections['class_names']),
                           detections['class_buckets'])


def image_halves(image_ids: np.ndarray, seed: int = 0) -> np.ndarray:
    """Per detection, 0 or 1: its image's half (a seeded shuffle of the
    distinct image ids, split in two)."""
    distinct = np.unique(image_ids)
    shuffled = np.random.default_rng(seed).permutation(distinct)
    second_half = set(shuffled[len(shuffled) // 2:].tolist())
    return np.array([int(i) in second_half for i in image_ids],
                    dtype=np.int64)


def cross_fitted_scores(method: str, detections: Dict,
                        halves: np.ndarray) -> np.ndarray:
    """Each detection's score calibrated by the map fitted on the other
    half of the images."""
    calibrated = np.empty(len(detections['scores']))
    for half in (0, 1):
        held_out = halves == half
        calibrator = fit_calibrator(method, detections, ~held_out)
        calibrated[held_out] = calibrator.calibrate(
            detections['scores'][held_out], detections['labels'][held_out])
    return calibrated


def compare_methods(detections: Dict, methods: Sequence[str],
                    seeds: Sequence[int] = (0, 1, 2, 3, 4),
                    thresholds: Optional[np.ndarray] = None
                    ) -> Dict[str, Dict[str, dict]]:
    """Cross-fitted calibration (:func:`calibration_by_bucket`) of each
    method and of the raw scores (``'uncalibrated'``).

    One split into image halves gives a noisy value (a few hundred
    detections), so each is averaged over the splits of ``seeds``; so is
    the thresholded count (rounded). The fixed set does not depend on the
    split.
    """
    table = dict(uncalibrated=calibration_by_bucket(
        detections, detections['scores'], thresholds))
    for method in methods:
        repeats = [
            calibration_by_bucket(
                detections,
                cross_fitted_scores(method, detections,
                                    image_halves(detections['image_ids'],
                                                 seed)), thresholds)
            for seed in seeds
        ]
        table[method] = {
            bucket: {
                kind: _mean_entry([r[bucket][kind] for r in repeats])
                for kind in entry
            }
            for bucket, entry in repeats[0].items()
        }
    return table


def _mean_entry(entries: Sequence[dict]) -> dict:
    """Per key the mean over ``entries`` (NaN-aware); counts rounded."""
    mean = {}
    for key in entries[0]:
        values = np.array([e[key] for e in entries], dtype=np.float64)
        if key == 'num_detections':
            mean[key] = int(round(values.mean()))
        else:
            mean[key] = float(np.nanmean(values)) if np.any(
                ~np.isnan(values)) else float('nan')
    return mean


def best_method(comparison: Dict[str, Dict[str, dict]]) -> str:
    """The calibrator with the lowest cross-fitted fixed-set D-ECE."""
    candidates = {
        m: v['all']['fixed']['d_ece'] for m, v in comparison.items()
        if m != 'uncalibrated' and not np.isnan(v['all']['fixed']['d_ece'])
    }
    if not candidates:
        raise ValueError('no calibrator could be judged: no held-out '
                         f'detection scored >= {D_ECE_SCORE_THR}')
    return min(candidates, key=candidates.get)
