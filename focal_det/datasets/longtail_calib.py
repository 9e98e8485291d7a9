"""The calibration split of the embedded long-tailed dataset.

A third split, ``calib``, neither trained on nor evaluated on: score
calibrators (:mod:`focal_det.calibration`) are fitted on it and judged on
``val``. It comes from the same distribution as the validation split (the
same generator options: per-class counts drawn from
``val_instances_per_class``, ``num_val_images`` images, the same drawing)
but from its own random streams (``[seed, 2]`` for the dealing and
``[seed, 2, image]`` per image, where train uses 0 and val 1), so it is
independent of both and adding it leaves their files byte-identical.

Layout: ``data_root/calib/*.png`` and ``data_root/annotations/calib.json``,
with the categories (and their train-split frequency fields) of
``annotations/train.json``.
"""
import json
import os
import os.path as osp
import shutil
import tempfile
from typing import Any, Dict, List

import numpy as np

from .longtail_synth import (_SPLIT_STREAMS, LONGTAIL_CLASSES,
                             _count_per_class, _write_coco_json, _write_split)

CALIB_SPLIT = 'calib'


def calib_ann_file(data_root: str) -> str:
    """``data_root/annotations/calib.json``."""
    return osp.join(data_root, 'annotations', f'{CALIB_SPLIT}.json')


def write_calib_split(out_dir: str, seed: int, options: Dict[str, Any],
                      categories: List[Dict[str, Any]]) -> List[int]:
    """Draw the calibration split into ``out_dir``.

    Args:
        out_dir: Dataset root; ``calib/`` must not exist or be empty.
        seed: The dataset's seed.
        options: The generator options recorded in the train split's
            ``info`` (``image_size``, ``object_size``, ``num_val_images``,
            ``val_instances_per_class``, ``objects_per_image``).
        categories: The train split's categories.

    Returns:
        Objects per class of the split (category-id order).

    Raises:
        FileExistsError: ``out_dir/calib`` holds files.
    """
    image_dir = osp.join(out_dir, CALIB_SPLIT)
    if osp.isdir(image_dir) and os.listdir(image_dir):
        raise FileExistsError(f'{image_dir} is not empty; remove it to '
                              'regenerate the calibration split')
    os.makedirs(image_dir, exist_ok=True)
    rng = np.random.default_rng([seed, _SPLIT_STREAMS[CALIB_SPLIT]])
    low, high = options['val_instances_per_class']
    counts = rng.integers(low, high + 1, size=len(LONGTAIL_CLASSES)).tolist()
    drawing = dict(image_size=options['image_size'],
                   object_size=tuple(options['object_size']))
    records = _write_split(out_dir, CALIB_SPLIT, seed, counts,
                           options['num_val_images'],
                           tuple(options['objects_per_image']), rng, drawing)
    if _count_per_class(records)[0] != counts:
        raise RuntimeError('generated calibration counts differ from the '
                           'targets')
    _write_coco_json(calib_ann_file(out_dir), CALIB_SPLIT, seed, options,
                     records, categories)
    return counts


def ensure_calib_split(data_root: str) -> str:
    """Add the calibration split to a generated dataset that lacks it.

    Seed, options and categories are read from ``annotations/train.json``;
    train and val are only read. The split is drawn in a temporary folder
    inside ``data_root`` and moved into place, annotation file last, so an
    interrupted run leaves no half split behind.

    Args:
        data_root: A dataset written by
            :func:`~focal_det.datasets.longtail_synth.generate_longtail_dataset`.

    Returns:
        The path of ``annotations/calib.json``.

    Raises:
        FileNotFoundError: ``data_root`` has no ``annotations/train.json``.
        FileExistsError: ``calib/`` exists without its annotation file.
        ValueError: The train file was not written by the generator.
    """
    ann_file = calib_ann_file(data_root)
    if osp.isfile(ann_file):
        return ann_file
    train_file = osp.join(data_root, 'annotations', 'train.json')
    if not osp.isfile(train_file):
        raise FileNotFoundError(
            f'{train_file} not found: generate the dataset first '
            '(tools/generate_longtail.py)')
    with open(train_file, encoding='utf-8') as file:
        train = json.load(file)
    info = train.get('info', {})
    if 'seed' not in info or 'options' not in info:
        raise ValueError(f'{train_file} has no generator seed and options in '
                         "'info'; the calibration split can only be added "
                         'to the embedded dataset')
    image_dir = osp.join(data_root, CALIB_SPLIT)
    if osp.exists(image_dir):
        raise FileExistsError(
            f'{image_dir} exists but {ann_file} does not; remove the folder '
            '(a calibration split is never written over existing files)')
    staging = tempfile.mkdtemp(prefix='.calib-partial-', dir=data_root)
    try:
        os.makedirs(osp.join(staging, 'annotations'))
        write_calib_split(staging, info['seed'], info['options'],
                          train['categories'])
        os.rename(osp.join(staging, CALIB_SPLIT), image_dir)
        os.rename(calib_ann_file(staging), ann_file)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ann_file
