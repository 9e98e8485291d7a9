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
# class_counts=[...] or ann_file='...json'. The schedule variants below were
# compared over seeds in docs/results.md; `cbfl` is the one chosen there.
cbfl_paper = dict(
    _delete_=True,
    type='ClassBalancedFocalLoss',
    use_sigmoid=True,
    beta=0.999,
    gamma=2.0,
    alpha=0.25,
    normalization='classes',  # Cui et al.: the weights sum to C
    schedule='constant',
    loss_weight=1.0)
# Positives keep their total weight (sum_c n_c w_c = sum_c n_c): only their
# distribution over classes changes, so the fg/bg balance set by alpha holds.
cbfl_instances = dict(cbfl_paper, normalization='instances')
# A milder re-weighting: beta = 0.99 (weights 0.18..2.28 on the embedded
# data instead of 0.03..2.41).
cbfl_beta099 = dict(cbfl_paper, beta=0.99)
# ... whose strength ramps from uniform to class-balanced over the first
# half of training (LossScheduleHook feeds the progress), so early training
# cannot stall on down-weighted head classes.
cbfl_beta099_ramp = dict(
    cbfl_beta099, schedule='ramp', schedule_start=0.0, schedule_end=0.5)
cbfl = cbfl_beta099_ramp
# Equalized Focal Loss with the paper's defaults (Li et al., CVPR 2022).
efl = dict(
    _delete_=True,
    type='EqualizedFocalLoss',
    use_sigmoid=True,
    gamma=2.0,
    scale_factor=8.0,
    alpha=0.25,
    loss_weight=1.0)
# The learnable gamma is a model parameter: no weight decay on it.
gamma_paramwise_cfg = dict(custom_keys={'gamma_logit': dict(decay_mult=0.0)})
