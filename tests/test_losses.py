"""The loss family: values, gradients, weighting, robustness and errors."""
import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdet.models.losses import FocalLoss
from mmdet.registry import MODELS

import focal_det  # noqa: F401
from focal_det.loss_names import DETECTION_LOSSES, REGISTERED_NAMES
from focal_det.losses import (ClassBalancedCrossEntropyLoss,
                              ClassBalancedFocalLoss, DualFocalLoss,
                              SigmoidFocalLoss, effective_number_weights)
from focal_det.losses.reference import (class_balanced_weights,
                                        dual_focal_terms, focal_terms,
                                        one_hot_targets, reduce)
from focal_det.theory.dual_focal import boundary_normaliser


def detection_batch(n=400, c=12, seed=0, dtype=torch.float32, bg_frac=0.8):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, c, generator=g) * 3).to(dtype)
    labels = torch.randint(0, c, (n, ), generator=g)
    labels[torch.rand(n, generator=g) < bg_frac] = c
    weights = torch.rand(n, generator=g)
    return logits, labels, weights


@pytest.fixture(params=['compiled', 'eager'])
def route(request, monkeypatch):
    monkeypatch.setenv('FOCAL_DET_COMPILE',
                       '1' if request.param == 'compiled' else '0')
    return request.param


def loss_and_grad(loss_fn, logits, *args, **kwargs):
    logits = logits.detach().clone().requires_grad_(True)
    loss = loss_fn(logits, *args, **kwargs)
    loss.sum().backward()
    return loss.detach(), logits.grad


# --- registration --------------------------------------------------------


def test_import_registers_every_loss_under_its_own_name():
    expected = {
        'SigmoidFocalLoss': 'focal_det.losses.sigmoid_focal_loss',
        'ClassBalancedFocalLoss': 'focal_det.losses.class_balanced_focal_loss',
        'ClassBalancedCrossEntropyLoss':
        'focal_det.losses.class_balanced_ce_loss',
        'DualFocalLoss': 'focal_det.losses.dual_focal_loss',
        'EqualizedFocalLoss': 'focal_det.losses.equalized_focal_loss',
    }
    registered = {name: MODELS.get(name) for name in expected}
    assert {name: getattr(cls, '__module__', None)
            for name, cls in registered.items()} == expected
    # Every config name of focal_det's vocabulary is registered.
    assert {REGISTERED_NAMES[kind] for kind in DETECTION_LOSSES} <= set(
        expected)
    assert MODELS.get('FocalLoss') is FocalLoss  # mmdet's own is untouched


# --- focal loss equals mmdet's FocalLoss -----------------------------------


@pytest.mark.parametrize('reduction,avg_factor', [('mean', None),
                                                  ('mean', 37.0),
                                                  ('sum', None),
                                                  ('none', None)])
def test_sigmoid_focal_equals_mmdet_focal_loss(route, reduction, avg_factor):
    logits, labels, weights = detection_batch()
    kwargs = dict(gamma=1.5, alpha=0.3, reduction=reduction, loss_weight=2.0)
    ours, our_grad = loss_and_grad(SigmoidFocalLoss(**kwargs), logits, labels,
                                   weights, avg_factor=avg_factor)
    theirs, their_grad = loss_and_grad(FocalLoss(**kwargs), logits, labels,
                                       weights, avg_factor=avg_factor)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(our_grad, their_grad, rtol=1e-5, atol=1e-8)
    assert float(ours.abs().sum()) > 0


def test_sigmoid_focal_equals_mmdet_on_soft_targets_and_element_weights(
        route):
    logits, labels, _ = detection_batch(seed=3)
    g = torch.Generator().manual_seed(4)
    soft = one_hot_targets(labels, 12).float() * torch.rand(
        len(labels), 1, generator=g)  # IoU-quality targets
    elem_weight = torch.rand(logits.shape, generator=g)
    ours, our_grad = loss_and_grad(SigmoidFocalLoss(), logits, soft,
                                   elem_weight, avg_factor=11.0)
    theirs, their_grad = loss_and_grad(FocalLoss(), logits, soft, elem_weight,
                                       avg_factor=11.0)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(our_grad, their_grad, rtol=1e-5, atol=1e-8)


