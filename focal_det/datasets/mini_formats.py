"""Miniature COCO 2017 and LVIS v1 datasets in the layouts their configs read.

``configs/coco`` (mmdet's ``coco_detection.py``, data root ``data/coco/``)::

    annotations/instances_train2017.json, annotations/instances_val2017.json
    train2017/<12-digit image id>.jpg, val2017/<12-digit image id>.jpg

``configs/lvis`` (mmdet's ``lvis_v1_instance.py``, data root
``data/lvis_v1/``)::

    annotations/lvis_v1_train.json, annotations/lvis_v1_val.json
    train2017/..., val2017/...

LVIS v1 images have no ``file_name``: mmdet's ``LVISV1Dataset`` takes the
path from ``coco_url`` (``http://images.cocodataset.org/<folder>/<file>``),
and, as in LVIS v1, a split draws images from both COCO folders (here the
last training image lives in ``val2017/`` and the first validation image in
``train2017/``). LVIS images carry ``neg_category_ids`` (classes verified
absent) and ``not_exhaustive_category_ids``; LVIS categories carry
``frequency``, ``image_count`` and ``instance_count`` of the training split.

Every category is declared (COCO's 80 with their original ids and
supercategories, LVIS v1's 1203) in mmdet's class order; a handful are
present, with training image counts that put them in every LVIS frequency
bucket (rare <= 10 images, common 11-100, frequent > 100), and all of them
appear in the validation split, so APr, APc and APf are all measured. The
objects are the embedded generator's shapes (present class k is drawn as the
generator's class k) on its textured backgrounds. Same seed, same bytes.
"""
import json
import os.path as osp
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np
from mmdet.datasets import CocoDataset, LVISV1Dataset
from PIL import Image

from .frequency import lvis_frequency
from .longtail_drawing import draw_image
from .longtail_synth import default_object_size, prepare_empty_dir

COCO_IMAGE_URL = 'http://images.cocodataset.org/'
# COCO 2017 numbers its 80 categories 1..90 without these ids.
COCO_UNUSED_CATEGORY_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
# Supercategory of COCO's classes, as runs of mmdet's class order.
COCO_SUPERCATEGORY_RUNS = (('person', 1), ('vehicle', 8), ('outdoor', 5),
                           ('animal', 10), ('accessory', 5), ('sports', 10),
                           ('kitchen', 7), ('food', 10), ('furniture', 6),
                           ('electronic', 6), ('appliance', 5), ('indoor', 7))
#: mmdet's COCO and LVIS configs drop training images smaller than this.
MIN_IMAGE_SIZE = 32
_JPEG_QUALITY = 95
_SPLIT_STREAMS = {'train': 0, 'val': 1}
# Share of (image, class) pairs holding a second object of the class.
_SECOND_OBJECT_RATE = 0.3


@dataclass(frozen=True)
class PresentClass:
    """A class with objects in the miniature dataset.

    Attributes:
        name: Category name, as in mmdet's ``METAINFO['classes']``.
        train_images: Training images holding it (sets its LVIS bucket).
        val_images: Validation images holding it.
    """
    name: str
    train_images: int
    val_images: int


#: Images per split: the most frequent class is in every training image.
NUM_TRAIN_IMAGES = 104
NUM_VAL_IMAGES = 6
#: Frequent, two common and two rare classes of each format.
COCO_PRESENT_CLASSES = (
    PresentClass('person', 104, 5), PresentClass('car', 40, 2),
    PresentClass('dog', 12, 2), PresentClass('giraffe', 4, 2),
    PresentClass('toothbrush', 1, 1))
LVIS_PRESENT_CLASSES = (
    PresentClass('banana', 104, 5), PresentClass('apple', 40, 2),
    PresentClass('dog', 12, 2), PresentClass('zebra', 4, 2),
    PresentClass('aerosol_can', 1, 1))


@dataclass(frozen=True)
class _Format:
    """What differs between the COCO and the LVIS layout.

    Attributes:
        classes: Category names, in mmdet's class order.
        category_ids: The id of each of them.
        ann_files: Split -> annotation file, relative to the data root.
        image_folder: (split, image index, images in split) -> folder.
        image_record: (common image fields, LVIS image fields) -> record.
        annotation_fields: Added to every annotation.
        categories: (training images, instances per category) ->
            the ``categories`` list.
    """
    classes: Sequence[str]
    category_ids: Sequence[int]
    ann_files: Dict[str, str]
    image_folder: Callable[[str, int, int], str]
    image_record: Callable[[dict, dict], dict]
    annotation_fields: Dict[str, Any]
    categories: Callable[[List[int], List[int]], List[dict]]


