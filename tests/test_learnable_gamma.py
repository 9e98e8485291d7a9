"""The learnable gamma of DualFocalLoss settles inside its bounds."""
import pytest
import torch

import focal_det  # noqa: F401
from focal_det.losses import DualFocalLoss

BOUNDS = (0.5, 8.0)


def imbalanced_toy_problem():
    """Three overlapping foreground classes (600/60/12) and 1500 background."""
    g = torch.Generator().manual_seed(0)
    centers = torch.tensor([[1.5, 0.0], [0.0, 1.5], [-1.2, -1.2]])
    points, labels = [], []
    for cls, count in enumerate((600, 60, 12)):
        points.append(centers[cls] + torch.randn(count, 2, generator=g))
        labels.append(torch.full((count, ), cls))
    points.append(torch.randn(1500, 2, generator=g) * 1.5)
    labels.append(torch.full((1500, ), 3))
    x = torch.cat(points)
    features = torch.cat([x, x**2, x[:, :1] * x[:, 1:]], dim=1)
    return features, torch.cat(labels)


def train_gamma(loss_of_logits, gamma_of, params, steps=4000):
    """Jointly train a quadratic classifier and gamma; return gamma's history."""
    torch.manual_seed(0)
    features, labels = imbalanced_toy_problem()
    classifier = torch.nn.Linear(features.shape[1], 3)
    optimizer = torch.optim.Adam(
        list(classifier.parameters()) + list(params), lr=0.05)
    avg_factor = float((labels < 3).sum())
    history = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss_of_logits(classifier(features), labels, avg_factor).backward()
        optimizer.step()
        history.append(float(gamma_of().detach()))
    return history


def test_learnable_gamma_settles_strictly_inside_its_bounds(monkeypatch):
    monkeypatch.setenv('FOCAL_DET_COMPILE', '0')  # 4000 tiny steps
    loss = DualFocalLoss(gamma=2.0, learnable_gamma=True, gamma_bounds=BOUNDS)
    history = train_gamma(
        lambda logits, labels, avg: loss(logits, labels, avg_factor=avg),
        lambda: loss.gamma_tensor(), loss.parameters())
    final = history[-1]
    assert BOUNDS[0] + 0.2 < final < BOUNDS[1] - 0.2
    assert abs(final - history[0]) > 0.5  # it did move
    assert max(history[-500:]) - min(history[-500:]) < 1e-3  # and settled


def test_unnormalised_loss_drives_gamma_to_its_bound():
    """Why the loss is normalised: -log(1 - d**gamma) falls as gamma grows."""
    theta = torch.zeros((), requires_grad=True)
    low, high = BOUNDS

    def gamma_of():
        return low + (high - low) * torch.sigmoid(theta)

    def raw_dual_focal(logits, labels, avg_factor):
        target = torch.nn.functional.one_hot(labels, 4)[:, :3].float()
        d = (target - logits.sigmoid()).abs()
        return -torch.log1p(-d**gamma_of()).sum() / avg_factor

    history = train_gamma(raw_dual_focal, gamma_of, [theta], steps=1500)
    assert all(b >= a for a, b in zip(history, history[1:]))
    assert history[-1] > high - 0.1


def test_gamma_is_saved_with_the_model_and_reported():
    loss = DualFocalLoss(gamma=3.0, learnable_gamma=True)
    with torch.no_grad():
        loss.gamma_logit.fill_(1.0)
    restored = DualFocalLoss(gamma=3.0, learnable_gamma=True)
    restored.load_state_dict(loss.state_dict())
    assert restored.gamma == pytest.approx(
        0.5 + 7.5 * torch.sigmoid(torch.tensor(1.0)).item())
    assert 'gamma=' in repr(restored)
    assert DualFocalLoss(gamma=3.0).gamma == 3.0


def test_learnable_gamma_is_put_into_the_training_log_line():
    import types

    from focal_det.hooks import LossParameterLoggerHook
    logged = {}
    learnable = DualFocalLoss(gamma=1.5, learnable_gamma=True)
    runner = types.SimpleNamespace(
        model=torch.nn.Sequential(learnable, DualFocalLoss(gamma=1.5)),
        message_hub=types.SimpleNamespace(update_scalar=logged.__setitem__))
    LossParameterLoggerHook().after_train_iter(runner, 0)
    assert logged == {'train/gamma': pytest.approx(1.5)}
