"""Evaluate a detector on val with raw, recalibrated and calibrated scores.

What ``tools/analysis/calibration_report.py`` measures per trained model:
box AP (with APr/APc/APf) and D-ECE overall and per frequency bucket, with
the number of detections each D-ECE rests on, for each way of scoring
(``model.test_cfg`` options, applied in the head before threshold, top-k
and NMS), plus the reliability bins for the diagrams.
"""
import copy
import os
import os.path as osp
from typing import Any, Dict, Optional

import numpy as np
from mmengine.config import Config

from ..engine.detector_loading import load_detector
from ..evaluation.calibration import calibration_bins
from ..evaluation.long_tail import LongTailCocoMetric
from .calibration_fitting import (D_ECE_NUM_BINS, D_ECE_SCORE_THR,
                                  collect_detections, d_ece, d_ece_by_bucket,
                                  point_dataset_to)

#: AP entries kept from the COCO metric (its keys without 'coco/').
AP_KEYS = ('bbox_mAP', 'bbox_APr', 'bbox_APc', 'bbox_APf')


def evaluate_scores(cfg: Config, checkpoint: str, data_root: str,
                    work_dir: str,
                    test_cfg: Optional[Dict[str, Any]] = None) -> dict:
    """AP and D-ECE (overall, per bucket) on the val split.

    Args:
        cfg (Config): The detector's config.
        checkpoint (str): Its weights.
        data_root (str): The embedded dataset (``annotations/val.json``).
        work_dir (str): Where the COCO metric writes its report.
        test_cfg (dict, optional): ``model.test_cfg`` entries to set, e.g.
            ``score_calibration=PATH`` or ``recalibrate_scores=True``.

    Returns:
        dict: ``ap`` (bbox_mAP, APr, APc, APf as fractions), ``d_ece``
        (``{'all'|'rare'|'common'|'frequent': {d_ece, num_detections}}``)
        and ``bins`` (the overall reliability bins).
    """
    cfg = point_dataset_to(cfg, 'annotations/val.json', 'val/', data_root)
    cfg.model.test_cfg = dict(copy.deepcopy(cfg.model.get('test_cfg', {})),
                              **(test_cfg or {}))
    model, _ = load_detector(cfg, checkpoint)
    os.makedirs(work_dir, exist_ok=True)
    coco = LongTailCocoMetric(
        ann_file=osp.join(data_root, 'annotations', 'val.json'),
        metric='bbox', save_dir=work_dir, log_per_class_table=False)
    detections = collect_detections(cfg, model, metrics=[coco])
    kept = detections['scores'] >= D_ECE_SCORE_THR
    return dict(
        ap={key: float(detections['metrics'][f'coco/{key}'])
            for key in AP_KEYS},
        d_ece=d_ece_by_bucket(detections['scores'], detections['labels'],
                              detections['outcomes'],
                              detections['class_buckets']),
        bins=calibration_bins(detections['scores'][kept],
                              detections['outcomes'][kept] > 0.5,
                              D_ECE_SCORE_THR, D_ECE_NUM_BINS))


