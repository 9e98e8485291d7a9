"""Second derivatives of the losses and the curvature tools."""
import pytest
import torch

import focal_det  # noqa: F401
from focal_det.analysis.curvature import (hessian_trace,
                                          hessian_vector_product,
                                          logit_curvature, loss_variants,
                                          top_hessian_eigenvalue)
from focal_det.losses import (ClassBalancedFocalLoss, DualFocalLoss,
                              SigmoidFocalLoss)
from focal_det.losses.reference import dual_focal_terms, focal_terms


@pytest.mark.parametrize('kind,gamma', [('ce', 0.0), ('fl', 1.0), ('fl', 2.0),
                                        ('fl', 3.5), ('dfl', 0.7),
                                        ('dfl', 2.0)])
@pytest.mark.parametrize('positive', [True, False])
def test_closed_form_logit_curvature_equals_autograd(kind, gamma, positive):
    logits = torch.linspace(-12, 12, 97, dtype=torch.float64)
    x = logits.clone().requires_grad_(True)
    y = torch.full_like(x, 1.0 if positive else 0.0)
    terms = (dual_focal_terms(x, y, gamma) if kind == 'dfl' else focal_terms(
        x, y, gamma, alpha=None))
    (first, ) = torch.autograd.grad(terms.sum(), x, create_graph=True)
    (second, ) = torch.autograd.grad(first.sum(), x)
    # atol: at |x| = 12 the naive reference itself loses digits
    # ((1 - p)**gamma with p within 6e-6 of 1).
    torch.testing.assert_close(
        logit_curvature(kind, gamma, logits, positive), second, rtol=1e-7,
        atol=1e-10)


def test_curvature_is_finite_at_extreme_logits():
    logits = torch.tensor([-1e4, -200.0, -31.0, 0.0, 31.0, 200.0, 1e4])
    for kind, gamma in (('ce', 0), ('fl', 2), ('dfl', 2), ('dfl', 0.6)):
        for positive in (True, False):
            values = logit_curvature(kind, gamma, logits, positive)
            assert torch.isfinite(values).all(), (kind, gamma, positive)


def test_focal_loss_flattens_the_curvature_of_easy_examples():
    """FL's curvature is far below CE's for well-classified logits."""
    easy = torch.tensor([2.0, 4.0, 6.0], dtype=torch.float64)
    ce = logit_curvature('ce', 0, easy, True)
    for gamma in (1.0, 2.0, 3.0):
        assert torch.all(logit_curvature('fl', gamma, easy, True) < ce)


@pytest.mark.parametrize('make_loss', [
    lambda: SigmoidFocalLoss(gamma=2.0),
    lambda: DualFocalLoss(gamma=2.0),
    lambda: ClassBalancedFocalLoss(class_counts=[40, 4, 1]),
])
@pytest.mark.parametrize('reduction', ['mean', 'none'])
def test_fused_losses_support_double_backward(make_loss, reduction):
    loss = make_loss()
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(6, 3, generator=g, dtype=torch.float64) *
         3).requires_grad_(True)
    labels = torch.randint(0, 4, (6, ), generator=g)
    weights = torch.rand(6, generator=g, dtype=torch.float64)
    assert torch.autograd.gradgradcheck(
        lambda x: loss(x, labels, weights, avg_factor=2.0,
                       reduction_override=reduction), (x, ))


def test_double_backward_refuses_learnable_gamma_and_soft_targets():
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 1, 3, 2])
    learnable = DualFocalLoss(learnable_gamma=True).double()
    with pytest.raises(NotImplementedError, match='learnable gamma'):
        torch.autograd.grad(learnable(x, labels), x, create_graph=True)
    soft = torch.full((4, 3), 0.3, dtype=torch.float64)
    (grad, ) = torch.autograd.grad(SigmoidFocalLoss()(x, soft), x,
                                   create_graph=True)
    with pytest.raises(NotImplementedError, match='binary targets'):
        torch.autograd.grad(grad.sum(), x)


def _linear_probe():
    """A small classifier whose loss goes through the fused focal loss."""
    g = torch.Generator().manual_seed(1)
    features = torch.randn(40, 5, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (40, ), generator=g)
    weight = (torch.randn(3, 5, generator=g, dtype=torch.float64) *
              0.5).requires_grad_(True)
    bias = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    loss = SigmoidFocalLoss(gamma=2.0)

    def loss_fn():
        return loss(features @ weight.T + bias, labels, avg_factor=10.0)

    return loss_fn, [weight, bias]


def test_hessian_vector_product_matches_finite_differences():
    loss_fn, params = _linear_probe()
    g = torch.Generator().manual_seed(2)
    vector = [torch.randn(p.shape, generator=g, dtype=torch.float64)
              for p in params]
    product = hessian_vector_product(loss_fn, params, vector)
    eps = 1e-5

    def gradient_at(sign):
        with torch.no_grad():
            for p, v in zip(params, vector):
                p.add_(sign * eps * v)
        grads = torch.autograd.grad(loss_fn(), params)
        with torch.no_grad():
            for p, v in zip(params, vector):
                p.sub_(sign * eps * v)
        return grads

    plus, minus = gradient_at(1.0), gradient_at(-1.0)
    for hv, gp, gm in zip(product, plus, minus):
        torch.testing.assert_close(hv, (gp - gm) / (2 * eps), rtol=1e-6,
                                   atol=1e-9)


def test_power_iteration_and_hutchinson_on_a_known_quadratic():
    g = torch.Generator().manual_seed(3)
    basis, _ = torch.linalg.qr(torch.randn(8, 8, generator=g,
                                           dtype=torch.float64))
    spectrum = torch.tensor([5.0, 2.0, 1.5, 1.0, 0.5, 0.2, 0.1, 0.05],
                            dtype=torch.float64)
    matrix = basis @ torch.diag(spectrum) @ basis.T
    theta = torch.zeros(8, dtype=torch.float64, requires_grad=True)

    def loss_fn():
        return 0.5 * theta @ matrix @ theta

    assert top_hessian_eigenvalue(loss_fn, [theta], iters=200,
                                  tol=1e-12) == pytest.approx(5.0, rel=1e-6)
    trace = hessian_trace(loss_fn, [theta], samples=4000)
    assert trace == pytest.approx(float(spectrum.sum()), rel=0.05)


def test_loss_variants_parse_and_reject_bad_names():
    variants = loss_variants(['ce', 'fl:2', 'dfl:1.5'])
    assert variants['CE']['gamma'] == 0.0 and variants['CE']['alpha'] is None
    assert variants['FL(gamma=2)']['gamma'] == 2.0
    assert variants['DFL(gamma=1.5)']['type'] == 'DualFocalLoss'
    with pytest.raises(ValueError, match='loss variant'):
        loss_variants(['focal'])
