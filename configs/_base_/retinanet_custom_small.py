# The embedded dataset's small RetinaNet (half-width ResNet-18 from scratch,
# FPN 64, 128 px images, AdamW, 36 epochs: trains on a CPU) on your own
# long-tailed dataset in COCO format. Edit the dataset section; the leaf
# configs in configs/custom/ select the loss in one line. Objects should be
# 10-50 px after resizing the longer side to 128 px (anchors: strides 4-32);
# for larger images use retinanet_custom.py (R50, GPUs) or change the
# Resize scale with --cfg-options.
_base_ = './retinanet_longtail.py'
from focal_det.datasets import own_coco_dataset  # noqa: E402

# --- Your dataset ------------------------------------------------------------
data_root = 'data/custom/'
train_ann_file = 'annotations/train.json'
train_images = 'train/'
val_ann_file = 'annotations/val.json'
val_images = 'val/'
# -----------------------------------------------------------------------------

embedded_dataset = None  # nothing to generate
dataset = own_coco_dataset(data_root, train_ann_file, train_images,
                           val_ann_file, val_images)
classes = dataset['classes']
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dataset['train_dataloader']
val_dataloader = dataset['val_dataloader']
test_dataloader = dataset['test_dataloader']
val_evaluator = dataset['val_evaluator']
test_evaluator = dataset['test_evaluator']
