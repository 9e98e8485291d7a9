"""Class names of a COCO-format dataset, read from its annotation files.

A config calls :func:`coco_class_names` when it is loaded, so the head's
size and the dataset's class names come from the data instead of being
typed in (``configs/_base_/retinanet_custom.py``)::

    from focal_det.datasets import coco_class_names
    classes = coco_class_names(data_root + 'annotations/train.json',
                               data_root + 'annotations/val.json')
    model = dict(bbox_head=dict(num_classes=len(classes)))
"""
import json
import os
import os.path as osp
from collections import Counter
from typing import List, Tuple


def coco_class_names(*ann_files: str) -> Tuple[str, ...]:
    """Category names of COCO-format annotation files, as mmdet labels them.

    mmdet's ``CocoDataset`` and ``CocoMetric`` number the classes in the
    order the annotation file declares its categories, so the names are
    returned in that order. Every file must declare the same categories in
    the same order (as COCO's train and val files do), otherwise a label
    would mean one class in training and another in evaluation.

    Args:
        *ann_files: One or more COCO-format json files (train first).

    Returns:
        The category names, in the files' order.

    Raises:
        FileNotFoundError: A file is missing (the message names it).
        ValueError: A file is not COCO json, has no categories, repeats a
            name or an id, or declares other categories than the first.
    """
    if not ann_files:
        raise ValueError('coco_class_names needs at least one annotation '
                         'file')
    declared = [_declared_categories(path) for path in ann_files]
    for path, categories in zip(ann_files[1:], declared[1:]):
        if categories != declared[0]:
            raise ValueError(
                f'{path} declares other categories (id, name) than '
                f'{ann_files[0]}: {_first_difference(declared[0], categories)}'
                '; both files must list the same categories in the same '
                'order')
    return tuple(name for _, name in declared[0])


def _declared_categories(path: str) -> List[Tuple[int, str]]:
    """(id, name) of each category of one file, checked, in file order."""
    if not osp.isfile(path):
        where = '' if osp.isabs(path) else f' (in {os.getcwd()})'
        raise FileNotFoundError(
            f'annotation file {path} not found{where}: set data_root and '
            'the annotation file names in the config to your dataset')
    with open(path, encoding='utf-8') as file:
        try:
            content = json.load(file)
        except json.JSONDecodeError as error:
            raise ValueError(f'{path} is not valid json: {error}') from error
    categories = content.get('categories') if isinstance(content,
                                                         dict) else None
    if not categories or not isinstance(categories, list):
        raise ValueError(f"{path} is not a COCO annotation file: it has no "
                         "'categories' list")
    declared = []
    for index, category in enumerate(categories):
        if not (isinstance(category, dict) and isinstance(
                category.get('id'), int) and isinstance(
                    category.get('name'), str)):
            raise ValueError(f'{path}: categories[{index}] needs an integer '
                             f"'id' and a string 'name', got {category!r}")
        declared.append((category['id'], category['name']))
    for position, kind in ((0, 'id'), (1, 'name')):
        counts = Counter(entry[position] for entry in declared)
        repeated = sorted((v for v, n in counts.items() if n > 1), key=str)
        if repeated:
            raise ValueError(f'{path}: category {kind}s {repeated} are '
                             'declared more than once')
    return declared


def _first_difference(expected: List[Tuple[int, str]],
                      found: List[Tuple[int, str]]) -> str:
    """Where two category lists part, for the error message."""
    for index, (want, got) in enumerate(zip(expected, found)):
        if want != got:
            return f'category {index} is {got} instead of {want}'
    return f'{len(found)} categories instead of {len(expected)}'


def own_coco_dataset(data_root: str, train_ann_file: str, train_images: str,
                     val_ann_file: str, val_images: str) -> dict:
    """The dataset part of a config for a COCO-format dataset of one's own.

    Both own-dataset bases (``configs/_base_/retinanet_custom.py``, R50 for
    GPUs, and ``retinanet_custom_small.py``, the embedded data's small
    RetinaNet for CPUs) merge what this returns into their model's config.

    Args:
        data_root (str): Folder of the dataset (with a trailing ``/``).
        train_ann_file, val_ann_file (str): Annotation files under it.
        train_images, val_images (str): Image folders under it.

    Returns:
        dict: ``classes`` (read with :func:`coco_class_names`),
        ``train_dataloader``/``val_dataloader``/``test_dataloader``
        overrides (``CocoDataset`` with those files and classes) and
        ``val_evaluator``/``test_evaluator``: AP per frequency bucket (from
        the categories' ``frequency`` field, else from training image counts
        with LVIS's thresholds) and detection calibration (D-ECE).
    """
    classes = coco_class_names(data_root + train_ann_file,
                               data_root + val_ann_file)

    def loader(ann_file, images):
        return dict(dataset=dict(type='CocoDataset', data_root=data_root,
                                 ann_file=ann_file,
                                 data_prefix=dict(img=images),
                                 metainfo=dict(classes=classes)))

    evaluator = [
        dict(type='LongTailCocoMetric', ann_file=data_root + val_ann_file,
             train_ann_file=data_root + train_ann_file, metric='bbox'),
        dict(type='DetectionCalibrationMetric',
             ann_file=data_root + val_ann_file)
    ]
    return dict(classes=classes,
                train_dataloader=loader(train_ann_file, train_images),
                val_dataloader=loader(val_ann_file, val_images),
                test_dataloader=loader(val_ann_file, val_images),
                val_evaluator=evaluator, test_evaluator=evaluator)
