"""mmengine's CheckpointHook, safe against kills and non-finite weights."""
import os
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmdet.registry import HOOKS

from ..atomic_files import remove_unfinished_writes
from ..engine.checkpoint_files import write_last_checkpoint
from ..engine.distributed import unwrap_model
from ..engine.runner import FocalDetRunner
from .non_finite_loss_hook import (NonFiniteTrainingError,
                                   last_good_checkpoint_note)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """Save checkpoints so that a kill never loses one or breaks ``--resume``.

    Same arguments as mmengine's ``CheckpointHook``; what differs (the
    first four for a local ``out_dir`` only):

    - every checkpoint, periodic or best, is written to a hidden temporary
      name and renamed when complete (by :class:`FocalDetRunner`, which
      focal_det's tools build; another runner gets a warning), so every
      ``*.pth`` is whole; a save that a kill interrupted leaves only a
      temporary file, removed on the next start;
    - ``last_checkpoint`` is replaced the same way, after the checkpoint
      is complete (``FocalDetRunner`` resolves it against the work dir, so
      a copied work dir resumes from its own files);
    - with ``max_keep_ckpts``, old checkpoints are deleted only after the
      new one is complete;
    - with ``save_best``, the previous best checkpoint is deleted only
      after the new best is complete (mmengine deletes it first);
    - weights that hold NaN or infinity are never saved: training stops
      with :class:`NonFiniteTrainingError` and the last good checkpoint
      stays.

    mmengine 0.10.7 offers no public way to choose when old checkpoints
    are deleted: this hook overrides its private
    ``_save_checkpoint_with_step(runner, step, meta)`` and
    ``_save_best_checkpoint(runner, metrics)``
    (tests/test_checkpoint_safety.py fails if their signatures change).
    """

    @property
    def _saves_locally(self) -> bool:
        return '://' not in str(self.out_dir)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not self._saves_locally or not is_main_process():
            return
        if not isinstance(runner, FocalDetRunner):
            runner.logger.warning(
                f'{type(runner).__name__} writes checkpoints in place: a '
                'kill during a save can leave a truncated file (use '
                "runner_type='FocalDetRunner')")
        for path in remove_unfinished_writes(self.out_dir):
            runner.logger.warning(
                f'removed {path}, left by a save that was interrupted')

    # Overrides mmengine 0.10.7's private method (no public alternative).
    def _save_checkpoint_with_step(self, runner, step, meta) -> None:
        self._check_weights_are_finite(runner, f'checkpoint step {step}')
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
            self.out_dir, filename, self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler, meta=meta,
            by_epoch=self.by_epoch, backend_args=self.backend_args,
            **self.args)
        if not is_main_process():
            return
        write_last_checkpoint(runner.work_dir, self.last_ckpt)
        for old_step in outdated:
            self._remove(osp.join(self.out_dir,
                                  self.filename_tmpl.format(old_step)))

    # Overrides mmengine 0.10.7's private method (no public alternative).
    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not self.save_best or not self._saves_locally:
            super()._save_best_checkpoint(runner, metrics)
            return
        self._check_weights_are_finite(runner, 'the best-checkpoint save')
        # mmengine removes the previous best of an improved key before it
        # saves the new one, through the path held here: hidden, nothing
        # is removed; each previous best goes once its successor is whole.
        previous = self._best_paths()
        self._set_best_paths({key: None for key in previous})
        try:
            super()._save_best_checkpoint(runner, metrics)
        except BaseException:
            self._set_best_paths(previous)
            raise
        current = self._best_paths()
        self._set_best_paths(
            {key: current[key] or previous[key] for key in previous})
        if not is_main_process():
            return
        for key, path in previous.items():
            if path and current[key] and current[key] != path:
                self._remove(path)
                runner.logger.info(f'The previous best checkpoint {path} is '
                                   'removed')

    def _best_paths(self) -> Dict[str, Optional[str]]:
        """The best checkpoint's path per key indicator (None before one);
        one key ``''`` when there is a single indicator (``'auto'`` turns
        into a metric's name at the first evaluation)."""
        if hasattr(self, 'best_ckpt_path_dict'):
            return dict(self.best_ckpt_path_dict)
        return {'': self.best_ckpt_path}

    def _set_best_paths(self, paths: Dict[str, Optional[str]]) -> None:
        if hasattr(self, 'best_ckpt_path_dict'):
            self.best_ckpt_path_dict.update(paths)
        else:
            self.best_ckpt_path = paths['']

    @staticmethod
    def _remove(path: str) -> None:
        if osp.isfile(path):
            os.remove(path)

    @staticmethod
    def _check_weights_are_finite(runner, when: str) -> None:
        model = unwrap_model(runner.model)
        weights = {name: tensor for name, tensor in model.state_dict().items()
                   if tensor.is_floating_point()}
        finite = torch.stack([torch.isfinite(tensor).all()
                              for tensor in weights.values()]).cpu()
        if bool(finite.all()):
            return
        name = next(name for name, ok in zip(weights, finite) if not ok)
        raise NonFiniteTrainingError(
            f'weight {name} holds NaN or infinity at {when}; '
            'it is not saved, training stopped and '
            f'{last_good_checkpoint_note(runner)}')
