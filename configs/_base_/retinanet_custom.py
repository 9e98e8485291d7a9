# RetinaNet R50-FPN on your own long-tailed dataset in COCO format (for
# GPUs; retinanet_custom_small.py is the CPU-sized model). Edit the dataset
# section; the leaf configs in configs/custom/ select the loss in one line.
# Everything else is ./retinanet_coco.py: mmdet's RetinaNet 1x schedule and
# pipelines, an ImageNet-pretrained ResNet-50 (torchvision's weights: needs
# torchvision and a download; without them add
# --cfg-options model.backbone.init_cfg=None), focal_det's hooks
# (ClassCountsHook counts the classes in the training set).
_base_ = './retinanet_coco.py'
from focal_det.datasets import own_coco_dataset  # noqa: E402

# --- Your dataset ------------------------------------------------------------
data_root = 'data/custom/'
train_ann_file = 'annotations/train.json'
train_images = 'train/'
val_ann_file = 'annotations/val.json'
val_images = 'val/'
# -----------------------------------------------------------------------------

# Class names are read from the annotation files when the config is loaded,
# in the order the files declare their categories (mmdet labels them in that
# order; both files must declare the same ones). Evaluation: AP per
# frequency bucket and D-ECE (focal_det.datasets.own_coco_dataset).
dataset = own_coco_dataset(data_root, train_ann_file, train_images,
                           val_ann_file, val_images)
classes = dataset['classes']
model = dict(bbox_head=dict(num_classes=len(classes)))
train_dataloader = dataset['train_dataloader']
val_dataloader = dataset['val_dataloader']
test_dataloader = dataset['test_dataloader']
val_evaluator = dataset['val_evaluator']
test_evaluator = dataset['test_evaluator']
