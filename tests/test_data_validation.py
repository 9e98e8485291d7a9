"""Malformed datasets are named before training (focal_det.datasets.validation
through focal_det.engine.prepare_data)."""
import copy
import json

import pytest
from mmengine.config import Config

from focal_det.datasets.validation import validate_dataset
from focal_det.errors import InvalidDataError
from focal_det.engine import prepare_data

IMAGES = [dict(id=i, file_name=f'{i}.png', width=100, height=80)
          for i in (1, 2, 3)]
CATEGORIES = [dict(id=1, name='a'), dict(id=2, name='b')]
GOOD_BOX = [10, 10, 20, 20]


def annotations(*boxes_and_categories):
    return [dict(id=i + 1, image_id=1 + i % 3, category_id=category,
                 bbox=box, area=1.0, iscrowd=0)
            for i, (box, category) in enumerate(boxes_and_categories)]


def write_dataset(tmp_path, data, images=('1.png', '2.png', '3.png')):
    (tmp_path / 'img').mkdir(exist_ok=True)
    for name in images:
        (tmp_path / 'img' / name).write_bytes(b'\x89PNG')
    path = tmp_path / 'ann.json'
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def validate(path, tmp_path, training=True, filter_cfg=None):
    warnings = []
    validate_dataset(path, str(tmp_path / 'img'), training, filter_cfg,
                     warnings.append)
    return warnings


def dataset(anns, images=IMAGES, categories=CATEGORIES):
    return dict(images=copy.deepcopy(images), annotations=anns,
                categories=categories)


def test_a_good_dataset_passes_silently(tmp_path):
    path = write_dataset(tmp_path, dataset(annotations((GOOD_BOX, 1))))
    assert validate(path, tmp_path) == []


@pytest.mark.parametrize('content,message', [
    ('{"images": [{"id": 1', 'is not valid JSON'),
    ('[{"id": 1}]', 'holds a JSON list, not a COCO-format object'),
    ('{"images": [], "categories": []}', 'has no "annotations" list'),
])
def test_unreadable_annotation_files_are_named(tmp_path, content, message):
    path = write_dataset(tmp_path, content)
    with pytest.raises(InvalidDataError, match=f'{path} {message}'):
        validate(path, tmp_path)


def test_a_malformed_record_is_named(tmp_path):
    anns = annotations((GOOD_BOX, 1), ([1, 2, 3], 1))
    path = write_dataset(tmp_path, dataset(anns))
    with pytest.raises(InvalidDataError,
                       match=r'annotation 2 has bbox \[1, 2, 3\], not'):
        validate(path, tmp_path)
    images = copy.deepcopy(IMAGES)
    del images[1]['width']
    path = write_dataset(tmp_path, dataset(anns[:1], images=images))
    with pytest.raises(InvalidDataError,
                       match='image 2 has no valid "width"'):
        validate(path, tmp_path)


def test_dropped_annotations_are_counted_with_their_ids(tmp_path):
    anns = annotations(*[(GOOD_BOX, 1)] * 4, ([5, 5, 0, 9], 1),
                       ([150, 10, 20, 20], 2), (GOOD_BOX, 7))
    path = write_dataset(tmp_path, dataset(anns))
    (warning, ) = validate(path, tmp_path)
    assert warning == (
        f'{path}: 3 of 7 annotations are unusable and dropped: 1 with '
        'category id not among the categories (ids [7]); 1 with box width '
        'or height under 1 px (ids [5]); 1 with box outside its image '
        '(ids [6])')


def test_mostly_unusable_data_is_an_error(tmp_path):
    anns = annotations((GOOD_BOX, 1), (GOOD_BOX, 9), (GOOD_BOX, 9))
    path = write_dataset(tmp_path, dataset(anns))
    with pytest.raises(InvalidDataError,
                       match=r'2 of 3 annotations are unusable.*more than '
                       'half'):
        validate(path, tmp_path)


def test_missing_and_empty_images_are_named(tmp_path):
    path = write_dataset(tmp_path, dataset(annotations((GOOD_BOX, 1))),
                         images=('1.png', ))
    (tmp_path / 'img' / '3.png').write_bytes(b'')
    image_dir = tmp_path / 'img'
    with pytest.raises(InvalidDataError) as error:
        validate(path, tmp_path)
    assert str(error.value) == (
        f'2 of 3 images of {path} cannot be read: {image_dir / "2.png"} '
        f'(missing), {image_dir / "3.png"} (empty)')


@pytest.mark.parametrize('training', [True, False])
def test_a_file_without_images_is_named(tmp_path, training):
    # mmengine would stop with "need at least one array to concatenate".
    path = write_dataset(tmp_path, dataset([], images=[]), images=())
    with pytest.raises(InvalidDataError,
                       match=f'^annotation file {path} has no images$'):
        validate(path, tmp_path, training=training)


def test_an_empty_training_set_is_an_error_but_an_empty_test_set_is_not(
        tmp_path):
    # Every image is smaller than min_size: filtering leaves nothing.
    path = write_dataset(tmp_path, dataset(annotations((GOOD_BOX, 1))))
    filter_cfg = dict(filter_empty_gt=True, min_size=90)
    with pytest.raises(InvalidDataError,
                       match=f'training set {path} is empty: no image is '
                       'left after filtering'):
        validate(path, tmp_path, filter_cfg=filter_cfg)
    assert validate(path, tmp_path, training=False,
                    filter_cfg=filter_cfg) == []


def test_prepare_data_checks_every_dataset_of_the_config(tmp_path):
    anns = annotations((GOOD_BOX, 1), (GOOD_BOX, 9), (GOOD_BOX, 9))
    write_dataset(tmp_path, dataset(anns))
    cfg = Config(dict(train_dataloader=dict(dataset=dict(
        type='CocoDataset', data_root=str(tmp_path), ann_file='ann.json',
        data_prefix=dict(img='img/')))))
    with pytest.raises(InvalidDataError, match='ann.json: 2 of 3'):
        prepare_data(cfg, ('train_dataloader', ))
