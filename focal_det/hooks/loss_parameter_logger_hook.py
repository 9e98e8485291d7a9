"""Log learnable loss parameters (DualFocalLoss's gamma) with the losses."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from ..losses.dual_focal_loss import DualFocalLoss


@HOOKS.register_module()
class LossParameterLoggerHook(Hook):
    """Put every learnable gamma into the log line (``train/gamma``).

    Runs before mmengine's ``LoggerHook`` so the value appears in the same
    progress line as the loss, learning rate and eta. Names get the module
    path as a suffix when a model has more than one such loss.
    """

    priority = 'NORMAL'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        learnable = [(name, m) for name, m in model.named_modules()
                     if isinstance(m, DualFocalLoss) and m.learnable_gamma]
        for name, loss in learnable:
            key = 'train/gamma' if len(learnable) == 1 else f'train/gamma.{name}'
            runner.message_hub.update_scalar(key, loss.gamma)
