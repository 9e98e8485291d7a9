"""Calibration evidence for trained detectors; writes docs/calibration.md.

    python tools/analysis/calibration_report.py [--work-root W] [--seed-dir S]

For each run (default: FL, CB-FL, DFL and EFL of the loss comparison,
``W/<name>/S``, the last checkpoint of each): fits score calibrators on the
embedded dataset's ``calib`` split with tools/calibrate.py (the chosen one
and every candidate, the class-agnostic isotonic baseline among them),
evaluates on val with raw, calibrated (each candidate) and, where the loss
has one, ``score_calibration='loss'`` (the loss's own inverse map) scores:
AP, APr and the thresholded D-ECE from each run, and, on the raw run's own
detections mapped by each candidate, the fixed-set D-ECE (raw score >=
0.3) and LaECE_0 (raw score >= the LRP-optimal thresholds fitted on calib)
with 95 % bootstrap intervals over val images and their detection counts;
reliability diagrams into docs/figures; per-anchor calibration
(tools/analysis/anchor_calibration.py), the curvature of CE vs
FL(gamma) vs DFL (tools/analysis/curvature.py, cached in
docs/figures/curvature.json) and draws the focal-entropy figures. Results
of each run are cached under --cache-dir; --recompute measures again.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
from mmengine.config import Config

from focal_det.analysis.calibrated_scores import (evaluate_scores,
                                                  sampling_d_ece)
from focal_det.analysis.calibration_tables import (bucket_table,
                                                   candidate_table,
                                                   cross_fit_table,
                                                   focal_entropy_table,
                                                   summary_table)
from focal_det.analysis.finished_runs import (last_checkpoint,
                                              write_generated_doc)
from focal_det.analysis.fixed_set_evaluation import (calibrated_scores,
                                                     fixed_set_evaluation,
                                                     recalibrated_scores)
from focal_det.calibration import FITTERS, load_calibrator
from focal_det.evaluation.calibration.diagram import plot_reliability_diagram
from focal_det.evaluation.report_writing import format_number

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: name -> config of the runs the report knows, in table order; the first
#: four (every loss of the comparison) are the default.
RUNS = {
    'fl': 'configs/retinanet_fl.py',
    'cbfl': 'configs/retinanet_cbfl.py',
    'dfl': 'configs/retinanet_dfl.py',
    'efl': 'configs/retinanet_efl.py',
    'cbfl_beta099_ramp': 'configs/variants/retinanet_cbfl_beta099_ramp.py',
}
DEFAULT_RUNS = ('fl', 'cbfl', 'dfl', 'efl')
D_ECE_TARGET = 0.05
#: Detection counts whose sampling-only D-ECE the report states.
SAMPLING_FLOOR_COUNTS = (40, 90, 300, 600, 1000)


def run(args):
    print('+', ' '.join(args), flush=True)
    subprocess.run([sys.executable] + args, cwd=REPO, check=True)


def fitted_calibrator(config, checkpoint, data_root, path, method,
                      refit=False):
    """Fit with tools/calibrate.py unless ``path`` exists (or ``refit``);
    its document."""
    if refit or not osp.isfile(path):
        run(['tools/calibrate.py', config, checkpoint, '--method', method,
             '--out', path, '--data-root', data_root] +
            (['--overwrite'] if refit else []))
    with open(path) as f:
        return json.load(f)


def measure_run(name, config, checkpoint, args):
    """Everything the report needs about one model (cached as JSON)."""
    cache = osp.join(args.cache_dir, name)
    result_path = osp.join(cache, 'evaluation.json')
    if osp.isfile(result_path) and not args.recompute:
        with open(result_path) as f:
            return json.load(f)
    os.makedirs(cache, exist_ok=True)
    chosen = fitted_calibrator(config, checkpoint, args.data_root,
                               osp.join(cache, 'calibration.json'), 'auto',
                               args.recompute)
    info = chosen['info']
    # Every candidate too (the chosen one refitted alike), to show on val
    # what the choice on calib gave up or gained.
    paths = {m: osp.join(cache, f'{m}.json') for m in FITTERS}
    for method, path in paths.items():
        fitted_calibrator(config, checkpoint, args.data_root, path, method,
                          args.recompute)
    scorings = {'raw': None}
    scorings.update({m: dict(score_calibration=p) for m, p in paths.items()})
    if info['loss_parameters'] is not None:
        scorings['recalibrated'] = dict(score_calibration='loss')
    cfg = Config.fromfile(osp.join(REPO, config))
    evaluations = {
        scoring: evaluate_scores(cfg, checkpoint, args.data_root,
                                 osp.join(cache, scoring), test_cfg,
                                 keep_detections=scoring == 'raw')
        for scoring, test_cfg in scorings.items()
    }
    detections = evaluations['raw'].pop('detections')
    # LaECE_0's detections: the raw model's LRP-optimal thresholds on calib.
    thresholds = np.array([np.nan if t is None else t
                           for t in info['lrp_thresholds']['per_class']])
    mapped = {'raw': detections['scores']}
    mapped.update({m: calibrated_scores(detections, load_calibrator(p))
                   for m, p in paths.items()})
    if info['loss_parameters'] is not None:
        mapped['recalibrated'] = recalibrated_scores(
            detections, info['loss_parameters'],
            len(detections['class_names']))
    fixed = {
        scoring: fixed_set_evaluation(detections, scores, thresholds,
                                      args.bootstrap)
        for scoring, scores in mapped.items()
    }
    result = dict(name=name, config=config, method=chosen['method'],
                  cross_fitted=info['cross_fitted_d_ece'],
                  lrp_thresholds=info['lrp_thresholds'],
                  focal_entropy_fit=info['focal_entropy_fit'],
                  loss_parameters=info['loss_parameters'],
                  raw=evaluations['raw'],
                  calibrated=evaluations[chosen['method']],
                  recalibrated=evaluations.get('recalibrated'),
                  candidates={m: evaluations[m] for m in FITTERS},
                  fixed=fixed)
    if info['loss_parameters'] is not None:
        anchors = osp.join(cache, 'anchors.json')
        run(['tools/analysis/anchor_calibration.py', config, checkpoint,
             '--out', anchors])
        with open(anchors) as f:
            result['anchors'] = json.load(f)
    with open(result_path, 'w') as f:
        json.dump(result, f, indent=1)
    return result


def draw_diagrams(row, figures):
    """Reliability diagrams of one model; their paths relative to docs/."""
    paths = {}
    for scoring in ('raw', 'calibrated', 'recalibrated'):
        if row.get(scoring) is None:
            continue
        path = osp.join(figures, f"reliability_{row['name']}_{scoring}.png")
        plot_reliability_diagram(row[scoring]['bins'],
                                 row[scoring]['d_ece']['all']['d_ece'], 0.3,
                                 path)
        paths[scoring] = osp.relpath(path, osp.dirname(figures))
    return paths


def _hit_rate(bins, lower: float) -> str:
    """Fraction of positive anchor-class pairs in the bin starting at
    ``lower`` (the bin's ``precision``), two decimals."""
    row = next(b for b in bins if abs(b['lower'] - lower) < 1e-9)
    return format_number(row['precision'], decimals=2, missing='n/a')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-root', default='work_dirs/compare',
                        help="the loss comparison's work dirs "
                        '(tools/compare_losses.py)')
    parser.add_argument('--seed-dir', default='seed0',
                        help='folder of the run inside W/<name>')
    parser.add_argument('--runs', nargs='+', default=list(DEFAULT_RUNS),
                        choices=list(RUNS))
    parser.add_argument('--bootstrap', type=int, default=1000,
                        help='image resamples of the 95 %% intervals')
    parser.add_argument('--data-root', default='data/longtail_synth',
                        help='the embedded dataset the runs trained on; its '
                        'calib split is added when missing')
    parser.add_argument('--cache-dir', default='work_dirs/calibration_report')
    parser.add_argument('--recompute', action='store_true',
                        help='fit and measure again even where results are '
                        'cached (needed for caches of an older report)')
    parser.add_argument('--out', default='docs/calibration.md')
    parser.add_argument('--curvature-batches', type=int, default=1)
    parser.add_argument('--recompute-curvature', action='store_true',
                        help='measure the curvature again, at the FL run, '
                        'even if curvature.json exists (about 10 minutes)')
    args = parser.parse_args()
    figures = osp.join(osp.dirname(args.out), 'figures')
    os.makedirs(figures, exist_ok=True)
    rows = []
    for name in args.runs:
        run_dir = osp.join(args.work_root, name, args.seed_dir)
        if not osp.isfile(osp.join(run_dir, 'run.json')):
            sys.exit(f'error: {run_dir} has no run.json: the run has not '
                     'finished')
        row = measure_run(name, RUNS[name], last_checkpoint(run_dir), args)
        row['diagrams'] = draw_diagrams(row, figures)
        rows.append(row)
    curvature_json = osp.join(figures, 'curvature.json')
    if args.recompute_curvature or not osp.isfile(curvature_json):
        fl_run = osp.join(args.work_root, 'fl', args.seed_dir)
        run([
            'tools/analysis/curvature.py', RUNS['fl'],
            last_checkpoint(fl_run), '--batches',
            str(args.curvature_batches), '--out-dir', figures
        ])
    with open(curvature_json) as f:
        curvature = json.load(f)
    run(['tools/analysis/focal_entropy.py', '--out-dir', figures])
    write_report(args, rows, curvature, figures)
    print(f'wrote {args.out}')


