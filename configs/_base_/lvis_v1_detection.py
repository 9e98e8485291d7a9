# LVIS v1 for box detection (1203 classes), shared by the LVIS configs:
# mmdet's LVIS v1 data with repeat-factor sampling (ClassBalancedDataset,
# oversample_thr=1e-3), boxes only, multi-scale training (shorter side
# 640-800 in steps of 32, longer side <= 1333, flip 0.5), testing at
# 800/1333, LVIS evaluation (AP, APr, APc, APf) plus focal_det's per-class
# table.
_base_ = [
    'mmdet::_base_/datasets/lvis_v1_instance.py', './multiscale_train.py'
]
train_pipeline = {{_base_.multiscale_train_pipeline}}
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
