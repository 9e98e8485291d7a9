"""Checkpoints survive kills and NaNs: AtomicCheckpointHook, FocalDetRunner's
resume, NonFiniteLossHook, the work-dir lock and the scoped loader.

A toy model trains for a few iterations in-process (well under a second
per run); tests/test_fault_recovery.py does the same on the detector.
"""
import contextlib
import inspect
import os
import os.path as osp
import signal
import subprocess
import sys
import uuid

import pytest
import torch
from mmengine.fileio.backends import LocalBackend
from mmengine.evaluator import BaseMetric
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.runner.checkpoint import CheckpointLoader, load_from_local
from torch import nn

import focal_det  # noqa: F401
from focal_det.engine import (FocalDetRunner, build_runner,
                              latest_complete_checkpoint, load_config,
                              lock_work_dir)
from focal_det.engine.checkpoint_files import unreadable_reason
from focal_det.errors import NonFiniteTrainingError, WorkDirBusyError
from focal_det.hooks import AtomicCheckpointHook, NonFiniteLossHook
from tests.tiny_data import REPO


class ToyModel(BaseModel):
    """y = w x + b; ``nan_at`` makes loss_aux NaN at that call."""

    def __init__(self, nan_at=None):
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.nan_at, self.calls = nan_at, 0

    def forward(self, inputs, targets, mode='tensor'):
        error = self.linear(torch.stack(inputs)) - torch.stack(targets)
        if mode == 'predict':
            return list(error.detach())
        self.calls += 1
        aux = torch.tensor(float('nan') if self.calls == self.nan_at else 0.)
        return dict(loss_toy=(error**2).mean(), loss_aux=aux)


class ToyData(torch.utils.data.Dataset):

    def __len__(self):
        return 16

    def __getitem__(self, index):
        x = torch.tensor([index / 16, 1.0 - index / 16])
        return dict(inputs=x, targets=x.sum(0, keepdim=True))


class EpochMetric(BaseMetric):
    """``toy/score``: the epoch (every evaluation is a new best);
    ``toy/flat``: always 1 (only the first evaluation is its best)."""

    default_prefix = 'toy'

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        return dict(score=MessageHub.get_current_instance().get_info('epoch'),
                    flat=1)


def toy_runner(work_dir, max_epochs=3, max_keep_ckpts=-1, resume=False,
               load_from=None, model=None, custom_hooks=None,
               save_best=None, runner_class=FocalDetRunner):
    evaluation = {} if save_best is None else dict(
        val_dataloader=dict(dataset=ToyData(), batch_size=4, num_workers=0,
                            sampler=dict(type='DefaultSampler',
                                         shuffle=False)),
        val_cfg=dict(), val_evaluator=[EpochMetric()])
    return runner_class(
        model=model or ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyData(), batch_size=4, num_workers=0,
                              sampler=dict(type='DefaultSampler',
                                           shuffle=True)),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(
            type='AtomicCheckpointHook', interval=1,
            max_keep_ckpts=max_keep_ckpts, save_best=save_best,
            rule=None if save_best is None else 'greater')),
        custom_hooks=custom_hooks, resume=resume, load_from=load_from,
        randomness=dict(seed=0), default_scope='mmdet',
        experiment_name=f'toy_{uuid.uuid4().hex}', **evaluation)


class Killed(BaseException):
    """Stands for the process dying in the middle of a write."""


def die_while_writing(monkeypatch, step_filename):
    """Make the write of ``step_filename`` stop half-way, as a kill would."""
    put = LocalBackend.put

    def half_put(self, obj, filepath):
        if step_filename in osp.basename(filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            raise Killed
        put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', half_put)


def weights(path):
    return torch.load(path, weights_only=False)['state_dict']


def test_checkpoints_are_complete_and_recorded(tmp_path):
    toy_runner(tmp_path, max_epochs=3, max_keep_ckpts=2).train()
    assert sorted(os.listdir(tmp_path)) == sorted(
        ['epoch_2.pth', 'epoch_3.pth', 'last_checkpoint'] +
        [d for d in os.listdir(tmp_path) if d[0].isdigit()])
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'epoch_3.pth')
    assert weights(tmp_path / 'epoch_3.pth')['linear.weight'].shape == (1, 2)


def test_kill_during_save_keeps_previous_checkpoint_and_resume_works(
        tmp_path, monkeypatch):
    die_while_writing(monkeypatch, 'epoch_2.pth')
    with pytest.raises(Killed):
        toy_runner(tmp_path, max_epochs=3, max_keep_ckpts=1).train()
    # mmengine deleted epoch_1.pth before writing epoch_2.pth, pointed
    # last_checkpoint at it and left a truncated epoch_2.pth.
    assert (tmp_path / 'epoch_1.pth').is_file()
    assert not (tmp_path / 'epoch_2.pth').exists()
    assert (tmp_path / '.epoch_2.pth.tmp').is_file()
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'epoch_1.pth')
    monkeypatch.undo()
    runner = toy_runner(tmp_path, max_epochs=3, max_keep_ckpts=1,
                        resume=True)
    runner.train()
    assert runner.iter == 12
    assert not (tmp_path / '.epoch_2.pth.tmp').exists()
    assert not (tmp_path / 'epoch_1.pth').exists()  # max_keep_ckpts=1
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'epoch_3.pth')


