# CB-FL schedule variant compared in docs/results.md.
_base_ = '../_base_/retinanet_longtail.py'
model = dict(bbox_head=dict(loss_cls={{_base_.cbfl_beta099}}))
