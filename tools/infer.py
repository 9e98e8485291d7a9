"""Detect objects in images and draw them.

    python tools/infer.py CONFIG CHECKPOINT IMAGE [IMAGE ...] [options]
    python tools/infer.py --model FILE.onnx IMAGE [IMAGE ...] [options]

The first form runs the PyTorch model with mmdet; the second an exported
model (with FILE.onnx.json next to it) through focal_det.deploy.runtime,
which needs neither mmdet nor torch for ONNX files. Both write
OUT_DIR/detections.json (per image: boxes x1,y1,x2,y2 in original pixels,
labels, class names, scores) and one PNG per image with the boxes drawn.
"""
import argparse
import json
import os
import os.path as osp
import sys

from focal_det.deploy.drawing import auto_upscale, draw_detections
from focal_det.deploy.preprocess import load_image
from focal_det.deploy.runtime import ExportedDetector
from focal_det.errors import run_reporting_errors


def parse_args():
    parser = argparse.ArgumentParser(
        description='Detect objects with a config + checkpoint (mmdet) or an '
        'exported model (--model), write JSON and drawings',
        usage='%(prog)s CONFIG CHECKPOINT IMAGE [IMAGE ...] [options]\n'
        '       %(prog)s --model FILE IMAGE [IMAGE ...] [options]')
    parser.add_argument('inputs', nargs='+',
                        help='CONFIG CHECKPOINT IMAGES..., or IMAGES... with '
                        '--model')
    parser.add_argument('--model',
                        help='exported .onnx or TorchScript file (its .json '
                        'sidecar next to it)')
    parser.add_argument('--out-dir', default='work_dirs/infer',
                        help='where detections.json and the PNGs go '
                        '(default work_dirs/infer)')
    parser.add_argument('--score-thr', type=float,
                        help="detection score threshold (default: the "
                        "model's test_cfg.score_thr)")
    parser.add_argument('--draw-thr', type=float, default=0.3,
                        help='draw only detections scoring at least this '
                        '(default 0.3; the JSON has them all)')
    parser.add_argument('--upscale', type=int,
                        help='whole enlargement factor of the drawings '
                        '(default: up to 512 px on the longer side)')
    parser.add_argument('--threads', type=int, default=1,
                        help='CPU threads (default 1)')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE',
                        help='with CONFIG CHECKPOINT: override config '
                        'settings, key=value (e.g. '
                        'model.test_cfg.score_calibration=FILE.json)')
    args = parser.parse_args()
    if args.model is not None and args.cfg_options:
        parser.error('--cfg-options applies to CONFIG CHECKPOINT; an '
                     'exported model carries its settings in its sidecar')
    if args.model is None and len(args.inputs) < 3:
        parser.error('give CONFIG CHECKPOINT IMAGE..., or --model FILE '
                     'IMAGE...')
    return args


def open_detector(args):
    """The detector and the image paths the arguments name."""
    if args.model is not None:
        return (ExportedDetector(args.model, args.score_thr, args.threads),
                args.inputs)
    # Only this form needs torch and mmdet.
    import torch

    from focal_det.deploy.pytorch_model import PytorchDetector
    from focal_det.engine import load_config
    torch.set_num_threads(args.threads)
    config, checkpoint, *images = args.inputs
    for path in (config, checkpoint):
        if not osp.isfile(path):
            raise FileNotFoundError(f'file not found: {path}')
    return (PytorchDetector(
        load_config(config, parse_config_options(args.cfg_options), 'none'),
        checkpoint, args.score_thr), images)


def parse_config_options(items):
    """``--cfg-options`` as mmengine reads them (kept as strings until the
    config form is used: the exported form needs no mmengine)."""
    if not items:
        return None
    from focal_det.engine import ConfigOptionsAction
    parser = argparse.ArgumentParser(prog='tools/infer.py')
    parser.add_argument('--cfg-options', nargs='+',
                        action=ConfigOptionsAction)
    return parser.parse_args(['--cfg-options', *items]).cfg_options


#: What an IMAGE argument that is a folder expands to.
IMAGE_SUFFIXES = ('.bmp', '.jpeg', '.jpg', '.png', '.tif', '.tiff', '.webp')


def expand_image_paths(arguments):
    """The image files named: a folder stands for its images (sorted)."""
    paths = []
    for argument in arguments:
        if osp.isdir(argument):
            found = sorted(
                osp.join(argument, name) for name in os.listdir(argument)
                if name.lower().endswith(IMAGE_SUFFIXES))
            if not found:
                raise FileNotFoundError(
                    f'no images ({", ".join(IMAGE_SUFFIXES)}) in folder '
                    f'{argument}')
            paths += found
        else:
            paths.append(argument)
    return paths


def drawing_path(out_dir: str, image_path: str, used: set) -> str:
    """``OUT_DIR/<image name>.png``, numbered when two images share a name."""
    stem = osp.splitext(osp.basename(image_path))[0]
    name, number = stem, 1
    while name in used:
        name, number = f'{stem}_{number}', number + 1
    used.add(name)
    return osp.join(out_dir, name + '.png')


def main():
    args = parse_args()
    detector, image_arguments = open_detector(args)
    image_paths = expand_image_paths(image_arguments)
    os.makedirs(args.out_dir, exist_ok=True)
    results, used_names, failed = [], set(), []
    for path in image_paths:
        try:
            image = load_image(path)
        except (FileNotFoundError, ValueError) as error:
            print(f'skipped: {error}', file=sys.stderr)
            failed.append(path)
            continue
        detections = detector(image)
        height, width = image.shape[:2]
        upscale = args.upscale or auto_upscale(height, width)
        drawing = drawing_path(args.out_dir, path, used_names)
        draw_detections(image, detections, detector.class_names, upscale,
                        args.draw_thr).save(drawing)
        results.append(
            dict(image=path, width=width, height=height, drawing=drawing,
                 upscale=upscale,
                 **detections.to_json(detector.class_names)))
        drawn = int((detections.scores >= args.draw_thr).sum())
        print(f'{path}: {len(detections)} detections, {drawn} drawn '
              f'-> {drawing}')
    out_json = osp.join(args.out_dir, 'detections.json')
    with open(out_json, 'w') as f:
        json.dump(dict(score_thr=detector.metadata['test_cfg']['score_thr'],
                       images=results), f, indent=1)
    print(f'wrote {out_json}')
    if failed:
        sys.exit(f'error: {len(failed)} of {len(image_paths)} images could '
                 f'not be read: {", ".join(failed)}')


if __name__ == '__main__':
    run_reporting_errors(main)
