"""A deterministic, long-tailed synthetic detection dataset in COCO format.

Twenty classes (five shapes in four colours) are drawn on small, cluttered
images. The TRAIN split follows a power law over class rank, from
``head_instances`` objects of the most frequent class down to
``head_instances / imbalance_ratio`` of the rarest; the VALIDATION split is
roughly balanced (at least :data:`MIN_VAL_INSTANCES` objects of every class),
so per-class AP is measurable for the tail too.

How the exact counts are reached: every split first builds the multiset of
class labels with the target count of each class, shuffles it and deals it
into the images' object slots. Objects are never dropped afterwards: instead
of removing heavily occluded objects, placement rejects any position that
would hide more than :data:`~focal_det.datasets.longtail_drawing.MAX_OCCLUSION` of an object already drawn. So the
annotation counts equal the targets exactly.

Occlusion rule: objects are drawn in order, later ones over earlier ones.
Every annotated object keeps at least ``1 - MAX_OCCLUSION`` (40 %) of its
pixels visible; its box is the tight box of its VISIBLE pixels and its area
the number of visible pixels, as in COCO.

Determinism: all randomness comes from numpy Generators seeded from ``seed``
(one stream per split for the dealing and one per image for the drawing);
PNGs are written by Pillow with fixed options and no metadata, and the JSON
with fixed formatting and no timestamps. The same seed therefore gives
byte-identical files (with the same numpy, Pillow and zlib).

Categories carry LVIS-style fields computed on the TRAIN split:
``instance_count``, ``image_count`` and ``frequency`` (LVIS's rule on the
image count: 'r' up to 10 images, 'c' 11 to 100, 'f' above 100).
"""
import json
import math
import os
import os.path as osp
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from ..validation import check_int, check_int_pair, check_range
from .frequency import lvis_frequency
from .longtail_drawing import (LONGTAIL_CLASSES, REFERENCE_IMAGE_SIZE,
                               REFERENCE_OBJECT_SIZE, draw_image)

OWNER = 'generate_longtail_dataset'  # names the function in argument errors
#: The validation split holds at least this many objects of every class.
MIN_VAL_INSTANCES = 30

# calib: focal_det.datasets.longtail_calib, the calibration split.
_SPLIT_STREAMS = {'train': 0, 'val': 1, 'calib': 2}
_PNG_COMPRESS_LEVEL = 6


def longtail_train_counts(head_instances: int = 1000,
                          imbalance_ratio: float = 125.0) -> List[int]:
    """Target number of train objects per class, in category-id order.

    Class rank k (0-based) gets ``round(head_instances * (k + 1) ** -a)``
    objects, with ``a = ln(imbalance_ratio) / ln(num_classes)`` so that the
    rarest class gets ``head_instances / imbalance_ratio`` before rounding.

    Args:
        head_instances: Objects of the most frequent class.
        imbalance_ratio: Head count divided by tail count (>= 1).

    Returns:
        One count per class of :data:`LONGTAIL_CLASSES`, non-increasing.

    Raises:
        ValueError: If an argument is out of range or the rarest class would
            get no object.
    """
    head_instances = check_int(OWNER, 'head_instances', head_instances, 1)
    imbalance_ratio = check_range(OWNER, 'imbalance_ratio', imbalance_ratio,
                                  1.0)
    if head_instances / imbalance_ratio < 1:
        raise ValueError(
            f'head_instances / imbalance_ratio must be >= 1 so that the '
            f'rarest class has an object, got {head_instances} / '
            f'{imbalance_ratio}')
    num_classes = len(LONGTAIL_CLASSES)
    exponent = math.log(imbalance_ratio) / math.log(num_classes)
    # The tail count is head / ratio >= 1 before rounding, so every class
    # gets at least one object.
    return [
        round(head_instances * (rank + 1)**-exponent)
        for rank in range(num_classes)
    ]


