"""Score recalibration through the inverse focal-entropy minimiser."""
import numpy as np
import pytest
import torch
from mmengine.config import ConfigDict
from mmdet.models.dense_heads import RetinaHead
from scipy.optimize import minimize_scalar

import focal_det  # noqa: F401
from focal_det.heads import RecalibratingRetinaHead, recalibration_requested
from focal_det.hooks import ScoreRecalibrationHook
from focal_det.loss_names import DUAL_FOCAL_TERM, FOCAL_TERM
from focal_det.losses import (ClassBalancedFocalLoss, DualFocalLoss,
                              SigmoidFocalLoss, effective_number_weights)
from focal_det.theory.dual_focal import inverse_dual_focal_log_odds
from focal_det.theory.focal import logistic, sigmoid_minimiser
from focal_det.theory.recalibration import recalibrated_log_odds
from tests.test_heads_and_checkpoints import LOSSES, retina_head

P = np.array([1e-4, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])


@pytest.mark.parametrize('gamma,alpha', [(2.0, 0.25), (1.0, None),
                                         (3.0, 0.6)])
def test_focal_scores_map_back_to_the_probabilities(gamma, alpha):
    scores = sigmoid_minimiser(P, gamma, alpha)
    params = dict(kind=FOCAL_TERM, gamma=gamma,
                  alpha=None if alpha is None else [alpha] * len(P))
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
    params = dict(kind=DUAL_FOCAL_TERM, gamma=gamma, alpha=None)
    np.testing.assert_array_equal(
        recalibrated_log_odds(scores, params),
        inverse_dual_focal_log_odds(scores, gamma))


@pytest.mark.parametrize('gamma', [0.5, 0.9, 1.0, 2.0, 5.0])
def test_inverse_maps_are_strictly_increasing(gamma):
    q = np.linspace(1e-6, 1 - 1e-6, 100001)
    assert np.all(np.diff(inverse_dual_focal_log_odds(q, gamma)) > 0)
    params = dict(kind=FOCAL_TERM, gamma=gamma, alpha=None)
    assert np.all(np.diff(recalibrated_log_odds(q, params)) > 0)


def test_unknown_kind_is_a_clear_error():
    with pytest.raises(ValueError, match="kind must be one of.*'focal'"):
        recalibrated_log_odds(P, dict(kind='focal', gamma=2.0))


def test_params_follow_the_trained_loss():
    assert SigmoidFocalLoss(gamma=1.5, alpha=0.3).recalibration_params(
        3) == dict(kind=FOCAL_TERM, gamma=1.5, alpha=[0.3, 0.3, 0.3])
    assert SigmoidFocalLoss(alpha=None).recalibration_params(3) == dict(
        kind=FOCAL_TERM, gamma=2.0, alpha=None)
    counts = [900, 90, 9]
    params = ClassBalancedFocalLoss(
        beta=0.99, class_counts=counts).recalibration_params(3)
    w = effective_number_weights(counts, 0.99).numpy()
    assert params['kind'] == FOCAL_TERM
    np.testing.assert_allclose(params['alpha'],
                               0.25 * w / (0.25 * w + 0.75))
    dfl = DualFocalLoss(gamma=2.5)
    assert dfl.recalibration_params(3) == dict(kind=DUAL_FOCAL_TERM,
                                               gamma=2.5, alpha=None)


def _predict(head):
    torch.manual_seed(3)
    feats = [torch.randn(1, 8, 64 // s, 64 // s) for s in (8, 16)]
    cls_scores, bbox_preds = head(feats)
    meta = [dict(img_shape=(64, 64), scale_factor=(1.0, 1.0))]
    return head.predict_by_feat(cls_scores, bbox_preds, batch_img_metas=meta,
                                rescale=False)[0]


def _recalibrating_head(loss_name, **test_cfg):
    head = retina_head(LOSSES[loss_name], 'RecalibratingRetinaHead')
    head.eval()
    # No threshold or top-k cut, so only scores can differ.
    head.test_cfg = ConfigDict(nms_pre=100000, score_thr=0.0,
                               max_per_img=100000, min_bbox_size=0,
                               nms=dict(type='nms', iou_threshold=0.5),
                               **test_cfg)
    return head


def test_recalibration_keeps_each_class_ranking_in_the_head():
    head = _recalibrating_head('ClassBalancedFocalLoss')
    with torch.no_grad():
        plain = _predict(head)
        head.test_cfg['recalibrate_scores'] = True
        assert recalibration_requested(head)
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


def test_recalibration_is_off_by_default_and_changes_nothing():
    plain_head = retina_head(LOSSES['SigmoidFocalLoss'])
    head = retina_head(LOSSES['SigmoidFocalLoss'], 'RecalibratingRetinaHead')
    head.load_state_dict(plain_head.state_dict())
    for h in (plain_head, head):
        h.eval()
        h.test_cfg = ConfigDict(score_thr=0.05, nms_pre=1000,
                                min_bbox_size=0, max_per_img=100,
                                nms=dict(type='nms', iou_threshold=0.5))
    assert not recalibration_requested(head)
    with torch.no_grad():
        ours, theirs = _predict(head), _predict(plain_head)
    assert len(ours) > 0
    for key in ('bboxes', 'scores', 'labels'):
        torch.testing.assert_close(ours.get(key), theirs.get(key), rtol=0,
                                   atol=0)


def test_a_head_that_cannot_recalibrate_is_refused():
    head = retina_head(LOSSES['SigmoidFocalLoss'])
    assert type(head) is RetinaHead
    head.test_cfg = ConfigDict(score_thr=0.05, recalibrate_scores=True)
    with pytest.raises(ValueError, match='RecalibratingRetinaHead'):
        recalibration_requested(head)
    runner = type('Runner', (), {'model': type('Model', (), {
        'bbox_head': head})()})()
    with pytest.raises(ValueError, match='RecalibratingRetinaHead'):
        ScoreRecalibrationHook().before_test(runner)


def test_unsupported_loss_is_a_clear_error():
    head = retina_head(LOSSES['SigmoidFocalLoss'], 'RecalibratingRetinaHead')
    head.loss_cls = torch.nn.Module()

    with pytest.raises(ValueError, match='sigmoid focal-family loss'):
        head.score_recalibration_params()
    assert isinstance(head, RecalibratingRetinaHead)
