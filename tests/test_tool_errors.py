"""The tools name what is wrong: checkpoints, work dirs, --cfg-options,
images and exported models (each error exercised once)."""
import json
import os.path as osp
import shutil

import pytest
import torch
from mmengine.config import Config

from focal_det.checkpoint import read_checkpoint
from focal_det.deploy.runtime import OnnxRuntimeBackend
from focal_det.engine import load_detector, lock_work_dir
from focal_det.errors import (CheckpointMismatchError,
                              UnreadableCheckpointError)
from tests.test_checkpoint_safety import work_dir_held_by_another_process
from tests.test_deploy import tiny_checkpoint, tiny_config_file
from tests.test_training import run_tool
from tests.tiny_data import config_path


@pytest.fixture(scope='module')
def cfg_20(tmp_path_factory, tiny_root):
    return tiny_config_file(tmp_path_factory.mktemp('cfg'), tiny_root)


@pytest.fixture(scope='module')
def checkpoint_10_classes(tmp_path_factory, tiny_root):
    folder = tmp_path_factory.mktemp('ckpt10')
    return tiny_checkpoint(
        folder, Config.fromfile(tiny_config_file(folder, tiny_root, 10)))


@pytest.fixture(scope='module')
def bad_checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp('bad')
    files = {'empty.pth': b'', 'garbage.pth': b'\x80\x04not a pickle' * 9}
    for name, content in files.items():
        (folder / name).write_bytes(content)
    torch.save([1, 2, 3], str(folder / 'list.pth'))
    return [str(folder / name) for name in (*files, 'list.pth')]


def test_unreadable_checkpoints_are_named(bad_checkpoints):
    for path in bad_checkpoints:
        with pytest.raises(UnreadableCheckpointError, match=path):
            read_checkpoint(path)


def test_load_detector_refuses_another_number_of_classes(
        cfg_20, checkpoint_10_classes):
    with pytest.raises(CheckpointMismatchError,
                       match=r'bbox_head.retina_cls.weight has shape '
                       r'\(60, 64, 3, 3\) in the checkpoint but '
                       r'\(120, 64, 3, 3\) in the model'):
        load_detector(Config.fromfile(cfg_20), checkpoint_10_classes)


@pytest.mark.slow  # a tool in a subprocess
def test_test_tool_refuses_a_mismatched_checkpoint(cfg_20,
                                                   checkpoint_10_classes,
                                                   tmp_path):
    result = run_tool(['tools/test.py', cfg_20, checkpoint_10_classes,
                       '--work-dir', str(tmp_path)], check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: checkpoint {checkpoint_10_classes} does not match the '
        'config: bbox_head.retina_cls.weight has shape (60, 64, 3, 3) in '
        'the checkpoint but (120, 64, 3, 3) in the model')
    assert 'bbox_mAP' not in result.stdout + result.stderr


