"""Export a detector: ``python tools/export.py CONFIG CHECKPOINT --format
onnx|torchscript --out FILE [--shape H W] [--dynamic] [--opset N]
[--verify [--verify-images IMG ...]] [--cfg-options K=V ...]``.

Writes FILE (the network: image in, per-level class logits and box deltas
out) and FILE.json (everything ``focal_det.deploy.runtime`` needs to turn
those outputs into detections). See docs/deploy.md.
"""
import argparse
import os
import os.path as osp

import torch

from focal_det.deploy.export import (DEFAULT_OPSET, MODEL_FORMATS,
                                     export_detector)
from focal_det.deploy.metadata import sidecar_path
from focal_det.deploy.preprocess import load_image
from focal_det.deploy.verify import verification_images, verify_export
from focal_det.engine import ConfigOptionsAction, load_config
from focal_det.errors import run_reporting_errors


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export RetinaNet (backbone + neck + head) to ONNX or '
        'TorchScript, with a JSON sidecar for the numpy runtime')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint matching the config')
    parser.add_argument('--format', required=True, choices=MODEL_FORMATS)
    parser.add_argument('--out', required=True,
                        help='model file to write (FILE.json is written '
                        'next to it)')
    parser.add_argument('--shape', nargs=2, type=int, metavar=('H', 'W'),
                        help='network input size; default: the test '
                        "pipeline's Resize scale, padded, square")
    parser.add_argument('--dynamic', action='store_true',
                        help='accept any input size (ONNX dynamic axes); '
                        'images are then padded only to the size divisor, '
                        'as mmdet does')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help=f'ONNX opset (default {DEFAULT_OPSET})')
    parser.add_argument('--verify', action='store_true',
                        help='compare the exported model with PyTorch and '
                        'mmdet; exit 1 on a mismatch')
    parser.add_argument('--verify-images', nargs='+', metavar='IMAGE',
                        help='images for --verify (default: seeded random '
                        'images of the input size)')
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU threads (default 1)')
    parser.add_argument('--cfg-options', nargs='+',
                        action=ConfigOptionsAction,
                        help='override config settings, key=value (e.g. '
                        'model.test_cfg.score_calibration=FILE.json)')
    return parser.parse_args()


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'file not found: {path}')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    metadata, detector = export_detector(
        load_config(args.config, args.cfg_options, 'none'), args.checkpoint,
        args.format, args.out, tuple(args.shape) if args.shape else None,
        args.dynamic, args.opset)
    print(f'wrote {args.out} and {sidecar_path(args.out)} '
          f'(input {metadata["input"]["shape"]}, '
          f'{"dynamic" if args.dynamic else "fixed"} size)')
    if args.verify:
        if args.verify_images:
            images = [(path, load_image(path))
                      for path in args.verify_images]
        else:
            images = verification_images(
                metadata['input']['shape'][2:], args.dynamic,
                metadata['preprocess']['pad_size_divisor'])
        report = verify_export(args.out, detector, images,
                               num_threads=args.threads)
        print('verified:\n' + report.describe())


if __name__ == '__main__':
    run_reporting_errors(main)