def test_sigmoid_focal_equals_published_formula_in_float64(route):
    logits, labels, weights = detection_batch(n=64, c=5, dtype=torch.float64)
    ours, our_grad = loss_and_grad(SigmoidFocalLoss(gamma=2.0, alpha=0.25),
                                   logits, labels, weights, avg_factor=9.0)
    x = logits.clone().requires_grad_(True)
    expected = reduce(focal_terms(x, one_hot_targets(labels, 5), 2.0, 0.25),
                      weights, 9.0)
    expected.backward()
    torch.testing.assert_close(ours, expected.detach(), rtol=1e-12, atol=0)
    torch.testing.assert_close(our_grad, x.grad, rtol=1e-10, atol=1e-15)


def test_compiled_and_eager_routes_agree(monkeypatch):
    logits, labels, weights = detection_batch(n=20000, c=30, seed=7)
    results = {}
    for flag in ('1', '0'):
        monkeypatch.setenv('FOCAL_DET_COMPILE', flag)
        for name, loss in (('fl', SigmoidFocalLoss()),
                           ('dfl', DualFocalLoss(learnable_gamma=True))):
            results[flag, name] = loss_and_grad(loss, logits, labels, weights,
                                                avg_factor=100.0)
    for name in ('fl', 'dfl'):
        (loss_c, grad_c), (loss_e, grad_e) = results['1', name], results['0',
                                                                        name]
        # Same expression; only the summation order differs.
        torch.testing.assert_close(loss_c, loss_e, rtol=1e-5, atol=0)
        torch.testing.assert_close(grad_c, grad_e, rtol=1e-6, atol=1e-9)


# --- gradients in float64 --------------------------------------------------


def _gradcheck_inputs(n=6, c=4, seed=0):
    logits, labels, weights = detection_batch(n, c, seed, torch.float64,
                                              bg_frac=0.4)
    return logits.requires_grad_(True), labels, weights


@pytest.mark.parametrize('make_loss', [
    lambda: SigmoidFocalLoss(gamma=1.7, alpha=0.3),
    lambda: ClassBalancedFocalLoss(beta=0.99, class_counts=[50, 5, 1, 9]),
    lambda: ClassBalancedCrossEntropyLoss(beta=0.9, class_counts=[5, 1, 2, 9]),
    lambda: DualFocalLoss(gamma=2.5),
    lambda: DualFocalLoss(gamma=0.8),
],
                         ids=['fl', 'cbfl', 'cbce', 'dfl', 'dfl-small-gamma'])
def test_gradcheck_label_and_soft_targets(route, make_loss):
    loss = make_loss()
    logits, labels, weights = _gradcheck_inputs()
    soft = one_hot_targets(labels, 4) * 0.7 + 0.1
    for target in (labels, soft):
        assert torch.autograd.gradcheck(
            lambda x, t=target: loss(x, t, weights, avg_factor=3.0),
            (logits, ))
        assert torch.autograd.gradcheck(
            lambda x, t=target: loss(x, t, weights, reduction_override='none'),
            (logits, ))


def test_gradcheck_softmax_class_balanced_ce(route):
    loss = ClassBalancedCrossEntropyLoss(
        beta=0.9, use_sigmoid=False, class_counts=[5, 1, 2])
    logits, labels, weights = _gradcheck_inputs(c=4)
    labels = labels.clamp(max=3)
    assert torch.autograd.gradcheck(lambda x: loss(x, labels, weights),
                                    (logits, ))


def test_gradcheck_learnable_gamma(route):
    loss = DualFocalLoss(gamma=1.5, learnable_gamma=True).double()
    logits, labels, weights = _gradcheck_inputs()
    soft = one_hot_targets(labels, 4) * 0.6 + 0.2
    theta = loss.gamma_logit.detach().clone().requires_grad_(True)
    for target in (labels, soft):
        for reduction in ('mean', 'none'):
            assert torch.autograd.gradcheck(
                lambda x, th, t=target, r=reduction: torch.func.
                functional_call(loss, {'gamma_logit': th}, (x, t, weights),
                                dict(reduction_override=r)), (logits, theta))