def shown_path(path):
    """``path`` relative to the repository, or ``WORK_ROOT`` when it lies
    outside: a generated doc names no path of this machine."""
    relative = osp.relpath(osp.abspath(path), REPO)
    return 'WORK_ROOT' if relative.startswith('..') else relative


def write_report(args, rows, curvature, figures):
    diagrams = [
        f"| {row['name']} | " + ' | '.join(
            f"![]({row['diagrams'][s]})" if s in row['diagrams'] else 'n/a'
            for s in ('raw', 'calibrated', 'recalibrated')) + ' |'
        for row in rows
    ]
    anchor_table = [
        '| model | anchor ECE, scores >= 0.1, raw | recalibrated | '
        'hit rate of raw scores in [0.5, 0.55) | in [0.95, 1] |',
        '|---|---|---|---|---|'
    ]
    for row in rows:
        anchors = row.get('anchors')
        if anchors is None:
            continue
        bins = anchors['raw']['bins']
        anchor_table.append(
            f"| {row['name']} | {anchors['raw']['ece_above_0_1']:.3f} | "
            f"{anchors['recalibrated']['ece_above_0_1']:.3f} | "
            f"{_hit_rate(bins, 0.5)} | {_hit_rate(bins, 0.95)} |")
    curvature_table = ['| loss at the FL checkpoint | loss value | top '
                       'Hessian eigenvalue | Hessian trace |',
                       '|---|---|---|---|']
    for name, row in curvature.items():
        curvature_table.append(
            f"| {name} | {row['loss']:.4f} | {row['top_eigenvalue']:.4f} | "
            f"{row['trace']:.3f} |")
    figure_links = '\n'.join(
        f'![{osp.basename(p)}](figures/{osp.basename(p)})'
        for p in sorted(glob.glob(osp.join(figures, 'focal_entropy_*.png'))))
    runs = ', '.join(f"`{row['name']}`" for row in rows)
    floor = {n: sampling_d_ece(n) for n in SAMPLING_FLOOR_COUNTS}
    write_generated_doc(
        args.out,
        CALIBRATION_TEMPLATE.format(
            runs=runs, work_root=shown_path(args.work_root),
            seed_dir=args.seed_dir, bootstrap=args.bootstrap,
            floor_counts=' / '.join(str(n) for n in floor),
            floor_values=' / '.join(f'{v:.3f}' for v in floor.values()),
            target=D_ECE_TARGET,
            summary_table=summary_table(rows, D_ECE_TARGET),
            bucket_table=bucket_table(rows),
            cross_fit_table=cross_fit_table(rows, tuple(FITTERS)),
            candidate_table=candidate_table(rows, tuple(FITTERS)),
            focal_entropy_table=focal_entropy_table(rows),
            diagram_rows='\n'.join(diagrams),
            anchor_table='\n'.join(anchor_table),
            curvature_table='\n'.join(curvature_table),
            focal_entropy_figures=figure_links))


