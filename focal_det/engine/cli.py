"""Command-line flags shared by tools/train.py and tools/test.py (mmdet's)."""
import argparse
import os

from mmengine.config import DictAction


class ConfigOptionsAction(DictAction):
    """mmengine's ``DictAction``; an item without ``=`` is a usage error."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values:
            if '=' not in item:
                raise argparse.ArgumentError(
                    self, f'{item!r} has no value: write KEY=VALUE, e.g. '
                    f'{item}=...')
        super().__call__(parser, namespace, values, option_string)


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='where to save logs and results')
    parser.add_argument('--cfg-options', nargs='+', action=ConfigOptionsAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', default='none',
                        choices=['none', 'pytorch', 'slurm', 'mpi'])
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_common(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse, and give torch.distributed's LOCAL_RANK a default."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args

