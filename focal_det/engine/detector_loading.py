"""Build a detector from its config and a checkpoint that must fit it.

The one way focal_det's tools load a trained detector outside a runner
(export, inference, the analysis tools, the loss comparison): mmengine only
warns about a checkpoint that does not match the model and leaves the
affected weights randomly initialised, which gave mAP 0 instead of an error.
"""
from typing import Any, Dict, Optional, Tuple

import torch
from mmengine.config import Config
from torch import nn

from ..checkpoint import checkpoint_state_dict, read_checkpoint
from ..errors import CheckpointMismatchError


def _shape(tensor: torch.Tensor) -> Tuple[int, ...]:
    return tuple(tensor.shape)


def check_state_dict_matches(model: nn.Module, state_dict: Dict[str, Any],
                             checkpoint_path: str) -> None:
    """Raise unless ``state_dict`` has exactly the model's keys and shapes.

    Args:
        model: The model built from the config.
        state_dict: The checkpoint's weights (without ``module.``).
        checkpoint_path: Named in the error.

    Raises:
        CheckpointMismatchError: Naming the first offending key (in the
            model's order) and both shapes, or the first missing or
            unexpected key.
    """
    expected = model.state_dict()
    for key, tensor in expected.items():
        if key not in state_dict:
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint_path} does not match the config: '
                f'it has no {key} (shape {_shape(tensor)} in the model)')
        # An empty tensor is a placeholder that its module resizes when it
        # loads (ClassBalancedFocalLoss.class_counts before counting).
        if tensor.numel() and _shape(state_dict[key]) != _shape(tensor):
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint_path} does not match the config: '
                f'{key} has shape {_shape(state_dict[key])} in the '
                f'checkpoint but {_shape(tensor)} in the model')
    for key, tensor in state_dict.items():
        if key not in expected:
            raise CheckpointMismatchError(
                f'checkpoint {checkpoint_path} does not match the config: '
                f'it has {key} (shape {_shape(tensor)}), which the model '
                'does not')


def load_checkpoint_strictly(model: nn.Module,
                             checkpoint_path: str) -> Dict[str, Any]:
    """Load a checkpoint that must fit ``model`` exactly.

    Args:
        model: The model built from the config.
        checkpoint_path: An mmengine checkpoint (``state_dict`` and
            ``meta``) or a bare state dict.

    Returns:
        The checkpoint's ``meta`` (``{}`` when it has none).

    Raises:
        FileNotFoundError: No such file.
        UnreadableCheckpointError: Empty, truncated or not a checkpoint.
        CheckpointMismatchError: See :func:`check_state_dict_matches`.
    """
    checkpoint = read_checkpoint(checkpoint_path, map_location='cpu')
    state_dict = checkpoint_state_dict(checkpoint, checkpoint_path)
    check_state_dict_matches(model, state_dict, checkpoint_path)
    model.load_state_dict(state_dict, strict=True)
    return checkpoint.get('meta') or {}


def load_detector(cfg: Config, checkpoint_path: Optional[str] = None
                  ) -> Tuple[nn.Module, Dict[str, Any]]:
    """The config's detector in eval mode, with the checkpoint's weights.

    Args:
        cfg: The detector's config (``cfg.model`` is built).
        checkpoint_path: A checkpoint matching the config; ``None`` keeps
            the random initialisation.

    Returns:
        (model on the CPU in eval mode, the checkpoint's ``meta``).

    Raises:
        See :func:`load_checkpoint_strictly`.
    """
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    model = MODELS.build(cfg.model)
    meta = {}
    if checkpoint_path is not None:
        meta = load_checkpoint_strictly(model, checkpoint_path)
    return model.eval(), meta
