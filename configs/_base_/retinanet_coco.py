# RetinaNet R50-FPN 1x on COCO from mmdet, with focal_det's registrations,
# hooks and the long-tail metric (COCO has no frequency field: classes are
# bucketed by training image counts with LVIS's thresholds).
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', './focal_det_runtime.py',
    './losses.py'
]
data_root = 'data/coco/'
# ScoreMappingRetinaHead: mmdet's RetinaHead that can calibrate its scores
# (model.test_cfg.score_calibration, off by default).
model = dict(
    bbox_head=dict(type='ScoreMappingRetinaHead'))
optim_wrapper = dict(paramwise_cfg={{_base_.gamma_paramwise_cfg}})
val_evaluator = dict(
    type='LongTailCocoMetric',
    train_ann_file=data_root + 'annotations/instances_train2017.json')
test_evaluator = val_evaluator
