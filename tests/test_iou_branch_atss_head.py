"""IoUBranchATSSHead, the head of EFL's improved baseline: IoU-branch
targets and losses, the score it predicts with, EFL's statistics over the
five levels, output shapes and the parameter count of the official
architecture (ModelTC/United-Perception, efl_improved_baseline_*.yaml)."""
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.structures import InstanceData
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.utils import register_all_modules

import focal_det  # noqa: F401
from focal_det.calibration import PlattCalibrator, save_calibrator
from focal_det.errors import InvalidCalibrationError
from focal_det.heads import IoUBranchATSSHead, detection_logits
from focal_det.losses.reference import (equalized_focal_terms, focal_terms,
                                        one_hot_targets)
from tests.tiny_data import REPO

register_all_modules()
LVIS_R50 = osp.join(REPO, 'configs', 'lvis',
                    'atss_iou_r50_fpn_gn_2x_lvis_efl.py')
LVIS_R101 = osp.join(REPO, 'configs', 'lvis',
                     'atss_iou_r101_fpn_gn_2x_lvis_efl.py')
STRIDES = (8, 16, 32, 64, 128)
IMAGE = 64  # feature maps 8x8, 4x4, 2x2, 1x1, 1x1


def recipe_head(num_classes=3, loss_cls=None, **test_cfg):
    """The LVIS config's head, for fewer classes, without a backbone."""
    cfg = Config.fromfile(LVIS_R50).model
    head_cfg = cfg.bbox_head.copy()
    head_cfg.update(num_classes=num_classes, train_cfg=cfg.train_cfg,
                    test_cfg=ConfigDict({**cfg.test_cfg, **test_cfg}))
    if loss_cls is not None:
        head_cfg.loss_cls = loss_cls
    head = MODELS.build(head_cfg)
    head.init_weights()
    return head


def level_maps(num_images, channels, value=0.0):
    return [
        torch.full((num_images, channels, math.ceil(IMAGE / s),
                    math.ceil(IMAGE / s)), float(value)) for s in STRIDES
    ]


def image_meta():
    return dict(img_shape=(IMAGE, IMAGE), pad_shape=(IMAGE, IMAGE),
                batch_input_shape=(IMAGE, IMAGE), scale_factor=(1.0, 1.0))


def sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v))


