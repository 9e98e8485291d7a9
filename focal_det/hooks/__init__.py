from .atomic_checkpoint_hook import AtomicCheckpointHook
from .class_counts_hook import ClassCountsHook, class_count_losses
from .epoch_seed_hook import EpochSeedHook
from .loss_parameter_logger_hook import LossParameterLoggerHook
from .loss_schedule_hook import LossScheduleHook
from .non_finite_loss_hook import NonFiniteLossHook
from .score_calibration_hook import ScoreCalibrationHook

__all__ = [
    'AtomicCheckpointHook', 'NonFiniteLossHook', 'ClassCountsHook',
    'EpochSeedHook',
    'LossParameterLoggerHook', 'LossScheduleHook', 'ScoreCalibrationHook',
    'class_count_losses'
]