def write_mini_coco(data_root: str, seed: int = 0,
                    image_size: int = 64) -> Dict[str, Any]:
    """Write the miniature COCO 2017 dataset into ``data_root``.

    Args:
        data_root: Directory to create; it must be missing or empty.
        seed: Random seed; the same seed writes the same bytes.
        image_size: Side of the square JPEG images in pixels.

    Returns:
        A summary, see :func:`_write_mini_dataset`.
    """
    classes = CocoDataset.METAINFO['classes']
    category_ids = [
        i for i in range(1, 91) if i not in COCO_UNUSED_CATEGORY_IDS
    ]
    supercategories = [
        name for name, run in COCO_SUPERCATEGORY_RUNS for _ in range(run)
    ]
    coco = _Format(
        classes=classes,
        category_ids=category_ids,
        ann_files=dict(train='annotations/instances_train2017.json',
                       val='annotations/instances_val2017.json'),
        image_folder=lambda split, index, count: f'{split}2017',
        image_record=lambda image, extra: dict(
            image, file_name=osp.basename(image['coco_url'])),
        annotation_fields=dict(iscrowd=0),
        categories=lambda image_counts, instance_counts: [
            dict(id=i, name=n, supercategory=s)
            for i, n, s in zip(category_ids, classes, supercategories)
        ])
    return _write_mini_dataset(data_root, seed, image_size, coco,
                               COCO_PRESENT_CLASSES)


def write_mini_lvis(data_root: str, seed: int = 0,
                    image_size: int = 64) -> Dict[str, Any]:
    """The LVIS v1 counterpart of :func:`write_mini_coco` (same arguments)."""
    classes = LVISV1Dataset.METAINFO['classes']

    def other_folder_for_one_image(split: str, index: int, count: int) -> str:
        crosses = index == (count - 1 if split == 'train' else 0)
        other = {'train': 'val', 'val': 'train'}[split]
        return f'{other if crosses else split}2017'

    lvis = _Format(
        classes=classes,
        category_ids=list(range(1, len(classes) + 1)),
        ann_files=dict(train='annotations/lvis_v1_train.json',
                       val='annotations/lvis_v1_val.json'),
        image_folder=other_folder_for_one_image,
        image_record=lambda image, extra: dict(image, **extra),
        annotation_fields={},
        categories=lambda image_counts, instance_counts: [
            dict(id=i + 1, name=name, synonyms=[name],
                 frequency=lvis_frequency(image_counts[i]),
                 image_count=image_counts[i],
                 instance_count=instance_counts[i])
            for i, name in enumerate(classes)
        ])
    return _write_mini_dataset(data_root, seed, image_size, lvis,
                               LVIS_PRESENT_CLASSES)


def _write_mini_dataset(data_root: str, seed: int, image_size: int,
                        layout: _Format,
                        present: Sequence[PresentClass]) -> Dict[str, Any]:
    """Draw both splits and write the images and annotation files.

    Returns:
        ``data_root``, ``ann_files`` (split -> path relative to it),
        ``num_images`` (split -> count) and ``present``: per present class
        its ``name``, ``category_id``, ``train_images``,
        ``train_instances`` and ``frequency``.
    """
    if isinstance(image_size, bool) or not isinstance(
            image_size, int) or image_size < MIN_IMAGE_SIZE:
        raise ValueError(f'image_size must be an integer >= '
                         f'{MIN_IMAGE_SIZE} (the configs drop smaller '
                         f'images), got {image_size!r}')
    missing = [c.name for c in present if c.name not in layout.classes]
    if missing:
        raise ValueError(f'present classes {missing} are not categories of '
                         'the format')
    prepare_empty_dir(data_root, ('annotations', 'train2017', 'val2017'))
    category_of = [
        layout.category_ids[layout.classes.index(c.name)] for c in present
    ]
    image_ids = dict(train=1, val=NUM_TRAIN_IMAGES + 1)
    num_images = dict(train=NUM_TRAIN_IMAGES, val=NUM_VAL_IMAGES)
    splits = {}
    for split in ('train', 'val'):
        rng = np.random.default_rng([seed, _SPLIT_STREAMS[split]])
        images_per_class = [getattr(c, f'{split}_images') for c in present]
        labels = _deal_classes(images_per_class, num_images[split], rng)
        splits[split] = _draw_split(data_root, split, seed, labels,
                                    image_ids[split], image_size, layout,
                                    category_of)
    image_counts, instance_counts = _count_categories(
        splits['train'][1], len(layout.classes), layout.category_ids)
    categories = layout.categories(image_counts, instance_counts)
    for split, (images, annotations) in splits.items():
        _write_json(
            osp.join(data_root, layout.ann_files[split]),
            dict(info=dict(description=f'focal_det miniature {split} split',
                           version='1.0', year=2017, seed=seed),
                 licenses=[dict(id=1, name='generated', url='')],
                 images=images, annotations=annotations,
                 categories=categories))
    index_of = {cat_id: i for i, cat_id in enumerate(layout.category_ids)}
    return dict(
        data_root=data_root, ann_files=dict(layout.ann_files),
        num_images=num_images,
        present=[
            dict(name=c.name, category_id=cat_id,
                 train_images=image_counts[index_of[cat_id]],
                 train_instances=instance_counts[index_of[cat_id]],
                 frequency=lvis_frequency(image_counts[index_of[cat_id]]))
            for c, cat_id in zip(present, category_of)
        ])


