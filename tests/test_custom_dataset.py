"""Your own dataset: the template config on a COCO-format dataset written
here with plain json and Pillow, as a user's export would be."""
import glob
import json
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from PIL import Image, ImageDraw

from focal_det.datasets import coco_class_names
from tests.test_real_formats import (SMALL_TEST, SMALL_TRAINING,
                                     SMALL_TRAINING_BY_FORMAT, load_json)
from tests.test_training import run_tool
from tests.tiny_data import REPO

TEMPLATE = osp.join(REPO, 'configs', 'custom', 'retinanet_cbfl_custom.py')
# The same dataset section on the embedded data's small, CPU-sized model.
SMALL_TEMPLATE = osp.join(REPO, 'configs', 'custom',
                          'retinanet_cbfl_custom_small.py')
TEMPLATES = pytest.mark.parametrize('template', [TEMPLATE, SMALL_TEMPLATE],
                                    ids=['r50', 'small'])
# Declared out of id order, no `frequency` field: mmdet labels classes in
# the order of the file. Training images per class put them in LVIS's
# buckets by count: > 100 frequent, 11-100 common, <= 10 rare.
CATEGORIES = [dict(id=7, name='kettle'), dict(id=3, name='teapot'),
              dict(id=12, name='mug')]
TRAIN_IMAGES_PER_CLASS = dict(kettle=101, teapot=20, mug=3)
COLOURS = dict(kettle=(200, 40, 40), teapot=(40, 160, 60), mug=(40, 60, 200))
IMAGE_SIZE = (64, 48)


def write_split(root, split, labels_per_image):
    """Images with one coloured rectangle per label, and their json."""
    images, annotations = [], []
    for index, labels in enumerate(labels_per_image):
        image = Image.new('RGB', IMAGE_SIZE, (120, 120, 110))
        draw = ImageDraw.Draw(image)
        file_name = f'{split}_{index:04d}.png'
        for slot, name in enumerate(labels):
            x, y, w, h = 4 + 20 * slot, 6 + 3 * (index % 5), 16, 20 + slot
            draw.rectangle([x, y, x + w - 1, y + h - 1], fill=COLOURS[name])
            category_id = next(c['id'] for c in CATEGORIES
                               if c['name'] == name)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=index + 1,
                category_id=category_id, bbox=[x, y, w, h], area=w * h,
                iscrowd=0))
        image.save(osp.join(root, split, file_name))
        images.append(dict(id=index + 1, file_name=file_name,
                           width=IMAGE_SIZE[0], height=IMAGE_SIZE[1]))
    with open(osp.join(root, 'annotations', f'{split}.json'), 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=CATEGORIES), f)


@pytest.fixture(scope='module')
def user_folder(tmp_path_factory):
    """A folder holding data/custom/ in the template's layout."""
    folder = tmp_path_factory.mktemp('custom')
    root = folder / 'data' / 'custom'
    for sub_dir in ('annotations', 'train', 'val'):
        (root / sub_dir).mkdir(parents=True)
    count = TRAIN_IMAGES_PER_CLASS
    write_split(str(root), 'train', [
        [name for name in count if index < count[name]]
        for index in range(count['kettle'])
    ])
    write_split(str(root), 'val', [['kettle', 'teapot'], ['mug'],
                                   ['teapot', 'mug'], ['kettle']])
    return str(folder)


def test_class_names_come_from_the_files_in_their_order(user_folder):
    annotations = osp.join(user_folder, 'data', 'custom', 'annotations')
    assert coco_class_names(osp.join(annotations, 'train.json'),
                            osp.join(annotations, 'val.json')) == (
                                'kettle', 'teapot', 'mug')


@pytest.mark.parametrize('content,message', [
    (dict(categories=CATEGORIES[::-1]),
     r'declares other categories .*category 0 is \(12, .mug.\) instead of '
     r'\(7, .kettle.\)'),
    ([], "has no 'categories' list"),
    (dict(categories=CATEGORIES + [dict(id=9, name='mug')]),
     r"category names \['mug'\] are declared more than once"),
    (dict(categories=[dict(id='7', name='kettle')]),
     r"categories\[0\] needs an integer 'id'"),
])
def test_inconsistent_or_malformed_files_are_named(user_folder, tmp_path,
                                                   content, message):
    train = osp.join(user_folder, 'data', 'custom', 'annotations',
                     'train.json')
    other = tmp_path / 'other.json'
    other.write_text(json.dumps(content))
    with pytest.raises(ValueError, match=message):
        coco_class_names(train, str(other))


def test_a_missing_file_is_named_with_the_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError,
                       match=f'data/custom/annotations/train.json not found '
                       f'\\(in {tmp_path}\\)'):
        Config.fromfile(TEMPLATE)


@TEMPLATES
def test_template_sizes_the_model_from_the_files(user_folder, monkeypatch,
                                                 template):
    monkeypatch.chdir(user_folder)
    cfg = Config.fromfile(template)
    head = MODELS.build(cfg.model).bbox_head
    assert head.num_classes == 3
    assert type(head.loss_cls).__name__ == 'ClassBalancedFocalLoss'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.metainfo.classes == ('kettle', 'teapot',
                                                        'mug')
    assert [e['type'] for e in cfg.test_evaluator] == [
        'LongTailCocoMetric', 'DetectionCalibrationMetric']


@pytest.mark.slow
@TEMPLATES
def test_template_trains_and_evaluates_long_tail_and_calibration(
        user_folder, tmp_path, template):
    work_dir, test_dir = str(tmp_path / 'train'), str(tmp_path / 'test')
    env = dict(OMP_NUM_THREADS='1')
    trained = run_tool(
        [osp.join(REPO, 'tools', 'train.py'), template, '--work-dir',
         work_dir, '--cfg-options'] + SMALL_TRAINING +
        SMALL_TRAINING_BY_FORMAT['coco'], cwd=user_folder, env=env)
    assert ('class counts from the training set: 3 classes, '
            f'{sum(TRAIN_IMAGES_PER_CLASS.values())} instances'
            in trained.stdout + trained.stderr)
    (checkpoint, ) = glob.glob(osp.join(work_dir, 'iter_*.pth'))
    state = torch.load(checkpoint, weights_only=False)['state_dict']
    (counts, ) = [value.tolist() for key, value in state.items()
                  if key.endswith('class_counts')]
    assert counts == list(TRAIN_IMAGES_PER_CLASS.values())
    # D-ECE counts detections scoring >= 0.3 by default; a model trained
    # for two iterations scores about 0.01.
    run_tool([osp.join(REPO, 'tools', 'test.py'), template, checkpoint,
              '--work-dir', test_dir, '--cfg-options'] + SMALL_TEST +
             ['test_evaluator.1.score_thr=0.001'], cwd=user_folder, env=env)
    (report, ) = glob.glob(osp.join(test_dir, '*', 'long_tail_metrics.json'))
    report = load_json(report)
    assert 'training image counts' in report['bucket_source']
    rows = {row['category']: row for row in report['per_class']['bbox']}
    assert {name: (row['bucket'], row['train_image_count'])
            for name, row in rows.items()} == dict(
                kettle=('f', 101), teapot=('c', 20), mug=('r', 3))
    for bucket in ('APr', 'APc', 'APf'):
        assert 0.0 <= report['overall'][f'bbox_{bucket}'] <= 1.0
    (calibration, ) = glob.glob(
        osp.join(test_dir, '*', 'calibration_metrics.json'))
    calibration = load_json(calibration)
    assert calibration['num_detections'] > 0
    assert 0.0 <= calibration['d_ece'] <= 1.0
