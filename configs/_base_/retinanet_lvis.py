# RetinaNet R50-FPN 1x on LVIS v1 (1203 classes): mmdet's RetinaNet with
# the LVIS data of ./lvis_v1_detection.py (repeat-factor sampling, boxes
# only), up to 300 detections per image at a low score threshold.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py', './lvis_v1_detection.py',
    'mmdet::_base_/schedules/schedule_1x.py',
    'mmdet::_base_/default_runtime.py', './focal_det_runtime.py',
    './losses.py'
]
# ScoreMappingRetinaHead: mmdet's RetinaHead that can calibrate its scores
# (model.test_cfg.score_calibration, off by default).
model = dict(
    bbox_head=dict(type='ScoreMappingRetinaHead', num_classes=1203),
    test_cfg=dict(score_thr=0.0001, max_per_img=300))
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001),
    paramwise_cfg={{_base_.gamma_paramwise_cfg}})
