"""Train every loss with several seeds on the embedded data and compare them.

    python tools/compare_losses.py                      # FL, CB-FL, DFL, EFL x seeds 0 1 2
    python tools/compare_losses.py --configs configs/variants/*.py --seeds 0 1 2

Every (config, seed) pair trains in its own process into
``<work-root>/<name>/seed<k>`` (``name``: the config file's name without
``retinanet_``), with ``--cfg-options randomness.seed=k`` and the shortened
schedule below. A pair whose work dir holds ``run.json`` has finished and
is reused, so an interrupted sweep continues where it stopped. The tables
(mean ± sd over seeds, paired differences to FL with 95 % intervals,
per-class AP averaged over seeds, a chart with error bars) go to ``--out``
with the command that made them.
"""
import argparse
import json
import os
import os.path as osp
import platform
import shlex
import subprocess
import sys
import time
from typing import Dict, List

import torch
from mmengine.config import Config

from focal_det.analysis.finished_runs import (last_checkpoint,
                                              newest_run_file,
                                              write_generated_doc)
from focal_det.analysis.seed_comparison import (mean_and_sd, paired_table,
                                                per_class_mean_table,
                                                per_seed_table,
                                                plot_bucket_error_bars,
                                                run_metrics, spread_table)
from focal_det.engine import load_detector
from focal_det.loss_names import DETECTION_LOSSES, FL, display_name

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEFAULT_CONFIGS = [
    osp.join('configs', f'retinanet_{kind}.py') for kind in DETECTION_LOSSES
]
RUN_RECORD = 'run.json'


def run_name(config: str) -> str:
    """'cbfl' for configs/retinanet_cbfl.py, 'cbfl_ramp' for a variant."""
    stem = osp.splitext(osp.basename(config))[0]
    return stem[len('retinanet_'):] if stem.startswith('retinanet_') else stem


def schedule_options(epochs: int) -> List[str]:
    """Shorten the embedded configs' cosine schedule to ``epochs``."""
    return [
        f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
        f'param_scheduler.1.end={epochs}'
    ]


def train(config: str, seed: int, work_dir: str, epochs: int,
          threads: int) -> dict:
    """Train one (config, seed) pair unless it finished; return its record."""
    record_path = osp.join(work_dir, RUN_RECORD)
    if osp.isfile(record_path):
        with open(record_path) as f:
            return json.load(f)
    command = [
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'), config, '--work-dir', work_dir,
        '--resume', '--cfg-options', f'randomness.seed={seed}'
    ] + schedule_options(epochs)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=REPO)
    record = dict(config=config, seed=seed, epochs=epochs,
                  seconds=time.perf_counter() - start,
                  command=shlex.join(command[1:]))
    with open(record_path, 'w') as f:
        json.dump(record, f, indent=1)
    return record


def read_run(config: str, work_dir: str) -> dict:
    """Metrics, per-class rows and the final loss parameters of a run.

    The parameters are what the trained loss reports for the log line
    (``logged_parameters``: DFL's learnt gamma, EFL's per-class gammas),
    read from the final checkpoint.
    """
    with open(newest_run_file(work_dir, 'long_tail_metrics.json')) as f:
        long_tail = json.load(f)
    try:
        with open(newest_run_file(work_dir, 'calibration_metrics.json')) as f:
            calibration = json.load(f)
    except FileNotFoundError:
        calibration = None
    model, _ = load_detector(Config.fromfile(config), last_checkpoint(work_dir))
    return dict(metrics=run_metrics(long_tail, calibration),
                per_class=long_tail['per_class']['bbox'],
                parameters=model.bbox_head.loss_cls.logged_parameters())


