"""mmengine's CheckpointHook, safe against kills and non-finite weights."""
import os
import os.path as osp

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmdet.registry import HOOKS

from ..atomic_files import (publish, remove_unfinished_writes,
                            temporary_name)
from ..engine.checkpoint_files import write_last_checkpoint
from ..engine.distributed import unwrap_model
from .non_finite_loss_hook import (NonFiniteTrainingError,
                                   last_good_checkpoint_note)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """Save periodic checkpoints so that a kill never breaks ``--resume``.

    Same arguments as mmengine's ``CheckpointHook``; what differs (the
    first three for a local ``out_dir`` only):

    - a checkpoint is written to a hidden temporary name and renamed when
      complete, so every ``*.pth`` is whole; a save that a kill
      interrupted leaves only a temporary file, removed on the next start;
    - ``last_checkpoint`` is replaced the same way, after the checkpoint
      is complete (``FocalDetRunner`` resolves it against the work dir, so
      a copied work dir resumes from its own files);
    - with ``max_keep_ckpts``, old checkpoints are deleted only after the
      new one is complete;
    - weights that hold NaN or infinity are never saved: training stops
      with :class:`NonFiniteTrainingError` and the last good checkpoint
      stays.
    """

    @property
    def _saves_locally(self) -> bool:
        return '://' not in str(self.out_dir)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if is_main_process() and self._saves_locally:
            for path in remove_unfinished_writes(self.out_dir):
                runner.logger.warning(
                    f'removed {path}, left by a save that was interrupted')

    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        self._check_weights_are_finite(runner, step)
        if not self._saves_locally:  # no rename on remote storage
            super()._save_checkpoint_with_step(runner, step, meta)
            return
        outdated = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and
                                            self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids',
                                           list(self.keep_ckpt_ids))
        filename = self.filename_tmpl.format(step)
        self.last_ckpt = osp.join(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, temporary_name(filename), self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        publish(osp.join(self.out_dir, temporary_name(filename)),
                self.last_ckpt)
        write_last_checkpoint(runner.work_dir, self.last_ckpt)
        for old_step in outdated:
            old = osp.join(self.out_dir, self.filename_tmpl.format(old_step))
            if osp.isfile(old):
                os.remove(old)

    @staticmethod
    def _check_weights_are_finite(runner, step: int) -> None:
        model = unwrap_model(runner.model)
        weights = {name: tensor for name, tensor in model.state_dict().items()
                   if tensor.is_floating_point()}
        finite = torch.stack([torch.isfinite(tensor).all()
                              for tensor in weights.values()]).cpu()
        if bool(finite.all()):
            return
        name = next(name for name, ok in zip(weights, finite) if not ok)
        raise NonFiniteTrainingError(
            f'weight {name} holds NaN or infinity at checkpoint step {step}; '
            'it is not saved, training stopped and '
            f'{last_good_checkpoint_note(runner)}')
