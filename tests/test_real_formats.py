"""The COCO and LVIS configs on miniature data in their real formats.

The writer's layout is checked here directly; the slow tests then train
every COCO and LVIS config for a few iterations with tools/train.py and
evaluate it with tools/test.py and the config's own metric, run from a
folder holding ``data/coco/`` and ``data/lvis_v1/``, where the configs look.
"""
import glob
import hashlib
import json
import math
import os
import os.path as osp

import pytest
import torch
from mmdet.registry import DATASETS
from mmengine.config import Config

from focal_det.datasets import lvis_frequency
from focal_det.datasets.mini_formats import (COCO_PRESENT_CLASSES,
                                             LVIS_PRESENT_CLASSES,
                                             NUM_TRAIN_IMAGES, NUM_VAL_IMAGES,
                                             write_mini_coco, write_mini_lvis)
from tests.test_training import logged_scalars, run_tool
from tests.tiny_data import REPO

REAL_FORMAT_CONFIGS = sorted(
    glob.glob(osp.join(REPO, 'configs', 'coco', '*.py')) +
    glob.glob(osp.join(REPO, 'configs', 'lvis', '*.py')))
ITERATIONS = 2
IMAGE_SCALE = '(64,64)'
# What makes a run small; everything else is the config's own. R-50 from
# random init (no download), batch 2, the images at their own 64 px, a
# few iterations, no validation during training (tools/test.py evaluates),
# and a checkpoint without the optimizer (the LVIS one is 490 MB with it).
SMALL_TRAINING = [
    'model.backbone.init_cfg=None',
    'train_dataloader.batch_size=2',
    'train_dataloader.num_workers=0',
    'train_dataloader.persistent_workers=False',
    'train_cfg._delete_=True',
    'train_cfg.type=IterBasedTrainLoop',
    f'train_cfg.max_iters={ITERATIONS}',
    'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
    'default_hooks.checkpoint.by_epoch=False',
    f'default_hooks.checkpoint.interval={ITERATIONS}',
    'default_hooks.checkpoint.save_optimizer=False',
    'default_hooks.logger.interval=1',
    'log_processor.by_epoch=False',
]
SMALL_TRAINING_BY_FORMAT = dict(
    coco=[],
    lvis=[
        # Repeat-factor sampling's threshold is a share of the images: on
        # LVIS's 100k images 1e-3 is 100 images; on 104 images 0.1 repeats
        # the rare classes' images as 1e-3 does there.
        'train_dataloader.dataset.oversample_thr=0.1',
    ])
SMALL_TEST = [
    'model.backbone.init_cfg=None',
    'test_dataloader.num_workers=0',
    'test_dataloader.persistent_workers=False',
    f'test_dataloader.dataset.pipeline.1.scale={IMAGE_SCALE}',
    # A model trained for two iterations scores about 0.01 everywhere,
    # below COCO's 0.05 threshold; LVIS's configs use 1e-4 already.
    'model.test_cfg.score_thr=0.0001',
]


def small_training_resize(config, data_format):
    """The option that trains at the images' own size: the third training
    step resizes, to one scale (``scale``) or a random one (``scales``)."""
    dataset = Config.fromfile(config).train_dataloader.dataset
    key = 'train_dataloader.dataset'
    if data_format == 'lvis':  # inside ClassBalancedDataset
        dataset, key = dataset.dataset, key + '.dataset'
    if 'scales' in dataset.pipeline[2]:
        return f'{key}.pipeline.2.scales=[{IMAGE_SCALE}]'
    return f'{key}.pipeline.2.scale={IMAGE_SCALE}'


def load_json(path):
    with open(path) as f:
        return json.load(f)


def tree_digest(root):
    """One hash over every file's relative path and bytes."""
    digest = hashlib.sha256()
    for path in sorted(glob.glob(osp.join(root, '**', '*'), recursive=True)):
        if osp.isfile(path):
            digest.update(osp.relpath(path, root).encode())
            with open(path, 'rb') as f:
                digest.update(f.read())
    return digest.hexdigest()


@pytest.fixture(scope='module')
def data_parent(tmp_path_factory):
    """A folder holding data/coco/ and data/lvis_v1/, as a user's would."""
    parent = tmp_path_factory.mktemp('real_formats')
    write_mini_coco(str(parent / 'data' / 'coco'))
    write_mini_lvis(str(parent / 'data' / 'lvis_v1'))
    return str(parent)


