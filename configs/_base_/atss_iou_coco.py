# EFL's improved baseline (./atss_iou_r50_fpn_gn_2x.py) on COCO 2017, with
# the LVIS configs' multi-scale training; the long-tail metric buckets
# COCO's classes by training image counts with LVIS's thresholds.
_base_ = [
    './atss_iou_r50_fpn_gn_2x.py', 'mmdet::_base_/datasets/coco_detection.py',
    './multiscale_train.py'
]
data_root = 'data/coco/'
model = dict(bbox_head=dict(num_classes=80))
train_pipeline = {{_base_.multiscale_train_pipeline}}
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(
    type='LongTailCocoMetric',
    train_ann_file=data_root + 'annotations/instances_train2017.json')
test_evaluator = val_evaluator
