"""Command-line flags shared by tools/train.py and tools/test.py (mmdet's)."""
import argparse
import os
import sys
from typing import Callable

from mmengine.config import DictAction

from ..errors import UserInputError


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


def run_reporting_errors(main: Callable[[], None]) -> None:
    """Run a tool's ``main``; a user's error ends it with ``error: ...``.

    Bad input (files, data, checkpoints, a busy work dir, a diverged
    training) gives its one-line message and exit status 1 instead of a
    traceback; any other exception is a bug and keeps its traceback.
    """
    try:
        main()
    except (FileNotFoundError, FileExistsError, NotADirectoryError,
            UserInputError) as error:
        sys.exit(f'error: {error}')
