"""The embedded long-tailed dataset: counts, format, determinism, loading."""
import json
import math
import os
from collections import Counter

import pytest
from tests.tiny_data import TINY

from focal_det.datasets.longtail_synth import (LONGTAIL_CLASSES,
                                               MIN_VAL_INSTANCES,
                                               ensure_longtail_dataset,
                                               generate_longtail_dataset,
                                               longtail_train_counts)
from focal_det.datasets.frequency import lvis_frequency



def read_tree(root):
    """Map every file under ``root`` (relative path) to its bytes."""
    tree = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, 'rb') as file:
                tree[os.path.relpath(path, root)] = file.read()
    return tree


def load_split(root, split):
    """The parsed COCO json of ``split`` under ``root``."""
    with open(os.path.join(root, 'annotations', f'{split}.json')) as file:
        return json.load(file)


def per_class(coco, count_images):
    """Objects (or images, if ``count_images``) per category id."""
    if count_images:
        pairs = {(ann['image_id'], ann['category_id'])
                 for ann in coco['annotations']}
        return Counter(category_id for _, category_id in pairs)
    return Counter(ann['category_id'] for ann in coco['annotations'])


@pytest.fixture(scope='module')
def default_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('default') / 'longtail')
    generate_longtail_dataset(root, seed=0)
    return root


def test_layout_and_default_sizes(default_root):
    for split, expected_images in (('train', 600), ('val', 220)):
        coco = load_split(default_root, split)
        assert len(coco['images']) == expected_images
        files = sorted(os.listdir(os.path.join(default_root, split)))
        assert files == sorted(image['file_name']
                               for image in coco['images'])
        assert all(image['width'] == image['height'] == 128
                   for image in coco['images'])


def test_same_seed_gives_identical_bytes(tmp_path, tiny_root):
    again = str(tmp_path / 'again')
    generate_longtail_dataset(again, seed=0, **TINY)
    assert read_tree(again) == read_tree(tiny_root)


def test_other_seed_gives_other_data(tmp_path, tiny_root):
    other = str(tmp_path / 'other')
    generate_longtail_dataset(other, seed=1, **TINY)
    first, second = read_tree(tiny_root), read_tree(other)
    assert first.keys() == second.keys()
    differing = [path for path in first if first[path] != second[path]]
    assert 'annotations/train.json' in differing
    assert len(differing) > 0.9 * len(first)


def test_default_train_counts_follow_the_power_law(default_root):
    counts = longtail_train_counts()
    assert counts == longtail_train_counts(1000, 125.0)
    assert counts[0] == 1000 and counts[0] / counts[-1] >= 100
    assert all(a >= b for a, b in zip(counts, counts[1:]))
    exponent = math.log(counts[0] / counts[-1]) / math.log(len(counts))
    for rank, count in enumerate(counts):
        assert abs(count - 1000 * (rank + 1)**-exponent) <= 0.5
    observed = per_class(load_split(default_root, 'train'), False)
    assert [observed[i + 1] for i in range(len(counts))] == counts


def test_tiny_train_counts_hit_their_targets(tiny_root):
    targets = longtail_train_counts(TINY['head_instances'],
                                    TINY['imbalance_ratio'])
    assert targets[0] / targets[-1] >= 100
    observed = per_class(load_split(tiny_root, 'train'), False)
    assert [observed[i + 1] for i in range(len(targets))] == targets


@pytest.mark.parametrize('root_name', ['default_root', 'tiny_root'])
def test_validation_has_enough_of_every_class(root_name, request):
    root = request.getfixturevalue(root_name)
    observed = per_class(load_split(root, 'val'), False)
    assert len(observed) == len(LONGTAIL_CLASSES)
    assert min(observed.values()) >= MIN_VAL_INSTANCES