# --- the layouts -------------------------------------------------------------


def test_coco_layout_declares_every_category_with_coco_ids(data_parent):
    root = osp.join(data_parent, 'data', 'coco')
    train = load_json(osp.join(root, 'annotations',
                               'instances_train2017.json'))
    categories = train['categories']
    assert len(categories) == 80
    assert categories[0] == dict(id=1, name='person',
                                 supercategory='person')
    assert categories[-1] == dict(id=90, name='toothbrush',
                                  supercategory='indoor')
    assert {c['id'] for c in categories}.isdisjoint({12, 26, 45, 83})
    for split, count in (('train', NUM_TRAIN_IMAGES),
                         ('val', NUM_VAL_IMAGES)):
        images = load_json(osp.join(
            root, 'annotations', f'instances_{split}2017.json'))['images']
        assert len(images) == count
        for image in images:
            assert osp.isfile(osp.join(root, f'{split}2017',
                                       image['file_name']))
            assert image['coco_url'].endswith(
                f"/{split}2017/{image['file_name']}")


def test_lvis_layout_has_its_fields_and_addresses_images_by_url(
        data_parent):
    root = osp.join(data_parent, 'data', 'lvis_v1')
    splits = {
        split: load_json(osp.join(root, 'annotations',
                                  f'lvis_v1_{split}.json'))
        for split in ('train', 'val')
    }
    categories = splits['train']['categories']
    assert len(categories) == 1203
    assert categories == splits['val']['categories']
    images_of = {c['id']: set() for c in categories}
    instances_of = {c['id']: 0 for c in categories}
    for annotation in splits['train']['annotations']:
        images_of[annotation['category_id']].add(annotation['image_id'])
        instances_of[annotation['category_id']] += 1
        assert 'iscrowd' not in annotation
    for category in categories:
        assert category['image_count'] == len(images_of[category['id']])
        assert category['instance_count'] == instances_of[category['id']]
        assert category['frequency'] == lvis_frequency(
            category['image_count'])
    buckets = {c['frequency'] for c in categories if c['image_count']}
    assert buckets == {'r', 'c', 'f'}
    folders = {}
    for split, content in splits.items():
        for image in content['images']:
            assert 'file_name' not in image
            assert set(image['neg_category_ids']).isdisjoint(
                a['category_id'] for a in content['annotations']
                if a['image_id'] == image['id'])
            assert isinstance(image['not_exhaustive_category_ids'], list)
            relative = image['coco_url'].replace(
                'http://images.cocodataset.org/', '')
            assert osp.isfile(osp.join(root, relative))
            folders.setdefault(split, set()).add(relative.split('/')[0])
    # As in LVIS v1, each split draws images from both COCO folders.
    assert folders == dict(train={'train2017', 'val2017'},
                           val={'train2017', 'val2017'})
    val_classes = {a['category_id'] for a in splits['val']['annotations']}
    assert {categories[i - 1]['frequency'] for i in val_classes} == {
        'r', 'c', 'f'}


@pytest.mark.parametrize('config_dir,present', [
    ('coco', COCO_PRESENT_CLASSES), ('lvis', LVIS_PRESENT_CLASSES)])
def test_mmdet_datasets_of_the_configs_read_the_layouts(
        data_parent, config_dir, present, monkeypatch):
    monkeypatch.chdir(data_parent)
    configs = glob.glob(osp.join(REPO, 'configs', config_dir, '*_cbfl.py'))
    assert len(configs) == 2  # RetinaNet 1x and EFL's improved baseline
    for config in configs:
        check_datasets_read_the_layout(Config.fromfile(config), present)


def check_datasets_read_the_layout(cfg, present):
    train = DATASETS.build(cfg.train_dataloader.dataset)
    val = DATASETS.build(cfg.val_dataloader.dataset)
    assert len(val) == NUM_VAL_IMAGES
    classes = train.metainfo['classes']
    labels = {
        int(label) for index in range(len(val))
        for label in val[index]['data_samples'].gt_instances.labels
    }
    assert {classes[label] for label in labels} == {c.name for c in present}


