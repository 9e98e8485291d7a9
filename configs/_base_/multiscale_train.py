# Multi-scale training for box detection: shorter side one of 640, 672,
# ..., 800, longer side <= 1333, horizontal flip 0.5; boxes only. Shared by
# the LVIS configs and EFL's improved baseline on COCO.
multiscale_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=False),
    dict(
        type='RandomChoiceResize',
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