def test_dual_focal_equals_reference_with_learnable_gamma_gradient(route):
    logits, labels, weights = detection_batch(n=50, c=6, dtype=torch.float64)
    loss = DualFocalLoss(gamma=2.3, learnable_gamma=True).double()
    x = logits.clone().requires_grad_(True)
    value = loss(x, labels, weights, avg_factor=7.0)
    value.backward()
    x_ref = logits.clone().requires_grad_(True)
    theta = loss.gamma_logit.detach().clone().requires_grad_(True)
    gamma = 0.5 + 7.5 * torch.sigmoid(theta)
    expected = reduce(
        dual_focal_terms(x_ref, one_hot_targets(labels, 6), gamma), weights,
        7.0)
    expected.backward()
    torch.testing.assert_close(value.detach(), expected.detach(), rtol=1e-12,
                               atol=0)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-10, atol=1e-15)
    torch.testing.assert_close(loss.gamma_logit.grad, theta.grad, rtol=1e-10,
                               atol=1e-15)


# --- class-balanced weights ------------------------------------------------


def test_effective_number_weights_against_hand_computed_values():
    torch.testing.assert_close(
        effective_number_weights([100, 10, 1, 0], 0.9),
        torch.tensor([0.177503492, 0.272520961, 1.774987774, 1.774987774],
                     dtype=torch.float64))
    torch.testing.assert_close(
        effective_number_weights([1000, 100, 10], 0.999),
        torch.tensor([0.042160398, 0.280000145, 2.677839457],
                     dtype=torch.float64))
    counts = [3000, 250, 17, 1, 0]
    torch.testing.assert_close(
        effective_number_weights(counts, 0.99),
        torch.tensor(class_balanced_weights(counts, 0.99),
                     dtype=torch.float64))


def test_class_weights_sum_to_num_classes_and_tend_to_inverse_frequency():
    counts = torch.tensor([4000, 800, 60, 3])
    weights = effective_number_weights(counts, 1 - 1e-9)
    assert float(weights.sum()) == pytest.approx(4.0, rel=1e-12)
    inverse = (1.0 / counts.double()) * 4 / (1.0 / counts.double()).sum()
    torch.testing.assert_close(weights, inverse, rtol=1e-5, atol=0)
    assert torch.all(effective_number_weights(counts, 0.0) == 1.0)


def test_beta_zero_reduces_exactly_to_focal_loss(route):
    logits, labels, weights = detection_batch(seed=5)
    fl, fl_grad = loss_and_grad(SigmoidFocalLoss(), logits, labels, weights,
                                avg_factor=40.0)
    cb, cb_grad = loss_and_grad(
        ClassBalancedFocalLoss(beta=0.0, class_counts=range(1, 13)), logits,
        labels, weights, avg_factor=40.0)
    assert torch.equal(fl, cb) and torch.equal(fl_grad, cb_grad)


def test_ground_truth_class_weight_multiplies_every_term_of_its_sample(route):
    counts = [900, 90, 9]
    loss = ClassBalancedFocalLoss(beta=0.99, class_counts=counts,
                                  reduction='none')
    logits, labels, _ = detection_batch(n=30, c=3, seed=2, bg_frac=0.3)
    per_element = loss(logits, labels)
    plain = SigmoidFocalLoss(reduction='none')(logits, labels)
    row_weight = torch.cat([effective_number_weights(counts, 0.99),
                            torch.ones(1, dtype=torch.float64)])[labels]
    torch.testing.assert_close(per_element,
                               plain * row_weight.float().view(-1, 1))
    background = labels == 3
    assert background.any() and (~background).any()
    # Background rows (no class) keep weight 1.
    torch.testing.assert_close(per_element[background], plain[background])


def test_zero_instance_class_is_weighted_like_a_single_instance():
    weights = effective_number_weights([500, 0, 1], 0.999)
    assert torch.isfinite(weights).all()
    assert weights[1] == weights[2] and weights[1] > weights[0]


