"""Check a COCO/LVIS-format dataset before training starts.

mmdet drops what it cannot use without a word (boxes under 1 px or
outside the image, unknown category ids) and fails late and obscurely on
the rest (a truncated json, a list instead of an object, a missing image,
an empty training set). :func:`validate_dataset` reads the annotation file
once and names the file and the record of each problem:

- an error (:class:`InvalidDataError`) for a file that is not a COCO-format
  object or has no images, a malformed record, missing or empty image files, an empty
  training set after ``filter_cfg``, or when more than half of the
  annotations would be dropped;
- a warning with the count and the first ids for annotations that would be
  dropped.

``tools/train.py`` and ``tools/test.py`` run it on every dataset of the
config (``focal_det.engine.prepare_data``).
"""
import json
import os.path as osp
from typing import Callable, Dict, List

from ..errors import InvalidDataError

#: How many offending ids or files a message lists.
SHOWN = 5


def read_annotation_file(path: str) -> dict:
    """The parsed COCO/LVIS-format object of ``path``.

    Raises:
        InvalidDataError: Not JSON (or truncated), or not an object with
            ``images``, ``annotations`` and ``categories`` lists.
    """
    try:
        with open(path, 'rb') as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidDataError(f'annotation file {path} is not valid JSON '
                               f'(truncated?): {error}') from error
    if not isinstance(data, dict):
        raise InvalidDataError(
            f'annotation file {path} holds a JSON {type(data).__name__}, not '
            'a COCO-format object with images, annotations and categories')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            raise InvalidDataError(
                f'annotation file {path} has no "{key}" list')
    return data


def _field(record: dict, key: str, kind: str, path: str, types=(int, float)):
    value = record.get(key) if isinstance(record, dict) else None
    if not isinstance(value, types) or isinstance(value, bool):
        name = record.get('id', '?') if isinstance(record, dict) else '?'
        raise InvalidDataError(f'annotation file {path}: {kind} {name} has '
                               f'no valid "{key}" (got {value!r})')
    return value


def image_file_name(image: dict, path: str) -> str:
    """The image's path relative to the image folder (LVIS v1: coco_url)."""
    if 'file_name' in image:
        return _field(image, 'file_name', 'image', path, str)
    url = _field(image, 'coco_url', 'image', path, str)
    return url.replace('http://images.cocodataset.org/', '')


def dropped_annotations(data: dict, path: str) -> Dict[str, List]:
    """Annotation ids mmdet would drop, by reason (checks every record)."""
    images = {}
    for image in data['images']:
        image_id = _field(image, 'id', 'image', path)
        width = _field(image, 'width', 'image', path)
        height = _field(image, 'height', 'image', path)
        images[image_id] = (width, height)
    categories = {_field(c, 'id', 'category', path)
                  for c in data['categories']}
    dropped = {'category id not among the categories': [],
               'image id not among the images': [],
               'box width or height under 1 px': [],
               'box outside its image': []}
    for ann in data['annotations']:
        _field(ann, 'id', 'annotation', path)
        box = _field(ann, 'bbox', 'annotation', path, list)
        if len(box) != 4 or not all(
                isinstance(v, (int, float)) for v in box):
            raise InvalidDataError(
                f'annotation file {path}: annotation {ann["id"]} has bbox '
                f'{box!r}, not [x, y, width, height]')
        x, y, w, h = box
        if _field(ann, 'category_id', 'annotation', path) not in categories:
            reason = 'category id not among the categories'
        elif _field(ann, 'image_id', 'annotation', path) not in images:
            reason = 'image id not among the images'
        elif w < 1 or h < 1:
            reason = 'box width or height under 1 px'
        else:
            width, height = images[ann['image_id']]
            inside_w = min(x + w, width) - max(x, 0)
            inside_h = min(y + h, height) - max(y, 0)
            if inside_w > 0 and inside_h > 0:
                continue
            reason = 'box outside its image'
        dropped[reason].append(ann['id'])
    return {reason: ids for reason, ids in dropped.items() if ids}


def check_image_files(data: dict, path: str, image_dir: str) -> None:
    """Raise naming the image files that are missing or empty."""
    bad = []
    for image in data['images']:
        file = osp.join(image_dir, image_file_name(image, path))
        if not osp.isfile(file):
            bad.append(f'{file} (missing)')
        elif osp.getsize(file) == 0:
            bad.append(f'{file} (empty)')
    if bad:
        raise InvalidDataError(
            f'{len(bad)} of {len(data["images"])} images of {path} cannot be '
            f'read: {", ".join(bad[:SHOWN])}' +
            (', ...' if len(bad) > SHOWN else ''))


def count_training_images(data: dict, dropped: Dict[str, List],
                          filter_cfg: dict) -> int:
    """How many images mmdet's ``filter_cfg`` keeps for training."""
    dropped_ids = {i for ids in dropped.values() for i in ids}
    annotated = {ann['image_id'] for ann in data['annotations']
                 if ann['id'] not in dropped_ids}
    min_size = filter_cfg.get('min_size', 0)
    return sum(
        1 for image in data['images']
        if (not filter_cfg.get('filter_empty_gt') or image['id'] in annotated)
        and min(image['width'], image['height']) >= min_size)


def validate_dataset(ann_file: str, image_dir: str, training: bool,
                     filter_cfg: dict, warn: Callable[[str], None]) -> None:
    """Check an annotation file and its images; see the module's description.

    Args:
        ann_file: The COCO/LVIS-format annotation file.
        image_dir: The folder the images' file names are relative to.
        training: A training set (``filter_cfg`` applies, must not be
            empty) rather than a test set.
        filter_cfg: The dataset's ``filter_cfg`` (``None``: no filtering).
        warn: Receives the warning about dropped annotations.

    Raises:
        InvalidDataError: Naming the file and the record, or the files.
    """
    data = read_annotation_file(ann_file)
    if not data['images']:
        raise InvalidDataError(f'annotation file {ann_file} has no images')
    dropped = dropped_annotations(data, ann_file)
    total = len(data['annotations'])
    count = sum(len(ids) for ids in dropped.values())
    if dropped:
        details = '; '.join(
            f'{len(ids)} with {reason} (ids {ids[:SHOWN]})'
            for reason, ids in dropped.items())
        message = (f'{ann_file}: {count} of {total} annotations are unusable '
                   f'and dropped: {details}')
        if 2 * count > total:
            raise InvalidDataError(message + '; more than half of the data '
                                   'is unusable, so this is an error')
        warn(message)
    check_image_files(data, ann_file, image_dir)
    if training and count_training_images(data, dropped,
                                          filter_cfg or {}) == 0:
        raise InvalidDataError(
            f'training set {ann_file} is empty: no image is left after '
            f'filtering (filter_cfg={filter_cfg}; {len(data["images"])} '
            f'images, {total - count} usable annotations)')
