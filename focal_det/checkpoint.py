"""Loading mmengine checkpoints with torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine 0.10.7
checkpoints also hold the message hub (numpy arrays, ``HistoryBuffer``),
the config and the dataset meta, which the weights-only unpickler refuses,
so ``load_from``, ``--resume`` and ``tools/test.py`` fail. This module
replaces mmengine's loader for local paths with one that unpickles the whole
checkpoint, as mmengine did before torch 2.6. Like any pickle, a checkpoint
can run code when loaded: load only checkpoints you trust.
"""
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_local_checkpoint(filename: str, map_location=None) -> dict:
    """Load a local checkpoint written by mmengine (or ``torch.save``)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint not found: {filename}')
    return torch.load(filename, map_location=map_location, weights_only=False)
