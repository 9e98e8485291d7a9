"""Seed every epoch's randomness from (seed, epoch), so ``--resume`` is exact.

mmengine resumes an epoch-based run at an epoch boundary with the weights,
optimizer, schedulers and the sampler's order (``seed + epoch``), but not
with the state of the random generators: the data-loading workers draw the
random augmentation (``RandomFlip``, ``RandomChoiceResize``, ...) from the
global python/numpy/torch generators, which mmengine seeds once per worker
start with ``seed + worker id``. A persistent worker of an uninterrupted run
carries its generators on from epoch to epoch, while the resumed run starts
fresh ones, so the two draw different augmentation from the resumed epoch
on (and with ``num_workers=0`` the training process's generators differ).

:class:`EpochSeedHook` makes each epoch's draws a function of the seed, the
epoch, the rank and the worker alone, whatever ran before: every process
that runs the training pipeline re-seeds its generators at its first sample
of each epoch, and the training process re-seeds its own at each epoch's
first iteration (for randomness drawn in the model's training step).
"""
import random
from typing import List

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

#: Separate streams for the data pipeline and the training step.
PIPELINE_STREAM, TRAINING_STREAM = 0, 1


def seed_generators(seed: int, epoch: int, rank: int, stream: int,
                    worker: int = 0) -> None:
    """Seed python's, numpy's and torch's global generators.

    Args:
        seed (int): The run's seed (``runner.seed``), >= 0.
        epoch (int): The epoch about to run (0-based).
        rank (int): The process's distributed rank.
        stream (int): :data:`PIPELINE_STREAM` or :data:`TRAINING_STREAM`.
        worker (int): 0 for the training process, ``id + 1`` for a
            data-loading worker.
    """
    words = np.random.SeedSequence([seed, epoch, rank, stream,
                                    worker]).generate_state(3)
    random.seed(int(words[0]))
    np.random.seed(int(words[1]))
    torch.manual_seed(int(words[2]))


class EpochSeeding(BaseTransform):
    """First step of the training pipeline: re-seed at each new epoch.

    It holds ``(seed, epoch, rank)`` in shared memory, written by the
    training process (:meth:`start_epoch`) and read by the data-loading
    workers, persistent or not. At the first sample a process handles after
    the epoch changed, it seeds that process's generators; the sample
    passes through unchanged. Before the first epoch is set it does
    nothing.
    """

    def __init__(self) -> None:
        self._state = torch.full((3, ), -1, dtype=torch.int64)
        self._state.share_memory_()
        self._seeded_for = None  # per process: each worker has its copy

    def start_epoch(self, seed: int, epoch: int, rank: int) -> None:
        """Called by the training process before the epoch's first batch
        is requested (workers are idle between epochs)."""
        self._state.copy_(torch.tensor([seed, epoch, rank]))

    def transform(self, results: dict) -> dict:
        """Args: results (dict): a sample. Returns: the same dict."""
        state = tuple(self._state.tolist())
        if state[1] >= 0 and state != self._seeded_for:
            worker = torch.utils.data.get_worker_info()
            seed_generators(*state, stream=PIPELINE_STREAM,
                            worker=0 if worker is None else worker.id + 1)
            self._seeded_for = state
        return results


def training_pipelines(dataset) -> List:
    """The ``Compose`` pipelines of ``dataset`` and the datasets it wraps
    (``ClassBalancedDataset``, ``RepeatDataset``, ``ConcatDataset``,
    ``MultiImageMixDataset``)."""
    found = []
    if hasattr(getattr(dataset, 'pipeline', None), 'transforms'):
        found.append(dataset.pipeline)
    for inner in [getattr(dataset, 'dataset', None)] + list(
            getattr(dataset, 'datasets', [])):
        if inner is not None:
            found += training_pipelines(inner)
    return found


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Make a resumed epoch-based run draw the same randomness as an
    uninterrupted one (see the module's description).

    Before training it puts one :class:`EpochSeeding` step at the start of
    each pipeline of the training dataset (the workers start later, at the
    first epoch's first batch, with the step in place); before each epoch
    it tells the step the seed, epoch and rank; at each epoch's first
    iteration it seeds the training process's generators. A training
    dataset without a pipeline gets a warning: its random augmentation is
    not restored by ``--resume``.
    """

    priority = 'NORMAL'

    def __init__(self) -> None:
        self.seeding = EpochSeeding()

    def before_train(self, runner) -> None:
        pipelines = training_pipelines(runner.train_dataloader.dataset)
        if not pipelines:
            runner.logger.warning(
                'EpochSeedHook: the training dataset has no pipeline; '
                'after --resume its random augmentation differs from an '
                'uninterrupted run')
        for pipeline in pipelines:
            if not any(step is self.seeding for step in pipeline.transforms):
                pipeline.transforms.insert(0, self.seeding)

    def before_train_epoch(self, runner) -> None:
        self.seeding.start_epoch(runner.seed, runner.epoch, get_rank())

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        if batch_idx == 0:
            seed_generators(runner.seed, runner.epoch, get_rank(),
                            TRAINING_STREAM)
