"""Datasets: the embedded long-tailed synthetic detection data.

Importing this package registers :class:`LongTailSynthDataset` in
``mmdet.registry.DATASETS``.
"""
from .coco_format import coco_class_names, own_coco_dataset
from .frequency import lvis_frequency
from .longtail_dataset import LongTailSynthDataset
from .longtail_drawing import LONGTAIL_CLASSES, LONGTAIL_PALETTE
from .longtail_synth import (MIN_VAL_INSTANCES, ensure_longtail_dataset,
                             generate_longtail_dataset, longtail_train_counts)

__all__ = [
    'LongTailSynthDataset', 'LONGTAIL_CLASSES', 'LONGTAIL_PALETTE',
    'MIN_VAL_INSTANCES', 'generate_longtail_dataset',
    'ensure_longtail_dataset', 'longtail_train_counts', 'lvis_frequency',
    'coco_class_names', 'own_coco_dataset'
]
