"""Class-balanced weights from the effective number of samples (Cui et al., 2019).

The effective number of ``n`` samples of a class is
``E_n = (1 - beta**n) / (1 - beta)``; the weight of class ``c`` is
``w_c = 1 / E_{n_c} = (1 - beta) / (1 - beta**n_c)``, normalised so that the
weights of the C classes sum to C. ``beta = 0`` gives every class weight 1;
``beta -> 1`` gives weights proportional to ``1 / n_c``.

Two cases the paper leaves open, decided here:

* a class with zero instances is counted as one instance (the rarest class
  possible): its weight stays finite, and if it does occur at training time
  (counts taken from another source than the data) it is weighted most;
* background rows (label ``C``) have no class and get weight 1, the mean
  class weight, so the foreground/background balance set by alpha is kept.
"""
import json
import os.path as osp
from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn

from .utils import check_range


def effective_number_weights(class_counts: Sequence[int],
                             beta: float) -> Tensor:
    """Normalised class-balanced weights.

    Args:
        class_counts (Sequence[int]): Instances per class, length C.
        beta (float): In [0, 1).

    Returns:
        Tensor: float64 weights of shape (C,) summing to C.
    """
    counts = torch.as_tensor(class_counts, dtype=torch.float64).clamp_min(1.0)
    if beta == 0.0:
        raw = torch.ones_like(counts)
    else:
        # 1 - beta**n without cancellation when beta is close to 1.
        raw = (1.0 - beta) / -torch.expm1(counts * torch.log(
            torch.tensor(beta, dtype=torch.float64)))
    return raw * (len(counts) / raw.sum())


def class_counts_from_ann_file(ann_file: str) -> List[int]:
    """Instances per category of a COCO or LVIS json, ordered by category id.

    LVIS categories carry ``instance_count``; otherwise the non-crowd
    annotations of each category are counted.
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'class-count ann_file not found: {ann_file}')
    try:
        with open(ann_file) as f:
            data = json.load(f)
        categories = sorted(data['categories'], key=lambda cat: cat['id'])
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f'class-count ann_file {ann_file} is not a COCO/LVIS '
                         f'annotation file: {error!r}') from error
    if categories and all('instance_count' in cat for cat in categories):
        return [int(cat['instance_count']) for cat in categories]
    index = {cat['id']: i for i, cat in enumerate(categories)}
    counts = [0] * len(categories)
    for ann in data.get('annotations', []):
        if not ann.get('iscrowd', 0) and ann.get('category_id') in index:
            counts[index[ann['category_id']]] += 1
    return counts


class ClassCountsMixin(nn.Module):
    """Per-class instance counts held in a buffer, and the CB weights from them.

    The counts are a buffer (``class_counts``), so they are saved in and
    restored from checkpoints; a checkpoint's counts replace whatever the
    module had, whatever their length. Until counts are known the weights
    cannot be computed and :meth:`class_weights` raises.
    """

    def _init_class_counts(self, owner: str, beta: float,
                           class_counts: Optional[Sequence[int]],
                           ann_file: Optional[str]) -> None:
        self._owner = owner
        self.beta = check_range(owner, 'beta', beta, 0.0, 1.0, high_open=True)
        if class_counts is not None and ann_file is not None:
            raise ValueError(f'{owner}: give class_counts or ann_file, not '
                             'both')
        if ann_file is not None:
            class_counts = class_counts_from_ann_file(ann_file)
        self.register_buffer('class_counts', torch.zeros(0, dtype=torch.long))
        self._weights_cache = None
        if class_counts is not None:
            self.set_class_counts(class_counts)

    @property
    def has_class_counts(self) -> bool:
        return self.class_counts.numel() > 0

    def set_class_counts(self, class_counts: Sequence[int]) -> None:
        counts = torch.as_tensor(class_counts)
        if (counts.dim() != 1 or counts.numel() == 0
                or counts.dtype.is_floating_point and bool(
                    (counts != counts.round()).any())):
            raise ValueError(f'{self._owner}: class_counts must be a '
                             f'non-empty list of integers, got {class_counts!r}')
        if bool((counts < 0).any()):
            raise ValueError(f'{self._owner}: class_counts must be >= 0')
        self.class_counts = counts.to(dtype=torch.long,
                                      device=self.class_counts.device)
        self._weights_cache = None

    def class_weights(self, num_classes: int, device) -> Tensor:
        """Weights (num_classes + 1,), the last one (background) equal to 1."""
        if not self.has_class_counts:
            raise RuntimeError(
                f'{self._owner}: class counts are unknown. Give class_counts '
                '(a list) or ann_file (COCO/LVIS json) in the loss config, or '
                "add dict(type='ClassCountsHook') to custom_hooks so they are "
                'counted from the training set. Uniform weights are never '
                'used silently.')
        if self.class_counts.numel() != num_classes:
            raise ValueError(
                f'{self._owner}: class_counts has {self.class_counts.numel()} '
                f'entries but the head predicts {num_classes} classes')
        cache = self._weights_cache
        if cache is None or cache.device != torch.device(device):
            weights = effective_number_weights(self.class_counts.cpu(),
                                               self.beta)
            cache = torch.cat([weights, weights.new_ones(1)]).to(device)
            self._weights_cache = cache
        return cache

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + 'class_counts'
        if key in state_dict:
            self.class_counts = torch.empty_like(state_dict[key],
                                                 device=self.class_counts.device)
            self._weights_cache = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
