from .cli import add_common_args, parse_common
from .distributed import DeviceAgnosticDDP
from .launch import (build_runner, enable_amp, enable_auto_scale_lr,
                     load_config, prepare_data, prepare_launcher,
                     refuse_to_overwrite_checkpoints, resolve_work_dir)

__all__ = [
    'DeviceAgnosticDDP', 'add_common_args', 'build_runner', 'enable_amp',
    'enable_auto_scale_lr', 'load_config', 'parse_common', 'prepare_data',
    'prepare_launcher', 'refuse_to_overwrite_checkpoints', 'resolve_work_dir'
]