@pytest.mark.parametrize('root_name', ['default_root', 'tiny_root'])
def test_categories_carry_lvis_fields_from_train(root_name, request):
    root = request.getfixturevalue(root_name)
    train = load_split(root, 'train')
    instances, images = per_class(train, False), per_class(train, True)
    categories = train['categories']
    assert [cat['id'] for cat in categories] == list(
        range(1, len(LONGTAIL_CLASSES) + 1))
    assert tuple(cat['name'] for cat in categories) == LONGTAIL_CLASSES
    for cat in categories:
        assert cat['instance_count'] == instances[cat['id']]
        assert cat['image_count'] == images[cat['id']]
        assert cat['frequency'] == lvis_frequency(cat['image_count'])
    assert {cat['frequency'] for cat in categories} == {'r', 'c', 'f'}
    # Validation categories repeat the train statistics, as in LVIS.
    assert load_split(root, 'val')['categories'] == categories


def test_default_has_several_classes_in_every_bucket(default_root):
    buckets = Counter(cat['frequency']
                      for cat in load_split(default_root, 'train')
                      ['categories'])
    assert min(buckets['r'], buckets['c'], buckets['f']) >= 3


def test_lvis_frequency_boundaries():
    assert [lvis_frequency(n) for n in (0, 10, 11, 100, 101)] == \
        ['r', 'r', 'c', 'c', 'f']


@pytest.mark.parametrize('split', ['train', 'val'])
def test_annotations_are_valid_coco_boxes(default_root, split):
    coco = load_split(default_root, split)
    images = {image['id']: image for image in coco['images']}
    assert len(images) == len(coco['images'])
    ann_ids = [ann['id'] for ann in coco['annotations']]
    assert len(set(ann_ids)) == len(ann_ids)
    objects_per_image = Counter(ann['image_id']
                                for ann in coco['annotations'])
    assert set(objects_per_image) == set(images)
    assert min(objects_per_image.values()) >= 2
    assert max(objects_per_image.values()) <= 8
    for ann in coco['annotations']:
        image = images[ann['image_id']]
        x, y, w, h = ann['bbox']
        assert all(isinstance(value, float) for value in ann['bbox'])
        assert x >= 0 and y >= 0 and w > 0 and h > 0
        assert x + w <= image['width'] and y + h <= image['height']
        assert 0 < ann['area'] <= w * h
        assert ann['iscrowd'] == 0


def test_objects_overlap_sometimes(default_root):
    coco = load_split(default_root, 'train')
    boxes_per_image = {}
    for ann in coco['annotations']:
        boxes_per_image.setdefault(ann['image_id'], []).append(ann['bbox'])

    def overlap(a, b):
        return (min(a[0] + a[2], b[0] + b[2]) > max(a[0], b[0])
                and min(a[1] + a[3], b[1] + b[3]) > max(a[1], b[1]))

    overlapping_images = sum(
        any(overlap(a, b) for i, a in enumerate(boxes) for b in boxes[:i])
        for boxes in boxes_per_image.values())
    assert overlapping_images > 0.1 * len(boxes_per_image)


def test_ensure_creates_once_then_leaves_it_alone(tmp_path):
    data_root = tmp_path / 'data' / 'longtail'
    returned = ensure_longtail_dataset(str(data_root), seed=0, **TINY)
    assert returned == str(data_root)
    train_json = data_root / 'annotations' / 'train.json'
    first_image = data_root / 'train' / '000001.png'
    stamps = (train_json.stat().st_mtime_ns, first_image.stat().st_mtime_ns)
    # No staging directory is left beside the dataset.
    assert os.listdir(tmp_path / 'data') == ['longtail']

    # A different seed would give different files: nothing may be rewritten.
    ensure_longtail_dataset(str(data_root), seed=5, **TINY)
    assert (train_json.stat().st_mtime_ns,
            first_image.stat().st_mtime_ns) == stamps


def test_ensure_fills_an_empty_directory(tmp_path):
    data_root = tmp_path / 'longtail'
    data_root.mkdir()
    ensure_longtail_dataset(data_root, seed=0, **TINY)
    assert (data_root / 'annotations' / 'val.json').is_file()


