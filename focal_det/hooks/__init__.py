from .class_counts_hook import ClassCountsHook, class_count_losses
from .loss_parameter_logger_hook import LossParameterLoggerHook
from .score_recalibration_hook import ScoreRecalibrationHook

__all__ = [
    'ClassCountsHook', 'LossParameterLoggerHook', 'ScoreRecalibrationHook',
    'class_count_losses'
]
