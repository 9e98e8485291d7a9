"""Feed the training progress to losses with a schedule."""
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ..engine.distributed import unwrap_model


@HOOKS.register_module()
class LossScheduleHook(Hook):
    """Tell losses with a schedule where training stands, every iteration.

    Each module with ``set_training_progress`` (a scheduled
    :class:`~focal_det.losses.class_balanced.ClassBalancing`) gets
    ``iterations done / total iterations`` before every training iteration.
    The progress is derived from the runner, so a resumed run continues the
    schedule exactly where it stopped.
    """

    priority = 'VERY_HIGH'

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        progress = runner.iter / max(runner.max_iters, 1)
        for module in unwrap_model(runner.model).modules():
            if hasattr(module, 'set_training_progress'):
                module.set_training_progress(progress)
