"""The tiny embedded dataset and config pieces the tests share."""
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
# About half a second to generate; still 20 classes, r/c/f buckets and
# >= 30 validation instances per class.
TINY = dict(image_size=64, num_train_images=150, num_val_images=100,
            head_instances=300, imbalance_ratio=100.0,
            val_instances_per_class=(30, 32))
# Config text: the evaluation pipeline at the tiny data's 64 px.
TINY_TEST_PIPELINE = '''
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape',
                                          'img_shape', 'scale_factor'))
]
'''


def config_path(loss: str) -> str:
    return osp.join(REPO, 'configs', f'retinanet_{loss}.py')