def test_writing_is_deterministic_and_never_overwrites(tmp_path,
                                                       data_parent):
    again = str(tmp_path / 'coco')
    write_mini_coco(again)
    assert tree_digest(again) == tree_digest(
        osp.join(data_parent, 'data', 'coco'))
    with pytest.raises(FileExistsError, match='is not empty'):
        write_mini_coco(again)
    with pytest.raises(ValueError, match='image_size must be an integer >= '
                       '32'):
        write_mini_lvis(str(tmp_path / 'lvis'), image_size=16)


# --- the configs, trained and evaluated --------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    'config', REAL_FORMAT_CONFIGS,
    ids=[osp.relpath(p, osp.join(REPO, 'configs'))
         for p in REAL_FORMAT_CONFIGS])
def test_config_trains_and_evaluates_on_its_real_format(
        config, data_parent, tmp_path):
    data_format = 'lvis' if '/lvis/' in config else 'coco'
    work_dir = str(tmp_path / 'train')
    env = dict(OMP_NUM_THREADS='1')
    trained = run_tool(
        [osp.join(REPO, 'tools', 'train.py'), config, '--work-dir', work_dir,
         '--cfg-options'] + SMALL_TRAINING +
        SMALL_TRAINING_BY_FORMAT[data_format] +
        [small_training_resize(config, data_format)],
        cwd=data_parent, env=env)
    losses = [row['loss'] for row in logged_scalars(work_dir)
              if 'loss' in row]
    assert len(losses) == ITERATIONS and all(map(math.isfinite, losses))
    checkpoint = osp.join(work_dir, f'iter_{ITERATIONS}.pth')
    if config.endswith('_cbfl.py'):
        check_counts_from_the_sampled_training_set(
            trained.stdout + trained.stderr, checkpoint, data_parent,
            data_format)
    test_dir = str(tmp_path / 'test')
    run_tool([osp.join(REPO, 'tools', 'test.py'), config, checkpoint,
              '--work-dir', test_dir, '--cfg-options'] + SMALL_TEST,
             cwd=data_parent, env=env)
    os.remove(checkpoint)  # up to 245 MB; pytest keeps old tmp folders
    (report_path, ) = glob.glob(osp.join(test_dir, '*',
                                         'long_tail_metrics.json'))
    report = load_json(report_path)
    metric = 'LongTailLVISMetric' if data_format == 'lvis' else (
        'LongTailCocoMetric')
    assert report['metric'] == metric
    overall = report['overall']
    # Every bucket has ground truth in the validation split: all measured.
    for key in ('bbox_mAP' if data_format == 'coco' else 'bbox_AP',
                'bbox_APr', 'bbox_APc', 'bbox_APf'):
        assert 0.0 <= overall[key] <= 1.0, (key, overall)
    rows = report['per_class']['bbox']
    assert len(rows) == (1203 if data_format == 'lvis' else 80)
    present = (LVIS_PRESENT_CLASSES
               if data_format == 'lvis' else COCO_PRESENT_CLASSES)
    evaluated = {row['category'] for row in rows if row['AP'] is not None}
    assert evaluated == {c.name for c in present}
    buckets = report['buckets']['bbox']
    assert {bucket: buckets[bucket]['num_classes_evaluated']
            for bucket in buckets} == dict(r=2, c=2, f=1)


def check_counts_from_the_sampled_training_set(log, checkpoint, data_parent,
                                               data_format):
    """ClassCountsHook counted every class, with repeat-factor sampling."""
    if data_format == 'lvis':
        ann_file = 'data/lvis_v1/annotations/lvis_v1_train.json'
    else:
        ann_file = 'data/coco/annotations/instances_train2017.json'
    train = load_json(osp.join(data_parent, ann_file))
    order = [c['id'] for c in train['categories']]
    raw = [0] * len(order)
    for annotation in train['annotations']:
        raw[order.index(annotation['category_id'])] += 1
    state = torch.load(checkpoint, weights_only=False)['state_dict']
    (counts, ) = [value.tolist() for key, value in state.items()
                  if key.endswith('class_counts')]
    assert f'class counts from the training set: {len(order)} classes' in log
    if data_format == 'coco':
        assert counts == raw
        return
    rare = [i for i, c in enumerate(train['categories'])
            if c['frequency'] == 'r' and c['instance_count']]
    assert len(rare) == 2
    # Repeat-factor sampling repeats every image of a rare class at least
    # once more; classes never seen stay at zero.
    assert all(counts[i] >= 2 * raw[i] for i in rare), (counts, raw)
    assert all(c == 0 for c, r in zip(counts, raw) if r == 0)
