"""Instances per class as the training loop will see them."""
from typing import List

import numpy as np
from mmengine.dataset import (ClassBalancedDataset, ConcatDataset,
                              RepeatDataset)


def count_instances_per_class(dataset, num_classes: int) -> List[int]:
    """Count the non-ignored instances of each class in a training dataset.

    The dataset is counted after its own filtering (``filter_cfg``) and with
    its wrappers honoured: ``RepeatDataset`` multiplies the counts,
    ``ClassBalancedDataset`` (repeat-factor sampling) counts every image as
    often as it is repeated, ``ConcatDataset`` adds its parts.

    Args:
        dataset: An mmengine dataset or dataset wrapper.
        num_classes (int): The number of classes the head predicts.

    Returns:
        list[int]: Instances per class, length ``num_classes``.
    """
    counts = _weighted_counts(dataset, num_classes, None)
    return [int(round(v)) for v in counts]


def _weighted_counts(dataset, num_classes: int, multiplicity) -> np.ndarray:
    """Class counts, each sample counted ``multiplicity[i]`` times (None: 1)."""
    if isinstance(dataset, ConcatDataset):
        total = np.zeros(num_classes)
        bounds = [0] + list(dataset.cumulative_sizes)
        for part, start, end in zip(dataset.datasets, bounds, bounds[1:]):
            part_multiplicity = None if multiplicity is None else (
                multiplicity[start:end])
            total += _weighted_counts(part, num_classes, part_multiplicity)
        return total
    if isinstance(dataset, RepeatDataset):
        base_len = len(dataset.dataset)
        if multiplicity is None:
            multiplicity = np.ones(len(dataset))
        # Sample i of the wrapper is sample i % base_len of the base.
        return _weighted_counts(dataset.dataset, num_classes,
                                multiplicity.reshape(-1, base_len).sum(0))
    if isinstance(dataset, ClassBalancedDataset):
        dataset.full_init()
        return _weighted_counts(
            dataset.dataset, num_classes,
            np.bincount(
                np.asarray(dataset.repeat_indices, dtype=np.int64),
                weights=multiplicity,
                minlength=len(dataset.dataset)))
    dataset.full_init()
    counts = np.zeros(num_classes)
    for index in range(len(dataset)):
        weight = 1.0 if multiplicity is None else multiplicity[index]
        for instance in dataset.get_data_info(index).get('instances', []):
            if instance.get('ignore_flag', 0):
                continue
            label = instance['bbox_label']
            if not 0 <= label < num_classes:
                raise ValueError(
                    f'dataset sample {index} has bbox_label {label}, outside '
                    f'the head\'s {num_classes} classes: check num_classes '
                    'against the dataset classes')
            counts[label] += weight
    return counts
