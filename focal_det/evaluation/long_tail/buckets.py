"""Which frequency bucket (rare / common / frequent) each category is in.

LVIS buckets a class by the number of training images that hold it; a
dataset whose categories carry LVIS' ``frequency`` field says so itself,
otherwise the buckets come from counting a COCO training file.
"""
from collections import defaultdict
from typing import Any, Dict, Optional, Sequence, Set, Tuple

from mmengine import fileio

from ...datasets.frequency import (COMMON_MAX_TRAIN_IMAGES,
                                   RARE_MAX_TRAIN_IMAGES, lvis_frequency)

# LVIS' frequency buckets, by number of training images holding the class.
BUCKETS = ('r', 'c', 'f')
BUCKET_NAMES = {'r': 'rare', 'c': 'common', 'f': 'frequent'}


def count_train_images_per_category(
        train_ann_file: str,
        backend_args: Optional[dict] = None) -> Dict[str, int]:
    """Count, per category name, the training images that contain it.

    Crowd annotations are not counted: mmdet's COCO datasets turn them into
    ignored boxes, so they never teach the model the class.

    Args:
        train_ann_file (str): COCO-format training annotation file.
        backend_args (dict, optional): mmengine file backend arguments.

    Returns:
        dict: Category name -> number of images (0 for a category with no
        annotation).
    """
    train = fileio.load(
        train_ann_file, file_format='json', backend_args=backend_args)
    if not isinstance(train, dict) or 'categories' not in train:
        raise ValueError(f'train_ann_file {train_ann_file!r} is not a COCO '
                         "annotation file: it has no 'categories' list.")
    images_by_category: Dict[int, Set[Any]] = defaultdict(set)
    for annotation in train.get('annotations', []):
        if not annotation.get('iscrowd', 0):
            images_by_category[annotation['category_id']].add(
                annotation['image_id'])
    return {
        category['name']: len(images_by_category[category['id']])
        for category in train['categories']
    }


def buckets_from_frequency_field(
        categories: Sequence[dict], source: str) -> Optional[Dict[int, str]]:
    """Read the LVIS-style ``frequency`` field of every category.

    Args:
        categories (Sequence[dict]): COCO ``categories`` entries.
        source (str): Where they come from, for error messages.

    Returns:
        dict or None: Category id -> 'r' / 'c' / 'f'; None when at least one
        category has no ``frequency`` field.

    Raises:
        ValueError: A ``frequency`` value is not one of 'r', 'c', 'f'.
    """
    for category in categories:
        frequency = category.get('frequency')
        if frequency is not None and frequency not in BUCKETS:
            raise ValueError(
                f"Category {category.get('name')!r} (id {category.get('id')})"
                f' in {source} has frequency {frequency!r}; expected one of '
                "'r', 'c', 'f'.")
    if not all('frequency' in category for category in categories):
        return None
    return {category['id']: category['frequency'] for category in categories}


def buckets_from_train_counts(
        categories: Sequence[dict],
        train_image_counts: Dict[str, int]) -> Dict[int, str]:
    """Bucket categories by their number of training images.

    Args:
        categories (Sequence[dict]): COCO ``categories`` entries evaluated.
        train_image_counts (dict): Category name -> training image count.
            A name missing there counts 0 training images (rare).

    Returns:
        dict: Category id -> 'r' / 'c' / 'f'.
    """
    return {
        category['id']: lvis_frequency(
            train_image_counts.get(category['name'], 0))
        for category in categories
    }


def resolve_category_buckets(
        categories: Sequence[dict], categories_source: str,
        train_image_counts: Optional[Dict[str, int]],
        train_source: Optional[str]) -> Tuple[Dict[int, str], str]:
    """Choose each category's bucket: ``frequency`` field, else train counts.

    Args:
        categories (Sequence[dict]): COCO ``categories`` entries evaluated.
        categories_source (str): Where they come from, for messages.
        train_image_counts (dict, optional): Category name -> training image
            count, used when not every category has a ``frequency`` field.
        train_source (str, optional): Where those counts come from.

    Returns:
        tuple: (category id -> bucket, sentence saying where buckets came
        from).

    Raises:
        ValueError: A ``frequency`` value is invalid, or some category has
            none and no training counts were given.
    """
    buckets = buckets_from_frequency_field(categories, categories_source)
    if buckets is not None:
        return buckets, f"'frequency' field of the categories in " \
                        f'{categories_source}'
    if train_image_counts is None:
        missing = [c.get('name') for c in categories if 'frequency' not in c]
        raise ValueError(
            f"Categories {missing[:10]} in {categories_source} have no "
            "'frequency' field ('r'/'c'/'f'); add it to every category or "
            'pass train_ann_file= so that buckets come from training image '
            'counts.')
    return buckets_from_train_counts(categories, train_image_counts), (
        f'training image counts of {train_source} (rare <= '
        f'{RARE_MAX_TRAIN_IMAGES} images, common '
        f'{RARE_MAX_TRAIN_IMAGES + 1}..{COMMON_MAX_TRAIN_IMAGES}, frequent > '
        f'{COMMON_MAX_TRAIN_IMAGES})')
