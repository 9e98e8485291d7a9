# What every focal_det config shares: the registrations and the hooks (each
# does nothing when the model or test config does not ask for it).
# Score calibration is off by default; switch it on with a file fitted by
# tools/calibrate.py, or with the loss's own inverse map:
#   --cfg-options model.test_cfg.score_calibration=FILE.json
#   --cfg-options model.test_cfg.score_calibration=loss
custom_imports = dict(imports=['focal_det'], allow_failed_imports=False)
custom_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='LossScheduleHook'),
    dict(type='LossParameterLoggerHook'),
    dict(type='ScoreCalibrationHook'),
    # Stops training at the first NaN/inf loss term, naming it.
    dict(type='NonFiniteLossHook'),
    # Seeds each epoch's random augmentation from (seed, epoch): --resume
    # after a kill ends exactly as an uninterrupted run.
    dict(type='EpochSeedHook'),
]
