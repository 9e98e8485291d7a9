"""The losses inside mmdet heads, and checkpoints on torch >= 2.6."""
import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import save_checkpoint
from mmengine.structures import InstanceData
from mmdet.registry import MODELS

import focal_det  # noqa: F401
from focal_det.engine.detector_loading import load_checkpoint_strictly

NUM_CLASSES = 4
# As with mmdet's FocalLoss, use_sigmoid=True goes into the config: the
# heads read it from the config dict to size their classifier.
LOSSES = {
    'SigmoidFocalLoss':
    dict(type='SigmoidFocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25),
    'ClassBalancedFocalLoss':
    dict(type='ClassBalancedFocalLoss', use_sigmoid=True, beta=0.999,
         class_counts=[500, 50, 5, 1]),
    'DualFocalLoss':
    dict(type='DualFocalLoss', use_sigmoid=True, learnable_gamma=True),
    'ClassBalancedCrossEntropyLoss':
    dict(type='ClassBalancedCrossEntropyLoss', use_sigmoid=True,
         class_counts=[9, 8, 7, 6]),
}


def retina_head(loss_cls, head_type='RetinaHead'):
    return MODELS.build(
        dict(
            type=head_type,
            num_classes=NUM_CLASSES,
            in_channels=8,
            stacked_convs=1,
            feat_channels=8,
            anchor_generator=dict(
                type='AnchorGenerator',
                octave_base_scale=4,
                scales_per_octave=2,
                ratios=[0.5, 1.0, 2.0],
                strides=[8, 16]),
            bbox_coder=dict(
                type='DeltaXYWHBBoxCoder',
                target_means=[0.0] * 4,
                target_stds=[1.0] * 4),
            loss_cls=loss_cls,
            loss_bbox=dict(type='L1Loss', loss_weight=1.0),
            train_cfg=dict(
                assigner=dict(
                    type='MaxIoUAssigner',
                    pos_iou_thr=0.5,
                    neg_iou_thr=0.4,
                    min_pos_iou=0,
                    ignore_iof_thr=-1),
                sampler=dict(type='PseudoSampler'),
                allowed_border=-1,
                pos_weight=-1,
                debug=False)))


def head_losses(loss_cls, seed=0):
    torch.manual_seed(seed)
    head = retina_head(loss_cls)
    feats = [torch.rand(2, 8, 64 // s, 64 // s) for s in (8, 16)]
    gts = [
        InstanceData(
            bboxes=torch.tensor([[8., 8., 40., 40.], [30., 20., 60., 50.]]),
            labels=torch.tensor([0, 3])),
        InstanceData(
            bboxes=torch.tensor([[4., 10., 30., 60.]]),
            labels=torch.tensor([2]))
    ]
    metas = [dict(img_shape=(64, 64), pad_shape=(64, 64), scale_factor=1)] * 2
    losses = head.loss_by_feat(*head(feats), gts, metas)
    return head, sum(losses['loss_cls'])


@pytest.mark.parametrize('name', sorted(LOSSES))
def test_retina_head_computes_loss_and_gradients(name):
    head, loss_cls = head_losses(LOSSES[name])
    assert head.cls_out_channels == NUM_CLASSES  # read from use_sigmoid
    assert torch.isfinite(loss_cls) and float(loss_cls) > 0
    loss_cls.backward()
    grad = head.retina_cls.weight.grad
    assert torch.isfinite(grad).all() and float(grad.abs().sum()) > 0
    if name == 'DualFocalLoss':
        assert float(head.loss_cls.gamma_logit.grad.abs()) > 0


def test_retina_head_loss_equals_mmdet_focal_loss():
    _, ours = head_losses(LOSSES['SigmoidFocalLoss'])
    _, theirs = head_losses(dict(type='FocalLoss', use_sigmoid=True,
                                 gamma=2.0, alpha=0.25, loss_weight=1.0))
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=0)


def test_checkpoint_with_mmengine_meta_loads_and_restores_loss_state(
        tmp_path):
    trained, _ = head_losses(LOSSES['ClassBalancedFocalLoss'])
    path = str(tmp_path / 'epoch_1.pth')
    # mmengine puts numpy objects into meta/message_hub; weights_only refuses
    save_checkpoint(
        dict(
            state_dict=trained.state_dict(),
            meta=dict(epoch=1, seed=np.int64(3), hist=np.arange(3.0))), path)
    with pytest.raises(Exception, match='[Ww]eights only'):
        torch.load(path)
    fresh = retina_head(dict(type='ClassBalancedFocalLoss', use_sigmoid=True))
    assert not fresh.loss_cls.class_balancing.has_class_counts
    meta = load_checkpoint_strictly(fresh, path)  # focal_det's loader
    assert meta['seed'] == 3
    assert fresh.loss_cls.class_balancing.class_counts.tolist() == [500, 50, 5, 1]
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        load_checkpoint_strictly(fresh, str(tmp_path / 'missing.pth'))
