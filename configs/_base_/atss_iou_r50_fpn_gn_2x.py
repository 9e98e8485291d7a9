# The one-stage "improved baseline" of Equalized Focal Loss (Li et al., CVPR
# 2022), model and schedule, from the official configuration
# configs/det/efl/efl_improved_baseline_r50_2x_rfs.yaml of
# ModelTC/United-Perception; key-by-key table in docs/lvis_recipe.md.
# The data (LVIS with repeat-factor sampling, or COCO) comes from
# ./atss_iou_lvis.py or ./atss_iou_coco.py; the loss from the leaf config.
_base_ = [
    'mmdet::_base_/schedules/schedule_2x.py',
    'mmdet::_base_/default_runtime.py', './focal_det_runtime.py',
    './losses.py'
]
model = dict(
    type='ATSS',
    data_preprocessor=dict(
        type='DetDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        # The reference pads batches to a multiple of 64.
        pad_size_divisor=64),
    # ImageNet ResNet-50; stem and stage 1 frozen; BN statistics frozen
    # everywhere, BN affine parameters of stages 2-4 trained.
    backbone=dict(
        type='ResNet',
        depth=50,
        num_stages=4,
        out_indices=(1, 2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        style='pytorch',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    # P3-P5 from C3-C5; P6 by a stride-2 conv on C5's lateral, P7 by one on
    # P6, no ReLU between.
    neck=dict(
        type='FPN',
        in_channels=[512, 1024, 2048],
        out_channels=256,
        start_level=0,
        add_extra_convs='on_lateral',
        num_outs=5,
        init_cfg=dict(type='Xavier', layer='Conv2d', distribution='normal')),
    bbox_head=dict(
        type='IoUBranchATSSHead',
        in_channels=256,
        stacked_convs=4,
        feat_channels=256,
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True),
        # Two anchors per location, side 6 and 8 strides, centred in the
        # stride cell.
        anchor_generator=dict(
            type='AnchorGenerator',
            ratios=[1.0],
            scales=[6, 8],
            strides=[8, 16, 32, 64, 128],
            center_offset=0.5),
        bbox_coder=dict(
            type='DeltaXYWHBBoxCoder',
            target_means=[0.0, 0.0, 0.0, 0.0],
            target_stds=[1.0, 1.0, 1.0, 1.0]),
        loss_cls={{_base_.fl}},
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_iou=dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        init_cfg=dict(
            type='Normal',
            layer='Conv2d',
            std=0.01,
            override=dict(
                type='Normal', name='atss_cls', std=0.01, bias_prob=0.001))),
    train_cfg=dict(
        assigner=dict(type='ATSSAssigner', topk=18),
        allowed_border=-1,
        pos_weight=-1,
        debug=False),
    test_cfg=dict(
        nms_pre=6000,
        min_bbox_size=0,
        score_thr=0.0,
        nms=dict(type='nms', iou_threshold=0.5),
        max_per_img=300))
# 24 epochs, evaluated at the end as the reference does.
train_cfg = dict(max_epochs=24, val_interval=24)
# Linear warm-up over the first epoch from 0.001x, then x0.1 at epochs 16
# and 22.
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=0.001,
        by_epoch=True,
        begin=0,
        end=1,
        convert_to_iter_based=True),
    dict(
        type='MultiStepLR',
        begin=0,
        end=24,
        by_epoch=True,
        milestones=[16, 22],
        gamma=0.1)
]
# SGD at 0.02 for 16 images (0.00125 per image), gradient L2 norm clipped
# at 35. Other total batch sizes: --auto-scale-lr scales the lr linearly.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=0.0001),
    clip_grad=dict(max_norm=35, norm_type=2),
    paramwise_cfg={{_base_.gamma_paramwise_cfg}})
auto_scale_lr = dict(enable=False, base_batch_size=16)