def box_iou_and_giou(a, b):
    """Plain-Python IoU and GIoU of two (x1, y1, x2, y2) boxes."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(
        0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1])
    union = area - inter
    hull = (max(a[2], b[2]) - min(a[0], b[0])) * (
        max(a[3], b[3]) - min(a[1], b[1]))
    return inter / union, inter / union - (hull - union) / hull


# --- the combined score ------------------------------------------------------


def test_detection_logits_are_the_log_odds_of_class_times_iou():
    cls = torch.tensor([0.0, 2.0, -7.0, 10.0, 40.0]).reshape(1, 5, 1, 1)
    iou = torch.tensor([math.log(3.0)]).reshape(1, 1, 1, 1)
    logits = detection_logits(cls, iou, num_anchors=1).flatten().tolist()
    for c, value in zip([0.0, 2.0, -7.0, 10.0, 40.0], logits):
        p = sigmoid(c) * 0.75
        assert value == pytest.approx(math.log(p / (1 - p)), rel=1e-6)
    # sigmoid(0) * sigmoid(log 3) = 0.5 * 0.75 by hand
    assert torch.sigmoid(torch.tensor(logits[0])).item() == pytest.approx(
        0.375, rel=1e-6)
    extreme = detection_logits(
        torch.tensor([-1e4, 1e4]).reshape(1, 2, 1, 1),
        torch.tensor([1e4]).reshape(1, 1, 1, 1), num_anchors=1)
    assert torch.isfinite(extreme).all()


def crafted_predictions(head):
    """Two candidate boxes on level P3, all else hopeless.

    Anchor (row 1, col 1, anchor 0) says class 0 with logit 2 but IoU logit
    -3: score 0.881 * 0.047. Anchor (row 5, col 5, anchor 1) says class 2
    with logit 0 and IoU logit 3: score 0.5 * 0.953, the better one only
    after the IoU is taken into account.
    """
    num_classes = head.num_classes
    cls = level_maps(1, 2 * num_classes, -20.0)
    iou = level_maps(1, 2, -20.0)
    cls[0][0, 0 * num_classes + 0, 1, 1] = 2.0
    iou[0][0, 0, 1, 1] = -3.0
    cls[0][0, 1 * num_classes + 2, 5, 5] = 0.0
    iou[0][0, 1, 5, 5] = 3.0
    return cls, level_maps(1, 8), iou


def test_prediction_scores_are_class_times_iou_probabilities():
    head = recipe_head(score_thr=0.01)
    cls, box, iou = crafted_predictions(head)
    (result, ) = head.predict_by_feat(cls, box, iou,
                                      batch_img_metas=[image_meta()])
    assert result.labels.tolist() == [2, 0]
    torch.testing.assert_close(
        result.scores,
        torch.tensor([0.5 * sigmoid(3.0),
                      sigmoid(2.0) * sigmoid(-3.0)]))
    # bbox_pred 0 decodes to the anchor: side 8 * (6, 8), centred in the
    # stride cell, clipped to the image.
    torch.testing.assert_close(
        result.bboxes,
        torch.tensor([[12.0, 12.0, 64.0, 64.0], [0.0, 0.0, 36.0, 36.0]]))


def test_per_level_top_k_ranks_by_the_combined_score():
    head = recipe_head(score_thr=0.01, nms_pre=1)
    (result, ) = head.predict_by_feat(*crafted_predictions(head),
                                      batch_img_metas=[image_meta()])
    # Ranked by class score alone, the class-0 box would be kept.
    assert result.labels.tolist() == [2]


def test_a_calibration_file_maps_the_combined_score(tmp_path):
    """ScoreMappingMixin maps the log-odds of class score * IoU, the score
    the detections carry and tools/calibrate.py fits on; the loss's own
    inverse map, which speaks of the class score alone, is refused."""
    calibrator = PlattCalibrator([0.5, 0.5, 1.0], [0.0, 1.0, -0.5])
    path = str(tmp_path / 'platt.json')
    save_calibrator(calibrator, path, ['a', 'b', 'c'])
    head = recipe_head(score_thr=0.01, score_calibration=path)
    (result, ) = head.predict_by_feat(*crafted_predictions(head),
                                      batch_img_metas=[image_meta()])
    assert result.labels.tolist() == [2, 0]
    combined = np.array([0.5 * sigmoid(3.0), sigmoid(2.0) * sigmoid(-3.0)])
    np.testing.assert_allclose(result.scores.numpy(),
                               calibrator.calibrate(combined, [2, 0]),
                               rtol=1e-5)
    head.test_cfg['score_calibration'] = 'loss'
    with pytest.raises(InvalidCalibrationError,
                       match="'loss': IoUBranchATSSHead scores detections "
                       r'by class score \* IoU'):
        head.predict_by_feat(*crafted_predictions(head),
                             batch_img_metas=[image_meta()])


def test_undecoded_box_regression_is_refused_by_name():
    with pytest.raises(ValueError, match='reg_decoded_bbox must be True'):
        MODELS.build(dict(type='IoUBranchATSSHead', num_classes=3,
                          in_channels=32, reg_decoded_bbox=False))


# --- the training targets and losses -------------------------------------------


def test_iou_targets_box_and_iou_losses_by_hand():
    """One image with one box and one image without: ATSS positives,
    IoU targets of the decoded boxes, IoU-weighted GIoU, sigmoid CE of the
    IoU branch and the focal loss, each normalised as the reference does."""
    head = recipe_head(loss_cls=dict(type='SigmoidFocalLoss',
                                     use_sigmoid=True, gamma=2.0,
                                     alpha=0.25))
    gt = [6.0, 10.0, 41.0, 30.0]
    gts = [InstanceData(bboxes=torch.tensor([gt]), labels=torch.tensor([1])),
           InstanceData(bboxes=torch.zeros(0, 4),
                        labels=torch.zeros(0, dtype=torch.long))]
    dx, dw, x_cls, u = 0.1, 0.2, -2.0, 0.5
    box = level_maps(2, 8)
    for level in box:
        level[:, 0::4] = dx  # every anchor: centre right by 0.1 w, w * e^0.2
        level[:, 2::4] = dw
    losses = head.loss_by_feat(level_maps(2, 6, x_cls), box,
                               level_maps(2, 2, u), gts, [image_meta()] * 2)

    sizes = [m.shape[-2:] for m in level_maps(1, 1)]
    anchors_by_level = head.prior_generator.grid_priors(sizes, device='cpu')
    anchors = torch.cat(anchors_by_level)
    assign = TASK_UTILS.build(dict(type='ATSSAssigner', topk=18)).assign(
        InstanceData(priors=anchors), [len(a) for a in anchors_by_level],
        gts[0])
    positives = anchors[assign.gt_inds > 0].tolist()
    assert 2 <= len(positives) < 36
    ious, gious = [], []
    for x1, y1, x2, y2 in positives:
        w, h = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2 + dx * w, (y1 + y2) / 2
        w *= math.exp(dw)
        iou, giou = box_iou_and_giou(
            [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], gt)
        ious.append(iou)
        gious.append(giou)
    num_pos = len(positives)  # the empty image counts zero, not one
    bce = [
        -(t * math.log(sigmoid(u)) + (1 - t) * math.log(1 - sigmoid(u)))
        for t in ious
    ]
    assert losses['loss_iou'].item() == pytest.approx(sum(bce) / num_pos,
                                                      rel=1e-5)
    assert losses['loss_bbox'].item() == pytest.approx(
        sum(t * (1 - g) for t, g in zip(ious, gious)) / sum(ious), rel=1e-5)
    num_terms = 2 * len(anchors) * 3
    p = sigmoid(x_cls)
    negative = 0.75 * p**2 * -math.log(1 - p)
    positive = 0.25 * (1 - p)**2 * -math.log(p)
    expected_cls = ((num_terms - num_pos) * negative +
                    num_pos * positive) / num_pos
    assert losses['loss_cls'].item() == pytest.approx(expected_cls, rel=1e-5)


def test_efl_statistics_come_from_all_five_levels_in_one_call():
    """The classification loss sees the logits of all levels at once: the
    loss is the paper's EFL on their concatenation with the gammas of the
    statistics before the step, and the statistics grow by |dloss/dlogit|
    summed over all levels' positive and negative terms."""
    torch.manual_seed(0)
    num_classes = 4
    head = recipe_head(num_classes, loss_cls=dict(
        type='EqualizedFocalLoss', use_sigmoid=True)).train()
    # Small enough that one level's statistics would move the gammas.
    before = torch.tensor([[3.0, 1.0, 0.5, 2.0], [4.0, 20.0, 1.0, 2.5]],
                          dtype=torch.float64) * 1e-3
    head.loss_cls.gradient_sums = before.clone()
    cls = [(-2 + torch.randn_like(m)).requires_grad_()
           for m in level_maps(2, 2 * num_classes)]
    gts = [InstanceData(bboxes=torch.tensor([[6.0, 10.0, 41.0, 30.0],
                                             [30.0, 30.0, 62.0, 50.0]]),
                        labels=torch.tensor([1, 3])),
           InstanceData(bboxes=torch.tensor([[0.0, 0.0, 20.0, 24.0]]),
                        labels=torch.tensor([0]))]
    metas = [image_meta()] * 2
    losses = head.loss_by_feat(cls, level_maps(2, 8), level_maps(2, 2), gts,
                               metas)
    grads = torch.autograd.grad(losses['loss_cls'], cls)
    assert all(float(g.abs().sum()) > 0 for g in grads)  # every level

    def rows(maps):  # (N, A*C, H, W) per level -> (N * K, C), levels joined
        return torch.cat([
            m.permute(0, 2, 3, 1).reshape(2, -1, num_classes) for m in maps
        ], dim=1).reshape(-1, num_classes).double()

    anchor_list, valid_list = head.get_anchors(
        [m.shape[-2:] for m in cls], metas, device='cpu')
    labels = torch.cat(head.get_targets(anchor_list, valid_list, gts,
                                        metas)[1], dim=1).reshape(-1)
    y = one_hot_targets(labels, num_classes)
    gamma = 2.0 + 8.0 * (1 - (before[0] / before[1]).clamp(0, 1))
    expected = equalized_focal_terms(rows(cls).detach(), y, gamma, 2.0,
                                     0.25).sum() / y.sum()
    assert losses['loss_cls'].item() == pytest.approx(expected.item(),
                                                      rel=1e-5)
    magnitude = rows(grads).abs()
    step = torch.stack([(magnitude * y).sum(0), (magnitude * (1 - y)).sum(0)])
    # Every class has negative terms; class 2 has no box, so no positives.
    assert (step[1] > 0).all() and (step[0] > 0).tolist() == [
        True, True, False, True]
    torch.testing.assert_close(head.loss_cls.gradient_sums - before, step,
                               rtol=1e-5, atol=0.0)


