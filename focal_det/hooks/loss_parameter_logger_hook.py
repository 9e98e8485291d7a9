"""Log loss parameters that change during training with the losses."""
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ..engine.distributed import unwrap_model


@HOOKS.register_module()
class LossParameterLoggerHook(Hook):
    """Put what losses report in ``logged_parameters()`` into the log line.

    That is DualFocalLoss's learnable ``gamma``, the class-balancing
    strength ``cb_strength`` of a scheduled ClassBalancedFocalLoss and
    EqualizedFocalLoss's ``efl_gamma_mean``/``efl_gamma_max``. Runs before
    mmengine's ``LoggerHook`` so the values appear in the same progress line
    as the loss, learning rate and eta. Names get the module path as a
    suffix when a model has more than one loss reporting the same name.
    """

    priority = 'NORMAL'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        model = unwrap_model(runner.model)
        reports = [(name, module.logged_parameters())
                   for name, module in model.named_modules()
                   if hasattr(module, 'logged_parameters')]
        reports = [(name, values) for name, values in reports if values]
        for name, values in reports:
            for key, value in values.items():
                suffix = '' if len(reports) == 1 else f'.{name}'
                runner.message_hub.update_scalar(f'train/{key}{suffix}', value)
