"""Configs, class counts, and the tools end to end on a tiny generated dataset."""
import glob
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import ClassBalancedDataset, RepeatDataset
from mmdet.registry import DATASETS, MODELS
from mmdet.utils import register_all_modules

import focal_det  # noqa: F401
from focal_det.datasets.class_counts import count_instances_per_class
from focal_det.engine import prepare_data
from focal_det.heads import (IoUBranchATSSHead, ScoreMappingMixin,
                             ScoreMappingRetinaHead)
from focal_det.loss_names import REGISTERED_NAMES
from tests.tiny_data import REPO, TINY, TINY_TEST_PIPELINE, config_path

register_all_modules()  # mmdet's default scope, as the tools set it
# The own-dataset template reads its class names from its annotation files
# when it loads; tests/test_custom_dataset.py builds it with data.
ALL_CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO, 'configs', '**', '*.py'),
                         recursive=True)
    if '_base_' not in p and osp.join('configs', 'custom') not in p)


def tiny_config(tmp_path, data_root, loss='cbfl', epochs=2, extra=''):
    """A config inheriting the real one, on the tiny data, deterministic."""
    path = tmp_path / f'tiny_{loss}.py'
    path.write_text(f'''
_base_ = {config_path(loss)!r}
data_root = {data_root + '/'!r}
embedded_dataset = dict(data_root=data_root, seed=0, **{TINY!r})
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='PackDetInputs')
]
{TINY_TEST_PIPELINE}
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root,
                                     pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root,
                                   pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(type='LongTailCocoMetric', ann_file=data_root + 'annotations/val.json'),
    dict(type='DetectionCalibrationMetric',
         ann_file=data_root + 'annotations/val.json')
]
test_evaluator = val_evaluator
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
default_hooks = dict(logger=dict(interval=5))
{extra}
''')
    return str(path)


def run_tool(args, cwd=REPO, check=True, env=None):
    result = subprocess.run([sys.executable] + args, cwd=cwd,
                            capture_output=True, text=True,
                            env=dict(os.environ, **(env or {})))
    if check and result.returncode != 0:
        raise AssertionError(result.stdout[-3000:] + result.stderr[-6000:])
    return result


def logged_scalars(work_dir):
    (path, ) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        return [json.loads(line) for line in f]


# --- configs -----------------------------------------------------------------


@pytest.mark.parametrize('path', ALL_CONFIGS,
                         ids=[osp.relpath(p, REPO) for p in ALL_CONFIGS])
def test_every_config_loads_and_builds_its_model_without_data(path):
    cfg = Config.fromfile(path)
    model = MODELS.build(cfg.model)
    head = model.bbox_head
    assert head.cls_out_channels == head.num_classes  # sigmoid: no bg column
    # EFL's improved baseline (atss_iou_*) or RetinaNet; both map their
    # scores (model.test_cfg.score_calibration).
    expected_head = (IoUBranchATSSHead if osp.basename(path).startswith(
        'atss_iou_') else ScoreMappingRetinaHead)
    assert isinstance(head, expected_head)
    assert isinstance(head, ScoreMappingMixin)
    # The loss kind is a token of the file name: ..._cbfl.py, ..._cbfl_ramp.py
    (kind, ) = [token for token in osp.basename(path)[:-3].split('_')
                if token in REGISTERED_NAMES]
    assert type(head.loss_cls).__name__ == REGISTERED_NAMES[kind]
    if '/lvis/' in path:
        assert head.num_classes == 1203
        assert cfg.train_dataloader.dataset.type == 'ClassBalancedDataset'
        assert cfg.train_dataloader.dataset.oversample_thr == 1e-3
        assert cfg.model.test_cfg.max_per_img == 300
        assert cfg.val_evaluator.type == 'LongTailLVISMetric'
        assert not any(step.get('with_mask') for step in cfg.train_pipeline)


def test_embedded_configs_differ_only_in_the_loss():
    configs = [
        Config.fromfile(osp.join(REPO, 'configs', f'retinanet_{loss}.py'))
        for loss in ('fl', 'dfl', 'cbfl')
    ]
    for cfg in configs:
        cfg.model.bbox_head.pop('loss_cls')
    assert configs[0].model == configs[1].model == configs[2].model
    assert (configs[0].train_dataloader == configs[1].train_dataloader ==
            configs[2].train_dataloader)


# --- class counts --------------------------------------------------------------


def tiny_train_dataset(root):
    return DATASETS.build(
        dict(type='LongTailSynthDataset', data_root=root,
             ann_file='annotations/train.json',
             data_prefix=dict(img='train/'), pipeline=[]))


