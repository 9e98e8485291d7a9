"""Score mapping in the heads (``model.test_cfg.score_calibration``): each
loss's inverse map as a calibrator, one mechanism for every dense head
(ScoreMappingMixin), and one check that refuses a head that cannot apply
it."""
import numpy as np
import pytest
import torch
from mmdet.models.dense_heads import ATSSHead, RetinaHead
from mmengine.config import ConfigDict
from scipy.optimize import minimize_scalar

import focal_det  # noqa: F401
from focal_det.calibration import (DualFocalCalibrator,
                                   FocalEntropyCalibrator, PlattCalibrator,
                                   save_calibrator)
from focal_det.errors import InvalidCalibrationError
from focal_det.heads import (ScoreMappingMixin, ScoreMappingRetinaHead,
                             requested_score_calibrator)
from focal_det.hooks import ScoreCalibrationHook
from focal_det.losses import (ClassBalancedFocalLoss, DualFocalLoss,
                              EqualizedFocalLoss, SigmoidFocalLoss,
                              effective_number_weights)
from focal_det.theory.dual_focal import inverse_dual_focal_log_odds
from focal_det.theory.focal import logistic, sigmoid_minimiser
from tests.test_heads_and_checkpoints import LOSSES, NUM_CLASSES, retina_head

P = np.array([1e-4, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])


@pytest.mark.parametrize('gamma,alpha', [(2.0, 0.25), (1.0, 0.5),
                                         (3.0, 0.6)])
