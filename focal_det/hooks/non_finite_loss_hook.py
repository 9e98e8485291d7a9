"""Stop training at the first loss term that is not a finite number."""
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ..errors import NonFiniteTrainingError


def last_good_checkpoint_note(runner) -> str:
    """Which checkpoint survives a stop (the last one saved), in words."""
    last = runner.message_hub.get_info('last_ckpt')
    return (f'the last good checkpoint {last} is kept'
            if last else 'no checkpoint had been saved yet')


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Raise :class:`NonFiniteTrainingError` at the first NaN/inf loss term.

    Every term the model logs (``loss_cls``, ``loss_bbox``, ... and the
    total ``loss``) is checked after every iteration, with one
    device-to-host copy for all of them. mmdet's ``CheckInvalidLossHook``
    checks only the total, every 50 iterations, with an ``assert``.
    The hook runs before the checkpoint hook (higher priority), so a
    non-finite iteration is never saved: the last good checkpoint stays.
    """

    priority = 'ABOVE_NORMAL'

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        # The total ('loss') last: a single term names the cause better.
        terms = {name: value for name, value in sorted(
            (outputs or {}).items(), key=lambda item: item[0] == 'loss')
                 if 'loss' in name}
        if not terms:
            return
        values = torch.stack([
            torch.as_tensor(value).detach().float().reshape(())
            for value in terms.values()
        ]).cpu()
        if bool(torch.isfinite(values).all()):
            return
        name, value = next((name, float(value))
                           for name, value in zip(terms, values)
                           if not torch.isfinite(value))
        raise NonFiniteTrainingError(
            f'loss term {name} is {value} at iteration {runner.iter + 1} '
            f'(epoch {runner.epoch + 1}, batch {batch_idx + 1}); training '
            f'stopped and {last_good_checkpoint_note(runner)}. A learning '
            'rate that is too high is the usual cause '
            '(optim_wrapper.optimizer.lr)')
