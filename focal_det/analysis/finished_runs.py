"""Read what finished runs wrote (reports, checkpoints) and present it.

Analysis, not evaluation: the metrics write the reports while a run
evaluates; this reads them back afterwards for the tools that compare runs
(``tools/summarize.py``, ``tools/compare_losses.py``, the calibration
report).
"""
import glob
import json
import math
import os.path as osp
import warnings
from typing import Dict, List, Optional

from ..atomic_files import atomic_write
from ..engine.checkpoint_files import recorded_checkpoint
from ..evaluation.long_tail import REPORT_FILE_NAME
from ..evaluation.report_writing import format_percent

# (column, key in the report's 'overall' section)
SUMMARY_COLUMNS = (('AP', 'bbox_mAP'), ('AP50', 'bbox_mAP_50'),
                   ('APr', 'bbox_APr'), ('APc', 'bbox_APc'),
                   ('APf', 'bbox_APf'))


def newest_run_file(work_dir: str, name: str) -> str:
    """``<work_dir>/<newest timestamp>/<name>``: what the last run wrote."""
    paths = sorted(glob.glob(osp.join(work_dir, '*', name)))
    if not paths:
        raise FileNotFoundError(f'no {name} under {work_dir}: no run there '
                                'has written it yet')
    return paths[-1]


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint ``last_checkpoint`` names, resolved against ``work_dir``
    as ``--resume`` resolves it (a copied work dir reads its own files)."""
    path = recorded_checkpoint(work_dir, warnings.warn)
    if path is None:
        raise FileNotFoundError(f'no checkpoint recorded in {work_dir}')
    return path


def latest_report(work_dir: str) -> dict:
    """The newest ``long_tail_metrics.json`` of a work dir."""
    with open(newest_run_file(work_dir, REPORT_FILE_NAME)) as f:
        return json.load(f)


HAND_WRITTEN_MARKER = '<!-- hand-written below: kept when this file is regenerated -->'


def write_generated_doc(path: str, generated: str) -> None:
    """Write a generated document, keeping its hand-written tail.

    Everything from :data:`HAND_WRITTEN_MARKER` on in the existing file
    (the reading of the numbers, extra runs) survives regeneration.
    """
    tail = ''
    if osp.isfile(path):
        with open(path) as f:
            old = f.read()
        if HAND_WRITTEN_MARKER in old:
            tail = '\n' + old[old.index(HAND_WRITTEN_MARKER):]
    with atomic_write(path) as f:
        f.write(generated.rstrip('\n') + '\n' + tail)


def summary_table(reports: Dict[str, dict],
                  extra: Optional[Dict[str, Dict[str, str]]] = None) -> str:
    """A markdown table of AP, AP50, APr, APc, APf (in %) per run.

    Args:
        reports (dict): Run name -> report (see :func:`latest_report`).
        extra (dict, optional): Run name -> {column: text} appended.
    """
    extra = extra or {}
    extra_columns: List[str] = []
    for columns in extra.values():
        extra_columns += [c for c in columns if c not in extra_columns]
    header = ['run'] + [c for c, _ in SUMMARY_COLUMNS] + extra_columns
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '---|' * len(header)]
    for name, report in reports.items():
        overall = report['overall']
        cells = [name] + [
            format_percent(overall.get(k)) for _, k in SUMMARY_COLUMNS
        ]
        cells += [extra.get(name, {}).get(c, '') for c in extra_columns]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot_bucket_bars(reports: Dict[str, dict], path: str,
                     title: str = 'AP by frequency bucket') -> None:
    """Grouped bars of AP per frequency bucket (rare/common/frequent) per run."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    buckets = (('APr', 'rare'), ('APc', 'common'), ('APf', 'frequent'),
               ('AP', 'all'))
    keys = dict(SUMMARY_COLUMNS)
    width = 0.8 / max(len(reports), 1)
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for i, (name, report) in enumerate(reports.items()):
        values = [100 * report['overall'].get(keys[b], math.nan)
                  for b, _ in buckets]
        xs = [x + (i - (len(reports) - 1) / 2) * width
              for x in range(len(buckets))]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt='%.1f', fontsize=7)
    ax.set_xticks(range(len(buckets)), [label for _, label in buckets])
    ax.set_ylabel('box AP (%)')
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
