from .checkpoint_files import latest_complete_checkpoint
from .cli import ConfigOptionsAction, add_common_args, parse_common
from .detector_loading import check_state_dict_matches, load_detector
from .distributed import DeviceAgnosticDDP, unwrap_model
from .launch import (build_runner, check_datasets, enable_amp,
                     enable_auto_scale_lr, load_config, prepare_data,
                     prepare_launcher, refuse_to_overwrite_checkpoints,
                     resolve_work_dir)
from .runner import FocalDetRunner
from .work_dir_lock import lock_work_dir

__all__ = [
    'ConfigOptionsAction', 'DeviceAgnosticDDP', 'FocalDetRunner',
    'add_common_args', 'build_runner', 'check_datasets',
    'check_state_dict_matches', 'enable_amp', 'enable_auto_scale_lr',
    'latest_complete_checkpoint', 'load_config', 'load_detector',
    'lock_work_dir', 'parse_common', 'prepare_data', 'prepare_launcher',
    'refuse_to_overwrite_checkpoints', 'resolve_work_dir',
    'unwrap_model'
]
