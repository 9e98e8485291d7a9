"""Calibration evidence for the trained FL / DFL / CB-FL detectors.

    python tools/analysis/calibration_report.py      # after tools/compare_losses.py

For each comparison run (work_dirs/compare/<loss>), evaluates its last
checkpoint with tools/test.py twice, with and without
``model.test_cfg.recalibrate_scores``, and collects D-ECE, AP and the
reliability diagrams; measures the curvature of CE vs FL(gamma) vs DFL at
the FL checkpoint (tools/analysis/curvature.py); and writes
docs/calibration.md with the focal-entropy figures
(tools/analysis/focal_entropy.py).
"""
import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

from focal_det.evaluation import (last_checkpoint, newest_run_file,
                                  write_generated_doc)
from focal_det.evaluation.calibration import (
    DIAGRAM_FILE_NAME, REPORT_FILE_NAME as CALIBRATION_REPORT_FILE_NAME)
from focal_det.evaluation.long_tail import (
    REPORT_FILE_NAME as LONG_TAIL_REPORT_FILE_NAME)
from focal_det.evaluation.report_writing import (format_number,
                                                  format_percent)
from focal_det.loss_names import CBFL, DFL, FL, display_name

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The comparison runs of tools/compare_losses.py, in table order.
LOSSES = (FL, DFL, CBFL)


def run(args):
    print('+', ' '.join(args), flush=True)
    subprocess.run([sys.executable] + args, cwd=REPO, check=True)


def evaluate(loss: str, checkpoint: str, work_dir: str, recalibrate: bool,
             figures: str) -> dict:
    """Test one checkpoint; return AP, D-ECE and the diagram's path."""
    if not glob.glob(osp.join(work_dir, '*', CALIBRATION_REPORT_FILE_NAME)):
        run([
            'tools/test.py', f'configs/retinanet_{loss}.py', checkpoint,
            '--work-dir', work_dir, '--cfg-options',
            f'model.test_cfg.recalibrate_scores={recalibrate}'
        ])
    with open(newest_run_file(work_dir, CALIBRATION_REPORT_FILE_NAME)) as f:
        calibration = json.load(f)
    with open(newest_run_file(work_dir, LONG_TAIL_REPORT_FILE_NAME)) as f:
        overall = json.load(f)['overall']
    tag = 'recalibrated' if recalibrate else 'raw'
    diagram = osp.join(figures, f'reliability_{loss}_{tag}.png')
    shutil.copyfile(newest_run_file(work_dir, DIAGRAM_FILE_NAME), diagram)
    return dict(d_ece=calibration['d_ece'],
                detections=calibration['num_detections'],
                ap=overall['bbox_mAP'], apr=overall['bbox_APr'],
                diagram=osp.relpath(diagram, osp.dirname(figures)))


def _hit_rate(bins, lower: float) -> str:
    """Fraction of positive anchor-class pairs in the bin starting at
    ``lower`` (the bin's ``precision``), two decimals."""
    row = next(b for b in bins if abs(b['lower'] - lower) < 1e-9)
    return format_number(row['precision'], decimals=2, missing='n/a')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--work-root', default='work_dirs/compare')
    parser.add_argument('--losses', nargs='+', default=list(LOSSES))
    parser.add_argument('--out', default='docs/calibration.md')
    parser.add_argument('--curvature-batches', type=int, default=1)
    parser.add_argument('--recompute-curvature', action='store_true',
                        help='measure the curvature again even if '
                        'curvature.json exists (about 10 minutes)')
    args = parser.parse_args()
    figures = osp.join(osp.dirname(args.out), 'figures')
    os.makedirs(figures, exist_ok=True)

    rows = []
    for loss in args.losses:
        checkpoint = last_checkpoint(osp.join(args.work_root, loss))
        results = {
            recalibrate: evaluate(
                loss, checkpoint,
                osp.join(args.work_root, 'calibration',
                         f'{loss}_{"recalibrated" if recalibrate else "raw"}'),
                recalibrate, figures)
            for recalibrate in (False, True)
        }
        anchor_json = osp.join(args.work_root, 'calibration',
                               f'{loss}_anchors.json')
        run([
            'tools/analysis/anchor_calibration.py',
            f'configs/retinanet_{loss}.py', checkpoint, '--out', anchor_json
        ])
        with open(anchor_json) as f:
            results['anchors'] = json.load(f)
        rows.append((loss, results))

    curvature_json = osp.join(figures, 'curvature.json')
    if args.recompute_curvature or not osp.isfile(curvature_json):
        run([
            'tools/analysis/curvature.py', 'configs/retinanet_fl.py',
            last_checkpoint(osp.join(args.work_root, 'fl')), '--batches',
            str(args.curvature_batches), '--out-dir', figures
        ])
    with open(curvature_json) as f:
        curvature = json.load(f)
    run(['tools/analysis/focal_entropy.py', '--out-dir', figures])
    write_report(args, rows, curvature, figures)
    print(f'wrote {args.out}')


