# Your own long-tailed COCO-format dataset on a CPU, set up in
# configs/_base_/retinanet_custom_small.py. The loss is the last line:
# replace cbfl with fl, dfl or efl (configs/_base_/losses.py) to switch.
_base_ = '../_base_/retinanet_custom_small.py'
model = dict(bbox_head=dict(loss_cls={{_base_.cbfl}}))
