"""kill -9 inside an epoch, then --resume: the detector ends exactly where an
uninterrupted run ends (CPU, same seed), on the tiny dataset."""
import glob
import json
import os
import os.path as osp
import signal

import pytest
import torch
from mmengine.config import Config

from tests.test_training import run_tool, tiny_config
from tests.tiny_data import REPO, config_path

# 150 training images in batches of 8: 19 iterations per epoch.
KILL_AT_ITERATION = 25  # epoch 2, batch 6


def final_metrics(work_dir):
    (path, ) = glob.glob(osp.join(work_dir, '*', 'long_tail_metrics.json'))
    with open(path) as f:
        return json.load(f)['overall']


@pytest.mark.slow
def test_kill_inside_an_epoch_then_resume_ends_as_an_uninterrupted_run(
        tmp_path, tiny_root):
    hooks = Config.fromfile(config_path('fl')).custom_hooks + [
        dict(type='KillAtIterationHook', iteration=KILL_AT_ITERATION)
    ]
    cfg = tiny_config(
        tmp_path, tiny_root, 'fl', epochs=2,
        extra="custom_imports = dict(imports=['focal_det', "
        f"'tests.kill_hook'])\ncustom_hooks = {hooks!r}\n")
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
    for key in weights[0]:
        torch.testing.assert_close(weights[1][key], weights[0][key], rtol=0,
                                   atol=0, msg=key)
    metrics = [final_metrics(d) for d in (straight, killed)]
    assert metrics[0]['bbox_mAP'] > 0
    assert metrics[1] == metrics[0]
