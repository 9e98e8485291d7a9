# The classification losses, defined once. A leaf config selects one with
#   model = dict(bbox_head=dict(loss_cls={{_base_.cbfl}}))
# `_delete_` replaces the base config's loss instead of merging into it;
# `use_sigmoid=True` is read from here by mmdet's heads to size the
# classifier (C outputs, no background column).
fl = dict(
    _delete_=True,
    type='SigmoidFocalLoss',
    use_sigmoid=True,
    gamma=2.0,
    alpha=0.25,
    loss_weight=1.0)
dfl = dict(
    _delete_=True,
    type='DualFocalLoss',
    use_sigmoid=True,
    gamma=2.0,
    learnable_gamma=True,
    gamma_bounds=(0.5, 8.0),
    loss_weight=1.0)
# Class counts are filled by ClassCountsHook from the training set (after
# filtering, with repeat-factor sampling counted), or set here with
# class_counts=[...] or ann_file='...json'.
cbfl = dict(
    _delete_=True,
    type='ClassBalancedFocalLoss',
    use_sigmoid=True,
    beta=0.999,
    gamma=2.0,
    alpha=0.25,
    loss_weight=1.0)
# The learnable gamma is a model parameter: no weight decay on it.
gamma_paramwise_cfg = dict(custom_keys={'gamma_logit': dict(decay_mult=0.0)})