def sampling_d_ece(num_detections: int, repeats: int = 300,
                   seed: int = 0) -> float:
    """Mean D-ECE of a perfectly calibrated detector measured on
    ``num_detections`` detections (scores uniform on [0.3, 1], each a hit
    with probability equal to its score): what sampling alone gives."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(repeats):
        scores = rng.uniform(D_ECE_SCORE_THR, 1.0, num_detections)
        hits = rng.uniform(size=num_detections) < scores
        values.append(d_ece(scores, hits)['d_ece'])
    return float(np.mean(values))


def describe_loss_parameters(loss_parameters: Optional[dict]) -> str:
    """'gamma 2, alpha 0.25' (alpha per class as its range), or 'n/a'."""
    if not loss_parameters:
        return 'n/a (no inverse map)'
    text = f"gamma {loss_parameters['gamma']:.2f}"
    alpha = loss_parameters.get('alpha')
    if alpha is None:
        return text + ', no alpha'
    low, high = float(np.min(alpha)), float(np.max(alpha))
    if abs(high - low) < 1e-9:
        return text + f', alpha {low:.2f}'
    return text + f', alpha {low:.2f}-{high:.2f} (per class)'


# -- markdown tables of the report (rows: one dict per model, see
# tools/analysis/calibration_report.py) ----------------------------------


def _d_ece_cell(entry: Optional[dict]) -> str:
    """'0.123 (456)': D-ECE and the detections it rests on."""
    if entry is None:
        return 'n/a'
    value = entry['d_ece']
    text = 'n/a' if value is None or np.isnan(value) else f'{value:.3f}'
    return f"{text} ({entry['num_detections']})"


def _percent(value: float) -> str:
    return f'{100 * value:.1f}'


def summary_table(rows, target: float) -> str:
    """D-ECE and AP before and after the chosen calibrator, per model."""
    lines = [
        '| model | calibrator (chosen) | D-ECE raw (detections) | D-ECE '
        'calibrated (detections) | <= ' + f'{target}' + ' | AP raw | AP '
        'calibrated | AP change | APr raw | APr calibrated |',
        '|---|---|---|---|---|---|---|---|---|---|'
    ]
    for row in rows:
        raw, calibrated = row['raw'], row['calibrated']
        after = calibrated['d_ece']['all']['d_ece']
        met = 'yes' if after <= target else f'no (+{after - target:.3f})'
        change = 100 * (calibrated['ap']['bbox_mAP'] - raw['ap']['bbox_mAP'])
        lines.append(
            f"| {row['name']} | {row['method']} | "
            f"{_d_ece_cell(raw['d_ece']['all'])} | "
            f"{_d_ece_cell(calibrated['d_ece']['all'])} | {met} | "
            f"{_percent(raw['ap']['bbox_mAP'])} | "
            f"{_percent(calibrated['ap']['bbox_mAP'])} | {change:+.1f} | "
            f"{_percent(raw['ap']['bbox_APr'])} | "
            f"{_percent(calibrated['ap']['bbox_APr'])} |")
    return '\n'.join(lines)


def bucket_table(rows) -> str:
    """D-ECE per frequency bucket before and after, with counts."""
    lines = ['| model | bucket | D-ECE raw (detections) | D-ECE calibrated '
             '(detections) |', '|---|---|---|---|']
    for row in rows:
        for bucket in ('rare', 'common', 'frequent'):
            lines.append(
                f"| {row['name']} | {bucket} | "
                f"{_d_ece_cell(row['raw']['d_ece'].get(bucket))} | "
                f"{_d_ece_cell(row['calibrated']['d_ece'].get(bucket))} |")
    return '\n'.join(lines)


def cross_fit_table(rows, methods) -> str:
    """The calib split's cross-fitted D-ECE of every candidate."""
    lines = ['| model | ' + ' | '.join(('uncalibrated', ) + tuple(methods)) +
             ' | chosen |', '|---|' + '---|' * (len(methods) + 2)]
    for row in rows:
        cells = [
            _d_ece_cell(row['cross_fitted'][m]['all'])
            for m in ('uncalibrated', ) + tuple(methods)
        ]
        lines.append(f"| {row['name']} | " + ' | '.join(cells) +
                     f" | {row['method']} |")
    return '\n'.join(lines)


def focal_entropy_table(rows) -> str:
    """The focal-entropy family: the loss's own parameters (the
    ``recalibrate_scores`` option) against the ones fitted on calib."""
    lines = [
        "| model | the loss's gamma, alpha | fitted gamma, alpha | D-ECE "
        'raw | inverse map, loss\'s own (`recalibrate_scores`) | inverse '
        'map, fitted | chosen calibrator | AP raw / own / fitted |',
        '|---|---|---|---|---|---|---|---|'
    ]
    for row in rows:
        fitted = row['focal_entropy_fit']
        recalibrated = row.get('recalibrated')
        aps = [row['raw'], recalibrated, row['focal_entropy']]
        ap_text = ' / '.join('n/a' if r is None else
                             _percent(r['ap']['bbox_mAP']) for r in aps)
        lines.append(
            f"| {row['name']} | "
            f"{describe_loss_parameters(row['loss_parameters'])} | "
            f"{fitted['gamma']:.2f}, {fitted['alpha']:.2f} | "
            f"{_d_ece_cell(row['raw']['d_ece']['all'])} | "
            f"{_d_ece_cell(recalibrated and recalibrated['d_ece']['all'])} | "
            f"{_d_ece_cell(row['focal_entropy']['d_ece']['all'])} | "
            f"{_d_ece_cell(row['calibrated']['d_ece']['all'])} | "
            f'{ap_text} |')
    return '\n'.join(lines)


def candidate_table(rows, methods) -> str:
    """Every candidate's D-ECE on val; the chosen one in bold."""
    lines = ['| model | ' + ' | '.join(methods) + ' |',
             '|---|' + '---|' * len(methods)]
    for row in rows:
        cells = []
        for method in methods:
            cell = _d_ece_cell(row['candidates'][method]['d_ece']['all'])
            cells.append(f'**{cell}**' if method == row['method'] else cell)
        lines.append(f"| {row['name']} | " + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