def test_counts_follow_the_dataset_and_its_wrappers(tiny_root):
    with open(osp.join(tiny_root, 'annotations', 'train.json')) as f:
        categories = json.load(f)['categories']
    expected = [cat['instance_count'] for cat in categories]
    dataset = tiny_train_dataset(tiny_root)
    assert count_instances_per_class(dataset, 20) == expected
    repeated = RepeatDataset(tiny_train_dataset(tiny_root), times=3)
    assert count_instances_per_class(repeated, 20) == [3 * n for n in expected]
    balanced = ClassBalancedDataset(tiny_train_dataset(tiny_root),
                                    oversample_thr=0.3)
    counts = count_instances_per_class(balanced, 20)
    # Repeat-factor sampling repeats images of rare classes: the imbalance
    # the loop sees is smaller, and the total is larger.
    assert sum(counts) > sum(expected)
    assert counts[0] / counts[-1] < expected[0] / expected[-1]


def test_counts_on_other_ranks_come_from_rank_zero(monkeypatch, tiny_root):
    from focal_det.hooks import class_counts_hook as hook_module

    model = MODELS.build(dict(type='ClassBalancedFocalLoss'))

    class Runner:
        train_dataloader = type('Loader', (), {
            'dataset': tiny_train_dataset(tiny_root)
        })
        logger = type('Logger', (), {'info': staticmethod(lambda msg: None)})

    Runner.model = model
    monkeypatch.setattr(hook_module, 'get_rank', lambda: 1)
    monkeypatch.setattr(hook_module, 'count_instances_per_class',
                        lambda *a: pytest.fail('rank 1 must not count'))

    def receive_from_rank_zero(objects, src):
        assert src == 0
        objects[0] = list(range(1, 21))

    monkeypatch.setattr(hook_module, 'broadcast_object_list',
                        receive_from_rank_zero)
    hook_module.ClassCountsHook().before_train(Runner)
    assert model.class_balancing.class_counts.tolist() == list(range(1, 21))


# --- the tools end to end ---------------------------------------------------------


@pytest.fixture(scope='module')
def trained_cbfl(tmp_path_factory, tiny_root):
    tmp_path = tmp_path_factory.mktemp('cbfl')
    cfg = tiny_config(tmp_path, tiny_root, 'cbfl', epochs=3)
    work_dir = str(tmp_path / 'work')
    result = run_tool(['tools/train.py', cfg, '--work-dir', work_dir])
    return cfg, work_dir, result


@pytest.mark.slow
def test_train_and_evaluate_end_to_end(trained_cbfl):
    cfg, work_dir, result = trained_cbfl
    log = result.stdout + result.stderr
    assert 'class counts from the training set: 20 classes' in log
    losses = [row['loss'] for row in logged_scalars(work_dir) if 'loss' in row]
    assert len(losses) >= 6
    first, last = sum(losses[:2]) / 2, sum(losses[-2:]) / 2
    assert last < 0.8 * first, losses
    (report, ) = glob.glob(osp.join(work_dir, '*', 'long_tail_metrics.json'))
    with open(report) as f:
        metrics = json.load(f)
    buckets = metrics['buckets']['bbox']
    assert set(buckets) == {'r', 'c', 'f'}
    assert all(0.0 <= buckets[b]['AP'] <= 1.0 for b in buckets)
    assert len(metrics['per_class']['bbox']) == 20
    checkpoint = torch.load(osp.join(work_dir, 'epoch_3.pth'),
                            weights_only=False)
    counts = checkpoint['state_dict'][
        'bbox_head.loss_cls.class_balancing.class_counts']
    with open(osp.join(Config.fromfile(cfg).data_root, 'annotations',
                       'train.json')) as f:
        expected = [c['instance_count'] for c in json.load(f)['categories']]
    assert counts.tolist() == expected


@pytest.mark.slow
def test_test_tool_evaluates_dumps_and_draws(trained_cbfl, tmp_path):
    cfg, work_dir, _ = trained_cbfl
    out = str(tmp_path / 'predictions.pkl')
    result = run_tool([
        'tools/test.py', cfg,
        osp.join(work_dir, 'epoch_3.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out', out, '--show-dir', 'drawn'
    ])
    assert 'bbox_mAP' in result.stdout + result.stderr
    assert osp.getsize(out) > 0
    drawn = glob.glob(str(tmp_path / 'test' / '*' / 'drawn' / '*.png'))
    assert len(drawn) == 100


@pytest.mark.slow
def test_training_refuses_to_overwrite_a_previous_run(trained_cbfl):
    cfg, work_dir, _ = trained_cbfl
    result = run_tool(['tools/train.py', cfg, '--work-dir', work_dir],
                      check=False)
    assert result.returncode != 0
    assert 'already holds checkpoints' in result.stderr


def assert_same_state(expected, actual, path='state'):
    """Nested checkpoint state (tensors, numbers, lists, dicts) is equal;
    tensors to float tolerance."""
    if isinstance(expected, torch.Tensor):
        torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-6,
                                   msg=lambda m: f'{path}: {m}')
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys(), path
        for key in expected:
            assert_same_state(expected[key], actual[key], f'{path}.{key}')
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), path
        for index, (e, a) in enumerate(zip(expected, actual)):
            assert_same_state(e, a, f'{path}[{index}]')
    else:
        assert actual == expected, path