def test_cb_softmax_ce_is_weighted_cross_entropy():
    counts = [200, 20, 2]
    loss = ClassBalancedCrossEntropyLoss(beta=0.99, use_sigmoid=False,
                                         class_counts=counts)
    logits, labels, weights = detection_batch(n=40, c=4, seed=8, bg_frac=0.3)
    labels = labels.clamp(max=3)
    value = loss(logits, labels, weights, avg_factor=10.0)
    w = torch.cat([effective_number_weights(counts, 0.99),
                   torch.ones(1, dtype=torch.float64)]).float()
    ce = torch.nn.functional.cross_entropy(logits, labels, reduction='none')
    expected = (ce * w[labels] * weights).sum() / (10.0 + 1.1920929e-07)
    torch.testing.assert_close(value, expected)


def test_cb_sigmoid_ce_is_weighted_bce(route):
    counts = [200, 20, 2]
    loss = ClassBalancedCrossEntropyLoss(beta=0.99, class_counts=counts)
    logits, labels, _ = detection_batch(n=40, c=3, seed=9, dtype=torch.float64)
    w = torch.cat([effective_number_weights(counts, 0.99),
                   torch.ones(1, dtype=torch.float64)])
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        logits, one_hot_targets(labels, 3), reduction='none')
    expected = (bce * w[labels].view(-1, 1)).mean()
    torch.testing.assert_close(loss(logits, labels), expected, rtol=1e-12,
                               atol=0)


def test_counts_from_coco_and_lvis_annotation_files(tmp_path):
    coco = dict(
        categories=[dict(id=7, name='b'), dict(id=3, name='a')],
        annotations=[
            dict(id=1, category_id=3, iscrowd=0),
            dict(id=2, category_id=3, iscrowd=0),
            dict(id=3, category_id=7, iscrowd=0),
            dict(id=4, category_id=7, iscrowd=1)
        ])
    lvis = dict(categories=[
        dict(id=1, name='a', instance_count=40, frequency='f'),
        dict(id=2, name='b', instance_count=2, frequency='r')
    ])
    (tmp_path / 'coco.json').write_text(json.dumps(coco))
    (tmp_path / 'lvis.json').write_text(json.dumps(lvis))
    assert ClassBalancedFocalLoss(ann_file=str(
        tmp_path / 'coco.json')).class_balancing.class_counts.tolist() == [2, 1]
    assert ClassBalancedFocalLoss(ann_file=str(
        tmp_path / 'lvis.json')).class_balancing.class_counts.tolist() == [40, 2]


def test_counts_are_saved_in_and_restored_from_the_state_dict():
    trained = ClassBalancedFocalLoss(class_counts=[7, 70, 700])
    fresh = ClassBalancedFocalLoss()
    assert not fresh.class_balancing.has_class_counts
    fresh.load_state_dict(trained.state_dict())
    assert fresh.class_balancing.class_counts.tolist() == [7, 70, 700]
    logits, labels, _ = detection_batch(n=20, c=3)
    assert torch.equal(fresh(logits, labels), trained(logits, labels))


def test_unknown_counts_fail_loudly_instead_of_uniform_weights():
    logits, labels, _ = detection_batch(n=20, c=3)
    with pytest.raises(RuntimeError, match='class counts are unknown'):
        ClassBalancedFocalLoss()(logits, labels)
    with pytest.raises(RuntimeError, match='ClassCountsHook'):
        ClassBalancedCrossEntropyLoss()(logits, labels)
    with pytest.raises(ValueError, match='class_counts has 2 entries'):
        ClassBalancedFocalLoss(class_counts=[1, 2])(logits, labels)


# --- robustness ------------------------------------------------------------


@pytest.mark.parametrize('make_loss', [
    SigmoidFocalLoss, lambda: DualFocalLoss(gamma=0.7),
    lambda: DualFocalLoss(learnable_gamma=True),
    lambda: ClassBalancedFocalLoss(class_counts=[3, 30])
],
                         ids=['fl', 'dfl', 'dfl-learnable', 'cbfl'])
