"""Equalized Focal Loss: paper formula, gradient statistics, ranks, resume."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import focal_det  # noqa: F401
from focal_det.losses import EqualizedFocalLoss, equalized_gamma
from focal_det.losses.reference import (equalized_focal_terms,
                                        one_hot_targets, reduce)


def batch(seed, n=64, c=5, dtype=torch.float64, rare_class=None):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, c, generator=g) * 3).to(dtype)
    labels = torch.randint(0, c, (n, ), generator=g)
    labels[torch.rand(n, generator=g) < 0.6] = c  # background
    if rare_class is not None:
        labels[labels == rare_class] = c
    return logits, labels


def reference_step(logits, labels, sums, gamma_b=2.0, s=8.0, alpha=0.25,
                   avg_factor=7.0):
    """The paper's loss by autograd, and the gradient sums it produces."""
    c = logits.shape[1]
    x = logits.detach().clone().requires_grad_(True)
    y = one_hot_targets(labels, c)
    gamma = equalized_gamma(sums, gamma_b, s)
    loss = reduce(equalized_focal_terms(x, y, gamma, gamma_b, alpha),
                  avg_factor=avg_factor)
    loss.backward()
    magnitude = x.grad.abs()
    step_sums = torch.stack([(magnitude * y).sum(0),
                             (magnitude * (1 - y)).sum(0)])
    return loss.detach(), x.grad, step_sums


@pytest.fixture(params=['compiled', 'eager'])
def route(request, monkeypatch):
    monkeypatch.setenv('FOCAL_DET_COMPILE',
                       '1' if request.param == 'compiled' else '0')
    return request.param


def test_gamma_rule_from_gradient_ratio():
    sums = torch.tensor([[1.0, 0.0, 3.0, 0.0], [4.0, 2.0, 1.0, 0.0]],
                        dtype=torch.float64)
    gamma = equalized_gamma(sums, 2.0, 8.0)
    # g = 0.25 -> 2 + 8 * 0.75; g = 0 -> max; g clamps at 1; no stats -> 1
    assert gamma.tolist() == pytest.approx([8.0, 10.0, 2.0, 2.0], abs=1e-9)


def test_loss_gradient_and_statistics_equal_the_paper_over_steps(route):
    loss = EqualizedFocalLoss().double().train()
    sums = torch.zeros(2, 5, dtype=torch.float64)
    for step in range(4):
        logits, labels = batch(step)
        expected, expected_grad, step_sums = reference_step(
            logits, labels, sums)
        x = logits.clone().requires_grad_(True)
        value = loss(x, labels, avg_factor=7.0)
        value.backward()
        torch.testing.assert_close(value, expected, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(x.grad, expected_grad, rtol=1e-10,
                                   atol=1e-12)
        sums = sums + step_sums
        torch.testing.assert_close(loss.gradient_sums, sums, rtol=1e-10,
                                   atol=1e-12)
    # the statistics moved gamma away from gamma_b for some class
    assert float(loss.class_gamma().max()) > 2.5


def test_negative_statistics_keep_their_digits_when_positives_dominate(
        route):
    """fp32 logits near a sigmoid head's 0.001 prior (LVIS): a class's
    negative gradient is ~1e-5 of its positive one, and is summed exactly."""
    g = torch.Generator().manual_seed(0)
    n, c = 4000, 5
    logits = -6.9 + 0.5 * torch.randn(n, c, generator=g)
    labels = torch.full((n, ), c)
    labels[:20] = torch.arange(20) % c
    loss = EqualizedFocalLoss().train()
    loss(logits.clone().requires_grad_(True), labels,
         avg_factor=20.0).backward()
    _, _, expected = reference_step(logits.double(), labels,
                                    torch.zeros(2, c, dtype=torch.float64),
                                    avg_factor=20.0)
    assert float(expected[1].max() / expected[0].min()) < 1e-4
    torch.testing.assert_close(loss.gradient_sums, expected, rtol=1e-4,
                               atol=0.0)


def test_a_class_that_never_occurs_gets_the_largest_gamma(route):
    loss = EqualizedFocalLoss(gamma=2.0, scale_factor=8.0).train()
    for step in range(3):
        logits, labels = batch(step, dtype=torch.float32, rare_class=3)
        loss(logits.requires_grad_(True), labels).backward()
    assert float(loss.gradient_sums[0, 3]) == 0.0
    assert float(loss.gradient_sums[1, 3]) > 0.0
    gamma = loss.class_gamma()
    assert float(gamma[3]) == 10.0
    assert bool((gamma[[0, 1, 2, 4]] < 10.0).all())


def test_no_statistics_outside_training():
    loss = EqualizedFocalLoss().eval()
    logits, labels = batch(0, dtype=torch.float32)
    loss(logits.requires_grad_(True), labels)
    assert float(loss.gradient_sums.abs().sum()) == 0.0
    loss.train()
    with torch.no_grad():
        loss(logits, labels)
    assert float(loss.gradient_sums.abs().sum()) == 0.0


def test_statistics_are_saved_and_restored_with_the_state_dict():
    trained = EqualizedFocalLoss().train()
    logits, labels = batch(1, dtype=torch.float32)
    trained(logits.requires_grad_(True), labels).backward()
    fresh = EqualizedFocalLoss()
    assert fresh.gradient_sums.shape == (2, 0)
    fresh.load_state_dict(trained.state_dict())
    assert torch.equal(fresh.gradient_sums, trained.gradient_sums)
    torch.testing.assert_close(fresh.class_gamma(), trained.class_gamma())
    with pytest.raises(ValueError, match='statistics are for 5 classes'):
        fresh(torch.randn(4, 3), torch.tensor([0, 1, 2, 3]))


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_extreme_logits_and_half_precision_stay_finite(route, dtype):
    loss = EqualizedFocalLoss().train()
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, 1e4, 60.0],
                           [0.5, -80.0, -200.0]]).to(dtype)
    labels = torch.tensor([0, 0, 3])
    for _ in range(2):
        x = logits.clone().requires_grad_(True)
        value = loss(x, labels)
        value.backward()
        assert value.dtype == torch.float32 and torch.isfinite(value)
        assert torch.isfinite(x.grad).all()
    assert loss.gradient_sums.dtype == torch.float64
    assert torch.isfinite(loss.gradient_sums).all()


def _rank_worker(rank, port, out):
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=2)
    loss = EqualizedFocalLoss().double().train()
    for step in range(3):
        logits, labels = batch(10 * step + rank)
        loss(logits.requires_grad_(True), labels, avg_factor=7.0).backward()
    torch.save(loss.gradient_sums, os.path.join(out, f'rank{rank}.pt'))
    dist.destroy_process_group()


@pytest.mark.slow  # two processes
def test_two_gloo_ranks_hold_identical_summed_statistics(tmp_path,
                                                         monkeypatch):
    monkeypatch.setenv('FOCAL_DET_COMPILE', '0')  # spawned: no recompiling
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_worker, args=(port, str(tmp_path)), nprocs=2)
    rank0 = torch.load(tmp_path / 'rank0.pt')
    rank1 = torch.load(tmp_path / 'rank1.pt')
    assert torch.equal(rank0, rank1)
    # what one process computes from both ranks' data, step by step
    sums = torch.zeros(2, 5, dtype=torch.float64)
    for step in range(3):
        step_total = torch.zeros_like(sums)
        for rank in range(2):
            step_total += reference_step(*batch(10 * step + rank), sums)[2]
        sums = sums + step_total
    torch.testing.assert_close(rank0, sums, rtol=1e-10, atol=1e-12)
