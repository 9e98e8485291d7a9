"""Fit a score calibrator: ``python tools/calibrate.py CONFIG CHECKPOINT
[--method platt|isotonic|platt_isotonic|focal_entropy|isotonic_agnostic|auto]
[--out PATH]``.

Runs the detector on calibration data, labels its detections with the D-ECE
metric's rule (greedy by score, IoU >= 0.5, crowd regions ignored; D-ECE
over scores >= 0.3 in 10 bins) and LaECE_0's (any overlap, with the IoU),
compares the calibrators cross-fitted on image halves by the D-ECE of a
fixed detection set (the raw scores >= 0.3, before and after: a candidate
cannot shrink its own exam; the class-agnostic isotonic baseline of Kuzucu,
Oksuz et al. is one of them), refits the chosen one on all detections and
writes it as JSON with the raw model's LRP-optimal thresholds (LaECE_0's
detection set; default: next to the checkpoint,
``<checkpoint>.calibration.json``; an existing file is never replaced
without ``--overwrite``). Apply it with
``--cfg-options model.test_cfg.score_calibration=PATH``.

Calibration data:

* the embedded dataset: its ``calib`` split (generated when missing; train
  and val stay as they are);
* COCO, LVIS, your own data: ``--calib-ann-file`` and ``--calib-img-prefix``
  (a held-out part of train, the recommended choice), or ``--cross-fit``:
  val itself, the calibrator compared on image halves and fitted on all of
  val; evaluating it on val is then not held out, so report the
  cross-fitted D-ECE this tool prints, and say so.
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np

from focal_det.calibration import FITTERS
from focal_det.engine import (ConfigOptionsAction, check_datasets,
                              load_config, load_detector)
from focal_det.errors import InvalidCalibrationError, run_reporting_errors
from focal_det.heads import score_calibration_option

METHODS = tuple(FITTERS)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Fit a score calibrator on held-out detections')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--method', default='auto',
                        choices=METHODS + ('auto', ),
                        help='calibrator; auto: the lowest cross-fitted '
                        'fixed-set D-ECE (default)')
    parser.add_argument('--out', help='JSON to write (default: '
                        '<checkpoint>.calibration.json)')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an existing --out file')
    data = parser.add_mutually_exclusive_group()
    data.add_argument('--calib-ann-file',
                      help='COCO annotation file of the calibration images '
                      '(relative to the data root)')
    data.add_argument('--cross-fit', action='store_true',
                      help="fit on the config's test split (val), "
                      'compared by image halves; see the docstring')
    parser.add_argument('--calib-img-prefix',
                        help='image folder of --calib-ann-file (relative to '
                        'the data root)')
    parser.add_argument('--data-root', help="data root (default: the "
                        "config's test dataset's)")
    parser.add_argument('--seeds', type=int, nargs='+',
                        default=[0, 1, 2, 3, 4],
                        help='seeds of the random image halvings the '
                        'cross-fitted D-ECE is averaged over')
    parser.add_argument('--cfg-options', nargs='+',
                        action=ConfigOptionsAction)
    args = parser.parse_args()
    if bool(args.calib_ann_file) != bool(args.calib_img_prefix):
        parser.error('--calib-ann-file and --calib-img-prefix go together')
    return args


def calibration_data(cfg, args):
    """(ann_file, img_prefix, data_root, description) of the data to fit
    on."""
    from focal_det.datasets import ensure_longtail_dataset
    from focal_det.datasets.longtail_calib import (CALIB_SPLIT,
                                                   ensure_calib_split)
    dataset = cfg.test_dataloader.dataset
    data_root = args.data_root or dataset.get('data_root', '')
    if args.calib_ann_file:
        return (args.calib_ann_file, args.calib_img_prefix, data_root,
                'held-out annotations ' + args.calib_ann_file)
    if args.cross_fit:
        return (dataset.ann_file, dataset.data_prefix['img'], data_root,
                'cross-fit on the test split ' + dataset.ann_file +
                ' (not held out: report the cross-fitted D-ECE)')
    embedded = cfg.get('embedded_dataset')
    if not embedded:
        raise ValueError('this config has no calibration split: give '
                         '--calib-ann-file/--calib-img-prefix (a held-out '
                         'part of train) or --cross-fit')
    if osp.normpath(data_root) == osp.normpath(embedded['data_root']):
        ensure_longtail_dataset(**embedded)
    ensure_calib_split(data_root)
    return (f'annotations/{CALIB_SPLIT}.json', f'{CALIB_SPLIT}/', data_root,
            'the embedded calib split')


def loss_parameters(model, num_classes):
    """The trained loss's own inverse map (``method`` and its parameters),
    if it has one."""
    loss = model.bbox_head.loss_cls
    if not hasattr(loss, 'inverse_calibrator'):
        return None
    calibrator = loss.inverse_calibrator(num_classes)
    return dict(method=calibrator.method, **calibrator.params())


def main():
    args = parse_args()
    from focal_det.analysis.calibration_fitting import (
        D_ECE_NUM_BINS, D_ECE_SCORE_THR, best_method, collect_detections,
        compare_methods, fit_calibrator, point_dataset_to,
        raw_lrp_thresholds)
    from focal_det.calibration import save_calibrator
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'file not found: {path}')
    out = args.out or osp.splitext(args.checkpoint)[0] + '.calibration.json'
    if osp.exists(out) and not args.overwrite:
        raise FileExistsError(f'{out} exists; choose another --out or pass '
                              '--overwrite')
    cfg = load_config(args.config, args.cfg_options, 'none')
    calibration = score_calibration_option(cfg.model.get('test_cfg'))
    if calibration is not None:
        raise InvalidCalibrationError(
            'calibrators are fitted on raw scores: remove '
            f'model.test_cfg.score_calibration={calibration} from the '
            'config or the options')
    ann_file, img_prefix, data_root, description = calibration_data(
        cfg, args)
    cfg = point_dataset_to(cfg, ann_file, img_prefix, data_root)
    check_datasets(cfg, ('test_dataloader', ))
    model, _ = load_detector(cfg, args.checkpoint)
    detections = collect_detections(cfg, model)
    num_classes = len(detections['class_names'])
    print(f'{len(detections["scores"])} detections on '
          f'{len(set(detections["image_ids"].tolist()))} images of '
          f'{description}')
    lrp_thresholds = raw_lrp_thresholds(detections)
    comparison = compare_methods(
        detections, METHODS, args.seeds,
        np.array([np.nan if t is None else t
                  for t in lrp_thresholds['per_class']]))
    method = best_method(comparison) if args.method == 'auto' \
        else args.method
    calibrator = fit_calibrator(method, detections)
    focal_entropy = calibrator if method == 'focal_entropy' else \
        fit_calibrator('focal_entropy', detections)
    info = dict(
        data=description, ann_file=detections['ann_file'],
        checkpoint=osp.abspath(args.checkpoint),
        num_detections=int(len(detections['scores'])),
        matching=dict(iou_thr=0.5, score_thr=D_ECE_SCORE_THR,
                      num_bins=D_ECE_NUM_BINS, greedy_by_score=True,
                      crowd='ignored'),
        cross_fitted_d_ece=comparison, selected=args.method,
        selected_by='cross-fitted fixed-set D-ECE (raw score >= '
        f'{D_ECE_SCORE_THR})', lrp_thresholds=lrp_thresholds,
        class_buckets=detections['class_buckets'],
        focal_entropy_fit=focal_entropy.params(),
        loss_parameters=loss_parameters(model, num_classes))
    save_calibrator(calibrator, out, detections['class_names'], info,
                    overwrite=args.overwrite)
    print(json.dumps({m: v['all'] for m, v in comparison.items()},
                     indent=1))
    print(f'fitted focal-entropy map: {focal_entropy.params()}; the loss: '
          f'{info["loss_parameters"]}')
    print(f'wrote {method} calibrator to {out}')


if __name__ == '__main__':
    try:
        run_reporting_errors(main)
    except ValueError as error:  # bad options, data or calibration file
        sys.exit(f'error: {error}')