def _deal_classes(images_per_class: Sequence[int], num_images: int,
                  rng: np.random.Generator) -> List[List[int]]:
    """Present-class indices of each image, a second object now and then.

    Class k goes into exactly ``images_per_class[k]`` distinct images.
    """
    labels: List[List[int]] = [[] for _ in range(num_images)]
    for class_index, count in enumerate(images_per_class):
        if not 0 <= count <= num_images:
            raise ValueError(f'class {class_index} cannot be in {count} of '
                             f'{num_images} images')
        for image_index in rng.choice(num_images, size=count, replace=False):
            copies = 2 if rng.random() < _SECOND_OBJECT_RATE else 1
            labels[image_index] += [class_index] * copies
    for image_labels in labels:
        rng.shuffle(image_labels)  # drawing order: who occludes whom
    return labels


def _draw_split(data_root: str, split: str, seed: int,
                labels: List[List[int]], first_image_id: int,
                image_size: int, layout: _Format,
                category_of: List[int]) -> Tuple[List[dict], List[dict]]:
    """Draw and save the images of a split; their image and annotation
    records."""
    images, annotations = [], []
    for index, image_labels in enumerate(labels):
        image_id = first_image_id + index
        image_rng = np.random.default_rng(
            [seed, _SPLIT_STREAMS[split], index])
        pixels, objects = draw_image(
            np.asarray(image_labels, dtype=np.int64), image_rng, image_size,
            default_object_size(image_size))
        folder = layout.image_folder(split, index, len(labels))
        file_name = f'{image_id:012d}.jpg'
        Image.fromarray(pixels, mode='RGB').save(
            osp.join(data_root, folder, file_name), format='JPEG',
            quality=_JPEG_QUALITY)
        in_image = sorted({category_of[label] for label in image_labels})
        absent = sorted(set(category_of) - set(in_image))
        lvis_fields = dict(
            neg_category_ids=absent,
            # Every fourth image: its classes are not exhaustively annotated.
            not_exhaustive_category_ids=in_image if index % 4 == 3 else [])
        images.append(layout.image_record(
            dict(id=image_id, width=image_size, height=image_size, license=1,
                 coco_url=f'{COCO_IMAGE_URL}{folder}/{file_name}',
                 date_captured='2017-01-01 00:00:00'), lvis_fields))
        for object_index, (label, (x, y, w, h), area) in enumerate(objects):
            annotations.append(dict(
                id=image_id * 100 + object_index, image_id=image_id,
                category_id=category_of[label], bbox=[x, y, w, h], area=area,
                segmentation=[[x, y, x + w, y, x + w, y + h, x, y + h]],
                **layout.annotation_fields))
    return images, annotations


def _count_categories(annotations: List[dict], num_categories: int,
                      category_ids: Sequence[int]) -> Tuple[List[int],
                                                             List[int]]:
    """Images and instances of every category, in category order."""
    index_of = {cat_id: i for i, cat_id in enumerate(category_ids)}
    images = [set() for _ in range(num_categories)]
    instances = [0] * num_categories
    for annotation in annotations:
        index = index_of[annotation['category_id']]
        images[index].add(annotation['image_id'])
        instances[index] += 1
    return [len(ids) for ids in images], instances


def _write_json(path: str, content: dict) -> None:
    """Fixed formatting, no timestamps: same content, same bytes."""
    with open(path, 'w', encoding='utf-8', newline='\n') as file:
        json.dump(content, file, separators=(',', ':'))
        file.write('\n')
