"""Class-balanced weights from the effective number of samples (Cui et al., 2019).

The effective number of ``n`` samples of a class is
``E_n = (1 - beta**n) / (1 - beta)``; the raw weight of class ``c`` is
``1 / E_{n_c} = (1 - beta) / (1 - beta**n_c)``. ``beta = 0`` gives every
class the same weight; ``beta -> 1`` gives weights proportional to ``1 / n_c``.

Decisions the paper leaves open, made here:

* **Normalisation.** ``normalization='classes'`` (the paper) scales the
  weights to sum to C. With a long tail this gives the head classes weights
  far below 1 (0.03 for 1000 vs 8 instances at beta = 0.999) while background
  anchors keep 1: the positives' share of the gradient collapses and early
  training stalls (docs/results.md). ``normalization='instances'`` scales
  them so that ``sum_c n_c w_c = sum_c n_c``: over the training set the
  positives weigh exactly their count, as in the unweighted loss, and only
  their distribution over classes changes.
* **Strength schedule.** The weights used are ``w_c ** s``, renormalised,
  with the strength ``s`` in [0, 1] set from the training progress
  (``schedule``): ``'constant'`` (s = 1), ``'ramp'`` (s rises linearly from 0
  at ``start`` to 1 at ``end``, fractions of training), ``'deferred'``
  (deferred re-weighting, Cao et al. 2019: s = 0 before ``start``, 1 after).
  :class:`~focal_det.hooks.LossScheduleHook` sets the progress every
  iteration from the runner, so a resumed run continues the schedule
  exactly; it is logged as ``cb_strength``.
* A class with zero instances is counted as one instance (the rarest class
  possible): its weight stays finite and is the largest.
* Background rows (label ``C``) have no class and get weight 1.
"""
import json
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn

from ..validation import check_choice, check_range
from .utils import rows_class

NORMALIZATIONS = ('classes', 'instances')
SCHEDULES = ('constant', 'ramp', 'deferred')


def effective_number_weights(class_counts: Sequence[int],
                             beta: float,
                             normalization: str = 'classes',
                             strength: float = 1.0) -> Tensor:
    """Normalised class-balanced weights.

    Args:
        class_counts (Sequence[int]): Instances per class, length C.
        beta (float): In [0, 1).
        normalization (str): ``'classes'``: the weights sum to C;
            ``'instances'``: ``sum_c n_c w_c = sum_c n_c``.
        strength (float): Exponent s in [0, 1] of the raw weights; 0 gives
            uniform weights, 1 the class-balanced ones.

    Returns:
        Tensor: float64 weights of shape (C,).
    """
    counts = torch.as_tensor(class_counts, dtype=torch.float64).clamp_min(1.0)
    if beta == 0.0 or strength == 0.0:
        raw = torch.ones_like(counts)
    else:
        # 1 - beta**n without cancellation when beta is close to 1.
        raw = (1.0 - beta) / -torch.expm1(counts * torch.log(
            torch.tensor(beta, dtype=torch.float64)))
        if strength != 1.0:
            raw = (raw / raw.max())**strength  # max 1: no overflow
    if normalization == 'classes':
        return raw * (len(counts) / raw.sum())
    return raw * (counts.sum() / (counts * raw).sum())


def schedule_strength(schedule: str, start: float, end: float,
                      progress: float) -> float:
    """The strength s in [0, 1] at a training progress in [0, 1]."""
    if schedule == 'constant':
        return 1.0
    if schedule == 'deferred':
        return 1.0 if progress >= start else 0.0
    return min(max((progress - start) / (end - start), 0.0), 1.0)


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


