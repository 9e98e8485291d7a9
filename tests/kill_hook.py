"""Test-only hook: the training process kills itself (SIGKILL, as ``kill
-9``) once, after a given iteration; a marker file in the work dir keeps the
resumed run from dying again."""
import os
import os.path as osp
import signal

from mmengine.hooks import Hook
from mmdet.registry import HOOKS


@HOOKS.register_module()
class KillAtIterationHook(Hook):

    def __init__(self, iteration: int) -> None:
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        marker = osp.join(runner.work_dir, 'killed_once')
        if runner.iter + 1 == self.iteration and not osp.exists(marker):
            open(marker, 'w').close()
            os.kill(os.getpid(), signal.SIGKILL)