def write_report(args, rows, curvature, figures):
    calibration_table = [
        '| loss | D-ECE raw | D-ECE recalibrated | detections >= 0.3 raw '
        '/ recal. | AP raw | AP recal. | APr raw | APr recal. |',
        '|---|---|---|---|---|---|---|---|'
    ]
    diagrams = []
    for loss, results in rows:
        raw, recal = results[False], results[True]
        calibration_table.append(
            f"| {display_name(loss)} | {raw['d_ece']:.3f} | "
            f"{recal['d_ece']:.3f} | "
            f"{raw['detections']} / {recal['detections']} | "
            f"{format_percent(raw['ap'])} | {format_percent(recal['ap'])} | "
            f"{format_percent(raw['apr'])} | "
            f"{format_percent(recal['apr'])} |")
        diagrams.append(f"| {display_name(loss)} | ![]({raw['diagram']}) | "
                        f"![]({recal['diagram']}) |")
    anchor_table = [
        '| loss | anchor ECE, scores >= 0.1, raw | recalibrated | '
        'hit rate of raw scores in [0.5, 0.55) | in [0.95, 1] |',
        '|---|---|---|---|---|'
    ]
    for loss, results in rows:
        anchors = results['anchors']
        bins = anchors['raw']['bins']
        anchor_table.append(
            f"| {display_name(loss)} | "
            f"{anchors['raw']['ece_above_0_1']:.3f} | "
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
    write_generated_doc(
        args.out,
        CALIBRATION_TEMPLATE.format(
            calibration_table='\n'.join(calibration_table),
            anchor_table='\n'.join(anchor_table),
            diagram_rows='\n'.join(diagrams),
            curvature_table='\n'.join(curvature_table),
            focal_entropy_figures=figure_links))


CALIBRATION_TEMPLATE = '''# Calibration and focal-loss theory, measured

Made by `python tools/analysis/calibration_report.py` after
`python tools/compare_losses.py` (RetinaNet, embedded long-tailed data,
36 epochs per loss). The tables and figures are written by that command;
the reading of them ("What the numbers say", below the hand-written
marker) is added by hand and kept when the file is regenerated.

## D-ECE before and after score recalibration

Detection expected calibration error (Kueppers et al. 2020): detections
with score >= 0.3 in 10 equal-width confidence bins, precision of each bin
(matched at IoU >= 0.5) against its mean confidence. *Recalibrated* maps
each class score through the inverse of the loss's focal-entropy minimiser
(`--cfg-options model.test_cfg.recalibrate_scores=True`; see
`focal_det/analysis/recalibration.py`). AP is box AP (%) on the same
validation split; the per-class ranking is unchanged, so AP only moves
through the score threshold (0.01) and the per-image top-100.

{calibration_table}

| loss | reliability, raw scores | reliability, recalibrated |
|---|---|---|
{diagram_rows}

## Per-anchor calibration: the event the theory is about

`python tools/analysis/anchor_calibration.py CONFIG CHECKPOINT`: every
validation anchor labelled by the head's own assigner (the training
targets; ignored anchors left out), and each (anchor, class) sigmoid score
compared with its label in 20 equal-width bins. Over all 35.6 million pairs
the ECE is 2.0e-4 to 3.3e-4 for every model: almost all pairs are certain
negatives. The table uses the pairs with score >= 0.1.

{anchor_table}

## Curvature: CE vs FL vs DFL

`python tools/analysis/curvature.py configs/retinanet_fl.py CHECKPOINT`:
the classification loss of one training batch (8 images) at the FL-trained
parameters (batch-norm frozen), with the head's loss swapped; top Hessian
eigenvalue by power iteration on Hessian-vector products (at most 15 steps,
through the fused kernel's closed-form second derivative) and Hutchinson's
trace estimate (6 Rademacher samples, so the trace is good to a few tens of
per cent). CE and FL use no alpha, so they differ only in
gamma.

{curvature_table}

![curvature](figures/curvature.png)

## Focal-entropy minimiser

`python tools/analysis/focal_entropy.py --out-dir docs/figures`; the
derivations are in `focal_det/analysis/focal_entropy.py` and
[focal_entropy.md](focal_entropy.md).

{focal_entropy_figures}
'''

if __name__ == '__main__':
    main()
