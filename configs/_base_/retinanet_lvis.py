# RetinaNet R50-FPN on LVIS v1 (1203 classes): repeat-factor sampling
# (ClassBalancedDataset, oversample_thr=1e-3, from mmdet's LVIS base), boxes
# only, up to 300 detections per image at a low score threshold, LVIS
# evaluation (AP, APr, APc, APf) plus focal_det's per-class table.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py',
    'mmdet::_base_/datasets/lvis_v1_instance.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py', './focal_det_runtime.py',
    './losses.py'
]
# RecalibratingRetinaHead: mmdet's RetinaHead that can recalibrate its scores.
model = dict(
    bbox_head=dict(type='RecalibratingRetinaHead', num_classes=1203),
    test_cfg=dict(score_thr=0.0001, max_per_img=300, recalibrate_scores=False))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=False),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=False),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(dataset=dict(dataset=dict(pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='LongTailLVISMetric', metric='bbox')
test_evaluator = val_evaluator
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg={{_base_.gamma_paramwise_cfg}})
