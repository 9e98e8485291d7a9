"""Class balancing: normalisations, the strength schedule, its hook, and
the loss-argument faults found by the fault probe."""
import types

import pytest
import torch

import focal_det  # noqa: F401
from focal_det.hooks import LossParameterLoggerHook, LossScheduleHook
from focal_det.losses import (ClassBalancedCrossEntropyLoss,
                              ClassBalancedFocalLoss,
                              ClassBalancedSoftmaxCrossEntropyLoss,
                              SigmoidFocalLoss, effective_number_weights)
from focal_det.losses.class_balanced import schedule_strength

COUNTS = [1000, 300, 40, 8]


def test_instance_normalisation_keeps_the_positives_total_weight():
    weights = effective_number_weights(COUNTS, 0.999, 'instances')
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    assert float((counts * weights).sum()) == pytest.approx(sum(COUNTS))
    paper = effective_number_weights(COUNTS, 0.999, 'classes')
    assert float(paper.sum()) == pytest.approx(len(COUNTS))
    # same ratios, another scale: the head weight is no longer tiny
    torch.testing.assert_close(weights / weights[0], paper / paper[0])
    assert float(paper[0]) < 0.05 and float(weights[0]) > 0.3


def test_strength_interpolates_between_uniform_and_balanced():
    uniform = effective_number_weights(COUNTS, 0.999, 'classes', 0.0)
    assert torch.equal(uniform, torch.ones(4, dtype=torch.float64))
    full = effective_number_weights(COUNTS, 0.999, 'classes', 1.0)
    half = effective_number_weights(COUNTS, 0.999, 'classes', 0.5)
    expected = full.sqrt() * (4 / full.sqrt().sum())
    torch.testing.assert_close(half, expected)


@pytest.mark.parametrize('schedule,progress,expected', [
    ('constant', 0.0, 1.0), ('ramp', 0.0, 0.0), ('ramp', 0.25, 0.5),
    ('ramp', 0.5, 1.0), ('ramp', 0.9, 1.0), ('deferred', 0.6, 0.0),
    ('deferred', 2 / 3, 1.0)
])
def test_schedule_strength(schedule, progress, expected):
    start = 2 / 3 if schedule == 'deferred' else 0.0
    assert schedule_strength(schedule, start, 0.5,
                             progress) == pytest.approx(expected)


def _runner(model, iteration, max_iters):
    return types.SimpleNamespace(model=model, iter=iteration,
                                 max_iters=max_iters,
                                 message_hub=types.SimpleNamespace(
                                     scalars={},
                                     update_scalar=None))


def test_schedule_hook_drives_the_weights_and_they_are_logged():
    loss = ClassBalancedFocalLoss(class_counts=COUNTS, normalization='instances',
                                  schedule='ramp', schedule_end=0.5)
    model = torch.nn.Sequential(loss)
    logits = torch.randn(8, 4)
    labels = torch.tensor([0, 1, 2, 3, 4, 4, 0, 3])
    with pytest.raises(RuntimeError, match='LossScheduleHook'):
        loss(logits, labels)
    hook = LossScheduleHook()
    logged = {}
    runner = _runner(model, 0, 100)
    runner.message_hub.update_scalar = logged.__setitem__
    hook.before_train_iter(runner, 0)
    at_start = loss.class_balancing.class_weights(4, 'cpu')
    assert torch.equal(at_start, torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(loss(logits, labels),
                               SigmoidFocalLoss()(logits, labels))
    runner.iter = 25  # what a run resumed at iteration 25 sees
    hook.before_train_iter(runner, 0)
    LossParameterLoggerHook().after_train_iter(runner, 0)
    assert logged == {'train/cb_strength': 0.5}
    runner.iter = 60
    hook.before_train_iter(runner, 0)
    torch.testing.assert_close(
        loss.class_balancing.class_weights(4, 'cpu')[:-1],
        effective_number_weights(COUNTS, 0.999, 'instances'))
    assert not torch.allclose(loss(logits, labels),
                              SigmoidFocalLoss()(logits, labels))


def test_checkpoints_from_before_the_balancing_module_still_load():
    loss = ClassBalancedFocalLoss()
    loss.load_state_dict({'class_counts': torch.tensor(COUNTS)})
    assert loss.class_balancing.class_counts.tolist() == COUNTS


def test_softmax_form_is_its_own_class_and_checks_its_arguments():
    loss = ClassBalancedCrossEntropyLoss(use_sigmoid=False, beta=0.0,
                                         class_counts=[10, 5, 1])
    assert isinstance(loss, ClassBalancedSoftmaxCrossEntropyLoss)
    logits, labels = torch.randn(4, 4), torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(
        loss(logits, labels),
        torch.nn.functional.cross_entropy(logits, labels))
    with pytest.raises(ValueError, match='reduction'):
        loss(logits, labels, reduction_override='bogus')


@pytest.mark.parametrize('call,parameter', [
    (lambda: SigmoidFocalLoss(gamma=float('inf')), 'gamma'),
    (lambda: SigmoidFocalLoss(loss_weight=float('nan')), 'loss_weight'),
    (lambda: ClassBalancedFocalLoss(normalization='sum'), 'normalization'),
    (lambda: ClassBalancedFocalLoss(schedule='linear'), 'schedule'),
    (lambda: ClassBalancedFocalLoss(schedule='ramp', schedule_start=0.5,
                                    schedule_end=0.5), 'schedule_end'),
    (lambda: SigmoidFocalLoss()(torch.randn(3, 2), torch.tensor([0, 1, 2]),
                                torch.ones(2, 3)), 'weight must have shape'),
    (lambda: SigmoidFocalLoss()(torch.randn(3, 2), torch.tensor([0, 1, 2]),
                                avg_factor=torch.tensor([1.0, 2.0])),
     'avg_factor'),
])
def test_bad_loss_arguments_are_refused_by_name(call, parameter):
    with pytest.raises(ValueError, match=parameter):
        call()
