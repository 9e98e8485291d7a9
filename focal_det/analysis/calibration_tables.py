"""Markdown tables of the calibration report (docs/calibration.md).

Each table takes the rows of ``tools/analysis/calibration_report.py``, one
dict per model: ``name``, ``method`` (chosen on calib), ``cross_fitted``
(:func:`.calibration_fitting.compare_methods` on calib), ``raw``,
``calibrated``, ``candidates`` (per method), ``recalibrated`` (head runs,
:func:`.calibrated_scores.evaluate_scores`: AP, thresholded D-ECE),
``fixed`` (``'raw'``, each method, ``'recalibrated'``:
:func:`.fixed_set_evaluation.fixed_set_evaluation` on the raw run's
detections), ``focal_entropy_fit`` and ``loss_parameters``.
"""
import math
from typing import Optional, Sequence

from .calibrated_scores import describe_loss_parameters

#: Largest AP / APr change (points) a calibrator may cost.
AP_TOLERANCE = 0.3


def _number(value: Optional[float]) -> str:
    if value is None or math.isnan(value):
        return 'n/a'
    return f'{value:.3f}'


def _count_cell(entry: Optional[dict], key: str = 'd_ece') -> str:
    """'0.123 (456)': a value and the detections it rests on."""
    if entry is None:
        return 'n/a'
    return f"{_number(entry[key])} ({entry['num_detections']})"


def _interval_cell(evaluation: Optional[dict], metric: str) -> str:
    """'0.123 [0.101, 0.140] (456)' for ``'d_ece'`` (fixed set) or
    ``'laece0'``."""
    if evaluation is None:
        return 'n/a'
    overall = evaluation['by_bucket']['all']
    entry = overall['fixed'] if metric == 'd_ece' else overall['laece0']
    value = entry['d_ece'] if metric == 'd_ece' else entry['laece']
    interval = evaluation[f'{metric}_interval']
    return (f"{_number(value)} [{_number(interval['low'])}, "
            f"{_number(interval['high'])}] ({entry['num_detections']})")


def _fixed_value(evaluation: dict, metric: str) -> float:
    overall = evaluation['by_bucket']['all']
    return overall['fixed']['d_ece'] if metric == 'd_ece' else \
        overall['laece0']['laece']


def _points(value: float) -> str:
    return f'{100 * value:.1f}'


def _ap_change(raw: dict, calibrated: dict, key: str) -> float:
    return 100 * (calibrated['ap'][key] - raw['ap'][key])