# --- the architecture ----------------------------------------------------------


def build_detector(config):
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    return model


def test_lvis_outputs_1203_classes_times_2_anchors_on_every_level():
    model = build_detector(LVIS_R50).eval()
    with torch.no_grad():
        cls, box, iou = model.bbox_head(
            model.extract_feat(torch.zeros(1, 3, 128, 192)))
    sizes = [(16, 24), (8, 12), (4, 6), (2, 3), (1, 2)]
    assert [tuple(m.shape) for m in cls] == [(1, 2406, *s) for s in sizes]
    assert [tuple(m.shape) for m in box] == [(1, 8, *s) for s in sizes]
    assert [tuple(m.shape) for m in iou] == [(1, 2, *s) for s in sizes]
    head = model.bbox_head
    assert isinstance(head, IoUBranchATSSHead)
    # Initialisation: N(0, 0.01) convs, prior 0.001, GroupNorm(32) at 1/0.
    assert head.cls_convs[0].conv.weight.std().item() == pytest.approx(
        0.01, rel=0.05)
    assert head.cls_convs[0].conv.bias is None
    torch.testing.assert_close(
        head.atss_cls.bias, torch.full((2406, ), -math.log(999.0)))
    assert head.reg_convs[3].gn.num_groups == 32
    assert head.reg_convs[3].gn.weight.eq(1).all()