class ClassBalancing(nn.Module):
    """Per-class counts and the class-balanced weights a loss applies.

    A class-balanced loss holds one as ``class_balancing``. The counts are a
    buffer, so checkpoints keep them; a checkpoint's counts replace the
    module's, whatever their length (checkpoints written before this module
    existed kept them as the loss's own ``class_counts`` and still load).
    Until counts are known (config, annotation file, ``ClassCountsHook`` or
    checkpoint), :meth:`class_weights` raises instead of using uniform weights.

    Args:
        owner (str): The loss's name, for error messages.
        beta (float): In [0, 1).
        class_counts (Sequence[int], optional): Instances per class.
        ann_file (str, optional): COCO/LVIS json to count them from.
        normalization (str): ``'classes'`` or ``'instances'`` (module doc).
        schedule (str): ``'constant'``, ``'ramp'`` or ``'deferred'``.
        schedule_start (float): Fraction of training where the ramp starts
            or the deferred weights switch on.
        schedule_end (float): Fraction of training where the ramp ends.
    """

    def __init__(self,
                 owner: str,
                 beta: float,
                 class_counts: Optional[Sequence[int]] = None,
                 ann_file: Optional[str] = None,
                 normalization: str = 'classes',
                 schedule: str = 'constant',
                 schedule_start: float = 0.0,
                 schedule_end: float = 1.0) -> None:
        super().__init__()
        self.owner = owner
        self.beta = check_range(owner, 'beta', beta, 0.0, 1.0, high_open=True)
        check_choice(owner, 'normalization', normalization, NORMALIZATIONS)
        check_choice(owner, 'schedule', schedule, SCHEDULES)
        self.normalization = normalization
        self.schedule = schedule
        self.schedule_start = check_range(owner, 'schedule_start',
                                          schedule_start, 0.0, 1.0)
        self.schedule_end = check_range(owner, 'schedule_end', schedule_end,
                                        self.schedule_start, 1.0,
                                        low_open=schedule == 'ramp')
        if class_counts is not None and ann_file is not None:
            raise ValueError(f'{owner}: give class_counts or ann_file, not '
                             'both')
        if ann_file is not None:
            class_counts = class_counts_from_ann_file(ann_file)
        self.register_buffer('class_counts', torch.zeros(0, dtype=torch.long))
        self.progress: Optional[float] = None
        self._weights_cache: Dict = {}
        self._register_load_state_dict_pre_hook(self._resize_counts)
        if class_counts is not None:
            self.set_class_counts(class_counts)

    @property
    def has_class_counts(self) -> bool:
        return self.class_counts.numel() > 0

    @property
    def scheduled(self) -> bool:
        return self.schedule != 'constant' and self.beta > 0.0

    def set_class_counts(self, class_counts: Sequence[int]) -> None:
        counts = torch.as_tensor(class_counts)
        if (counts.dim() != 1 or counts.numel() == 0
                or counts.dtype.is_floating_point and bool(
                    (counts != counts.round()).any())):
            raise ValueError(f'{self.owner}: class_counts must be a '
                             f'non-empty list of integers, got {class_counts!r}')
        if bool((counts < 0).any()):
            raise ValueError(f'{self.owner}: class_counts must be >= 0')
        self.class_counts = counts.to(dtype=torch.long,
                                      device=self.class_counts.device)
        self._weights_cache = {}

    def set_training_progress(self, progress: float) -> None:
        """Where training stands, in [0, 1] (iterations done / total)."""
        self.progress = min(max(float(progress), 0.0), 1.0)

    @property
    def strength(self) -> float:
        """The exponent s of the weights now (1 after training)."""
        if not self.scheduled:
            return 1.0
        if self.progress is None:
            if self.training:
                raise RuntimeError(
                    f'{self.owner}: schedule={self.schedule!r} needs the '
                    "training progress: add dict(type='LossScheduleHook') "
                    'to custom_hooks')
            return 1.0
        return schedule_strength(self.schedule, self.schedule_start,
                                 self.schedule_end, self.progress)

    def class_weights(self, num_classes: int, device) -> Tensor:
        """Weights (num_classes + 1,) at the current strength; background 1."""
        if not self.has_class_counts:
            raise RuntimeError(
                f'{self.owner}: class counts are unknown. Give class_counts '
                '(a list) or ann_file (COCO/LVIS json) in the loss config, or '
                "add dict(type='ClassCountsHook') to custom_hooks so they are "
                'counted from the training set. Uniform weights are never '
                'used silently.')
        if self.class_counts.numel() != num_classes:
            raise ValueError(
                f'{self.owner}: class_counts has {self.class_counts.numel()} '
                f'entries but the head predicts {num_classes} classes')
        key = (self.strength, torch.device(device))
        if key not in self._weights_cache:
            weights = effective_number_weights(self.class_counts.cpu(),
                                               self.beta, self.normalization,
                                               key[0])
            # One entry per (strength, device): a ramp changes s every
            # iteration, so only the latest is worth keeping.
            self._weights_cache = {
                key: torch.cat([weights, weights.new_ones(1)]).to(device)
            }
        return self._weights_cache[key]

    def row_weights(self, target: Tensor, num_classes: int,
                    device) -> Optional[Tensor]:
        """Weight of each row's ground-truth class (N,), or None if all are 1."""
        if self.beta == 0.0:
            return None  # every weight is exactly 1: the plain loss, exactly
        weights = self.class_weights(num_classes, device)
        return weights[rows_class(target, num_classes)]

    def schedule_log(self) -> Dict[str, float]:
        """The strength for the training log line, when it is scheduled."""
        return dict(cb_strength=self.strength) if self.scheduled else {}

    def _resize_counts(self, state_dict, prefix, *args) -> None:
        """A checkpoint's counts replace ours whatever their length."""
        key = prefix + 'class_counts'
        if key in state_dict:
            self.class_counts = torch.empty_like(state_dict[key],
                                                 device=self.class_counts.device)
            self._weights_cache = {}

    @staticmethod
    def accept_legacy_counts(loss: nn.Module) -> None:
        """Let ``loss`` load checkpoints that kept the counts as its own
        ``class_counts`` (written before this module existed)."""

        def rename(state_dict, prefix, *args):
            legacy = prefix + 'class_counts'
            if legacy in state_dict:
                state_dict.setdefault(prefix + 'class_balancing.class_counts',
                                      state_dict.pop(legacy))

        loss._register_load_state_dict_pre_hook(rename)

    def extra_repr(self) -> str:
        schedule = '' if self.schedule == 'constant' else (
            f', schedule={self.schedule}({self.schedule_start}, '
            f'{self.schedule_end})')
        return (f'beta={self.beta}, normalization={self.normalization}'
                f'{schedule}, classes={self.class_counts.numel()}')
