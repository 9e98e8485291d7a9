"""The theory each loss owns, in readable numpy: no torch, no mmdet.

One module per loss: its formula, its normaliser and the inverse of its
population minimiser (the score recalibration map).

* :mod:`.focal`: focal-entropy, its exact minimisers (simplex and per-class
  sigmoid) and their closed-form inverses;
* :mod:`.dual_focal`: the dual focal loss, its boundary normaliser and its
  inverse map;
* :mod:`.class_balanced`: the effective alpha per class of the
  class-balanced focal loss.

The torch forms live with the loss classes (:mod:`focal_det.losses`); each
inverse map, with a trained loss's parameters, is a score calibrator
(:mod:`focal_det.calibration.loss_inverse`, built by the loss's
``inverse_calibrator``). The exported-model runtime imports these modules
on a machine without torch; import the functions from the modules.
"""
