"""Held-out detections for score calibration: collect, fit, choose, judge.

The detector runs over a dataset (the embedded ``calib`` split, a held-out
part of train, or val for cross-fitting) and every detection is labelled by
:class:`~focal_det.evaluation.calibration.DetectionCalibrationMetric`'s own
matching (greedy by score, IoU >= 0.5, crowd-covered detections dropped):
the rule of the D-ECE metric. Matching keeps every detection down to the
model's ``score_thr``, not only those >= 0.3, because a calibrator can move
a score across 0.3; the greedy order within a class is unchanged by a
monotone map, so each detection's outcome is the one the metric gives it
after calibration.

The calibrators are compared by cross-fitting on image halves: fitted on one
half of the images, scored (D-ECE of the other half's calibrated
detections) on the other, both ways, the two halves' calibrated detections
pooled into one D-ECE, averaged over several random halvings. The chosen
one is then refitted on all images.
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
                                      expected_calibration_error)
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
                       metrics: Sequence = ()) -> Dict[str, np.ndarray]:
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
        dict: ``scores``, ``labels``, ``outcomes`` (1 hit, 0 false
        positive), ``image_ids`` of all labelled detections;
        ``class_names``; ``class_buckets`` (from the categories' frequency
        field, None without it); ``metrics`` (the merged results of
        ``metrics``); ``ann_file``.
    """
    from mmengine.runner import Runner
    loader = Runner.build_dataloader(cfg.test_dataloader)
    dataset = loader.dataset
    ann_file = dataset.ann_file
    labeller = DetectionCalibrationMetric(
        ann_file=ann_file, score_thr=float(model.bbox_head.test_cfg.get(
            'score_thr', 0.0)))
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

    def gather(key, dtype):
        return np.concatenate([np.zeros(0, dtype)] +
                              [np.asarray(r[key], dtype) for r in results])

    return dict(
        scores=gather('scores', np.float64),
        labels=gather('labels', np.int64),
        outcomes=gather('is_true_positive', np.float64),
        image_ids=np.concatenate([np.zeros(0, np.int64)] + [
            np.full(len(r['scores']), r['img_id'], np.int64) for r in results
        ]),
        class_names=list(dataset.metainfo['classes']),
        class_buckets=class_buckets(ann_file, dataset.metainfo['classes']),
        metrics=merged, ann_file=ann_file)


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


def d_ece_by_bucket(scores: np.ndarray, labels: np.ndarray,
                    outcomes: np.ndarray,
                    buckets: Optional[Sequence[str]]) -> Dict[str, dict]:
    """:func:`d_ece` of all detections and of each frequency bucket's."""
    table = dict(all=d_ece(scores, outcomes))
    if buckets is not None:
        bucket_of = np.asarray(buckets, dtype=object)[labels] if len(
            labels) else np.zeros(0, dtype=object)
        for bucket in BUCKETS:
            selected = bucket_of == bucket
            table[BUCKET_NAMES[bucket]] = d_ece(scores[selected],
                                                outcomes[selected])
    return table


def fit_calibrator(method: str, detections: Dict,
                   selected: Optional[np.ndarray] = None) -> ScoreCalibrator:
    """Fit ``method`` on the (selected) detections."""
    if method not in FITTERS:
        raise ValueError(f'unknown calibration method {method!r}; known: '
                         f'{sorted(FITTERS)}')
    if selected is None:
        selected = np.ones(len(detections['scores']), dtype=bool)
    return FITTERS[method](detections['scores'][selected],
                           detections['labels'][selected],
                           detections['outcomes'][selected],
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
                    seeds: Sequence[int] = (0, 1, 2, 3, 4)
                    ) -> Dict[str, Dict[str, dict]]:
    """Cross-fitted D-ECE (overall and per bucket) of each method and of the
    raw scores (``'uncalibrated'``).

    One split into image halves gives a noisy D-ECE (a few hundred
    detections), so it is averaged over the splits of ``seeds``; so is the
    number of detections it rests on (rounded).
    """
    table = dict(uncalibrated=d_ece_by_bucket(
        detections['scores'], detections['labels'], detections['outcomes'],
        detections['class_buckets']))
    for method in methods:
        repeats = [
            d_ece_by_bucket(
                cross_fitted_scores(method, detections,
                                    image_halves(detections['image_ids'],
                                                 seed)),
                detections['labels'], detections['outcomes'],
                detections['class_buckets']) for seed in seeds
        ]
        table[method] = {
            bucket: dict(
                d_ece=float(np.nanmean([r[bucket]['d_ece']
                                        for r in repeats]))
                if any(not np.isnan(r[bucket]['d_ece']) for r in repeats)
                else float('nan'),
                num_detections=int(round(np.mean(
                    [r[bucket]['num_detections'] for r in repeats]))))
            for bucket in repeats[0]
        }
    return table


def best_method(comparison: Dict[str, Dict[str, dict]]) -> str:
    """The calibrator with the lowest cross-fitted overall D-ECE."""
    candidates = {m: v['all']['d_ece'] for m, v in comparison.items()
                  if m != 'uncalibrated' and not np.isnan(v['all']['d_ece'])}
    if not candidates:
        raise ValueError('no calibrator could be judged: no held-out '
                         f'detection scored >= {D_ECE_SCORE_THR}')
    return min(candidates, key=candidates.get)