def test_resume_skips_a_truncated_checkpoint_with_a_warning(tmp_path):
    toy_runner(tmp_path, max_epochs=2).train()
    latest = tmp_path / 'epoch_2.pth'
    latest.write_bytes(latest.read_bytes()[:300])
    warnings = []
    assert latest_complete_checkpoint(str(tmp_path), warnings.append) == str(
        tmp_path / 'epoch_1.pth')
    assert len(warnings) == 1 and str(latest) in warnings[0]
    assert 'truncated' in warnings[0]
    runner = toy_runner(tmp_path, max_epochs=3, resume=True)
    runner.train()
    assert runner.iter == 12  # epochs 2 and 3 trained again


def test_copied_work_dir_resumes_from_its_own_files(tmp_path):
    original, copy = tmp_path / 'original', tmp_path / 'copy'
    toy_runner(original, max_epochs=1).train()
    copy.mkdir()
    for name in ('epoch_1.pth', 'last_checkpoint'):
        (copy / name).write_bytes((original / name).read_bytes())
    assert (copy / 'last_checkpoint').read_text() == str(
        original / 'epoch_1.pth')
    (original / 'epoch_1.pth').unlink()
    warnings = []
    assert latest_complete_checkpoint(str(copy), warnings.append) == str(
        copy / 'epoch_1.pth')
    assert 'outside this work dir' in warnings[0]


def test_resume_without_a_complete_checkpoint_says_it_starts_from_scratch(
        tmp_path, monkeypatch):
    die_while_writing(monkeypatch, 'epoch_1.pth')
    with pytest.raises(Killed):
        toy_runner(tmp_path, max_epochs=2).train()
    monkeypatch.undo()
    runner = toy_runner(tmp_path, max_epochs=2, resume=True)
    messages = []
    monkeypatch.setattr(runner.logger, 'warning', messages.append)
    runner.train()
    assert any('no complete checkpoint' in m and 'from scratch' in m
               for m in messages), messages
    assert runner.iter == 8


def test_non_finite_loss_stops_training_and_keeps_the_last_checkpoint(
        tmp_path):
    # 4 iterations per epoch: call 6 is the second iteration of epoch 2.
    runner = toy_runner(tmp_path, max_epochs=3, max_keep_ckpts=1,
                        model=ToyModel(nan_at=6),
                        custom_hooks=[dict(type='NonFiniteLossHook')])
    with pytest.raises(NonFiniteTrainingError,
                       match=r'loss term loss_aux is nan at iteration 6 '
                       r'\(epoch 2, batch 2\).*epoch_1.pth is kept'):
        runner.train()
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith('.pth')) == [
        'epoch_1.pth'
    ]
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'epoch_1.pth')


def test_non_finite_weights_are_never_saved(tmp_path):
    runner = toy_runner(tmp_path, max_epochs=2,
                        custom_hooks=[dict(type='NonFiniteLossHook')])
    runner.train()
    with torch.no_grad():
        runner.model.linear.bias.fill_(float('inf'))
    hook = next(h for h in runner.hooks
                if type(h).__name__ == 'AtomicCheckpointHook')
    with pytest.raises(NonFiniteTrainingError, match='linear.bias'):
        hook._save_checkpoint_with_step(runner, 3, dict(epoch=3))
    assert not (tmp_path / 'epoch_3.pth').exists()
    assert (tmp_path / 'last_checkpoint').read_text() == str(
        tmp_path / 'epoch_2.pth')