def test_extreme_logits_give_finite_exact_values(route, make_loss):
    loss = make_loss()
    logits = torch.tensor([[1e4, -1e4], [-1e4, 1e4], [0.0, 80.0],
                           [-80.0, -200.0]])
    labels = torch.tensor([0, 0, 2, 1])
    value, grad = loss_and_grad(loss, logits, labels,
                                reduction_override='none')
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    if isinstance(loss, DualFocalLoss):
        gamma = loss.gamma
        # positive at -1e4: -log(1 - (1 - e^-1e4)^g) = 1e4 - log(g)
        expected = (1e4 - math.log(gamma)) / boundary_normaliser(gamma)
        assert float(value[1, 0]) == pytest.approx(expected, rel=1e-6)
        assert float(grad[1, 0]) == pytest.approx(
            -1 / boundary_normaliser(gamma), rel=1e-5)
    else:
        # positive at -1e4: alpha * 1 * 1e4 (times the class weight)
        class_weight = loss.row_weights(labels, 2, logits)
        weight = 1.0 if class_weight is None else float(class_weight[1])
        assert float(value[1, 0]) == pytest.approx(0.25 * 1e4 * weight,
                                                   rel=1e-6)
    assert float(value[0, 0]) == 0.0 and float(grad[0, 0]) == 0.0


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('make_loss', [SigmoidFocalLoss, DualFocalLoss])
def test_half_precision_inputs_are_computed_in_fp32(route, dtype, make_loss):
    logits, labels, weights = detection_batch(n=300, c=8, dtype=dtype)
    value, grad = loss_and_grad(make_loss(), logits, labels, weights)
    expected, expected_grad = loss_and_grad(make_loss(), logits.float(),
                                            labels, weights)
    assert value.dtype == torch.float32 and grad.dtype == dtype
    torch.testing.assert_close(value, expected, rtol=1e-6, atol=0)
    torch.testing.assert_close(grad, expected_grad.to(dtype))


@pytest.mark.parametrize('make_loss', [
    SigmoidFocalLoss, DualFocalLoss,
    lambda: DualFocalLoss(learnable_gamma=True),
    lambda: ClassBalancedFocalLoss(class_counts=[1, 2, 3])
])
def test_zero_anchors_give_zero_loss_and_empty_gradient(route, make_loss):
    loss = make_loss()
    logits = torch.zeros(0, 3, requires_grad=True)
    value = loss(logits, torch.zeros(0, dtype=torch.long), avg_factor=1.0)
    value.backward()
    assert float(value) == 0.0 and logits.grad.shape == (0, 3)
    assert float(loss(logits, torch.zeros(0, dtype=torch.long))) == 0.0


def test_all_background_batch(route):
    logits = torch.randn(50, 4)
    labels = torch.full((50, ), 4)
    value = SigmoidFocalLoss(reduction='sum')(logits, labels)
    expected = reduce(
        focal_terms(logits.double(), torch.zeros(50, 4, dtype=torch.float64),
                    2.0), reduction='sum')
    assert float(value) == pytest.approx(float(expected), rel=1e-5)
    cb = ClassBalancedFocalLoss(class_counts=[1, 10, 100, 1000],
                                reduction='sum')
    assert float(cb(logits, labels)) == pytest.approx(float(value), rel=1e-6)


def test_soft_targets_dual_focal_matches_reference(route):
    logits, labels, _ = detection_batch(n=60, c=5, dtype=torch.float64)
    soft = one_hot_targets(labels, 5) * torch.rand(60, 1, dtype=torch.float64)
    value, grad = loss_and_grad(DualFocalLoss(gamma=1.8), logits, soft)
    x = logits.clone().requires_grad_(True)
    expected = dual_focal_terms(x, soft, 1.8).mean()
    expected.backward()
    torch.testing.assert_close(value, expected.detach(), rtol=1e-9, atol=0)
    torch.testing.assert_close(grad, x.grad, rtol=1e-6, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 40),
    c=st.integers(1, 9),
    gamma=st.floats(0.0, 4.0),
    alpha=st.floats(0.05, 0.95),
    scale=st.floats(0.1, 20.0),
    seed=st.integers(0, 10_000),
    dual=st.booleans())
