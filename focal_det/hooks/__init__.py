from .class_counts_hook import ClassCountsHook, class_count_losses
from .loss_parameter_logger_hook import LossParameterLoggerHook

__all__ = ['ClassCountsHook', 'LossParameterLoggerHook', 'class_count_losses']
