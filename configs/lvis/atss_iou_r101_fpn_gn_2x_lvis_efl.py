_base_ = './atss_iou_r50_fpn_gn_2x_lvis_efl.py'
model = dict(backbone=dict(
    depth=101, init_cfg=dict(checkpoint='torchvision://resnet101')))