CALIBRATION_TEMPLATE = '''# Calibration and focal-loss theory, measured

Made by `python tools/analysis/calibration_report.py --work-root
{work_root}` (RetinaNet on the embedded long-tailed data; runs {runs}, each
`<name>/{seed_dir}` of the loss comparison, its last checkpoint). The
tables and figures are written by that command; the reading of them ("What
the numbers say", below the hand-written marker) is added by hand and kept
when the file is regenerated.

Three measures, each with the number of detections it rests on in brackets:

- **Fixed-set D-ECE**: the D-ECE of Kueppers et al. (2020) (10 bins over
  [0.3, 1], continued below 0.3 at the same width; each bin's precision,
  greedy matching at IoU >= 0.5, crowd ignored, against its mean
  confidence, weighted by its count) over the detections whose **raw**
  score is >= 0.3, with their raw and with their calibrated scores.
- **LaECE_0**: the localisation-aware ECE of Kuzucu, Oksuz et al. (ECCV
  2024): per class, 25 bins over [0, 1], each bin's mean confidence against
  the mean IoU of its detections with their objects (0 for a detection on
  no object; a true positive needs any overlap, tau = 0), weighted by the
  bin's count, averaged over the classes. Its detections are fixed too:
  raw score >= the class's LRP-optimal threshold of the raw model, fitted
  on the calib split.
- **Thresholded D-ECE** (as Kueppers et al., Cal-DETR and BPC report it):
  over the detections scored >= 0.3 *after* calibration, in the
  calibrated model's own run; for comparison only.

Intervals: 95 % percentiles of {bootstrap} resamples of the val images.
A perfectly calibrated detector measured on {floor_counts}
detections (scores spread evenly over [0.3, 1]) shows a D-ECE of about
{floor_values} from sampling alone.

## Calibrated scores: calibrators fitted on the calib split

`python tools/calibrate.py CONFIG CHECKPOINT` runs the detector on the
embedded dataset's `calib` split (drawn like val from its own random
streams; never trained or evaluated on), labels every detection (down to
the model's score threshold 0.01) with the metric's matching, and fits the
candidates: per-class Platt scaling shrunk toward its frequency bucket's
and the global fit (`platt`), isotonic regression per bucket (`isotonic`),
Platt followed by one isotonic map (`platt_isotonic`), the focal-entropy
inverse map with gamma and alpha fitted (`focal_entropy`) and the
class-agnostic isotonic regression of Kuzucu, Oksuz et al.
(`isotonic_agnostic`), the baseline the others have to beat. All but the
baseline are strictly increasing per class, so the ranking within a class
is unchanged; the baseline's flat steps can tie detections. `--method
auto` picks the lowest fixed-set D-ECE cross-fitted on the calib split
(fit on one half of its images, measured on the other, both ways,
averaged over 5 random halvings) and refits it on all of calib. Applied
with `--cfg-options model.test_cfg.score_calibration=FILE` before the
score threshold, top-k and NMS (AP, APr and the thresholded D-ECE come
from that run); the fixed-set numbers apply the same file to the raw
run's detections. Below, everything is measured on val.

{summary_table}

Per frequency bucket (rare / common / frequent by training images, as
APr/APc/APf), fixed-set D-ECE:

{bucket_table}

The candidates on the calib split (cross-fitted fixed-set D-ECE with its
detections; LaECE_0):

{cross_fit_table}

The same candidates on val (not used for the choice):

{candidate_table}

| model | reliability, raw | calibrated | recalibrated (loss's own inverse map) |
|---|---|---|---|
{diagram_rows}

## The focal-entropy inverse map: the loss's own parameters or fitted

`model.test_cfg.score_calibration=loss` maps scores through the inverse of
the trained loss's focal-entropy minimiser with the loss's own gamma and
alpha (per class for CB-FL; DFL has its own inverse; EFL has none): the
same calibrator mechanism as a fitted file, with the loss's parameters.
The same family with gamma and alpha fitted on calib is the
`focal_entropy` candidate above.

{focal_entropy_table}

## Per-anchor calibration: the event the theory is about

`python tools/analysis/anchor_calibration.py CONFIG CHECKPOINT`: every
validation anchor labelled by the head's own assigner (the training
targets; ignored anchors left out), and each (anchor, class) sigmoid score
compared with its label in 20 equal-width bins. Over all 35.6 million pairs
the ECE is tiny for every model: almost all pairs are certain negatives.
The table uses the pairs with score >= 0.1 (models with an inverse map).

{anchor_table}

## Curvature: CE vs FL vs DFL

`python tools/analysis/curvature.py configs/retinanet_fl.py CHECKPOINT`:
the classification loss of one training batch (8 images) at FL-trained
parameters (batch-norm frozen), with the head's loss swapped; top Hessian
eigenvalue by power iteration on Hessian-vector products (at most 15 steps,
through the fused kernel's closed-form second derivative) and Hutchinson's
trace estimate (6 Rademacher samples, so the trace is good to a few tens of
per cent). CE and FL use no alpha, so they differ only in gamma. Cached in
docs/figures/curvature.json: these values were measured at the 36-epoch FL
checkpoint of the earlier comparison; `--recompute-curvature` measures them
at this report's FL run.

{curvature_table}

![curvature](figures/curvature.png)

## Focal-entropy minimiser

`python tools/analysis/focal_entropy.py --out-dir docs/figures`; the
derivations are in `focal_det/theory/focal.py` and
[focal_entropy.md](focal_entropy.md).

{focal_entropy_figures}
'''

if __name__ == '__main__':
    main()
