"""The embedded dataset's calibration split: deterministic, its own images,
every class, and train/val exactly as before it existed."""
import hashlib
import json
import os
import os.path as osp
import shutil

import pytest

from focal_det.datasets import generate_longtail_dataset
from focal_det.datasets.longtail_calib import (calib_ann_file,
                                               ensure_calib_split)
from focal_det.datasets.longtail_synth import LONGTAIL_CLASSES

from .tiny_data import TINY

# sha256 over train.json, its PNGs, val.json, its PNGs (sorted) of the tiny
# dataset, seed 0, written by the generator before the calib split existed
# (commit 4dc0805).
TRAIN_VAL_SHA256 = ('c7684080a6b8311665484c7fa3f5cb2a07e87f08349878d2757'
                    '04aba7728a025')


def split_digest(root, splits):
    digest = hashlib.sha256()
    for split in splits:
        with open(osp.join(root, 'annotations', f'{split}.json'), 'rb') as f:
            digest.update(f.read())
        for name in sorted(os.listdir(osp.join(root, split))):
            with open(osp.join(root, split, name), 'rb') as f:
                digest.update(f.read())
    return digest.hexdigest()


def png_digests(root, split):
    folder = osp.join(root, split)
    return {
        hashlib.sha256(open(osp.join(folder, name), 'rb').read()).hexdigest()
        for name in os.listdir(folder)
    }


@pytest.fixture(scope='module')
def two_datasets(tmp_path_factory):
    roots = []
    for name in ('first', 'second'):
        root = str(tmp_path_factory.mktemp(name) / 'data')
        generate_longtail_dataset(root, seed=0, **TINY)
        roots.append(root)
    return roots


def test_train_and_val_bytes_unchanged(two_datasets):
    assert split_digest(two_datasets[0], ('train', 'val')) == \
        TRAIN_VAL_SHA256


def test_calib_split_is_byte_identical_across_runs(two_datasets):
    first, second = two_datasets
    assert split_digest(first, ('calib', )) == \
        split_digest(second, ('calib', ))


def test_calib_images_are_new_and_every_class_is_present(two_datasets):
    root = two_datasets[0]
    calib = png_digests(root, 'calib')
    assert len(calib) == TINY['num_val_images']
    assert not calib & png_digests(root, 'train')
    assert not calib & png_digests(root, 'val')
    with open(calib_ann_file(root)) as f:
        coco = json.load(f)
    counts = {c['id']: 0 for c in coco['categories']}
    for annotation in coco['annotations']:
        counts[annotation['category_id']] += 1
    low, high = TINY['val_instances_per_class']
    assert len(counts) == len(LONGTAIL_CLASSES)
    assert all(low <= n <= high for n in counts.values()), counts
    with open(osp.join(root, 'annotations', 'train.json')) as f:
        assert coco['categories'] == json.load(f)['categories']


def test_adding_the_split_later_gives_the_same_bytes(two_datasets, tmp_path):
    root = str(tmp_path / 'data')
    shutil.copytree(two_datasets[0], root)
    before = split_digest(root, ('calib', ))
    os.remove(calib_ann_file(root))
    shutil.rmtree(osp.join(root, 'calib'))
    assert ensure_calib_split(root) == calib_ann_file(root)
    assert split_digest(root, ('calib', )) == before
    assert split_digest(root, ('train', 'val')) == TRAIN_VAL_SHA256


def test_a_calib_folder_without_annotations_is_not_overwritten(
        two_datasets, tmp_path):
    root = str(tmp_path / 'data')
    shutil.copytree(two_datasets[0], root)
    os.remove(calib_ann_file(root))
    with pytest.raises(FileExistsError, match='calib'):
        ensure_calib_split(root)
    assert len(os.listdir(osp.join(root, 'calib'))) == TINY['num_val_images']


def test_a_dataset_without_train_annotations_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match='train.json'):
        ensure_calib_split(str(tmp_path))
