"""Reading mmengine checkpoints with torch >= 2.6, naming files that fail.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10.7
checkpoints also hold the message hub (numpy arrays, ``HistoryBuffer``),
the config and the dataset meta, which the weights-only unpickler refuses.
:func:`read_checkpoint` unpickles the whole checkpoint, as mmengine did
before torch 2.6. It is used by focal_det's own code only (its runner, which
our tools build, and :func:`focal_det.engine.load_detector`); mmengine's
global checkpoint loader is left as it is. Like any pickle, a checkpoint can
run code when loaded: load only checkpoints you trust.
"""
import os.path as osp
import re
from typing import Any, Dict, Union

import torch

from .errors import UnreadableCheckpointError


def read_checkpoint(path: str,
                    map_location: Union[str, torch.device, None] = 'cpu'
                    ) -> Dict[str, Any]:
    """Load a local checkpoint written by mmengine (or ``torch.save``).

    Args:
        path: The checkpoint file.
        map_location: As for :func:`torch.load`.

    Returns:
        The checkpoint: a dict, either mmengine's (``state_dict``, ``meta``,
        ...) or a bare state dict.

    Raises:
        FileNotFoundError: No such file.
        UnreadableCheckpointError: The file is empty, truncated, or does not
            hold a checkpoint; the message names it.
    """
    path = osp.expanduser(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    if osp.getsize(path) == 0:
        raise UnreadableCheckpointError(f'checkpoint {path} is empty (0 '
                                        'bytes)')
    try:
        checkpoint = torch.load(path, map_location=map_location,
                                weights_only=False)
    except Exception as error:  # torch raises many types for a bad file
        raise UnreadableCheckpointError(
            f'checkpoint {path} cannot be read, it is truncated or not a '
            f'checkpoint ({type(error).__name__}: {error})') from error
    checkpoint_state_dict(checkpoint, path)  # is it one?
    return checkpoint


def checkpoint_state_dict(checkpoint: Any, path: str) -> Dict[str, Any]:
    """The weights of a checkpoint, without a DDP wrapper's ``module.``.

    Args:
        checkpoint: What :func:`torch.load` returned.
        path: Named in the error.

    Raises:
        UnreadableCheckpointError: ``checkpoint`` holds no state dict.
    """
    state_dict = (checkpoint.get('state_dict', checkpoint)
                  if isinstance(checkpoint, dict) else checkpoint)
    if not isinstance(state_dict, dict) or not state_dict or not all(
            isinstance(value, torch.Tensor) for value in state_dict.values()):
        raise UnreadableCheckpointError(
            f'{path} is not a checkpoint: it holds a '
            f'{type(checkpoint).__name__}, not a dict of tensors or a dict '
            'with a state_dict of tensors')
    return {re.sub(r'^module\.', '', key): value
            for key, value in state_dict.items()}