def parameter_note(runs: List[dict]) -> str:
    """'learnt gamma 1.63 ± 0.05' for DFL, EFL's mean and largest class gamma."""
    notes = []
    for key, label in (('gamma', 'learnt gamma'),
                       ('efl_gamma_mean', 'mean class gamma'),
                       ('efl_gamma_max', 'largest class gamma')):
        values = [run['parameters'][key] for run in runs
                  if key in run['parameters']]
        if values:
            mean, sd = mean_and_sd(values)
            notes.append(f'{label} {mean:.2f}' +
                         ('' if sd != sd else f' ± {sd:.2f}'))
    return '; '.join(notes)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--configs', nargs='+', default=DEFAULT_CONFIGS,
                        help='configs to compare (the first FL one is the '
                        'reference of the paired differences)')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--epochs', type=int, default=12,
                        help='training epochs (the configs say 36)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='trainings at a time; each gets cores/jobs '
                        'OpenMP threads')
    parser.add_argument('--work-root', default='work_dirs/compare')
    parser.add_argument('--out', default='docs/results.md')
    parser.add_argument('--title', default='Losses on the embedded '
                        'long-tailed dataset')
    args = parser.parse_args()
    if len(args.seeds) < 1 or args.epochs < 1 or args.jobs < 1:
        parser.error('--seeds, --epochs and --jobs need positive values')
    for config in args.configs:
        if not osp.isfile(osp.join(REPO, config)) and not osp.isfile(config):
            parser.error(f'config not found: {config}')

    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    pairs = [(seed, config) for seed in args.seeds for config in args.configs]
    work_dir = {(seed, config): osp.join(args.work_root, run_name(config),
                                         f'seed{seed}')
                for seed, config in pairs}
    records: Dict = {}
    if args.jobs == 1:
        for seed, config in pairs:
            records[seed, config] = train(config, seed, work_dir[seed, config],
                                          args.epochs, threads)
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = {
                pair: pool.submit(train, pair[1], pair[0], work_dir[pair],
                                  args.epochs, threads) for pair in pairs
            }
            records = {pair: f.result() for pair, f in futures.items()}

    runs, per_class, notes, minutes = {}, {}, {}, {}
    for config in args.configs:
        name = display_name(run_name(config))
        loaded = [read_run(config, work_dir[seed, config])
                  for seed in args.seeds]
        runs[name] = {seed: run['metrics']
                      for seed, run in zip(args.seeds, loaded)}
        per_class[name] = [run['per_class'] for run in loaded]
        notes[name] = parameter_note(loaded)
        minutes[name] = sum(records[seed, config]['seconds']
                            for seed in args.seeds) / 60
    reference = next((display_name(run_name(c)) for c in args.configs
                      if run_name(c) == FL), next(iter(runs)))

    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    chart = osp.splitext(args.out)[0] + '_ap_by_bucket.png'
    plot_bucket_error_bars(runs, chart, args.title)
    machine = (f'{platform.processor() or platform.machine()}, '
               f'{os.cpu_count()} CPU cores, torch {torch.__version__}')
    command = shlex.join(['python', 'tools/compare_losses.py'] + sys.argv[1:])
    total = sum(minutes.values())
    write_generated_doc(args.out, f'''# {args.title}

Made by `{command}` ({machine}; {total:.0f} min of training and
evaluation in all, {args.jobs} at a time). Each (config, seed) pair trains
with `--cfg-options randomness.seed=SEED {' '.join(schedule_options(args.epochs))}`:
the same data, schedule and seeds for every loss; only the classification
loss differs. Box AP (%) on the validation split (>= 30 instances of every
class); rare/common/frequent use LVIS's thresholds on training images per
class. D-ECE: detection calibration error (IoU >= 0.5, score >= 0.3, 10
bins). Run times per loss (all seeds): {', '.join(f'{n} {m:.0f} min' for n, m in minutes.items())}.

## Mean ± sd over seeds

{spread_table(runs, notes)}

## Paired difference to {reference} (same seed), mean [95 % t interval]

{paired_table(runs, reference)}

An interval that contains 0 means the seeds do not tell the two apart.

![AP by frequency bucket, mean ± sd over seeds]({osp.basename(chart)})

## Every run

{per_seed_table(runs)}

## Per-class AP (%), mean ± sd over seeds

{per_class_mean_table(per_class)}
''')
    print(spread_table(runs, notes))
    print(paired_table(runs, reference))
    print(f'wrote {args.out} and {chart}')


if __name__ == '__main__':
    main()