def test_failed_ensure_leaves_nothing_behind(tmp_path):
    data_root = tmp_path / 'longtail'
    with pytest.raises(ValueError, match='image_size'):
        ensure_longtail_dataset(str(data_root), image_size=8)
    assert os.listdir(tmp_path) == []


def test_ensure_rejects_bad_data_roots(tmp_path):
    a_file = tmp_path / 'file'
    a_file.write_text('not a dataset')
    with pytest.raises(ValueError, match='not a directory'):
        ensure_longtail_dataset(str(a_file))
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'keep.txt').write_text('user data')
    with pytest.raises(ValueError, match='non-empty'):
        ensure_longtail_dataset(str(foreign))
    assert os.listdir(foreign) == ['keep.txt']
    with pytest.raises(ValueError, match='data_root'):
        ensure_longtail_dataset('')


@pytest.mark.parametrize('options, parameter', [
    (dict(seed=-1), 'seed'),
    (dict(seed=True), 'seed'),
    (dict(image_size=16), 'image_size'),
    (dict(val_instances_per_class=(10, 40)), 'val_instances_per_class'),
    (dict(objects_per_image=(3, 2)), 'objects_per_image'),
    (dict(object_size=(10, 100)), 'object_size'),
    (dict(head_instances=5, imbalance_ratio=100.0), 'imbalance_ratio'),
    (dict(imbalance_ratio=0.5), 'imbalance_ratio'),
    (dict(num_train_images=100), 'num_train_images'),
])
def test_generator_rejects_bad_arguments(tmp_path, options, parameter):
    out_dir = tmp_path / 'out'
    with pytest.raises(ValueError, match=parameter):
        generate_longtail_dataset(str(out_dir), **options)
    assert not out_dir.exists()


def test_generator_refuses_to_mix_with_existing_files(tmp_path):
    a_file = tmp_path / 'file'
    a_file.write_text('')
    with pytest.raises(ValueError, match='not a directory'):
        generate_longtail_dataset(str(a_file), **TINY)
    (tmp_path / 'full').mkdir()
    (tmp_path / 'full' / 'old.png').write_bytes(b'')
    with pytest.raises(FileExistsError, match='not empty'):
        generate_longtail_dataset(str(tmp_path / 'full'), **TINY)


def test_registered_dataset_loads_the_train_split(default_root):
    pytest.importorskip('mmdet')
    from mmdet.registry import DATASETS

    import focal_det.datasets  # noqa: F401  (registers the class)
    from focal_det.datasets.longtail_dataset import LongTailSynthDataset

    assert DATASETS.get('LongTailSynthDataset') is LongTailSynthDataset
    dataset = LongTailSynthDataset(
        data_root=default_root, ann_file='annotations/train.json',
        data_prefix=dict(img='train/'), pipeline=[])
    coco = load_split(default_root, 'train')
    annotated_images = {ann['image_id'] for ann in coco['annotations']}
    assert len(dataset) == len(annotated_images)
    assert dataset.metainfo['classes'] == LONGTAIL_CLASSES
    assert len(dataset.metainfo['classes']) >= 20
    assert len(dataset.metainfo['palette']) == len(LONGTAIL_CLASSES)

    first = dataset[0]
    assert os.path.isfile(first['img_path'])
    first_anns = [ann for ann in coco['annotations']
                  if ann['image_id'] == first['img_id']]
    assert len(first['instances']) == len(first_anns)
    # Labels are 0-based in mmdet, in category-id order.
    assert sorted(inst['bbox_label'] for inst in first['instances']) == \
        sorted(ann['category_id'] - 1 for ann in first_anns)


def test_dataset_builds_from_a_config(tiny_root):
    pytest.importorskip('mmdet')
    from mmdet.registry import DATASETS

    import focal_det.datasets  # noqa: F401  (registers the class)

    dataset = DATASETS.build(
        dict(type='LongTailSynthDataset', data_root=tiny_root,
             ann_file='annotations/val.json', data_prefix=dict(img='val/'),
             pipeline=[], test_mode=True))
    assert len(dataset) == TINY['num_val_images']
