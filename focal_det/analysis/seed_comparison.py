"""Statistics of a multi-seed comparison: spread and paired intervals.

A loss is compared with the reference (FL) seed by seed: both runs of a
seed share the data and the initialisation seed, so the paired difference
removes what the seed does to both. The 95 % interval of the mean paired
difference is Student's t interval, ``mean +- t_{0.975, n-1} sd / sqrt(n)``
(n = number of seeds): with 3 seeds t = 4.30, so an interval excluding 0
needs a difference well above its seed-to-seed spread.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

from scipy import stats

# (column, where the value lives): long-tail report keys, then D-ECE.
METRIC_COLUMNS = (('AP', 'bbox_mAP'), ('AP50', 'bbox_mAP_50'),
                  ('APr', 'bbox_APr'), ('APc', 'bbox_APc'),
                  ('APf', 'bbox_APf'), ('D-ECE', 'd_ece'))


def mean_and_sd(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (NaN sd for a single value)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, math.nan
    var = sum((v - mean)**2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(var)


def paired_interval(values: Sequence[float], reference: Sequence[float],
                    confidence: float = 0.95) -> Tuple[float, float, float]:
    """Mean paired difference and its t interval.

    Args:
        values, reference: One value per seed, in the same seed order.
        confidence (float): Two-sided level.

    Returns:
        tuple: (mean difference, low, high); NaN bounds for one pair.
    """
    pairs = [(v, r) for v, r in zip(values, reference)
             if not (math.isnan(v) or math.isnan(r))]
    diffs = [v - r for v, r in pairs]
    mean, sd = mean_and_sd(diffs)
    if len(diffs) < 2:
        return mean, math.nan, math.nan
    half = stats.t.ppf(0.5 + confidence / 2, len(diffs) - 1) * sd / math.sqrt(
        len(diffs))
    return mean, mean - half, mean + half


def run_metrics(long_tail_report: dict,
                calibration_report: Optional[dict]) -> Dict[str, float]:
    """One run's values of :data:`METRIC_COLUMNS` (AP columns in %)."""
    overall = long_tail_report['overall']
    values = {}
    for column, key in METRIC_COLUMNS:
        if key == 'd_ece':
            value = (calibration_report or {}).get('d_ece')
            values[column] = math.nan if value is None else float(value)
        else:
            value = overall.get(key)
            values[column] = math.nan if value is None else 100 * float(value)
    return values


def _cell(mean: float, sd: float, digits: int) -> str:
    if math.isnan(mean):
        return 'n/a'
    return f'{mean:.{digits}f}' + ('' if math.isnan(sd) else
                                   f' ± {sd:.{digits}f}')


def _digits(column: str) -> int:
    return 3 if column == 'D-ECE' else 1


def spread_table(runs: Dict[str, Dict[int, Dict[str, float]]],
                 extra: Optional[Dict[str, str]] = None) -> str:
    """Markdown: per loss, mean ± sd over seeds of every metric column.

    Args:
        runs: loss name -> seed -> metric column -> value.
        extra: loss name -> text of an extra last column (learnt gamma).
    """
    columns = [c for c, _ in METRIC_COLUMNS]
    header = ['loss', 'seeds'] + columns + (['note'] if extra else [])
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, by_seed in runs.items():
        cells = [name, str(len(by_seed))]
        for column in columns:
            cells.append(_cell(*mean_and_sd(
                [m[column] for m in by_seed.values()]), _digits(column)))
        if extra:
            cells.append(extra.get(name, ''))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def paired_table(runs: Dict[str, Dict[int, Dict[str, float]]],
                 reference: str) -> str:
    """Markdown: per loss, mean paired difference to the reference with its
    95 % interval, over the seeds both have."""
    columns = [c for c, _ in METRIC_COLUMNS]
    header = ['loss - ' + reference, 'pairs'] + columns
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, by_seed in runs.items():
        if name == reference:
            continue
        seeds = sorted(set(by_seed) & set(runs[reference]))
        cells = [name, str(len(seeds))]
        for column in columns:
            mean, low, high = paired_interval(
                [by_seed[s][column] for s in seeds],
                [runs[reference][s][column] for s in seeds])
            digits = _digits(column)
            cells.append('n/a' if math.isnan(mean) else (
                f'{mean:+.{digits}f}' + ('' if math.isnan(low) else
                                         f' [{low:+.{digits}f}, '
                                         f'{high:+.{digits}f}]')))
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def per_seed_table(runs: Dict[str, Dict[int, Dict[str, float]]]) -> str:
    """Markdown: every run, one row per (loss, seed)."""
    columns = [c for c, _ in METRIC_COLUMNS]
    lines = ['| loss | seed | ' + ' | '.join(columns) + ' |',
             '|' + '---|' * (len(columns) + 2)]
    for name, by_seed in runs.items():
        for seed in sorted(by_seed):
            cells = [
                'n/a' if math.isnan(by_seed[seed][c]) else
                f'{by_seed[seed][c]:.{_digits(c)}f}' for c in columns
            ]
            lines.append(f'| {name} | {seed} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def per_class_mean_table(per_class: Dict[str, List[List[dict]]]) -> str:
    """Markdown: per class, its AP (%) averaged over seeds for every loss.

    Args:
        per_class: loss name -> one list of per-class rows per seed (rows of
            the long-tail report: category, bucket, train_image_count, AP).
    """
    names = list(per_class)
    table: Dict[str, dict] = {}
    for name, seeds in per_class.items():
        for rows in seeds:
            for row in rows:
                entry = table.setdefault(row['category'], dict(row, aps={}))
                entry['aps'].setdefault(name, []).append(100 * row['AP'])
    lines = ['| class | bucket | train images | ' + ' | '.join(names) + ' |',
             '|---|---|---|' + '---|' * len(names)]
    for entry in sorted(table.values(), key=lambda e: -e['train_image_count']):
        cells = [_cell(*mean_and_sd(entry['aps'].get(n, [])), 1)
                 for n in names]
        lines.append(f"| {entry['category']} | {entry['bucket']} | "
                     f"{entry['train_image_count']} | " + ' | '.join(cells) +
                     ' |')
    return '\n'.join(lines)


def plot_bucket_error_bars(runs: Dict[str, Dict[int, Dict[str, float]]],
                           path: str, title: str) -> None:
    """Grouped bars of mean AP per frequency bucket with ±1 sd error bars."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    buckets = (('APr', 'rare'), ('APc', 'common'), ('APf', 'frequent'),
               ('AP', 'all'))
    width = 0.8 / max(len(runs), 1)
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    for i, (name, by_seed) in enumerate(runs.items()):
        moments = [mean_and_sd([m[b] for m in by_seed.values()])
                   for b, _ in buckets]
        xs = [x + (i - (len(runs) - 1) / 2) * width
              for x in range(len(buckets))]
        ax.bar(xs, [m for m, _ in moments], width,
               yerr=[0.0 if math.isnan(s) else s for _, s in moments],
               capsize=2, label=f'{name} (n={len(by_seed)})')
    ax.set_xticks(range(len(buckets)), [label for _, label in buckets])
    ax.set_ylabel('box AP (%), mean ± sd over seeds')
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
