from .distributed import DeviceAgnosticDDP
from .launch import (enable_amp, enable_auto_scale_lr, load_config,
                     prepare_data, prepare_launcher,
                     refuse_to_overwrite_checkpoints, resolve_work_dir)

__all__ = [
    'DeviceAgnosticDDP', 'enable_amp', 'enable_auto_scale_lr', 'load_config',
    'prepare_data', 'prepare_launcher', 'refuse_to_overwrite_checkpoints',
    'resolve_work_dir'
]