def conv(cin, cout, k, bias):
    return cin * cout * k * k + (cout if bias else 0)


def official_parameter_counts(depth, num_classes=1204, anchors=2):
    """(all, trainable) parameters of the reference model, counted from its
    layer definitions: up/models/backbones/resnet.py (Bottleneck ResNet,
    no fc, layer0-1 frozen, FrozenBatchNorm2d keeps its affine parameters),
    up/tasks/det/models/necks/fpn.py (1x1 laterals and 3x3 outputs with
    bias, two stride-2 3x3 convs for P6-P7) and
    up/tasks/det/models/heads/roi_head/retina_head.py (RetinaHeadWithIOU:
    two towers of 4 bias-free 3x3 conv + GN, 3x3 class, box and IoU convs).
    """
    blocks = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}[depth]
    stem = conv(3, 64, 7, False) + 2 * 64
    stages, inplanes = [], 64
    for planes, count in zip((64, 128, 256, 512), blocks):
        total = 0
        for i in range(count):
            total += conv(inplanes, planes, 1, False) + 2 * planes
            total += conv(planes, planes, 3, False) + 2 * planes
            total += conv(planes, planes * 4, 1, False) + 2 * planes * 4
            if i == 0:  # stride 2 or 64 -> 256 channels: a downsample
                total += conv(inplanes, planes * 4, 1, False) + 2 * planes * 4
            inplanes = planes * 4
        stages.append(total)
    backbone = stem + sum(stages)
    neck = sum(conv(c, 256, 1, True) + conv(256, 256, 3, True)
               for c in (512, 1024, 2048)) + 2 * conv(256, 256, 3, True)
    head = (8 * (conv(256, 256, 3, False) + 2 * 256) +
            conv(256, anchors * (num_classes - 1), 3, True) +
            conv(256, anchors * 4, 3, True) + conv(256, anchors, 3, True))
    total = backbone + neck + head
    return total, total - stem - stages[0]


@pytest.mark.parametrize('config,depth', [(LVIS_R50, 50), (LVIS_R101, 101)],
                         ids=['r50', 'r101'])
def test_parameter_count_equals_the_official_architecture(config, depth):
    model = build_detector(config)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert (total, trainable) == official_parameter_counts(depth)
    if depth == 50:
        assert total == 37_668_272


def test_recipe_configs_differ_only_in_loss_backbone_and_data():
    # The loss definitions every config carries (configs/_base_/losses.py)
    loss_keys = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'losses.py')).keys()

    def flat(config, *drop):
        cfg = Config.fromfile(osp.join(REPO, 'configs', config)).to_dict()
        for key in loss_keys:
            cfg.pop(key)
        for path in drop:
            *parents, key = path.split('.')
            node = cfg
            for parent in parents:
                node = node[parent]
            node.pop(key)
        return cfg

    name = 'atss_iou_r50_fpn_gn_2x_{}_{}.py'
    for data in ('lvis', 'coco'):
        variants = [
            flat(f'{data}/' + name.format(data, loss),
                 'model.bbox_head.loss_cls')
            for loss in ('fl', 'cbfl', 'dfl', 'efl')
        ]
        assert all(v == variants[0] for v in variants)
    r50 = flat('lvis/' + name.format('lvis', 'efl'), 'model.backbone')
    assert r50 == flat('lvis/atss_iou_r101_fpn_gn_2x_lvis_efl.py',
                       'model.backbone')
    # COCO: the same model, schedule and augmentation, its own data.
    data_keys = ['dataset_type', 'data_root', 'backend_args',
                 'train_dataloader', 'val_dataloader', 'test_dataloader',
                 'val_evaluator', 'test_evaluator', 'train_pipeline',
                 'test_pipeline', 'model.bbox_head.num_classes']
    lvis = flat('lvis/' + name.format('lvis', 'efl'), *data_keys)
    coco = flat('coco/' + name.format('coco', 'efl'), *data_keys)
    assert lvis == coco
    lvis_train = Config.fromfile(LVIS_R50).train_dataloader.dataset
    coco_train = Config.fromfile(
        osp.join(REPO, 'configs', 'coco',
                 name.format('coco', 'efl'))).train_dataloader.dataset
    assert lvis_train.dataset.pipeline == coco_train.pipeline
