_base_ = '../_base_/retinanet_coco.py'
model = dict(bbox_head=dict(loss_cls={{_base_.efl}}))