@contextlib.contextmanager
def work_dir_held_by_another_process(work_dir):
    """A live process that holds ``work_dir``'s lock; yields its pid, and
    kills it (SIGKILL, as kill -9: no clean-up runs in it) on exit."""
    holder = subprocess.Popen([
        sys.executable, '-c',
        'import time; from focal_det.engine import lock_work_dir; '
        f'lock_work_dir({str(work_dir)!r}); print("locked", flush=True); '
        'time.sleep(60)'
    ], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'locked'
        yield holder.pid
    finally:
        holder.kill()
        holder.wait()


def test_a_live_run_holds_the_work_dir_and_a_dead_one_does_not(tmp_path):
    with work_dir_held_by_another_process(tmp_path) as pid:
        with pytest.raises(WorkDirBusyError,
                           match=f'still alive \\(pid {pid} '):
            lock_work_dir(str(tmp_path))
    lock_work_dir(str(tmp_path))


def test_checkpoints_load_only_through_focal_det_not_globally(tmp_path):
    """mmengine's loader is untouched; our runner reads mmengine's files."""
    assert CheckpointLoader._schemes[''] is load_from_local
    toy_runner(tmp_path, max_epochs=1).train()
    runner = toy_runner(tmp_path / 'again', max_epochs=2,
                        load_from=str(tmp_path / 'epoch_1.pth'), resume=True)
    runner.train()
    assert runner.iter == 8
    with pytest.raises(Exception, match='[Ww]eights only'):
        load_from_local(str(tmp_path / 'epoch_1.pth'), 'cpu')


@pytest.mark.parametrize('config', [
    'configs/retinanet_cbfl.py', 'configs/coco/retinanet_r50_fpn_1x_coco_fl.py'
])
def test_every_run_of_the_tools_has_the_safe_hooks(config, tmp_path):
    """The embedded config names AtomicCheckpointHook; mmdet's COCO base has
    mmengine's CheckpointHook, which build_runner upgrades."""
    cfg = load_config(osp.join(REPO, config), None, 'none')
    cfg.work_dir = str(tmp_path)
    runner = build_runner(cfg)
    assert isinstance(runner, FocalDetRunner)
    hook_types = [type(hook) for hook in runner.hooks]
    assert AtomicCheckpointHook in hook_types
    assert CheckpointHook not in hook_types
    assert NonFiniteLossHook in hook_types


def train_dying_while_writing(work_dir, filename):
    """In a child process: train with ``save_best='toy/score'`` and die by
    SIGKILL (as ``kill -9``) half-way through writing ``filename``."""
    put = LocalBackend.put

    def half_put(self, obj, filepath):
        if filename in osp.basename(filepath):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        put(self, obj, filepath)

    LocalBackend.put = half_put  # only in this child process
    toy_runner(work_dir, max_epochs=3, save_best='toy/score').train()


def test_kill_during_a_best_save_keeps_the_previous_best(tmp_path):
    best = 'best_toy_score_epoch_{}.pth'
    child = subprocess.run([
        sys.executable, '-c',
        'from tests.test_checkpoint_safety import train_dying_while_writing; '
        f'train_dying_while_writing({str(tmp_path)!r}, '
        f'{best.format(2)!r})'
    ], cwd=REPO, capture_output=True, text=True)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    # mmengine deleted the epoch-1 best, then wrote the epoch-2 best under
    # its final name: the kill left only half of it.
    assert not (tmp_path / best.format(2)).exists()
    assert unreadable_reason(str(tmp_path / best.format(1))) is None
    assert torch.equal(weights(tmp_path / best.format(1))['linear.weight'],
                       weights(tmp_path / 'epoch_1.pth')['linear.weight'])

    toy_runner(tmp_path, max_epochs=3, save_best='toy/score',
               resume=True).train()
    pth = sorted(p for p in os.listdir(tmp_path) if 'pth' in p)
    assert pth == [best.format(3), 'epoch_1.pth', 'epoch_2.pth',
                   'epoch_3.pth']


def test_another_runner_is_told_that_it_writes_checkpoints_in_place(
        tmp_path, monkeypatch):
    runner = toy_runner(tmp_path, max_epochs=1, runner_class=Runner)
    messages = []
    monkeypatch.setattr(runner.logger, 'warning', messages.append)
    runner.train()
    assert any('Runner writes checkpoints in place' in m for m in messages)


def test_each_key_keeps_its_own_best(tmp_path):
    toy_runner(tmp_path, max_epochs=3,
               save_best=['toy/score', 'toy/flat']).train()
    assert sorted(p for p in os.listdir(tmp_path)
                  if p.startswith('best_')) == [
                      'best_toy_flat_epoch_1.pth',
                      'best_toy_score_epoch_3.pth'
                  ]


def test_the_private_mmengine_methods_we_override_keep_their_signatures():
    """AtomicCheckpointHook overrides two private methods of mmengine
    0.10.7's CheckpointHook (no public way to order deletions after
    saves); FocalDetRunner overrides public methods only, with their
    parameters."""
    assert list(inspect.signature(
        CheckpointHook._save_checkpoint_with_step).parameters) == [
            'self', 'runner', 'step', 'meta'
        ]
    assert list(inspect.signature(
        CheckpointHook._save_best_checkpoint).parameters) == [
            'self', 'runner', 'metrics'
        ]
    for method in ('save_checkpoint', 'load_checkpoint'):
        ours = inspect.signature(getattr(FocalDetRunner, method))
        theirs = inspect.signature(getattr(Runner, method))
        assert list(ours.parameters) == list(theirs.parameters), method
    constructor = inspect.signature(Runner.__init__).parameters
    assert {'load_from', 'resume'} <= set(constructor)
