"""EpochSeedHook: an epoch's random draws depend on (seed, epoch) only, in
persistent data-loading workers as in the training process."""
import random
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from torch.utils.data import DataLoader, Dataset

from focal_det.hooks import EpochSeedHook
from focal_det.hooks.epoch_seed_hook import TRAINING_STREAM, seed_generators


def draw(results):
    """A random 'augmentation' drawing from all three global generators."""
    results['draws'] = (random.random(), float(np.random.rand()),
                        float(torch.rand(())))
    return results


class DrawingDataset(Dataset):
    """Six samples whose pipeline records what it drew."""

    def __init__(self):
        self.pipeline = Compose([draw])

    def __len__(self):
        return 6

    def __getitem__(self, index):
        return self.pipeline(dict(index=index))['draws']


def train(first_epoch, last_epoch, num_workers, draws_before=0):
    """Draws per epoch of a loader that starts at ``first_epoch``, as a run
    resumed there does; ``draws_before`` moves the process's generators
    (the model's initialisation, an earlier run in the process)."""
    for _ in range(draws_before):
        torch.rand(()), np.random.rand(), random.random()
    loader = DataLoader(DrawingDataset(), batch_size=2,
                        num_workers=num_workers,
                        persistent_workers=num_workers > 0,
                        collate_fn=list)
    runner = SimpleNamespace(train_dataloader=loader, seed=7, epoch=None,
                             logger=mock.Mock())
    hook = EpochSeedHook()
    hook.before_train(runner)
    epochs = {}
    for epoch in range(first_epoch, last_epoch + 1):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        epochs[epoch] = [sample for batch in loader for sample in batch]
    return epochs


@pytest.mark.parametrize('num_workers', [0, 1, 2])
def test_a_resumed_epoch_draws_what_the_uninterrupted_run_drew(num_workers):
    straight = train(0, 2, num_workers)
    resumed = train(1, 2, num_workers, draws_before=5)
    assert resumed[1] == straight[1]
    assert resumed[2] == straight[2]
    # Still random: epochs and samples differ.
    assert straight[1] != straight[2]
    assert len(set(straight[1])) == 6


def test_the_step_goes_into_wrapped_datasets_once():
    # A repeat-factor wrapper (``.dataset``) around a concatenation
    # (``.datasets``), as mmengine's wrappers hold them.
    inner, other = DrawingDataset(), DrawingDataset()
    wrapped = SimpleNamespace(
        dataset=SimpleNamespace(datasets=[inner, other]))
    runner = SimpleNamespace(
        train_dataloader=SimpleNamespace(dataset=wrapped),
        logger=mock.Mock())
    hook = EpochSeedHook()
    hook.before_train(runner)
    hook.before_train(runner)
    for dataset in (inner, other):
        assert dataset.pipeline.transforms[0] is hook.seeding
        assert len(dataset.pipeline.transforms) == 2
    runner.logger.warning.assert_not_called()


def test_a_dataset_without_pipeline_is_reported():
    runner = SimpleNamespace(train_dataloader=SimpleNamespace(dataset=[1]),
                             logger=mock.Mock())
    EpochSeedHook().before_train(runner)
    (call, ) = runner.logger.warning.call_args_list
    assert 'no pipeline' in call.args[0]


def test_the_training_process_is_seeded_at_each_epochs_first_iteration():
    hook = EpochSeedHook()
    runner = SimpleNamespace(seed=7, epoch=3)
    seed_generators(7, 3, 0, TRAINING_STREAM)
    expected = torch.rand(3), np.random.rand(3)
    torch.rand(5), np.random.rand(5)  # whatever ran before
    hook.before_train_iter(runner, batch_idx=0)
    first = torch.rand(3), np.random.rand(3)
    hook.before_train_iter(runner, batch_idx=1)  # not again
    second = torch.rand(3), np.random.rand(3)
    assert torch.equal(first[0], expected[0])
    np.testing.assert_array_equal(first[1], expected[1])
    assert not torch.equal(second[0], expected[0])
    # Another epoch, another stream.
    runner.epoch = 4
    hook.before_train_iter(runner, batch_idx=0)
    assert not torch.equal(torch.rand(3), expected[0])
