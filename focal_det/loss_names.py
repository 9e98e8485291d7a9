"""The one vocabulary of loss kinds, used by configs, tools, docs and code.

Each kind has a short name (config file suffix, CLI choice, report key), a
display name (tables, charts) and the class registered in mmdet's
``MODELS``. This module imports nothing, so the numpy-only runtime can use
it too.

Beware: in mmdet, "DFL" is the *Distribution* Focal Loss of GFL
(``mmdet/models/losses/gfocal_loss.py``, registered as
``DistributionFocalLoss``). Ours is the *Dual* Focal Loss, registered as
``DualFocalLoss``; configs always name the registered class, never "DFL".
"""

CE = 'ce'  # sigmoid cross-entropy: the focal term with gamma = 0
FL = 'fl'
DFL = 'dfl'
CBFL = 'cbfl'
EFL = 'efl'

DISPLAY_NAMES = {
    CE: 'CE',
    FL: 'FL',
    DFL: 'DFL (dual focal)',
    CBFL: 'CB-FL',
    EFL: 'EFL',
}

REGISTERED_NAMES = {
    FL: 'SigmoidFocalLoss',
    DFL: 'DualFocalLoss',
    CBFL: 'ClassBalancedFocalLoss',
    EFL: 'EqualizedFocalLoss',
}

# The detection losses compared in docs/results.md, in table order.
DETECTION_LOSSES = (FL, CBFL, DFL, EFL)

# The two elementwise term families of the fused kernel: every loss above
# is one of them with its own weights and focusing parameter(s).
FOCAL_TERM = FL
DUAL_FOCAL_TERM = DFL
TERM_KINDS = (FOCAL_TERM, DUAL_FOCAL_TERM)


def display_name(kind: str) -> str:
    """'FL', 'CB-FL', ... for a short name, 'CB-FL paper' for a variant
    ``cbfl_paper``; unknown names are returned as they are."""
    if kind in DISPLAY_NAMES:
        return DISPLAY_NAMES[kind]
    base, _, variant = kind.partition('_')
    return f'{DISPLAY_NAMES[base]} {variant}' if base in DISPLAY_NAMES and \
        variant else kind
