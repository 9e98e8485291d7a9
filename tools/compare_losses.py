"""Train FL, DFL and CB-FL alike on the embedded data and write the comparison.

    python tools/compare_losses.py            # docs/results.md + bar chart

Each loss trains ``configs/retinanet_<loss>.py`` (same seed, schedule and
data) in its own process; a run whose work dir already holds its metrics
and wall time is reused, so an interrupted comparison continues.
"""
import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import time

import torch
from mmdet.registry import MODELS
from mmengine.config import Config

from focal_det.evaluation import (last_checkpoint, latest_report,
                                  plot_bucket_bars, summary_table,
                                  write_generated_doc)

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
NAMES = {'fl': 'FL', 'dfl': 'DFL', 'cbfl': 'CB-FL'}
WALL_TIME_FILE = 'wall_time.json'


def train(loss: str, work_dir: str) -> float:
    """Train one loss (resuming a partial run); return its wall time in s."""
    record = osp.join(work_dir, WALL_TIME_FILE)
    if osp.isfile(record):
        with open(record) as f:
            return json.load(f)['seconds']
    start = time.perf_counter()
    subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'),
        osp.join(REPO, 'configs', f'retinanet_{loss}.py'), '--work-dir',
        work_dir, '--resume'
    ], check=True)
    seconds = time.perf_counter() - start
    with open(record, 'w') as f:
        json.dump(dict(seconds=seconds), f)
    return seconds


def final_gamma(loss: str, work_dir: str):
    """The learnt gamma of a DualFocalLoss run (None for other losses)."""
    loss_cfg = Config.fromfile(osp.join(
        REPO, 'configs', f'retinanet_{loss}.py')).model.bbox_head.loss_cls
    loss_module = MODELS.build(loss_cfg)
    if not getattr(loss_module, 'learnable_gamma', False):
        return None
    checkpoint = torch.load(last_checkpoint(work_dir), map_location='cpu',
                            weights_only=False)
    prefix = 'bbox_head.loss_cls.'
    loss_module.load_state_dict({
        key[len(prefix):]: value
        for key, value in checkpoint['state_dict'].items()
        if key.startswith(prefix)
    })
    return loss_module.gamma


def per_class_table(reports) -> str:
    names = list(reports)
    rows = {}
    for name, report in reports.items():
        for row in report['per_class']['bbox']:
            rows.setdefault(row['category'], dict(row))[name] = row['AP']
    order = sorted(rows.values(), key=lambda r: -r['train_image_count'])
    lines = ['| class | bucket | train images | ' + ' | '.join(names) + ' |',
             '|---|---|---|' + '---|' * len(names)]
    for row in order:
        aps = ' | '.join(f'{100 * row[n]:.1f}' for n in names)
        lines.append(f"| {row['category']} | {row['bucket']} | "
                     f"{row['train_image_count']} | {aps} |")
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--losses', nargs='+', default=list(NAMES),
                        choices=list(NAMES))
    parser.add_argument('--work-root', default='work_dirs/compare')
    parser.add_argument('--out', default='docs/results.md')
    args = parser.parse_args()

    reports, extra = {}, {}
    for loss in args.losses:
        work_dir = osp.join(args.work_root, loss)
        seconds = train(loss, work_dir)
        name = NAMES[loss]
        reports[name] = latest_report(work_dir)
        extra[name] = {'train+eval wall time': f'{seconds / 60:.1f} min'}
        gamma = final_gamma(loss, work_dir)
        if gamma is not None:
            extra[name]['learnt gamma'] = f'{gamma:.3f}'

    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    chart = osp.splitext(args.out)[0] + '_ap_by_bucket.png'
    plot_bucket_bars(reports, chart,
                     'RetinaNet on the embedded long-tailed data')
    machine = (f'{platform.processor() or platform.machine()}, '
               f'{os.cpu_count()} CPU cores, torch {torch.__version__}')
    write_generated_doc(args.out, f'''# FL vs DFL vs CB-FL on the embedded long-tailed dataset

Made by `python tools/compare_losses.py` ({machine}). Each loss trains
`configs/retinanet_<loss>.py`: the same RetinaNet, data (seed 0), schedule
and seed; only the classification loss differs. Box AP (%) on the
validation split (>= 30 instances of every class); rare/common/frequent
use LVIS's thresholds on training images per class. One run (seed 0) per
loss. Wall time is training plus the three evaluations, compilation
included, and depends on what else runs on the machine.

{summary_table(reports, extra)}

![AP by frequency bucket]({osp.basename(chart)})

## Per-class AP (%)

{per_class_table(reports)}
''')
    print(summary_table(reports, extra))
    print(f'wrote {args.out} and {chart}')


if __name__ == '__main__':
    main()