@pytest.mark.slow
@pytest.mark.parametrize('loss', ['dfl', 'cbfl'])
def test_resume_continues_exactly(tmp_path, tiny_root, loss):
    cfg = tiny_config(tmp_path, tiny_root, loss, epochs=2)
    straight = str(tmp_path / 'straight')
    resumed = str(tmp_path / 'resumed')
    run_tool(['tools/train.py', cfg, '--work-dir', straight])
    # A run stopped after its first epoch: the same schedule (max_epochs
    # sets the LR and class-balancing schedules), so only resume can differ.
    os.makedirs(resumed)
    shutil.copy(osp.join(straight, 'epoch_1.pth'), resumed)
    first_epoch = torch.load(osp.join(resumed, 'epoch_1.pth'),
                             weights_only=False)['meta']
    result = run_tool(['tools/train.py', cfg, '--work-dir', resumed,
                       '--resume'])
    resumed_at = re.search(r'resumed epoch: (\d+), iter: (\d+)',
                           result.stdout + result.stderr)
    assert resumed_at, result.stderr[-3000:]
    assert (int(resumed_at[1]), int(resumed_at[2])) == (
        1, first_epoch['iter']) and first_epoch['iter'] > 0
    checkpoints = [
        torch.load(osp.join(d, 'epoch_2.pth'), weights_only=False)
        for d in (straight, resumed)
    ]
    # Every weight (a learnt gamma, class counts included), the optimizer's
    # moments and step counts, and the schedulers' state.
    for part in ('state_dict', 'optimizer', 'param_schedulers'):
        assert_same_state(checkpoints[0][part], checkpoints[1][part], part)
    if loss == 'dfl':
        key = 'bbox_head.loss_cls.gamma_logit'
        initial = MODELS.build(
            Config.fromfile(cfg).model.bbox_head.loss_cls).state_dict()[
                'gamma_logit']
        # gamma did move: 5e-3 in two epochs, 40 times the tolerance the
        # runs are compared with
        assert abs(float(checkpoints[0]['state_dict'][key]) -
                   float(initial)) > 1e-3


@pytest.mark.slow
def test_two_process_gloo_training_holds_identical_counts(tmp_path,
                                                          tiny_root):
    cfg = tiny_config(
        tmp_path, tiny_root, 'cbfl', epochs=1,
        extra="custom_imports = dict(imports=['focal_det', "
        "'tests.dist_probe'])\n"
        "custom_hooks = [dict(type='ClassCountsHook'), "
        "dict(type='LossScheduleHook'), dict(type='CountsProbeHook')]\n")
    work_dir = str(tmp_path / 'work')
    run_tool([
        '-m', 'torch.distributed.run', '--nproc_per_node=2',
        '--master_port=29533', 'tools/train.py', cfg, '--work-dir', work_dir,
        '--launcher', 'pytorch'
    ], env=dict(PYTHONPATH=REPO))  # tests.dist_probe
    probes = []
    for rank in (0, 1):
        with open(osp.join(work_dir, f'probe_rank{rank}.json')) as f:
            probes.append(json.load(f))
    assert probes[0]['world_size'] == probes[1]['world_size'] == 2
    assert probes[0]['counts'] == probes[1]['counts']
    assert sum(probes[0]['counts']) > 0
    assert probes[0]['iters'] == probes[1]['iters'] >= 5


# --- clear errors -------------------------------------------------------------


def test_missing_data_root_is_named():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'coco', 'retinanet_r50_fpn_1x_coco_cbfl.py'))
    cfg.train_dataloader.dataset.data_root = '/nonexistent/coco/'
    with pytest.raises(FileNotFoundError, match='/nonexistent/coco/'):
        prepare_data(cfg, ('train_dataloader', ))


def test_malformed_annotation_file_is_named(tmp_path):
    root = tmp_path / 'broken'
    (root / 'annotations').mkdir(parents=True)
    (root / 'annotations' / 'train.json').write_text('{"images": [}')
    with pytest.raises(ValueError, match='malformed annotation file .*train'):
        tiny_train_dataset(str(root)).full_init()


@pytest.mark.slow
@pytest.mark.parametrize('extra,message', [
    ("model = dict(bbox_head=dict(loss_cls=dict(class_counts=[1, 2, 3])))",
     'class_counts has 3 entries but the head predicts 20 classes'),
    ("custom_hooks = []", 'class counts are unknown'),
])
def test_count_errors_stop_training(tmp_path, tiny_root, extra, message):
    cfg = tiny_config(tmp_path, tiny_root, 'cbfl', epochs=1, extra=extra)
    result = run_tool(
        ['tools/train.py', cfg, '--work-dir',
         str(tmp_path / 'work')], check=False)
    assert result.returncode != 0
    assert message in result.stderr