@pytest.mark.slow  # a tool in a subprocess
@pytest.mark.parametrize('tool', ['train --resume', 'test', 'export', 'infer'])
def test_tools_name_a_garbage_checkpoint(tool, cfg_20, bad_checkpoints,
                                         tiny_root, tmp_path):
    garbage = bad_checkpoints[1]
    args = {
        'train --resume': ['tools/train.py', cfg_20, '--work-dir',
                           str(tmp_path), '--resume', garbage],
        'test': ['tools/test.py', cfg_20, garbage, '--work-dir',
                 str(tmp_path)],
        'export': ['tools/export.py', cfg_20, garbage, '--format', 'onnx',
                   '--out', str(tmp_path / 'm.onnx')],
        'infer': ['tools/infer.py', cfg_20, garbage,
                  osp.join(tiny_root, 'val', '000001.png'), '--out-dir',
                  str(tmp_path)],
    }[tool]
    result = run_tool(args, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith(
        f'error: checkpoint {garbage} cannot be read')


@pytest.mark.slow  # a tool in a subprocess
def test_train_names_a_work_dir_that_is_a_file_and_warns_on_unknown_keys(
        tmp_path):
    work_file = tmp_path / 'notes.txt'
    work_file.write_text('mine')
    result = run_tool(['tools/train.py', config_path('fl'), '--work-dir',
                       str(work_file), '--cfg-options',
                       'optim_wraper.optimizer.lr=0.1'], check=False)
    assert result.returncode == 1
    assert (f'error: work dir {work_file} is a file, not a folder'
            in result.stderr)
    assert ("--cfg-options optim_wraper.optimizer.lr: the config has no "
            "top-level key 'optim_wraper' (did you mean 'optim_wrapper'?)"
            in result.stderr)
    assert work_file.read_text() == 'mine'


@pytest.mark.slow  # a tool in a subprocess
def test_cfg_options_without_a_value_is_a_usage_error(tmp_path):
    result = run_tool(['tools/train.py', config_path('fl'), '--cfg-options',
                       'train_cfg.max_epochs'], check=False)
    assert result.returncode == 2
    assert ("argument --cfg-options: 'train_cfg.max_epochs' has no value: "
            'write KEY=VALUE' in result.stderr)


@pytest.mark.slow  # a tool in a subprocess
def test_second_training_into_a_live_work_dir_is_refused(tmp_path):
    with work_dir_held_by_another_process(tmp_path) as pid:
        # Should the lock fail, the data is missing: no training starts.
        result = run_tool(['tools/train.py', config_path('fl'),
                           '--work-dir', str(tmp_path), '--cfg-options',
                           'embedded_dataset=None',
                           'train_dataloader.dataset.data_root=/missing/'],
                          check=False)
    assert result.returncode == 1
    assert f'in use by a training run that is still alive (pid {pid}' \
        in result.stderr
    lock_work_dir(str(tmp_path))  # free again once the holder died


@pytest.mark.slow  # a tool in a subprocess
def test_infer_expands_folders_and_reports_unreadable_images(
        cfg_20, tmp_path, tiny_root):
    torch.manual_seed(0)
    checkpoint = tiny_checkpoint(tmp_path, Config.fromfile(cfg_20))
    images = tmp_path / 'images'
    images.mkdir()
    for name in ('000001.png', '000002.png'):
        shutil.copy(osp.join(tiny_root, 'val', name), images / name)
    (images / 'broken.png').write_bytes(b'not a png')
    (images / 'notes.txt').write_text('not an image: skipped by suffix')
    out = tmp_path / 'out'
    result = run_tool(['tools/infer.py', cfg_20, checkpoint, str(images),
                       '--out-dir', str(out)], check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: 1 of 3 images could not be read: {images / "broken.png"}')
    with open(out / 'detections.json') as f:
        done = [osp.basename(row['image']) for row in json.load(f)['images']]
    assert done == ['000001.png', '000002.png']
    assert (out / '000001.png').is_file() and (out / '000002.png').is_file()


@pytest.mark.parametrize('content', [b'', b'\x08\x07garbage' * 50])
def test_garbage_onnx_file_is_named(tmp_path, content):
    path = tmp_path / 'model.onnx'
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f'cannot load ONNX model {path}'):
        OnnxRuntimeBackend(str(path), 'image', ['cls_score_0'])


@pytest.mark.slow  # a tool in a subprocess
def test_calibrate_names_a_calibration_file_without_images(cfg_20, tiny_root,
                                                          tmp_path):
    with open(osp.join(tiny_root, 'annotations', 'val.json')) as f:
        document = json.load(f)
    empty = tmp_path / 'annotations' / 'calib.json'
    empty.parent.mkdir()
    empty.write_text(json.dumps(dict(document, images=[], annotations=[])))
    checkpoint = tiny_checkpoint(tmp_path, Config.fromfile(cfg_20))
    out = tmp_path / 'calibration.json'
    result = run_tool([
        'tools/calibrate.py', cfg_20, checkpoint, '--calib-ann-file',
        'annotations/calib.json', '--calib-img-prefix', 'calib/',
        '--data-root', str(tmp_path), '--out', str(out)
    ], check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f'error: annotation file {empty} has no images')
    assert not out.exists()
