"""Train a detector: ``python tools/train.py CONFIG [mmdet's train flags]``."""
import argparse
import os.path as osp

from focal_det.engine import (add_common_args, build_runner, enable_amp,
                              enable_auto_scale_lr, load_config,
                              lock_work_dir, parse_common, prepare_data,
                              prepare_launcher,
                              refuse_to_overwrite_checkpoints,
                              resolve_work_dir)
from focal_det.errors import run_reporting_errors


def parse_args():
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    add_common_args(parser)
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (CUDA)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr with the total batch size')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or without a value from the '
        'latest checkpoint in the work dir')
    return parse_common(parser)


def main():
    args = parse_args()
    cfg = load_config(args.config, args.cfg_options, args.launcher)
    prepare_launcher(cfg)
    cfg.work_dir = resolve_work_dir(cfg, args.config, args.work_dir)
    if args.amp:
        enable_amp(cfg)
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(f'--resume checkpoint not found: '
                                    f'{args.resume}')
        cfg.resume, cfg.load_from = True, args.resume
    # Before anything is written there: one live run per work dir.
    lock_work_dir(cfg.work_dir)
    refuse_to_overwrite_checkpoints(cfg.work_dir, cfg.get('resume', False))
    prepare_data(cfg, ('train_dataloader', 'val_dataloader'))
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    run_reporting_errors(main)
