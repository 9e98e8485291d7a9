_base_ = '../_base_/atss_iou_coco.py'
model = dict(bbox_head=dict(loss_cls={{_base_.dfl}}))
