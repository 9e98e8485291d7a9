# RetinaNet R50-FPN on your own long-tailed dataset in COCO format. Edit the
# dataset section; the leaf configs in configs/custom/ select the loss in one
# line. Everything else is ./retinanet_coco.py: mmdet's RetinaNet 1x
# schedule and pipelines, an ImageNet-pretrained ResNet-50, focal_det's hooks
# (ClassCountsHook counts the classes in the training set).
_base_ = './retinanet_coco.py'
from focal_det.datasets import coco_class_names  # noqa: E402

# --- Your dataset ------------------------------------------------------------
data_root = 'data/custom/'
train_ann_file = 'annotations/train.json'
train_images = 'train/'
val_ann_file = 'annotations/val.json'
val_images = 'val/'
# -----------------------------------------------------------------------------

# The class names, read from the annotation files when the config is loaded,
# in the order the files declare their categories (mmdet labels them in that
# order; both files must declare the same ones). To fix them instead, list
# them in that order: classes = ('cat', 'dog', ...)
classes = coco_class_names(data_root + train_ann_file,
                           data_root + val_ann_file)

model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file=train_ann_file,
        data_prefix=dict(img=train_images),
        metainfo=dict(classes=classes)))
val_dataloader = dict(
    dataset=dict(
        data_root=data_root,
        ann_file=val_ann_file,
        data_prefix=dict(img=val_images),
        metainfo=dict(classes=classes)))
test_dataloader = val_dataloader
# AP per frequency bucket (APr/APc/APf): from the categories' LVIS-style
# `frequency` field if every category has one, else from the number of
# training images of each class with LVIS's thresholds (rare <= 10,
# common 11-100, frequent > 100); and detection calibration (D-ECE).
val_evaluator = [
    dict(
        type='LongTailCocoMetric',
        ann_file=data_root + val_ann_file,
        train_ann_file=data_root + train_ann_file,
        metric='bbox'),
    dict(type='DetectionCalibrationMetric', ann_file=data_root + val_ann_file)
]
test_evaluator = val_evaluator
