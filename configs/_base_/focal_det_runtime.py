# What every focal_det config shares: the registrations and the two hooks
# (each does nothing when the model has no loss that needs it).
custom_imports = dict(imports=['focal_det'], allow_failed_imports=False)
custom_hooks = [
    dict(type='ClassCountsHook'),
    dict(type='LossParameterLoggerHook'),
]
