# EFL's improved baseline (./atss_iou_r50_fpn_gn_2x.py) on LVIS v1 with
# repeat-factor sampling (./lvis_v1_detection.py): 8 GPUs x 2 images.
_base_ = ['./atss_iou_r50_fpn_gn_2x.py', './lvis_v1_detection.py']
model = dict(bbox_head=dict(num_classes=1203))