def generate_longtail_dataset(
        out_dir: str,
        seed: int = 0,
        *,
        image_size: int = REFERENCE_IMAGE_SIZE,
        num_train_images: int = 600,
        num_val_images: int = 220,
        head_instances: int = 1000,
        imbalance_ratio: float = 125.0,
        val_instances_per_class: Tuple[int, int] = (30, 45),
        objects_per_image: Tuple[int, int] = (2, 8),
        object_size: Optional[Tuple[int, int]] = None) -> Dict[str, Any]:
    """Write the long-tailed dataset as PNG images and COCO json files.

    Layout: ``out_dir/{train,val,calib}/*.png`` and
    ``out_dir/annotations/{train,val,calib}.json``. The defaults give 600
    train images (1995 objects, head 1000, tail 8), 220 validation images
    (30-45 objects per class) of 128x128 pixels and a calibration split
    drawn like val from its own streams
    (:mod:`focal_det.datasets.longtail_calib`).

    Args:
        out_dir: Directory to write; it must not exist or be empty.
        seed: Non-negative integer; the same seed gives identical files.
        image_size: Side of the square RGB images in pixels (>= 32).
        num_train_images: Images of the train split.
        num_val_images: Images of the validation split.
        head_instances: Train objects of the most frequent class.
        imbalance_ratio: Train objects of the most frequent class divided
            by those of the rarest one.
        val_instances_per_class: Inclusive range from which each class's
            number of validation objects is drawn; the low end must be at
            least :data:`MIN_VAL_INSTANCES`.
        objects_per_image: Inclusive range of objects per image.
        object_size: Inclusive range of object sizes in pixels (diameter of
            the circle enclosing the shape); ``None`` means 10-48 pixels at
            128x128, scaled with ``image_size``.

    Returns:
        A summary: ``out_dir``, ``classes``, ``num_train_images``,
        ``num_val_images``, ``train_instance_counts``,
        ``train_image_counts``, ``val_instance_counts``,
        ``calib_instance_counts`` (lists in
        category-id order) and ``frequency`` (the LVIS bucket per class).

    Raises:
        ValueError: If an argument is out of range or ``out_dir`` is a file.
        FileExistsError: If ``out_dir`` is a non-empty directory.
    """
    seed = check_int(OWNER, 'seed', seed, 0)
    image_size = check_int(OWNER, 'image_size', image_size, 32)
    num_train_images = check_int(OWNER, 'num_train_images', num_train_images,
                                 1)
    num_val_images = check_int(OWNER, 'num_val_images', num_val_images, 1)
    objects_per_image = check_int_pair(OWNER, 'objects_per_image',
                                       objects_per_image, 1)
    val_instances_per_class = check_int_pair(OWNER, 'val_instances_per_class',
                                             val_instances_per_class,
                                             MIN_VAL_INSTANCES)
    if object_size is None:
        object_size = default_object_size(image_size)
    object_size = check_int_pair(OWNER, 'object_size', object_size, 4,
                                 image_size // 2)
    train_counts = longtail_train_counts(head_instances, imbalance_ratio)
    # Normalised so that e.g. ratio 125 and 125.0 write the same json.
    head_instances, imbalance_ratio = int(head_instances), float(
        imbalance_ratio)
    train_rng = np.random.default_rng([seed, _SPLIT_STREAMS['train']])
    val_rng = np.random.default_rng([seed, _SPLIT_STREAMS['val']])
    low, high = val_instances_per_class
    val_counts = val_rng.integers(low, high + 1,
                                  size=len(LONGTAIL_CLASSES)).tolist()
    _check_fits('num_train_images', num_train_images, sum(train_counts),
                objects_per_image)
    _check_fits('num_val_images', num_val_images, sum(val_counts),
                objects_per_image)
    prepare_empty_dir(out_dir)

    drawing = dict(image_size=image_size, object_size=object_size)
    train_records = _write_split(out_dir, 'train', seed, train_counts,
                                 num_train_images, objects_per_image,
                                 train_rng, drawing)
    val_records = _write_split(out_dir, 'val', seed, val_counts,
                               num_val_images, objects_per_image, val_rng,
                               drawing)
    train_instances, train_images = _count_per_class(train_records)
    val_instances, _ = _count_per_class(val_records)
    # The dealing fixes the counts, so a mismatch here is a generator bug.
    if train_instances != train_counts or val_instances != val_counts:
        raise RuntimeError('generated object counts differ from the targets')
    if min(val_instances) < MIN_VAL_INSTANCES:
        raise RuntimeError(f'validation split has a class with fewer than '
                           f'{MIN_VAL_INSTANCES} objects')
    categories = [
        dict(id=category_id, name=name,
             frequency=lvis_frequency(image_count),
             instance_count=instance_count, image_count=image_count)
        for category_id, (name, instance_count, image_count) in enumerate(
            zip(LONGTAIL_CLASSES, train_instances, train_images), start=1)
    ]
    options = dict(image_size=image_size, num_train_images=num_train_images,
                   num_val_images=num_val_images,
                   head_instances=head_instances,
                   imbalance_ratio=imbalance_ratio,
                   val_instances_per_class=list(val_instances_per_class),
                   objects_per_image=list(objects_per_image),
                   object_size=list(object_size))
    for split, records in (('train', train_records), ('val', val_records)):
        _write_coco_json(
            osp.join(out_dir, 'annotations', f'{split}.json'), split, seed,
            options, records, categories)
    # Imported here: the calibration split's module builds on this one.
    from .longtail_calib import write_calib_split
    calib_instances = write_calib_split(out_dir, seed, options, categories)
    return dict(out_dir=out_dir, classes=LONGTAIL_CLASSES,
                num_train_images=num_train_images,
                num_val_images=num_val_images,
                train_instance_counts=train_instances,
                train_image_counts=train_images,
                val_instance_counts=val_instances,
                calib_instance_counts=calib_instances,
                frequency=[category['frequency'] for category in categories])


def default_object_size(image_size: int) -> Tuple[int, int]:
    """Object size range for an image side: 10-48 px at 128 px, scaled."""
    scale = image_size / REFERENCE_IMAGE_SIZE
    return tuple(max(4, round(size * scale)) for size in REFERENCE_OBJECT_SIZE)


def ensure_longtail_dataset(data_root: str, seed: int = 0,
                            **generator_options: Any) -> str:
    """Generate the dataset at ``data_root`` unless it is already there.

    The dataset counts as present when ``data_root/annotations/train.json``
    exists; then nothing is read or written. Otherwise it is generated in a
    temporary directory next to ``data_root`` and renamed into place, so an
    interrupted run never leaves a half-written dataset at ``data_root`` (at
    worst a ``.<name>.partial-*`` directory beside it). When several
    processes race, the first rename wins and the others discard their copy.

    Args:
        data_root: Dataset directory; it may be missing (its parents are
            created) or an empty directory.
        seed: Seed passed to :func:`generate_longtail_dataset`.
        **generator_options: Further keyword arguments of
            :func:`generate_longtail_dataset`.

    Returns:
        The absolute path of ``data_root``.

    Raises:
        ValueError: If ``data_root`` is not a path, is a file, or is a
            non-empty directory without ``annotations/train.json`` (which is
            left untouched).
    """
    if not isinstance(data_root, (str, os.PathLike)) or not os.fspath(
            data_root):
        raise ValueError(f'data_root must be a non-empty path, got '
                         f'{data_root!r}')
    data_root = osp.abspath(os.fspath(data_root))
    if _dataset_present(data_root):
        return data_root
    if osp.exists(data_root) and not osp.isdir(data_root):
        raise ValueError(f'data_root {data_root} exists and is not a '
                         f'directory')
    if osp.isdir(data_root) and os.listdir(data_root):
        raise ValueError(
            f'data_root {data_root} is a non-empty directory without '
            f'annotations/train.json; remove it or choose another data_root')
    parent = osp.dirname(data_root)
    os.makedirs(parent, exist_ok=True)
    # The dataset is built one level inside the private (mode 0700) staging
    # directory, so that the renamed dataset gets the usual permissions.
    staging_dir = tempfile.mkdtemp(
        prefix=f'.{osp.basename(data_root)}.partial-', dir=parent)
    try:
        staged_dataset = osp.join(staging_dir, 'dataset')
        generate_longtail_dataset(staged_dataset, seed, **generator_options)
        try:
            # rename() is atomic and also replaces an empty directory.
            os.rename(staged_dataset, data_root)
        except OSError:
            if not _dataset_present(data_root):
                raise
            # Another process finished first: keep its dataset.
    finally:
        shutil.rmtree(staging_dir)
    return data_root


def _dataset_present(data_root: str) -> bool:
    """Whether ``data_root`` holds a dataset (its train annotations)."""
    return osp.isfile(osp.join(data_root, 'annotations', 'train.json'))


def _check_fits(name: str, num_images: int, num_objects: int,
                objects_per_image: Tuple[int, int]) -> None:
    """Raise ValueError unless the objects fit the per-image range."""
    low, high = objects_per_image
    if not low * num_images <= num_objects <= high * num_images:
        raise ValueError(
            f'{name}={num_images} cannot hold {num_objects} objects with '
            f'objects_per_image={tuple(objects_per_image)}: it needs between '
            f'{math.ceil(num_objects / high)} and {num_objects // low} '
            f'images')


def prepare_empty_dir(out_dir: str,
                      sub_dirs: Sequence[str] = ('train', 'val',
                                                 'annotations')) -> None:
    """Create ``out_dir`` and its sub-folders; refuse to mix datasets."""
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise ValueError(f'out_dir {out_dir} exists and is not a directory')
    if osp.isdir(out_dir) and os.listdir(out_dir):
        raise FileExistsError(f'out_dir {out_dir} is not empty; remove it '
                              f'or choose another directory')
    for sub_dir in sub_dirs:
        os.makedirs(osp.join(out_dir, sub_dir), exist_ok=True)


def _deal_labels(class_counts: Sequence[int], num_images: int,
                 objects_per_image: Tuple[int, int],
                 rng: np.random.Generator) -> List[np.ndarray]:
    """Deal a shuffled multiset of class labels into images.

    The multiset holds exactly ``class_counts[c]`` copies of label ``c``,
    so the split's counts are the targets, whatever the dealing.

    Args:
        class_counts: Objects per class.
        num_images: Number of images to fill.
        objects_per_image: Inclusive range of objects per image.
        rng: Random stream of the split.

    Returns:
        One array of class indices per image, in drawing order.
    """
    low, high = objects_per_image
    objects_in_image = np.full(num_images, low, dtype=np.int64)
    # Images get their extra objects with unequal propensities, so the
    # number of objects per image spreads over the whole allowed range
    # instead of piling up at the mean.
    propensity = rng.gamma(shape=1.0, size=num_images)
    for _ in range(sum(class_counts) - low * num_images):
        open_propensity = np.where(objects_in_image < high, propensity, 0.0)
        image_index = rng.choice(num_images,
                                 p=open_propensity / open_propensity.sum())
        objects_in_image[image_index] += 1
    labels = np.repeat(np.arange(len(class_counts)), class_counts)
    rng.shuffle(labels)
    return np.split(labels, np.cumsum(objects_in_image)[:-1])


def _write_split(out_dir: str, split: str, seed: int,
                 class_counts: Sequence[int], num_images: int,
                 objects_per_image: Tuple[int, int], rng: np.random.Generator,
                 drawing: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Draw and save every image of a split.

    Args:
        out_dir: Dataset root.
        split: 'train' or 'val'.
        seed: Dataset seed.
        class_counts: Objects per class in this split.
        num_images: Images of the split.
        objects_per_image: Inclusive range of objects per image.
        rng: Random stream of the split (used for the dealing only).
        drawing: ``image_size`` and ``object_size`` for :func:`draw_image`.

    Returns:
        One record per image: ``file_name`` and its ``objects`` (class
        index, visible box and visible area).
    """
    labels_per_image = _deal_labels(class_counts, num_images,
                                    objects_per_image, rng)
    records = []
    for image_index, labels in enumerate(labels_per_image):
        # A stream per image: an image depends only on the seed, the split,
        # its index and its labels.
        image_rng = np.random.default_rng(
            [seed, _SPLIT_STREAMS[split], image_index])
        pixels, objects = draw_image(labels, image_rng, **drawing)
        file_name = f'{image_index + 1:06d}.png'
        Image.fromarray(pixels, mode='RGB').save(
            osp.join(out_dir, split, file_name), format='PNG',
            compress_level=_PNG_COMPRESS_LEVEL)
        records.append(dict(file_name=file_name, objects=objects))
    return records


def _count_per_class(
        records: List[Dict[str, Any]]) -> Tuple[List[int], List[int]]:
    """Objects and images per class of a split's records."""
    instances = [0] * len(LONGTAIL_CLASSES)
    images = [0] * len(LONGTAIL_CLASSES)
    for record in records:
        classes_in_image = [obj[0] for obj in record['objects']]
        for class_index in classes_in_image:
            instances[class_index] += 1
        for class_index in set(classes_in_image):
            images[class_index] += 1
    return instances, images


def _write_coco_json(path: str, split: str, seed: int,
                     options: Dict[str, Any], records: List[Dict[str, Any]],
                     categories: List[Dict[str, Any]]) -> None:
    """Write one split's COCO annotation file with fixed formatting.

    Args:
        path: Output json path.
        split: 'train' or 'val'.
        seed: Dataset seed, recorded in ``info``.
        options: Generator options, recorded in ``info``.
        records: Per-image records from :func:`_write_split`.
        categories: COCO categories with the LVIS-style fields.
    """
    images, annotations = [], []
    for image_id, record in enumerate(records, start=1):
        images.append(dict(id=image_id, file_name=record['file_name'],
                           width=options['image_size'],
                           height=options['image_size']))
        for class_index, box, area in record['objects']:
            annotations.append(dict(id=len(annotations) + 1,
                                    image_id=image_id,
                                    category_id=class_index + 1,
                                    bbox=list(box), area=area, iscrowd=0))
    coco = dict(
        info=dict(description=f'focal_det long-tailed synthetic shapes, '
                  f'{split} split', generator=__name__, seed=seed,
                  options=options),
        images=images, annotations=annotations, categories=categories)
    with open(path, 'w', encoding='utf-8', newline='\n') as file:
        json.dump(coco, file, separators=(',', ':'))
        file.write('\n')
