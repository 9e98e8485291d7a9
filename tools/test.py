"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [flags]``."""
import argparse
import os.path as osp

from focal_det.engine import (add_common_args, build_runner, load_config,
                              parse_common, prepare_data, prepare_launcher,
                              resolve_work_dir)
from focal_det.errors import run_reporting_errors


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    add_common_args(parser)
    parser.add_argument('--out', help='dump predictions to a pickle file')
    parser.add_argument('--show-dir',
                        help='draw the detections into this folder of the '
                        'work dir (PNG per image)')
    return parse_common(parser)


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options, args.launcher)
    prepare_launcher(cfg)
    cfg.work_dir = resolve_work_dir(cfg, args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.show_dir:
        visualization = cfg.default_hooks.visualization
        visualization.draw = True
        visualization.test_out_dir = args.show_dir
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, dict):
            evaluators = [evaluators]
        cfg.test_evaluator = list(evaluators) + [
            dict(type='DumpDetResults', out_file_path=args.out)
        ]
    prepare_data(cfg, ('test_dataloader', ))
    runner = build_runner(cfg)
    runner.test()


if __name__ == '__main__':
    run_reporting_errors(main)