def summary_table(rows: Sequence[dict], target: float) -> str:
    """The targets per model: fixed-set D-ECE, LaECE_0 and AP/APr of the
    chosen calibrator against the raw model."""
    lines = [
        '| model | calibrator (chosen on calib) | fixed-set D-ECE raw | '
        f'calibrated | <= {target} | LaECE_0 raw | calibrated | <= half '
        'raw | thresholded D-ECE raw -> calibrated | AP raw -> calibrated '
        f'| APr raw -> calibrated | AP, APr within {AP_TOLERANCE} |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for row in rows:
        raw, chosen = row['fixed']['raw'], row['fixed'][row['method']]
        after = _fixed_value(chosen, 'd_ece')
        met = 'yes' if after <= target else f'no (+{after - target:.3f})'
        half = _fixed_value(raw, 'laece0') / 2
        laece = _fixed_value(chosen, 'laece0')
        halved = 'yes' if laece <= half else f'no (+{laece - half:.3f})'
        changes = [_ap_change(row['raw'], row['calibrated'], key)
                   for key in ('bbox_mAP', 'bbox_APr')]
        kept = 'yes' if all(abs(c) <= AP_TOLERANCE + 1e-9
                            for c in changes) else 'no'
        lines.append(
            f"| {row['name']} | {row['method']} | "
            f"{_interval_cell(raw, 'd_ece')} | "
            f"{_interval_cell(chosen, 'd_ece')} | {met} | "
            f"{_interval_cell(raw, 'laece0')} | "
            f"{_interval_cell(chosen, 'laece0')} | {halved} | "
            f"{_count_cell(row['raw']['d_ece']['all'])} -> "
            f"{_count_cell(row['calibrated']['d_ece']['all'])} | "
            f"{_points(row['raw']['ap']['bbox_mAP'])} -> "
            f"{_points(row['calibrated']['ap']['bbox_mAP'])} "
            f"({changes[0]:+.1f}) | "
            f"{_points(row['raw']['ap']['bbox_APr'])} -> "
            f"{_points(row['calibrated']['ap']['bbox_APr'])} "
            f"({changes[1]:+.1f}) | {kept} |")
    return '\n'.join(lines)


def bucket_table(rows: Sequence[dict]) -> str:
    """Fixed-set D-ECE per frequency bucket, raw and chosen calibrator."""
    lines = ['| model | bucket | fixed-set D-ECE raw (detections) | '
             'calibrated (same detections) |', '|---|---|---|---|']
    for row in rows:
        raw = row['fixed']['raw']['by_bucket']
        chosen = row['fixed'][row['method']]['by_bucket']
        for bucket in ('rare', 'common', 'frequent'):
            if bucket not in raw:
                continue
            lines.append(
                f"| {row['name']} | {bucket} | "
                f"{_count_cell(raw[bucket]['fixed'])} | "
                f"{_count_cell(chosen[bucket]['fixed'])} |")
    return '\n'.join(lines)


def cross_fit_table(rows: Sequence[dict], methods: Sequence[str]) -> str:
    """The calib split's cross-fitted fixed-set D-ECE (what ``auto``
    chooses by) and LaECE_0 of every candidate."""
    names = ('uncalibrated', ) + tuple(methods)
    lines = ['| model | ' + ' | '.join(names) + ' | chosen |',
             '|---|' + '---|' * (len(names) + 1)]
    for row in rows:
        cells = []
        for method in names:
            entry = row['cross_fitted'][method]['all']
            laece = entry.get('laece0')
            cells.append(
                f"{_count_cell(entry['fixed'])}; LaECE_0 "
                f"{_number(laece and laece['laece'])}")
        lines.append(f"| {row['name']} | " + ' | '.join(cells) +
                     f" | {row['method']} |")
    return '\n'.join(lines)


def candidate_table(rows: Sequence[dict], methods: Sequence[str]) -> str:
    """Every candidate on val: fixed-set D-ECE and LaECE_0 with intervals,
    the AP change; the chosen one in bold."""
    lines = ['| model | calibrator | fixed-set D-ECE [95 % interval] '
             '(detections) | LaECE_0 [95 % interval] (detections) | AP '
             'change | APr change |', '|---|---|---|---|---|---|']
    for row in rows:
        for method in ('raw', ) + tuple(methods):
            name = f'**{method}**' if method == row['method'] else method
            evaluation = row['fixed'][method]
            head = row['raw'] if method == 'raw' else \
                row['candidates'][method]
            lines.append(
                f"| {row['name']} | {name} | "
                f"{_interval_cell(evaluation, 'd_ece')} | "
                f"{_interval_cell(evaluation, 'laece0')} | "
                f"{_ap_change(row['raw'], head, 'bbox_mAP'):+.1f} | "
                f"{_ap_change(row['raw'], head, 'bbox_APr'):+.1f} |")
    return '\n'.join(lines)


def focal_entropy_table(rows: Sequence[dict]) -> str:
    """The focal-entropy family: the loss's own parameters (the
    ``score_calibration='loss'`` option) against the ones fitted on calib,
    on the raw model's fixed detection set."""
    lines = [
        "| model | the loss's gamma, alpha | fitted gamma, alpha | "
        'fixed-set D-ECE raw | inverse map, loss\'s own '
        '(`score_calibration=loss`) | inverse map, fitted | chosen '
        'calibrator | AP raw / own / fitted |',
        '|---|---|---|---|---|---|---|---|'
    ]
    for row in rows:
        fitted = row['focal_entropy_fit']
        aps = [row['raw'], row.get('recalibrated'),
               row['candidates']['focal_entropy']]
        ap_text = ' / '.join('n/a' if r is None else
                             _points(r['ap']['bbox_mAP']) for r in aps)
        overall = {
            name: evaluation and evaluation['by_bucket']['all']['fixed']
            for name, evaluation in (
                ('raw', row['fixed']['raw']),
                ('own', row['fixed'].get('recalibrated')),
                ('fitted', row['fixed']['focal_entropy']),
                ('chosen', row['fixed'][row['method']]))
        }
        lines.append(
            f"| {row['name']} | "
            f"{describe_loss_parameters(row['loss_parameters'])} | "
            f"{fitted['gamma']:.2f}, {fitted['alpha']:.2f} | " +
            ' | '.join(_count_cell(overall[name])
                         for name in ('raw', 'own', 'fitted', 'chosen')) +
            f' | {ap_text} |')
    return '\n'.join(lines)