def test_focal_scores_map_back_to_the_probabilities(gamma, alpha):
    scores = sigmoid_minimiser(P, gamma, alpha)
    per_class = FocalEntropyCalibrator(len(P), gamma, [alpha] * len(P))
    shared = FocalEntropyCalibrator(len(P), gamma, alpha)
    for calibrator in (per_class, shared):
        recovered = logistic(calibrator.log_odds(scores[None]))[0]
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
    calibrator = DualFocalCalibrator(len(scores), gamma)
    # (through logit and sigmoid: equal up to rounding)
    np.testing.assert_allclose(calibrator.log_odds(scores[None])[0],
                               inverse_dual_focal_log_odds(scores, gamma),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize('gamma', [0.5, 0.9, 1.0, 2.0, 5.0])
def test_inverse_maps_are_strictly_increasing(gamma):
    q = np.linspace(1e-6, 1 - 1e-6, 100001)[:, None]
    for calibrator in (DualFocalCalibrator(1, gamma),
                       FocalEntropyCalibrator(1, gamma, 0.5)):
        assert np.all(np.diff(calibrator.log_odds(q)[:, 0]) > 0)


def test_each_loss_builds_its_inverse_from_its_trained_parameters():
    fl = SigmoidFocalLoss(gamma=1.5, alpha=0.3).inverse_calibrator(3)
    assert (fl.method, fl.params()) == ('focal_entropy',
                                        dict(gamma=1.5, alpha=0.3))
    # No alpha weighting is the same map as alpha = 1/2.
    assert SigmoidFocalLoss(alpha=None).inverse_calibrator(3).params() == \
        dict(gamma=2.0, alpha=0.5)
    counts = [900, 90, 9]
    cbfl = ClassBalancedFocalLoss(
        beta=0.99, class_counts=counts).inverse_calibrator(3)
    w = effective_number_weights(counts, 0.99).numpy()
    assert cbfl.method == 'focal_entropy'
    np.testing.assert_allclose(cbfl.params()['alpha'],
                               0.25 * w / (0.25 * w + 0.75))
    dfl = DualFocalLoss(gamma=2.5).inverse_calibrator(3)
    assert (dfl.method, dfl.params()) == ('dual_focal', dict(gamma=2.5))
    # A learnt gamma: the map follows the loss's current value.
    learnt = DualFocalLoss(gamma=2.0, learnable_gamma=True)
    with torch.no_grad():
        learnt.gamma_logit.add_(1.0)
    assert learnt.inverse_calibrator(3).gamma == pytest.approx(learnt.gamma)
    assert learnt.gamma != pytest.approx(2.0)
    assert not hasattr(EqualizedFocalLoss(), 'inverse_calibrator')


def _predict(head):
    torch.manual_seed(3)
    feats = [torch.randn(1, 8, 64 // s, 64 // s) for s in (8, 16)]
    meta = [dict(img_shape=(64, 64), scale_factor=(1.0, 1.0))]
    with torch.no_grad():
        outputs = head(feats)
        return head.predict_by_feat(*outputs, batch_img_metas=meta,
                                    rescale=False)[0]


# No threshold or top-k cut, so only scores can differ.
_NO_CUT = dict(nms_pre=100000, score_thr=0.0, max_per_img=100000,
               min_bbox_size=0, nms=dict(type='nms', iou_threshold=0.5))


def _mapping_head(loss_name, **test_cfg):
    head = retina_head(LOSSES[loss_name], 'ScoreMappingRetinaHead')
    head.eval()
    head.test_cfg = ConfigDict(**_NO_CUT, **test_cfg)
    return head


def _by_box(instances):
    """Instances sorted by box coordinates, to compare sets of boxes."""
    keys = instances.bboxes @ torch.tensor([1e6, 1e4, 1e2, 1.0])
    return instances[keys.argsort()]


def test_the_loss_inverse_keeps_each_class_ranking_in_the_head():
    head = _mapping_head('ClassBalancedFocalLoss')
    plain = _predict(head)
    head.test_cfg['score_calibration'] = 'loss'
    assert requested_score_calibrator(head).method == 'focal_entropy'
    mapped = _predict(head)
    assert len(plain) == len(mapped) > 0
    for label in plain.labels.unique():
        before = _by_box(plain[plain.labels == label])
        after = _by_box(mapped[mapped.labels == label])
        # The same boxes survive NMS...
        torch.testing.assert_close(before.bboxes, after.bboxes)
        # ... and the score map is non-decreasing (float32 may tie values).
        order = before.scores.argsort(descending=True)
        assert torch.all(after.scores[order][:-1] >= after.scores[order][1:])
        assert not torch.allclose(before.scores, after.scores)


def test_off_by_default_and_then_exactly_retina_head():
    plain_head = retina_head(LOSSES['SigmoidFocalLoss'])
    head = retina_head(LOSSES['SigmoidFocalLoss'], 'ScoreMappingRetinaHead')
    head.load_state_dict(plain_head.state_dict())
    for h in (plain_head, head):
        h.eval()
        h.test_cfg = ConfigDict(score_thr=0.05, nms_pre=1000,
                                min_bbox_size=0, max_per_img=100,
                                nms=dict(type='nms', iou_threshold=0.5),
                                score_calibration=None)
    assert requested_score_calibrator(head) is None
    ours, theirs = _predict(head), _predict(plain_head)
    assert len(ours) > 0
    for key in ('bboxes', 'scores', 'labels'):
        torch.testing.assert_close(ours.get(key), theirs.get(key), rtol=0,
                                   atol=0)


class _ScoreMappingATSSHead(ScoreMappingMixin, ATSSHead):
    """What a head author writes (the mixin's docstring)."""


def _atss_head(head_type):
    head = head_type(
        num_classes=NUM_CLASSES, in_channels=8, stacked_convs=1,
        feat_channels=8, norm_cfg=dict(type='GN', num_groups=4),
        anchor_generator=dict(type='AnchorGenerator', ratios=[1.0],
                              octave_base_scale=8, scales_per_octave=1,
                              strides=[8, 16]),
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                        target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=LOSSES['SigmoidFocalLoss'],
        loss_bbox=dict(type='GIoULoss', loss_weight=2.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True,
                             loss_weight=1.0),
        test_cfg=ConfigDict(**_NO_CUT))
    return head.eval()


def test_a_head_with_a_score_factor_gets_the_mapping_by_inheritance(
        tmp_path):
    """An ATSS head (centerness branch, as an IoU branch): the mixin maps
    the class logits and mmdet multiplies in the score factor after, exactly
    as if the network had output the mapped logits."""
    slopes = np.linspace(0.5, 1.5, NUM_CLASSES)
    calibrator = PlattCalibrator(slopes, -slopes)
    path = str(tmp_path / 'platt.json')
    names = [f'c{k}' for k in range(NUM_CLASSES)]
    save_calibrator(calibrator, path, names)
    torch.manual_seed(0)
    ours = _atss_head(_ScoreMappingATSSHead)
    plain = _atss_head(ATSSHead)
    plain.load_state_dict(ours.state_dict())
    ours.test_cfg['score_calibration'] = path
    assert requested_score_calibrator(ours, names).method == 'platt'

    torch.manual_seed(3)
    feats = [torch.randn(1, 8, 64 // s, 64 // s) for s in (8, 16)]
    meta = [dict(img_shape=(64, 64), scale_factor=(1.0, 1.0))]
    with torch.no_grad():
        cls_scores, bbox_preds, centernesses = ours(feats)
        mapped = ours.predict_by_feat(cls_scores, bbox_preds, centernesses,
                                      batch_img_metas=meta)[0]
        # What the network would have had to output: each class logit
        # through the calibrator, then mmdet's own ATSS post-processing.
        by_hand = [
            torch.from_numpy(calibrator.map_logits(
                level.permute(0, 2, 3, 1).double().numpy())).float()
            .permute(0, 3, 1, 2) for level in cls_scores
        ]
        expected = plain.predict_by_feat(by_hand, bbox_preds, centernesses,
                                         batch_img_metas=meta)[0]
        raw = plain.predict_by_feat(cls_scores, bbox_preds, centernesses,
                                    batch_img_metas=meta)[0]
    assert len(mapped) > 0
    for key in ('bboxes', 'scores', 'labels'):
        torch.testing.assert_close(mapped.get(key), expected.get(key),
                                   rtol=0, atol=0)
    # (The score factor multiplies after the map, so NMS may keep others.)
    assert len(mapped) != len(raw) or not torch.allclose(
        _by_box(mapped).scores, _by_box(raw).scores)


class _Runner:
    """What the hook reads of a runner: the model, the loops' datasets and
    a logger."""

    def __init__(self, head, classes):
        self.model = type('Model', (), {'bbox_head': head})()
        dataset = type('Dataset', (), {'metainfo': dict(classes=classes)})()
        loader = type('Loader', (), {'dataset': dataset})()
        self.val_loop = self.test_loop = type('Loop', (), {
            'dataloader': loader})()
        self.messages = []
        self.logger = type('Logger', (), {
            'info': lambda _, message: self.messages.append(message)})()


@pytest.mark.parametrize('value', ['loss', '/no/such/calibration.json'])
def test_a_head_that_cannot_map_scores_is_refused_for_either_source(value):
    """A plain mmdet RetinaHead would ignore the option, whether it names
    the loss's map or a file (even a missing one): both are refused by the
    one check, and so by the hook before training, validation and test."""
    head = retina_head(LOSSES['SigmoidFocalLoss'])
    assert type(head) is RetinaHead
    head.test_cfg = ConfigDict(score_thr=0.05, score_calibration=value)
    message = (f"score_calibration='{value}' would be ignored: RetinaHead "
               'cannot map its scores')
    with pytest.raises(InvalidCalibrationError, match=message):
        requested_score_calibrator(head)
    runner = _Runner(head, [f'c{k}' for k in range(NUM_CLASSES)])
    for stage in ('before_train', 'before_val', 'before_test'):
        with pytest.raises(InvalidCalibrationError, match=message):
            getattr(ScoreCalibrationHook(), stage)(runner)


def test_the_hook_checks_the_file_against_the_dataset_classes(tmp_path):
    path = str(tmp_path / 'platt.json')
    names = [f'c{k}' for k in range(NUM_CLASSES)]
    save_calibrator(PlattCalibrator([1.0] * NUM_CLASSES,
                                    [0.0] * NUM_CLASSES), path, names)
    head = _mapping_head('SigmoidFocalLoss', score_calibration=path)
    runner = _Runner(head, names)
    ScoreCalibrationHook().before_test(runner)
    assert runner.messages == [f'score calibration on: platt calibrator '
                               f'{path}']
    swapped = [names[1], names[0], *names[2:]]
    with pytest.raises(InvalidCalibrationError,
                       match=r"its class 0 is 'c0', the model's is 'c1' "
                       r'\(the same names in another order\)'):
        ScoreCalibrationHook().before_val(_Runner(head, swapped))
    # The head keeps the classes it was told and checks every reading.
    with pytest.raises(InvalidCalibrationError, match='other classes'):
        _predict(head)


def test_a_loss_without_inverse_is_a_clear_error():
    head = _mapping_head('SigmoidFocalLoss', score_calibration='loss')
    head.loss_cls = torch.nn.Module()
    with pytest.raises(InvalidCalibrationError,
                       match='needs a loss with an inverse map.*Module'):
        requested_score_calibrator(head)
    head.loss_cls = SigmoidFocalLoss(alpha=1.0)
    with pytest.raises(InvalidCalibrationError,
                       match=r"the loss's parameters have no inverse map "
                       r'\(focal_entropy calibrator: alpha = 1.0'):
        requested_score_calibrator(head)
    assert isinstance(head, ScoreMappingRetinaHead)


@pytest.mark.parametrize('value', [True, 1.5, dict(file='x.json')])
def test_a_value_that_is_neither_a_file_nor_loss_is_refused(value):
    head = _mapping_head('SigmoidFocalLoss', score_calibration=value)
    with pytest.raises(InvalidCalibrationError,
                       match="must be a calibration file .* or 'loss'"):
        requested_score_calibrator(head)
