"""Score recalibration through the inverse focal-entropy minimiser."""
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from scipy.optimize import minimize_scalar

import focal_det  # noqa: F401
from focal_det.analysis.focal_entropy import sigmoid_minimiser
from focal_det.analysis.recalibration import (install_score_recalibration,
                                              inverse_dual_focal_log_odds,
                                              logistic, recalibrated_log_odds,
                                              recalibration_params)
from focal_det.losses import (ClassBalancedFocalLoss, DualFocalLoss,
                              SigmoidFocalLoss, effective_number_weights)
from test_heads_and_checkpoints import LOSSES, retina_head

P = np.array([1e-4, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])


@pytest.mark.parametrize('gamma,alpha', [(2.0, 0.25), (1.0, None),
                                         (3.0, 0.6)])
def test_focal_scores_map_back_to_the_probabilities(gamma, alpha):
    scores = sigmoid_minimiser(P, gamma, alpha)
    params = dict(kind='focal', gamma=gamma, alpha=None if alpha is None else
                  [alpha] * len(P))
    recovered = logistic(recalibrated_log_odds(scores, params))
    np.testing.assert_allclose(recovered, P, rtol=1e-7)


@pytest.mark.parametrize('gamma', [0.7, 2.0, 4.0])
def test_dual_focal_scores_map_back_to_the_probabilities(gamma):

    def dual_focal_minimiser(p):
        def expected(q):
            return -p * np.log1p(-(1 - q)**gamma) - (1 - p) * np.log1p(-q**gamma)
        return minimize_scalar(expected, bounds=(1e-12, 1 - 1e-12),
                               method='bounded',
                               options=dict(xatol=1e-13)).x

    probabilities = np.array([0.05, 0.2, 0.5, 0.8, 0.95])
    scores = np.array([dual_focal_minimiser(p) for p in probabilities])
    recovered = logistic(inverse_dual_focal_log_odds(scores, gamma))
    np.testing.assert_allclose(recovered, probabilities, rtol=1e-4)


@pytest.mark.parametrize('gamma', [0.5, 0.9, 1.0, 2.0, 5.0])
def test_inverse_maps_are_strictly_increasing(gamma):
    q = np.linspace(1e-6, 1 - 1e-6, 100001)
    assert np.all(np.diff(inverse_dual_focal_log_odds(q, gamma)) > 0)
    params = dict(kind='focal', gamma=gamma, alpha=None)
    assert np.all(np.diff(recalibrated_log_odds(q, params)) > 0)


def test_params_follow_the_trained_loss():
    assert recalibration_params(SigmoidFocalLoss(gamma=1.5, alpha=0.3),
                                3) == dict(kind='focal', gamma=1.5,
                                           alpha=[0.3, 0.3, 0.3])
    counts = [900, 90, 9]
    params = recalibration_params(
        ClassBalancedFocalLoss(beta=0.99, class_counts=counts), 3)
    w = effective_number_weights(counts, 0.99).numpy()
    np.testing.assert_allclose(params['alpha'],
                               0.25 * w / (0.25 * w + 0.75))
    dfl = DualFocalLoss(gamma=2.5)
    assert recalibration_params(dfl, 3) == dict(kind='dual_focal', gamma=2.5,
                                                alpha=None)


def _predict(head):
    torch.manual_seed(3)
    feats = [torch.randn(1, 8, 64 // s, 64 // s) for s in (8, 16)]
    cls_scores, bbox_preds = head(feats)
    meta = [dict(img_shape=(64, 64), scale_factor=(1.0, 1.0))]
    return head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=meta,
                                rescale=False)[0]


def test_recalibration_keeps_each_class_ranking_in_the_head():
    head = retina_head(LOSSES['ClassBalancedFocalLoss'])
    head.eval()
    # No threshold or top-k cut, so only scores can differ.
    head.test_cfg = ConfigDict(nms_pre=100000, score_thr=0.0,
                               max_per_img=100000, min_bbox_size=0,
                               nms=dict(type='nms', iou_threshold=0.5))
    with torch.no_grad():
        plain = _predict(head)
        head.test_cfg['recalibrate_scores'] = True
        assert install_score_recalibration(head_model(head))
        recalibrated = _predict(head)
    assert len(plain) == len(recalibrated) > 0
    for label in plain.labels.unique():
        before = _by_box(plain[plain.labels == label])
        after = _by_box(recalibrated[recalibrated.labels == label])
        # The same boxes survive NMS...
        torch.testing.assert_close(before.bboxes, after.bboxes)
        # ... and the score map is non-decreasing (float32 may tie values).
        order = before.scores.argsort(descending=True)
        assert torch.all(after.scores[order][:-1] >= after.scores[order][1:])
        assert not torch.allclose(before.scores, after.scores)


def _by_box(instances):
    """Instances sorted by box coordinates, to compare sets of boxes."""
    keys = instances.bboxes @ torch.tensor([1e6, 1e4, 1e2, 1.0])
    return instances[keys.argsort()]


def head_model(head):
    """The minimal model object install_score_recalibration reads."""
    return type('Model', (), {'bbox_head': head})()


def test_recalibration_is_off_by_default():
    head = retina_head(LOSSES['SigmoidFocalLoss'])
    head.test_cfg = ConfigDict(score_thr=0.05)
    assert not install_score_recalibration(head_model(head))
    assert not hasattr(head, '_focal_det_recalibration')


def test_unsupported_loss_is_a_clear_error():
    class PlainCE(torch.nn.Module):
        pass

    with pytest.raises(ValueError, match='sigmoid focal-family loss'):
        recalibration_params(PlainCE(), 3)
