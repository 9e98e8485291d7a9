"""MMDetection dataset class for the embedded long-tailed synthetic data."""
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .longtail_synth import LONGTAIL_CLASSES, LONGTAIL_PALETTE


@DATASETS.register_module()
class LongTailSynthDataset(CocoDataset):
    """COCO-format dataset written by
    :func:`~focal_det.datasets.longtail_synth.generate_longtail_dataset`.

    The classes are the generator's, in category-id order (the train
    split's most frequent class first); the palette is each class's drawing
    colour. Everything else (loading, filtering, the pipeline) is
    :class:`mmdet.datasets.CocoDataset`'s, so the usual arguments apply, e.g.
    ``LongTailSynthDataset(data_root='data/longtail',
    ann_file='annotations/train.json', data_prefix=dict(img='train/'),
    pipeline=[...])``.
    """

    METAINFO = dict(classes=LONGTAIL_CLASSES, palette=list(LONGTAIL_PALETTE))
