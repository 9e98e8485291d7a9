"""kill -9 inside an epoch, then --resume: the detector ends exactly where an
uninterrupted run ends (CPU, same seed), with the shipped training pipeline
(RandomFlip) and data loader, on the tiny dataset."""
import glob
import json
import os
import os.path as osp
import signal

import pytest
import torch
from mmengine.config import Config

from tests.test_training import run_tool
from tests.tiny_data import REPO, TINY, config_path

# 150 training images in batches of 8: 19 iterations per epoch.
KILL_AT_ITERATION = 25  # epoch 2, batch 6


def shipped_config(tmp_path, data_root, loader=None):
    """``configs/retinanet_fl.py`` as shipped, on the tiny data, 2 epochs.

    Only the data, the schedule length and the kill hook differ; the
    training pipeline (RandomFlip) and the loader (1 persistent worker)
    are the shipped ones unless ``loader`` overrides the loader's
    settings.
    """
    hooks = Config.fromfile(config_path('fl')).custom_hooks + [
        dict(type='KillAtIterationHook', iteration=KILL_AT_ITERATION)
    ]
    ann_file = data_root + '/annotations/val.json'
    path = tmp_path / 'shipped_fl.py'
    path.write_text(f'''
_base_ = {config_path('fl')!r}
data_root = {data_root + '/'!r}
embedded_dataset = dict(data_root=data_root, seed=0, **{TINY!r})
train_dataloader = dict(dataset=dict(data_root=data_root), **{loader or {}!r})
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = [dict(type='LongTailCocoMetric', ann_file={ann_file!r}),
                 dict(type='DetectionCalibrationMetric', ann_file={ann_file!r})]
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2, val_interval=2)
custom_imports = dict(imports=['focal_det', 'tests.kill_hook'])
custom_hooks = {hooks!r}
''')
    return str(path)


def final_metrics(work_dir):
    (path, ) = glob.glob(osp.join(work_dir, '*', 'long_tail_metrics.json'))
    with open(path) as f:
        return json.load(f)['overall']


def test_the_shipped_training_pipeline_draws_random_augmentation():
    cfg = Config.fromfile(config_path('fl'))
    assert dict(type='RandomFlip', prob=0.5) in cfg.train_pipeline
    assert cfg.train_dataloader.num_workers == 1
    assert cfg.train_dataloader.persistent_workers


@pytest.mark.slow
@pytest.mark.parametrize('loader', [
    None,
    dict(num_workers=0, persistent_workers=False),
    dict(num_workers=2),
], ids=['shipped', 'no-workers', 'two-workers'])
def test_kill_inside_an_epoch_then_resume_ends_as_an_uninterrupted_run(
        tmp_path, tiny_root, loader):
    cfg = shipped_config(tmp_path, tiny_root, loader)
    env = dict(PYTHONPATH=REPO)
    straight, killed = str(tmp_path / 'straight'), str(tmp_path / 'killed')
    os.makedirs(straight)
    open(osp.join(straight, 'killed_once'), 'w').close()  # never killed
    run_tool(['tools/train.py', cfg, '--work-dir', straight], env=env)

    result = run_tool(['tools/train.py', cfg, '--work-dir', killed],
                      env=env, check=False)
    assert result.returncode == -signal.SIGKILL
    assert not osp.exists(osp.join(killed, 'epoch_2.pth'))
    # No stale lock: the same work dir is accepted at once.
    result = run_tool(['tools/train.py', cfg, '--work-dir', killed,
                       '--resume'], env=env)
    log = result.stdout + result.stderr
    assert f'Resuming from {osp.join(killed, "epoch_1.pth")}' in log
    assert 'resumed epoch: 1, iter: 19' in log

    weights = [torch.load(osp.join(d, 'epoch_2.pth'),
                          weights_only=False)['state_dict']
               for d in (straight, killed)]
    assert weights[0].keys() == weights[1].keys()
    differences = {key: (weights[1][key].double() -
                         weights[0][key].double()).abs().max().item()
                   for key in weights[0]}
    assert max(differences.values()) == 0, max(differences.items(),
                                               key=lambda item: item[1])
    metrics = [final_metrics(d) for d in (straight, killed)]
    assert metrics[0]['bbox_mAP'] > 0
    assert metrics[1] == metrics[0]
