# Your own long-tailed COCO-format dataset, set up in
# configs/_base_/retinanet_custom.py. The loss is the last line: replace
# cbfl with fl, dfl or efl (configs/_base_/losses.py) to switch.
_base_ = '../_base_/retinanet_custom.py'
model = dict(bbox_head=dict(loss_cls={{_base_.cbfl}}))