def test_random_shapes_and_parameters_match_reference(n, c, gamma, alpha,
                                                      scale, seed, dual):
    logits, labels, weights = detection_batch(n, c, seed, torch.float64, 0.5)
    if dual:
        gamma = max(gamma, 0.2)
        loss = DualFocalLoss(gamma=gamma, loss_weight=scale)
    else:
        loss = SigmoidFocalLoss(gamma=gamma, alpha=alpha, loss_weight=scale)
    value, grad = loss_and_grad(loss, logits, labels, weights)
    x = logits.clone().requires_grad_(True)
    y = one_hot_targets(labels, c)
    terms = dual_focal_terms(x, y, gamma) if dual else focal_terms(
        x, y, gamma, alpha)
    expected = reduce(terms, weights, loss_weight=scale)
    expected.backward()
    torch.testing.assert_close(value, expected.detach(), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(grad, x.grad, rtol=1e-7, atol=1e-12)


# --- argument errors ---------------------------------------------------------


@pytest.mark.parametrize('build,parameter', [
    (lambda: SigmoidFocalLoss(gamma=-1.0), 'gamma'),
    (lambda: SigmoidFocalLoss(alpha=1.5), 'alpha'),
    (lambda: SigmoidFocalLoss(use_sigmoid=False), 'use_sigmoid'),
    (lambda: SigmoidFocalLoss(reduction='avg'), 'reduction'),
    (lambda: SigmoidFocalLoss(loss_weight=-2), 'loss_weight'),
    (lambda: SigmoidFocalLoss(gamma='2'), 'gamma'),
    (lambda: ClassBalancedFocalLoss(beta=1.0), 'beta'),
    (lambda: ClassBalancedFocalLoss(beta=-0.1), 'beta'),
    (lambda: ClassBalancedFocalLoss(class_counts=[3, -1]), 'class_counts'),
    (lambda: ClassBalancedFocalLoss(class_counts=[]), 'class_counts'),
    (lambda: ClassBalancedFocalLoss(class_counts=[1], ann_file='x.json'),
     'ann_file'),
    (lambda: ClassBalancedCrossEntropyLoss(use_sigmoid='yes'), 'use_sigmoid'),
    (lambda: DualFocalLoss(gamma=0.0), 'gamma'),
    (lambda: DualFocalLoss(gamma_bounds=(2.0, 1.0)), r'gamma_bounds\[1\]'),
    (lambda: DualFocalLoss(gamma_bounds=(1.0, )), 'gamma_bounds'),
    (lambda: DualFocalLoss(gamma=9.0, learnable_gamma=True), 'gamma_bounds'),
])
def test_invalid_arguments_name_the_parameter(build, parameter):
    with pytest.raises(ValueError, match=parameter):
        build()


def test_invalid_call_arguments_name_the_parameter(tmp_path):
    loss = SigmoidFocalLoss()
    logits = torch.randn(5, 3)
    with pytest.raises(ValueError, match='labels must lie in'):
        loss(logits, torch.tensor([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match='weight must have shape'):
        loss(logits, torch.tensor([0, 1, 2, 3, 3]), torch.ones(4))
    with pytest.raises(ValueError, match='avg_factor'):
        loss(logits, torch.tensor([0, 1, 2, 3, 3]), avg_factor=2.0,
             reduction_override='sum')
    with pytest.raises(ValueError, match='reduction'):
        loss(logits, torch.tensor([0, 1, 2, 3, 3]), reduction_override='max')
    with pytest.raises(ValueError, match='dense targets must lie in'):
        loss(logits, torch.full((5, 3), 2.0))
    with pytest.raises(ValueError, match='cls_score must have shape'):
        loss(torch.randn(5), torch.zeros(5, dtype=torch.long))
    with pytest.raises(FileNotFoundError, match='missing.json'):
        ClassBalancedFocalLoss(ann_file=str(tmp_path / 'missing.json'))
    (tmp_path / 'bad.json').write_text('{"images": []')
    with pytest.raises(ValueError, match='bad.json'):
        ClassBalancedFocalLoss(ann_file=str(tmp_path / 'bad.json'))
